"""Latent diffusion (``--sound diffusion``) against the mapper (``--sound neural``) on pages, text to audio, and
speed beside the AudioLDM-architecture pipeline, in one run.

    python benchmarks/bench_diffusion.py --json docs/bench_diffusion.json [--limit N] [--parts text speed pages]

1. Pages: ``bench_sound.listen`` for both sounds on both page sets (eval_pages; the held-out colour pages) against
   the held-out real clips: realism c2st, buzz, staticness, page and seed distinctness, the four structure links,
   silent/clipped tracks, reproducibility, seconds per page.
2. Text to audio: ``TEMPLATES`` naming each of the six categories, ``SEEDS`` seeds each, ``TEXT_SECONDS`` s per
   clip. A category classifier (standardised logistic regression on ``listening.clip_features`` of the training
   clips; never the held-out ones, on which its accuracy is reported) labels every generated clip: the share in
   the prompt's category (chance 1/6), overall and per category. Retrieval with the audio-text model: the share
   of clips whose ``embed_audio`` is closest to their own category's prompt among the six.
3. Vocoders on the text clips' generated log-mels: buzz at the vocoder frame rate and milliseconds per 10 s, for
   Griffin-Lim (the backend's iterations), Griffin-Lim warm-started from the trained vocoder's phases, and the
   trained vocoder alone.
4. Speed: ``Pipeline.text_to_audio`` of 10 s at the model's default steps (median of 3), and AudioLDM's published
   architecture with random weights at the same steps (``bench_generate.audioldm_seconds``: timed at 2 and 6 DDIM
   steps with guidance, extrapolated), same process, same threads.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import soxr
import torch

from bench_sound import DATA, REPO, listen, page_sets, real_clips

CATEGORIES = ("ambience", "animal", "foley", "human", "machine", "music")
TEMPLATES = ("a {category} sound", "{category} sound", "the sound of {category}")
SEEDS = (0, 1, 2)
TEXT_SECONDS = 5.0
PARTS = ("text", "speed", "pages")  # text: text to audio and the vocoders on its mels


def category_classifier(rate: int):
    """(fitted classifier on the training clips, its accuracy on the held-out clips); clips take the generated
    tracks' rate path (16 kHz -> ``rate``) as in ``listening.realism_c2st``."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from tqdm import tqdm

    from bd2music.audio.load import load_audio
    from bd2music.data.sounds import load_sounds
    from bd2music.evaluation.listening import clip_features

    sides = {"train": ([], []), "heldout": ([], [])}
    for item in tqdm(load_sounds(DATA / "sounds"), desc="classifier features", unit="clip"):
        audio = soxr.resample(load_audio(item.path).samples, 16_000, rate)
        sides[item.split][0].append(clip_features(audio, rate))
        sides[item.split][1].append(item.category)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000, C=0.5))
    model.fit(np.stack(sides["train"][0]), sides["train"][1])
    return model, float(model.score(np.stack(sides["heldout"][0]), sides["heldout"][1]))


@torch.inference_mode()
def text_to_audio(pipeline, classifier) -> tuple[dict, list[torch.Tensor]]:
    """Category shares of the generated clips and the generated log-mels (for the vocoder comparison)."""
    from bd2music.evaluation.listening import clip_features

    backend = pipeline.backend("diffusion")
    audio_text = pipeline.components["audio_text"]
    queries = audio_text.embed_text([f"a {category} sound" for category in CATEGORIES])
    rows, mels = [], []
    for category in CATEGORIES:
        for template in TEMPLATES:
            prompt = template.format(category=category)
            for seed in SEEDS:
                result = pipeline.text_to_audio(prompt, seconds=TEXT_SECONDS, seed=seed)
                mel = backend.sample_mel(backend.audio_vae.config.mel.num_frames(round(TEXT_SECONDS * 16_000)),
                                         audio_text.embed_text([prompt])[0], None, torch.Generator().manual_seed(seed))
                mels.append(mel)
                predicted = classifier.predict(clip_features(result.audio, result.sample_rate)[None])[0]
                nearest = CATEGORIES[int((audio_text.embed_audio(mel[None]) @ queries.T).argmax())]
                rows.append({"category": category, "prompt": prompt, "seed": seed, "classified": predicted,
                             "retrieved": nearest})
    share = {category: float(np.mean([r["classified"] == category for r in rows if r["category"] == category]))
             for category in CATEGORIES}
    return {"clips": len(rows), "seconds": TEXT_SECONDS, "chance": 1 / len(CATEGORIES),
            "in_prompt_category": float(np.mean([r["classified"] == r["category"] for r in rows])),
            "in_prompt_category_by_category": share,
            "retrieval_top1": float(np.mean([r["retrieved"] == r["category"] for r in rows])),
            "rows": rows}, mels


def vocoders(pipeline, mels: list[torch.Tensor]) -> dict:
    """Buzz (median) and milliseconds per 10 s of each vocoder on generated log-mels."""
    from bd2music.audio.griffin_lim import GriffinLim
    from bd2music.audio.mel import MEL
    from bd2music.evaluation.listening import frame_rate_buzz_db
    from bd2music.models.vocoder import WarmGriffinLim

    trained = pipeline.components["vocoder"]
    iterations = pipeline.backend("diffusion").settings.griffin_lim_iterations
    choices = {f"griffin-lim ({iterations} iterations)": GriffinLim(MEL, iterations),
               f"warm-started griffin-lim ({iterations} iterations)": WarmGriffinLim(trained, iterations),
               "trained vocoder": trained}
    report = {}
    with torch.inference_mode():
        for name, vocoder in choices.items():
            buzz, seconds = [], 0.0
            for mel in mels:
                start = time.perf_counter()
                audio = vocoder(mel[None])[0].numpy()
                seconds += time.perf_counter() - start
                buzz.append(frame_rate_buzz_db(audio, MEL.sample_rate, MEL.hop_length))
            report[name] = {"buzz_db_median": float(np.median(buzz)),
                            "ms_per_10s": 1000 * seconds / (len(mels) * TEXT_SECONDS) * 10}
    return report


def speed(pipeline, steps: int, audioldm: bool) -> dict:
    """Seconds per 10 s of text to audio at ``steps`` steps, and AudioLDM's at the same steps."""
    from bench_generate import audioldm_seconds

    pipeline.text_to_audio("rain on a tin roof", seconds=10.0, seed=0, steps=steps)  # warm-up
    times = []
    for seed in range(3):
        start = time.perf_counter()
        pipeline.text_to_audio("rain on a tin roof", seconds=10.0, seed=seed, steps=steps)
        times.append(time.perf_counter() - start)
    report = {"steps": steps, "bd2music_s": statistics.median(times)}
    if audioldm:
        reference, extrapolated = audioldm_seconds("cpu", 10.0, (2, 6), counts=(steps,))
        report |= {"audioldm_s": reference[steps], "audioldm_extrapolated": extrapolated,
                   "speedup": reference[steps] / report["bd2music_s"]}
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, required=True)
    parser.add_argument("--seconds", type=float, default=10.0, help="track length on pages")
    parser.add_argument("--limit", type=int, help="first N pages of each set (a quick look)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--sounds", nargs="+", default=["diffusion", "neural"])
    parser.add_argument("--parts", nargs="+", default=list(PARTS), choices=PARTS, help="what to measure")
    parser.add_argument("--no-audioldm", action="store_true", help="leave out the AudioLDM reference")
    parser.add_argument("--weights", help="a weights folder (default: the shipped weights/)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from bd2music.pipeline import Pipeline

    pipeline = Pipeline.from_pretrained(args.weights, device="cpu")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    report: dict = {"machine": f"2 CPU cores, {args.threads} torch threads, no GPU", "weights": args.weights,
                    "settings": pipeline.index.settings.get("diffusion", {}),
                    "model_inference": vars(pipeline.backend("diffusion").model.config.inference)}
    if "text" in args.parts:
        classifier, accuracy = category_classifier(44_100)
        report["text_to_audio"], mels = text_to_audio(pipeline, classifier)
        report["text_to_audio"]["classifier_heldout_accuracy"] = accuracy
        print(json.dumps({k: v for k, v in report["text_to_audio"].items() if k != "rows"}, indent=1), flush=True)
        report["vocoders"] = vocoders(pipeline, mels)
        print(json.dumps(report["vocoders"], indent=1), flush=True)
        args.json.write_text(json.dumps(report, indent=1) + "\n")  # kept if a later part fails
    if "speed" in args.parts:
        steps = pipeline.backend("diffusion").model.config.inference.steps
        report["speed"] = speed(pipeline, steps, not args.no_audioldm)
        print(json.dumps(report["speed"], indent=1), flush=True)
        args.json.write_text(json.dumps(report, indent=1) + "\n")
    if "pages" in args.parts:
        real = real_clips()
        report["pages"] = {sound: {name: listen(pipeline, sound, pages[: args.limit], real, args.seconds,
                                                f"{sound} {name}")
                                   for name, pages in page_sets().items()} for sound in args.sounds}
        print(json.dumps(report["pages"], indent=1), flush=True)
    args.json.write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    sys.exit(main())
