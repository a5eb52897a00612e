"""Tuning the learned sounds (``neural``, ``diffusion``) on TRAINING data only: realism, links, what gives them away.

    python benchmarks/tune_learned.py '{"sound": "neural"}' '{"sound": "neural", "texture_db": 6.5}' \
        --cache runs/tune_plans.pkl --step 4

Each argument is one candidate: ``sound`` (the backend) and fields of its settings (``NeuralSettings``,
``DiffusionSettings``) over weights/pipeline.json's. Pages: every ``--step``-th training comic page, analysed and
planned once (``tune_scene.planned_pages``, the same cache), 10 s, seed 0, page mode, rendered by the backend and
mastered to the plan's loudness. Realism: c2st against the tuning clips of ``tune_scene.tuning_clips`` (never the
held-out ones), the mean over 5 seeds; the same for the manga and the western pages apart. Then the four links
(Spearman rho on the final audio, manga / western pages), silent or clipped tracks, tracks over 10 % near-silent,
the buzz median, the median onset rate, and the ``--features`` farthest from 0.5 in AUC (0.5: the feature tells
nothing). ``--weights DIR`` plays another folder of components (a candidate's ``pipeline.json`` and weights).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

import bd2music.pipeline as P
from bd2music.audio.mel import MEL
from bd2music.evaluation import listening as L
from bd2music.master import master
from tune_scene import feature_aucs, planned_pages, tuning_clips


def render(pipeline: P.Pipeline, backend, plan) -> tuple[np.ndarray, int]:
    """(audio, rate) of a plan as the pipeline renders and masters one sound."""
    mastered = master(backend.render(plan, 0), pipeline.master_config, target_lufs=plan.loudness)
    return mastered.audio, mastered.sample_rate


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("candidates", nargs="+", help='JSON objects: {"sound": NAME, SETTING: VALUE, ...}')
    parser.add_argument("--step", type=int, default=4, help="every step-th training page")
    parser.add_argument("--cache", type=Path, help="pickle of the analysed and planned pages (read or written)")
    parser.add_argument("--features", type=int, default=6, help="how many feature AUCs to print")
    parser.add_argument("--weights", type=Path, help="a folder of component folders (default: weights/)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    real, _ = tuning_clips(3)
    pipeline = P.Pipeline.from_pretrained(args.weights, device="cpu")
    planned = planned_pages(pipeline, args.step, args.cache)
    manga = np.array(["openmantra" in name for name, _, _ in planned])

    def c2st(rows: np.ndarray) -> float:
        return round(float(np.mean([L.c2st_accuracy(rows, real, seed=s) for s in range(5)])), 3)

    for spec in args.candidates:
        options = json.loads(spec)
        backend = pipeline.backend(options.pop("sound"))
        shipped = backend.settings
        backend.settings = type(shipped)(**(vars(shipped) | options))
        tracks = [render(pipeline, backend, plan) for _, plan, _ in planned]
        backend.settings = shipped
        generated = np.stack([L.clip_features(audio, rate) for audio, rate in tracks])
        measured = [L.audio_measures(audio, rate) for audio, rate in tracks]
        row = {"c2st": c2st(generated), "c2st_manga": c2st(generated[manga]),
               "c2st_western": c2st(generated[~manga]),
               "silent_or_clipped": sum(L.silent_or_clipped(audio) is not None for audio, _ in tracks),
               "near_silent_over_10pct": sum(L.near_silent_share(audio) > 0.1 for audio, _ in tracks),
               "buzz_db": round(float(np.median([L.frame_rate_buzz_db(L.mono(audio, rate, None), rate, rate / MEL.frames_per_second)
                                                  for audio, rate in tracks])), 2),
               "onset_rate": round(float(np.median([m["onset_rate"] for m in measured])), 2)}
        for part, keep in (("manga", manga), ("western", ~manga)):
            index = np.flatnonzero(keep)
            rhos = L.linked([planned[i][2] for i in index], [measured[i] for i in index])
            row |= {f"{part}:{link}": round(rho, 2) for link, rho in rhos.items()}
        print(spec, json.dumps(row), flush=True)
        for name, auc in feature_aucs(generated, real, args.features):
            print(f"    {name}: AUC {auc:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
