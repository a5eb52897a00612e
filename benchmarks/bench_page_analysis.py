"""Page analysis speed: seconds per page for each stage (load, detection, reading order + features), YOLO vs
the classical baseline, on the same pages in one run.

    python benchmarks/bench_page_analysis.py --pages ../shared/data/eval_pages --limit 20 --threads 2
    python benchmarks/bench_page_analysis.py --device cuda   # YOLO on the GPU (the classical detector stays on CPU)
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from pathlib import Path

import torch

from bd2music.io import IMAGE_SUFFIXES, expand_inputs, load_page
from bd2music.vision.analysis import ANALYSIS_LONG_SIDE
from bd2music.vision.boxes import Balloon, Panel
from bd2music.vision.detect import load_detector
from bd2music.vision.features import compute_features


def timed(fn, *args):
    start = time.perf_counter()
    result = fn(*args)
    return result, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/eval_pages")
    parser.add_argument("--limit", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu", help="where YOLO runs: cpu, cuda or cuda:N")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    files = expand_inputs([args.pages], IMAGE_SUFFIXES)[: args.limit]
    rows = []
    for kind in ("yolo", "classical"):
        detector = load_detector(kind, fallback=False, device=args.device)
        detector.detect(load_page(files[0]).downscaled(ANALYSIS_LONG_SIDE)[0])  # warm-up
        load_s, detect_s, feature_s = [], [], []
        for path in files:
            page, t_load = timed(load_page, path)
            small, _ = page.downscaled(ANALYSIS_LONG_SIDE)
            detections, t_detect = timed(detector.detect, small)
            panels = [Panel(d.box, i, d.score) for i, d in enumerate(d for d in detections if d.label == "panel")]
            balloons = [Balloon(d.box, None, d.score) for d in detections if d.label == "balloon"]
            _, t_features = timed(compute_features, small, panels, balloons)
            load_s.append(t_load), detect_s.append(t_detect), feature_s.append(t_features)
        total = [a + b + c for a, b, c in zip(load_s, detect_s, feature_s)]
        rows.append((kind, *(1000 * statistics.median(v) for v in (load_s, detect_s, feature_s, total))))
    print(f"{len(files)} pages from {args.pages.name}, {platform.processor() or platform.machine()}, "
          f"torch {torch.__version__}, {args.threads} threads, YOLO on {args.device}; median ms per page\n")
    print("| detector | load | detect | features | total | total vs classical |")
    print("|---|---|---|---|---|---|")
    classical_total = rows[-1][4]
    for kind, load_ms, detect_ms, feature_ms, total_ms in rows:
        print(f"| {kind} | {load_ms:.0f} | {detect_ms:.0f} | {feature_ms:.0f} | {total_ms:.0f} | "
              f"{total_ms / classical_total:.2f}× |")


if __name__ == "__main__":
    main()
