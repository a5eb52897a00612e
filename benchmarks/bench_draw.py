"""Drawing -> sound (issue 25): the readings on held-out generated drawings, the sound's targets, the speed.

    python benchmarks/bench_draw.py [--drawings 300] [--repeats 3] [--json docs/bench_draw.json]

1. Readings: drawings 1000.. of the held-out series (seed 1; the training command trains on series 0 and scored
   drawings 0-599 of series 1), every stroke found that matches a drawn one (``bd2music.training.draw``): mean
   absolute error and Spearman rho of the learned and the classical reading against the labels, per reading,
   and the share of drawn strokes found and labelled.
2. Targets (``bd2music.evaluation.draw``): one horizontal stroke at 5 heights, 5 thicknesses, 5 colours (blue,
   cyan, green, yellow, red), 8 s, the learned reading; Spearman rho of pYIN pitch, RMS and spectral centroid
   with the series, for the sampler and the bank.
3. Speed: drawing (a PNG file) -> mastered sound of 8 s, on 8 random held-out drawings, each sound's best of
   --repeats runs per drawing (the machine is shared), torch on 2 threads; median and worst over the drawings,
   and the steps' share (read, plan, render, master).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from bd2music.data.drawings import random_drawing
from bd2music.draw.pipeline import DrawPipeline
from bd2music.draw.readings import READINGS
from bd2music.evaluation.draw import SERIES, drawings, heard, order
from bd2music.training.draw import DrawTrainConfig, labelled_strokes, scores

SECONDS = 8.0


def readings(pipe: DrawPipeline, count: int) -> dict:
    config = DrawTrainConfig()
    table = {f"label_{n}": [] for n in READINGS} | {f"{m}_{n}": [] for m in ("learned", "classical") for n in READINGS}
    drawn = found = 0
    for index in range(1000, 1000 + count):
        drawing = random_drawing(config.seed + 1, index, config.drawing)
        pairs = labelled_strokes(drawing, config)
        drawn, found = drawn + len(drawing.strokes), found + len(pairs)
        read = {m: {s.stroke.box: s for s in pipe.reader(drawing.image, m).strokes} for m in ("learned", "classical")}
        for stroke, index_drawn in pairs:
            for name in READINGS:
                table[f"label_{name}"].append(getattr(drawing.strokes[index_drawn], name))
                for method in read:
                    table[f"{method}_{name}"].append(getattr(read[method][stroke.box], name))
    table = {k: np.asarray(v) for k, v in table.items()}
    out = {"drawings": count, "strokes": int(found), "found_share": found / drawn}
    for method in ("learned", "classical"):
        out |= scores({n: table[f"{method}_{n}"] for n in READINGS}, table, method)
    return out


def targets(pipe: DrawPipeline) -> dict:
    out = {}
    for sound in ("sampler", "bank"):
        for series in SERIES:
            measured = []
            for drawing in drawings(series):
                result = pipe(drawing.image, sound, "learned", SECONDS)
                measured.append(heard(result.audio, result.sample_rate, SECONDS))
            out[f"{sound}_{series}"] = {"rho": order(series, measured), "measured": measured}
    return out


def speed(pipe: DrawPipeline, repeats: int) -> dict:
    out = {}
    with tempfile.TemporaryDirectory() as folder:
        files = []
        for index in range(8):
            path = Path(folder) / f"drawing_{index}.png"
            random_drawing(1, 2000 + index).image.save(path)
            files.append(path)
        for sound in ("sampler", "bank"):
            times, steps = [], []
            for path in files:
                best = None
                for _ in range(repeats):
                    start = time.perf_counter()
                    result = pipe(path, sound, "learned", SECONDS)
                    took = time.perf_counter() - start
                    if best is None or took < best[0]:
                        best = (took, result.timings)
                times.append(best[0])
                steps.append(best[1])
            total = {step: float(np.mean([s[step] for s in steps])) for step in steps[0]}
            out[sound] = {"median_s": float(np.median(times)), "max_s": float(np.max(times)),
                          "steps_s": {k: round(v, 4) for k, v in total.items()}}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--drawings", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipe = DrawPipeline.from_pretrained()
        pipe.usable_sounds()  # the sounds' assets loaded before timing
    report = {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, no GPU",
              "readings": readings(pipe, args.drawings), "targets": targets(pipe), "speed": speed(pipe, args.repeats)}
    r = report["readings"]
    print(f"Readings, {r['drawings']} held-out drawings, {r['strokes']} strokes ({r['found_share']:.1%} found):")
    print("| reading | MAE learned | MAE classical | rho learned | rho classical |\n|---|---|---|---|---|")
    for name in READINGS:
        print(f"| {name} | {r[f'mae_{name}_learned']:.4f} | {r[f'mae_{name}_classical']:.4f} | "
              f"{r[f'rho_{name}_learned']:.4f} | {r[f'rho_{name}_classical']:.4f} |")
    print("\n| sound | height -> pitch rho | thickness -> RMS rho | colour -> centroid rho |\n|---|---|---|---|")
    for sound in ("sampler", "bank"):
        rhos = [report["targets"][f"{sound}_{s}"]["rho"] for s in SERIES]
        print(f"| {sound} | " + " | ".join(f"{rho:.2f}" for rho in rhos) + " |")
    print("\n| sound | median s | worst s | read | plan | render | master |\n|---|---|---|---|---|---|---|")
    for sound, s in report["speed"].items():
        steps = s["steps_s"]
        print(f"| {sound} | {s['median_s']:.2f} | {s['max_s']:.2f} | " + " | ".join(
            f"{steps[k]:.3f}" for k in ("read", "plan", "render", "master")) + " |")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
