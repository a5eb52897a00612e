"""Vocoders side by side on real and generated log-mels (issue 23): frame-rate buzz, mel L1, harmonics, speed.

    python benchmarks/bench_vocoder.py --json docs/bench_vocoder.json [--clips 104] [--pages 20] [--threads 2]
    python benchmarks/bench_vocoder.py --json docs/bench_vocoder_speed.json --parts speed --repeats 20

Vocoders, in one run: the shipped one (weights/vocoder), the vocoder with predicted phases it replaced
(``--baseline``: a weights folder, or a git revision whose weights/vocoder is read), Griffin-Lim with 32
iterations on the mel's least-squares magnitude (the diffusion backend's default) and the same warm-started
from the baseline's phases (the diffusion backend's "warm").

1. Real mels: the first ``--clip-seconds`` of ``--clips`` held-out clips (tests/data/sounds_heldout.txt, spread
   over the list; evaluation only): buzz at the multiples of 62.5 Hz (``listening.frame_rate_buzz_db``; median,
   max, share of clips at most 4 dB), mel L1 of the resynthesis against the clip (mean, nats), harmonic share
   (``listening.harmonic_share``; median over all clips and over the music clips, the clips' own beside).
2. Generated: the neural backend's log-mels of the first ``--pages`` eval_pages (page mode, 10 s, seed 0) and
   the diffusion backend's of the first ``--diffusion-pages`` (same plans, room tone kept) voiced by each
   vocoder: buzz (median, max, share at most 4 dB); and the neural tracks as the pipeline masters them.
3. Speed: milliseconds per 10 s log-mel (the first held-out clip tiled), best of ``--repeats`` after a warm-up,
   at 1 torch thread and at ``--threads``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from bench_sound import DATA, REPO

BASELINE_REVISION = "b35540a"  # the last commit whose weights/vocoder predicts its phases
BUZZ_TARGET_DB = 4.0


def baseline_folder(baseline: str, scratch: Path) -> Path:
    """A weights folder as given, or weights/vocoder of a git revision written under ``scratch``."""
    if Path(baseline).is_dir():
        return Path(baseline)
    folder = scratch / "vocoder"
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("config.json", "model.safetensors"):
        blob = subprocess.run(["git", "-C", str(REPO), "show", f"{baseline}:weights/vocoder/{name}"],
                              check=True, capture_output=True).stdout
        (folder / name).write_bytes(blob)
    return folder


def vocoders(baseline: Path) -> dict[str, torch.nn.Module]:
    from bd2music.audio.griffin_lim import GriffinLim
    from bd2music.audio.mel import MEL
    from bd2music.models.vocoder import Vocoder, WarmGriffinLim

    shipped, old = Vocoder.from_pretrained(), Vocoder.from_pretrained(baseline)
    return {f"shipped ({shipped.config.phase} phase, {shipped.config.refine_iterations} refinements)": shipped,
            "predicted phase (previous)": old,
            "griffin-lim (32 iterations)": GriffinLim(MEL, 32),
            "warm-started griffin-lim (32 iterations)": WarmGriffinLim(old, 32)}


def heldout(count: int, seconds: float, listing: Path = REPO / "tests/data/sounds_heldout.txt"
            ) -> list[tuple[str, np.ndarray]]:
    """``count`` clips spread over ``listing`` (the held-out clips by default), their first ``seconds``."""
    from bd2music.audio.load import load_audio

    lines = listing.read_text().splitlines()
    listed = [name for name in lines if name and not name.startswith("#")]
    picks = sorted({round(x) for x in np.linspace(0, len(listed) - 1, min(count, len(listed)))})
    limit = int(seconds * 16_000)
    return [(listed[i], load_audio(DATA / "sounds" / listed[i]).samples[:limit]) for i in picks]


def buzz_summary(values: list[float]) -> dict:
    return {"buzz_db_median": float(np.median(values)), "buzz_db_max": float(np.max(values)),
            "share_at_most_4db": float(np.mean(np.array(values) <= BUZZ_TARGET_DB))}


@torch.inference_mode()
def real_mels(choices: dict, clips: list[tuple[str, np.ndarray]]) -> dict:
    from tqdm import tqdm

    from bd2music.audio.mel import MEL, mel_spectrogram
    from bd2music.evaluation import listening as L

    music = [i for i, (name, _) in enumerate(clips) if name.startswith("music/")]
    report = {"clips": len(clips), "real": {
        **buzz_summary([L.frame_rate_buzz_db(y, MEL.sample_rate, MEL.hop_length) for _, y in clips]),
        "harmonic_share_median": float(np.median([L.harmonic_share(y, MEL.sample_rate) for _, y in clips])),
        "harmonic_share_music_median": float(np.median([L.harmonic_share(clips[i][1], MEL.sample_rate)
                                                        for i in music]))}}
    for name, vocoder in choices.items():
        buzz, l1, harmonic = [], [], []
        for _, y in tqdm(clips, desc=name, unit="clip"):
            mel = mel_spectrogram(torch.from_numpy(y))
            audio = vocoder(mel[None], length=len(y))[0]
            buzz.append(L.frame_rate_buzz_db(audio.numpy(), MEL.sample_rate, MEL.hop_length))
            l1.append(float((mel_spectrogram(audio) - mel).abs().mean()))
            harmonic.append(L.harmonic_share(audio.numpy(), MEL.sample_rate))
        report[name] = buzz_summary(buzz) | {
            "mel_l1_mean": float(np.mean(l1)), "harmonic_share_median": float(np.median(harmonic)),
            "harmonic_share_music_median": float(np.median([harmonic[i] for i in music]))}
        print(name, json.dumps(report[name]), flush=True)
    return report


@torch.inference_mode()
def generated_mels(pages: int, diffusion_pages: int, seconds: float) -> tuple[dict, dict[str, list[torch.Tensor]]]:
    """The neural backend's log-mels of the first ``pages`` eval_pages and the diffusion backend's (room tone
    kept, as it voices them) of the first ``diffusion_pages``, with the buzz of the neural tracks as mastered."""
    from tqdm import tqdm

    from bd2music.audio.mel import MEL
    from bd2music.evaluation import listening as L
    from bd2music.evaluation.soundtrack import page_files
    from bd2music.pipeline import Pipeline

    pipeline = Pipeline.from_pretrained(device="cpu")
    neural, diffusion = pipeline.backend("neural"), pipeline.backend("diffusion")
    mels, mastered = {"neural": [], "diffusion": []}, []
    for index, page in enumerate(tqdm(page_files(DATA / "eval_pages")[:pages], desc="pages", unit="page")):
        result = pipeline(page, seconds=seconds, seed=0, sound="neural", rtl="openmantra" in page.name)
        mels["neural"].append(neural.log_mel(result.plan))
        mastered.append(L.frame_rate_buzz_db(result.audio, result.sample_rate,
                                             result.sample_rate / MEL.frames_per_second))
        if index < diffusion_pages:
            mels["diffusion"].append(diffusion.room_tone(diffusion.log_mel(result.plan, seed=0)))
    return {"pages": len(mels["neural"]), "diffusion_pages": len(mels["diffusion"]),
            "neural_mastered_as_shipped": buzz_summary(mastered)}, mels


@torch.inference_mode()
def generated_buzz(choices: dict, mels: dict[str, list[torch.Tensor]], seconds: float) -> dict:
    """Buzz of each vocoder's waveform of each backend's generated log-mels."""
    from bd2music.audio.mel import MEL
    from bd2music.evaluation.listening import frame_rate_buzz_db

    samples, report = round(seconds * MEL.sample_rate), {}
    for backend, backend_mels in mels.items():
        for name, vocoder in choices.items():
            buzz = [frame_rate_buzz_db(vocoder(mel[None], length=samples)[0].numpy(), MEL.sample_rate,
                                       MEL.hop_length) for mel in backend_mels]
            report[f"{backend}: {name}"] = buzz_summary(buzz)
            print(backend, name, json.dumps(report[f"{backend}: {name}"]), flush=True)
    return report


@torch.inference_mode()
def speed(choices: dict, mel: torch.Tensor, repeats: int, threads: list[int]) -> dict:
    """Milliseconds per 10 s log-mel at each number of torch threads (best of ``repeats`` after a warm-up)."""
    report = {}
    for count in threads:
        torch.set_num_threads(count)
        for name, vocoder in choices.items():
            vocoder(mel[None])
            times = []
            for _ in range(repeats):
                start = time.perf_counter()
                vocoder(mel[None])
                times.append(time.perf_counter() - start)
            report[f"{name}, {count} thread{'s' if count > 1 else ''}"] = {
                "ms_per_10s": 1000 * min(times), "x_real_time": 10.0 / min(times)}
            print(name, count, json.dumps(report[f"{name}, {count} thread{'s' if count > 1 else ''}"]), flush=True)
    return report


def ten_second_mel(clips: list[tuple[str, np.ndarray]]) -> torch.Tensor:
    """The log-mel of the first held-out clip tiled to 10 s."""
    from bd2music.audio.mel import MEL, mel_spectrogram

    audio = np.tile(clips[0][1], int(np.ceil(10 * MEL.sample_rate / len(clips[0][1]))))[: 10 * MEL.sample_rate]
    return mel_spectrogram(torch.from_numpy(audio))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, required=True)
    parser.add_argument("--clips", type=int, default=104, help="held-out clips (all 104 by default)")
    parser.add_argument("--clip-seconds", type=float, default=5.0)
    parser.add_argument("--pages", type=int, default=20, help="eval_pages for the generated mels")
    parser.add_argument("--diffusion-pages", type=int, default=10, help="of those, voiced by the diffusion backend")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--parts", nargs="+", default=["real", "generated", "speed"],
                        choices=["real", "generated", "speed"])
    parser.add_argument("--baseline", default=BASELINE_REVISION, help="weights folder or git revision")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as scratch:
        choices = vocoders(baseline_folder(args.baseline, Path(scratch)))
    report = {"machine": "2 CPU cores, no GPU", "threads": args.threads, "baseline": args.baseline}
    clips = heldout(args.clips, args.clip_seconds)
    if "real" in args.parts:
        report["real"] = real_mels(choices, clips)
    if "generated" in args.parts:
        report["generated"], mels = generated_mels(args.pages, args.diffusion_pages, 10.0)
        report["generated"] |= generated_buzz(choices, mels, 10.0)
    if "speed" in args.parts:
        report["speed"] = speed(choices, ten_second_mel(clips), args.repeats, sorted({1, args.threads}))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
