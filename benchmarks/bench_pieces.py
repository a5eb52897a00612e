"""The piece library (weights/pieces): how well its key tags agree with the notes, its tag distribution, and how
fast it loads and serves pieces.

    python benchmarks/bench_pieces.py --json docs/bench_pieces.json

Key agreement: the tagged key against the best of the 24 Krumhansl-Kessler profiles on the kept notes'
duration-weighted pitch classes (``bd2music.music.library.key_correlations``), an analysis the build did not use
(it used music21's on the same notes, or the key the score names): "same" when they are the same key, "close"
when the tagged key's correlation is within 0.1 of the best one, "top3" when it is among the 3 best.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from pathlib import Path

import numpy as np

from bd2music.music.library import PieceLibrary, key_correlations
from bd2music.music.pieces_card import DENSITY_BINS, TEMPO_BINS


def agreement(pieces: list) -> dict[str, float]:
    same, close, top3 = [], [], []
    for piece in pieces:
        scores = key_correlations(piece.notes.pitch, piece.notes.duration)
        tagged = scores[int(piece.mode == "minor"), piece.tonic]
        same.append(tagged == scores.max())
        close.append(scores.max() - tagged <= 0.1)
        top3.append((scores >= tagged).sum() <= 3)
    return {"pieces": len(pieces), **{name: round(float(np.mean(values)), 3)
                                      for name, values in (("same", same), ("close", close), ("top3", top3))}}


def timed(call, repeats: int = 5) -> float:
    """Median seconds of ``repeats`` calls."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--library", type=Path, help="library folder (default: weights/pieces)")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args()
    library = PieceLibrary.load(args.library)
    pieces = [library.piece(index) for index in range(len(library))]
    tags = library.tags
    results = {
        "pieces": len(library),
        "key_agreement": {"all": agreement(pieces)} | {
            f"{field}={value}": agreement([piece for piece in pieces if piece.tags[field] == value])
            for field in ("key_source", "collection") for value in sorted(set(tags[field]))},
        "modes": dict(Counter(tags["mode"])),
        "collections": dict(Counter(tags["collection"])),
        "parts": {str(count): int(n) for count, n in sorted(Counter(tags["parts"].astype(int)).items())},
        "tempo_histogram": {"edges": TEMPO_BINS, "counts": np.histogram(tags["tempo"], TEMPO_BINS)[0].tolist()},
        "density_histogram": {"edges": DENSITY_BINS,
                              "counts": np.histogram(tags["density"], DENSITY_BINS)[0].tolist()},
        "tempo_median": float(np.median(tags["tempo"])), "density_median": float(np.median(tags["density"])),
        "seconds": {
            "load": timed(lambda: PieceLibrary.load(args.library)),
            "piece_all": timed(lambda: [library.piece(index) for index in range(len(library))]),
            "loop_128q_all": timed(lambda: [piece.loop(128.0) for piece in pieces]),
        },
    }
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
