"""Torch vs librosa descriptors over a whole sound folder: the worst gap of each descriptor, against its tolerance.

    python benchmarks/bench_descriptor_agreement.py [--sounds ../shared/data/sounds] [--limit N] [--json out.json]

Every clip of the manifest is analysed at its own length by both backends; for each descriptor the largest
``|torch - librosa|`` over all its summary columns and clips is printed with the clip, as a share of the
allowed gap (``atol + rtol * |librosa|``, ``TOLERANCES`` in ``bd2music.audio.torch_descriptors``); mel_db is
compared frame by frame. A share above 1 is a disagreement.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np
from tqdm import tqdm

from bd2music.audio.descriptors import compute_descriptors
from bd2music.audio.load import load_audio
from bd2music.audio.torch_descriptors import TOLERANCES, tolerance_of

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sounds", type=Path, default=DATA / "sounds")
    parser.add_argument("--limit", type=int, help="only the first N clips of the manifest")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--json", type=Path, help="also write the worst gaps here")
    args = parser.parse_args()
    with open(args.sounds / "manifest.csv", newline="") as manifest:
        files = [row["file"] for row in csv.DictReader(manifest)][: args.limit]
    worst = {name: {"share": 0.0, "gap": 0.0, "clip": None} for name in TOLERANCES}

    def keep(name: str, gap: float, allowed: float, clip: str) -> None:
        share = 0.0 if gap == 0 else gap / allowed if allowed > 0 else float("inf")
        if worst[name]["clip"] is None or share > worst[name]["share"]:
            worst[name] = {"share": share, "gap": gap, "clip": clip}

    for start in tqdm(range(0, len(files), 64), desc="clips (x64)"):
        clips = [load_audio(args.sounds / file, file) for file in files[start : start + 64]]
        batched = compute_descriptors(clips, "torch", batch_size=args.batch_size)
        for ref, out in zip(compute_descriptors(clips, "librosa"), batched):
            keep("mel_db", float(np.abs(ref.frames["mel_db"] - out.frames["mel_db"]).max()), TOLERANCES["mel_db"].atol, ref.name)
            for column, expected in ref.summary.items():
                name, tolerance = tolerance_of(column)
                keep(name, abs(out.summary[column] - expected), tolerance.atol + tolerance.rtol * abs(expected), ref.name)
    print(f"{len(files)} clips\n\n| descriptor | worst gap | share of tolerance | clip |\n|---|---|---|---|")
    for name, entry in worst.items():
        print(f"| {name} | {entry['gap']:.3g} | {entry['share']:.2f} | {entry['clip']} |")
    if args.json:
        args.json.write_text(json.dumps({"clips": len(files), "worst": worst}, indent=2) + "\n")


if __name__ == "__main__":
    main()
