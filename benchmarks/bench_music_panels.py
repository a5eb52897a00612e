"""How the music holds together across panels (per-panel mode, 10 s, seed 0), on the held-out colour pages.

    python benchmarks/bench_music_panels.py [--json FILE]

Per page: the spread of the sections' tempos (highest / lowest BPM), the share of panel changes at which the
harmony and the bass change instrument, and how far the music's section bounds lie from the panels' (s). Run it
on two commits to compare them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("BD2MUSIC_DATA", REPO.parent / "shared" / "data"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    from bd2music.io import load_page
    from bd2music.pipeline import Pipeline

    pipeline = Pipeline.from_pretrained(device="cpu")
    music = pipeline.backend("music")
    spreads, changes, offsets = [], {"harmony": [], "bass": []}, []
    for name in (REPO / "tests/data/comic_vae_heldout.txt").read_text().split():
        page = load_page(DATA / "comics" / name)
        plan = pipeline.planner(pipeline.analyze(page), page.image, 10.0, 0, True)
        if len(plan.segments) < 2:
            continue
        [layer] = music.render(plan, seed=0)
        sections = layer.score.sections
        tempos = [s["tempo"] for s in sections]
        spreads.append(max(tempos) / min(tempos))
        for role in changes:
            players = [s["instruments"].get(role) for s in sections]
            changes[role].append(np.mean([a != b for a, b in zip(players, players[1:])]))
        offsets += [abs(s["start"] - p.start) for s, p in zip(sections, plan.segments)]
    figures = {"pages": len(spreads), "tempo_spread_median": float(np.median(spreads)),
               "tempo_spread_max": float(np.max(spreads)),
               **{f"{role}_change_share": float(np.mean(v)) for role, v in changes.items()},
               "bound_offset_s_mean": float(np.mean(offsets)), "bound_offset_s_max": float(np.max(offsets))}
    print(json.dumps(figures, indent=1))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
