"""Audio descriptor throughput: clips per second, librosa reference vs batched torch (CPU, and CUDA when present).

    python benchmarks/bench_audio_features.py --clips 100 --batch-size 16 --threads 2 1 --repeats 3 [--json out.json]

Takes --clips real clips spread over shared/data/sounds/manifest.csv (every category), tiles each to 10 s, and
times ``compute_descriptors`` end to end (frames, rhythm, summary) on all of them with each backend. Every timing
is the best of --repeats runs, the backends taking turns, after a warm-up on a few clips. The torch CPU path is
timed once per --threads value (torch.set_num_threads); librosa runs as it comes. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import time
from datetime import date
from pathlib import Path

import numpy as np
import torch

from bd2music.audio.descriptors import compute_descriptors
from bd2music.audio.load import ANALYSIS_SAMPLE_RATE, Clip, load_audio

CLIP_SECONDS = 10.0
DATA = Path(os.environ.get("BD2MUSIC_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def ten_second_clips(sounds: Path, count: int) -> list[Clip]:
    """``count`` clips spread evenly over the manifest, each tiled (repeated) to exactly 10 s."""
    with open(sounds / "manifest.csv", newline="") as manifest:
        rows = list(csv.DictReader(manifest))
    picked = [rows[i] for i in np.linspace(0, len(rows) - 1, count).astype(int)]
    length = int(CLIP_SECONDS * ANALYSIS_SAMPLE_RATE)
    return [
        load_audio((np.resize(load_audio(sounds / row["file"]).samples, length), ANALYSIS_SAMPLE_RATE), row["file"])
        for row in picked
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sounds", type=Path, default=DATA / "sounds")
    parser.add_argument("--clips", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--threads", type=int, nargs="+", default=[2], help="torch CPU thread counts to time")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    clips = ten_second_clips(args.sounds, args.clips)
    runs = [("librosa", "cpu", torch.get_num_threads())] + [("torch", "cpu", threads) for threads in args.threads]
    runs += [("torch", "cuda", args.threads[0])] if torch.cuda.is_available() else []
    best = {run: float("inf") for run in runs}
    load_before = os.getloadavg()[0]
    for backend, device, threads in runs:
        torch.set_num_threads(threads)
        compute_descriptors(clips[:4], backend, device, batch_size=args.batch_size)  # warm-up: JIT, FFT plans, CUDA
    for _ in range(args.repeats):
        for backend, device, threads in runs:
            torch.set_num_threads(threads)
            start = time.perf_counter()
            compute_descriptors(clips, backend, device, batch_size=args.batch_size)
            if device == "cuda":
                torch.cuda.synchronize()
            best[backend, device, threads] = min(best[backend, device, threads], time.perf_counter() - start)
    reference = best[runs[0]]
    results = [
        {
            "backend": backend,
            "device": device,
            "torch_threads": threads if backend == "torch" else None,
            "clips": len(clips),
            "seconds": round(seconds, 3),
            "clips_per_s": round(len(clips) / seconds, 2),
            "speedup": round(reference / seconds, 2),
        }
        for (backend, device, threads), seconds in best.items()
    ]
    gpu = f", {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ""
    machine = (
        f"{platform.machine()} {os.cpu_count()} CPUs{gpu}, torch {torch.__version__}, batch {args.batch_size}, "
        f"best of {args.repeats}, load average {load_before:.1f} before the run"
    )
    print(f"{date.today()}: {len(clips)} clips of {CLIP_SECONDS:g} s at {ANALYSIS_SAMPLE_RATE} Hz; {machine}\n")
    print("| backend | device | torch threads | seconds | clips/s | vs librosa |")
    print("|---|---|---|---|---|---|")
    for row in results:
        cells = [row["backend"], row["device"], row["torch_threads"] or "-", f"{row['seconds']:.2f}"]
        print("| " + " | ".join(map(str, cells)) + f" | {row['clips_per_s']:.1f} | {row['speedup']:.1f}× |")
    if args.json:
        args.json.write_text(json.dumps({"date": str(date.today()), "machine": machine, "results": results}, indent=2))


if __name__ == "__main__":
    main()
