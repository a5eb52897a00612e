"""The realism metric's protocol applied to real recordings: where "indistinguishable" lies for each reference.

    python benchmarks/realism_floor.py --json docs/realism_floor.json

``bd2music evaluate``'s realism is a c2st of N tracks against the held-out real clips (tests/data/sounds_heldout.txt;
N = 74 on eval_pages). Here the tracks are real recordings, N drawn at random (``--draws`` draws), their first
10 s taken as the tracks are: the shipped bank's clips as stored (and mastered by the pipeline's master at
``--lufs``, the loudness alone changed), and the tuning clips (neither held out nor in the bank: what
``tune_scene.py`` measures against by default). For each, the seed-0 c2st (the metric) over the draws and its mean
over 20 c2st seeds; and the c2st of the bank's clips against the tuning clips (the floor of ``tune_scene.py``'s
default reference). A diagnostic: nothing is chosen from it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import soxr

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_sound import real_clips  # noqa: E402
from tune_scene import bank_clips, bank_excerpts, tuning_clips  # noqa: E402

import bd2music.pipeline as P  # noqa: E402
from bd2music.backends.base import Layer  # noqa: E402
from bd2music.evaluation import listening as L  # noqa: E402
from bd2music.master import master  # noqa: E402

SECONDS = 10.0


def mastered(excerpts: list[np.ndarray], master_config, lufs: float) -> np.ndarray:
    """``real_features``-path features of ``excerpts`` (at the analysis rate) mastered to ``lufs`` at 44.1 kHz."""
    rate = L.ANALYSIS_SAMPLE_RATE
    tracks = [master([Layer("bank", soxr.resample(audio, rate, 44100), 44100)], master_config, target_lufs=lufs).audio
              for audio in excerpts]
    return L.generated_features(tracks, 44100, rate, 44100)


def summary(rows: np.ndarray, reference: np.ndarray, size: int, draws: int) -> dict[str, float]:
    """The seed-0 c2st of ``draws`` random draws of ``size`` of ``rows`` against ``reference``, and its mean over
    20 c2st seeds: mean, sd, lowest and highest over the draws."""
    seed0, over_seeds = [], []
    for draw in range(draws):
        pick = np.random.default_rng(draw).choice(len(rows), size, replace=False)
        seed0.append(L.c2st_accuracy(rows[pick], reference, seed=0))
        over_seeds.append(L.c2st_spread(rows[pick], reference)["mean"])
    return {"seed0_mean": round(float(np.mean(seed0)), 3), "seed0_sd": round(float(np.std(seed0)), 3),
            "seed0_min": round(float(np.min(seed0)), 3), "seed0_max": round(float(np.max(seed0)), 3),
            "over_seeds_mean": round(float(np.mean(over_seeds)), 3)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=74, help="recordings per draw (eval_pages: 74)")
    parser.add_argument("--draws", type=int, default=20)
    parser.add_argument("--lufs", type=float, default=-18.0, help="the mastered bank clips' loudness")
    parser.add_argument("--json", type=Path, help="write the report here")
    args = parser.parse_args()
    pipeline = P.Pipeline.from_pretrained(device="cpu")
    held_out = L.real_features(real_clips(), L.ANALYSIS_SAMPLE_RATE, 44100)
    excerpts = bank_excerpts(pipeline.backend("scene").bank, SECONDS)
    bank, _ = bank_clips(pipeline.backend("scene").bank, excerpts)
    tuning, _ = tuning_clips(step=1)
    sides = {"bank clips": bank, f"bank clips mastered to {args.lufs:g} LUFS": mastered(excerpts,
             pipeline.master_config, args.lufs), "tuning clips": tuning}
    report = {"size": args.size, "draws": args.draws, "held_out_clips": len(held_out)}
    for name, rows in sides.items():
        report[f"{name} vs held-out clips"] = summary(rows, held_out, args.size, args.draws)
        print(name, "vs held-out clips", json.dumps(report[f"{name} vs held-out clips"]), flush=True)
    report["bank clips vs tuning clips"] = summary(bank, tuning, args.size, args.draws)
    print("bank clips vs tuning clips", json.dumps(report["bank clips vs tuning clips"]), flush=True)
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
