"""Audio VAE round trips on held-out clips (issue 23, item 2): does a clip keep its pitch through the VAE?

    python benchmarks/bench_audio_vae.py --json docs/bench_audio_vae.json [--vae weights/audio_vae runs/x ...]

For each held-out clip (``tests/data/sounds_heldout.txt``, first ``--clip-seconds``): log-mel -> the shipped
vocoder (the reference: what the vocoder alone keeps), and log-mel -> each VAE's ``reconstruct`` (posterior
means, tiled as the pipeline tiles) -> the same vocoder. Per way: harmonic share (``listening.harmonic_share``,
HPSS margin 3; median over all clips and over the music clips), mel L1 against the clip's log-mel (nats, mean),
frame-rate buzz (dB, median), and the VAE's numbers per second of audio (latent size). With ``--classifier``,
also the accuracy of a category classifier of real recordings (``bench_diffusion.category_classifier``, trained
on the training clips) on each way's audio: how much of what tells the six categories apart survives the trip.
``--clips-file`` scores another list instead, e.g. a decoder fine-tune's ``validation.txt`` (training clips it
never trained on), to choose a candidate on training data before the held-out run.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import soxr
import torch

from bench_diffusion import category_classifier
from bench_vocoder import REPO, heldout


def summary(rows: list[dict], music: list[int]) -> dict:
    harmonic = [row["harmonic"] for row in rows]
    return {"harmonic_share_median": float(np.median(harmonic)),
            "harmonic_share_music_median": float(np.median([harmonic[i] for i in music])),
            "mel_l1_mean": float(np.mean([row["l1"] for row in rows])),
            "buzz_db_median": float(np.median([row["buzz"] for row in rows]))}


@torch.inference_mode()
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, required=True)
    parser.add_argument("--vae", nargs="+", default=["weights/audio_vae"], help="audio VAE weights folders")
    parser.add_argument("--clips", type=int, default=104, help="held-out clips (all 104 by default)")
    parser.add_argument("--clips-file", type=Path, default=REPO / "tests/data/sounds_heldout.txt",
                        help="the clips to score, one name under DATA/sounds a line (default: the held-out ones)")
    parser.add_argument("--clip-seconds", type=float, default=10.0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--classifier", action="store_true", help="category classifier accuracy of each way")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from tqdm import tqdm

    from bd2music.audio.mel import MEL, mel_spectrogram
    from bd2music.evaluation import listening as L
    from bd2music.models.audio_vae import AudioVAE
    from bd2music.models.vocoder import Vocoder

    rate = 44_100  # the classifier's features at the tracks' rate, as bench_diffusion takes them
    classifier = category_classifier(rate)[0] if args.classifier else None

    clips = heldout(args.clips, args.clip_seconds, args.clips_file)
    music = [i for i, (name, _) in enumerate(clips) if name.startswith("music/")]
    vocoder = Vocoder.from_pretrained()
    ways = {"vocoder alone": None} | {folder: AudioVAE.from_pretrained(folder).eval() for folder in args.vae}
    report = {"clips": len(clips), "music_clips": len(music), "clip_seconds": args.clip_seconds,
              "clips themselves": {"harmonic_share_median": float(np.median(
                  [L.harmonic_share(y, MEL.sample_rate) for _, y in clips])),
                  "harmonic_share_music_median": float(np.median(
                      [L.harmonic_share(clips[i][1], MEL.sample_rate) for i in music]))}}
    if classifier is not None:
        features = np.stack([L.clip_features(soxr.resample(y, MEL.sample_rate, rate), rate) for _, y in clips])
        report["clips themselves"]["category_accuracy"] = float(np.mean(
            classifier.predict(features) == np.array([clip.split("/")[0] for clip, _ in clips])))
    for name, vae in ways.items():
        rows = []
        for _, y in tqdm(clips, desc=name, unit="clip"):
            mel = mel_spectrogram(torch.from_numpy(y))
            made = mel if vae is None else vae.reconstruct(mel)
            audio = vocoder(made[None], length=len(y))[0].numpy()
            rows.append({"harmonic": L.harmonic_share(audio, MEL.sample_rate),
                         "l1": float((made - mel).abs().mean()),
                         "buzz": L.frame_rate_buzz_db(audio, MEL.sample_rate, MEL.hop_length)})
            if classifier is not None:
                features = L.clip_features(soxr.resample(audio, MEL.sample_rate, rate), rate)
                rows[-1]["classified"] = classifier.predict(features[None])[0]
        report[name] = summary(rows, music)
        if classifier is not None:
            report[name]["category_accuracy"] = float(np.mean(
                [row["classified"] == clip.split("/")[0] for row, (clip, _) in zip(rows, clips)]))
        if vae is not None:
            channels, frames = vae.config.latent_shape
            report[name]["latent_numbers_per_second"] = channels * frames / (
                vae.config.window_frames / MEL.frames_per_second)
        print(name, json.dumps(report[name]), flush=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
