"""Sound -> comic page benchmark on the held-out clips (every category of tests/data/sounds_heldout.txt).

    python benchmarks/bench_depict.py --json docs/bench_depict.json [--threads 2] [--rounds 6] [--pages DIR]
                                      [--roundtrip 40]

Each held-out clip is depicted with seed 0 and the page analysed like any page (``Pipeline.analyze``, the YOLO
detector, no lettering): Spearman's rho of the four links (``bd2music.evaluation.depict``), the share of pages
with at least two panels found, the closest pair of pages against the distance of a page to its own JPEG copy
and to the page of another seed, and the seconds per clip (wall clock and CPU, after one warm-up clip; the
model loading is not counted). ``--rounds 1`` is the open-loop baseline: the drawing's knobs from their
models alone, no render measured.

Round trip (``--roundtrip N``): N pages (eval_pages, then the held-out colour pages of
tests/data/comic_vae_heldout.txt) -> a 10 s soundtrack (the default sound, seed 0) -> depict -> analyse:
Spearman's rho between each page's panel count and its depiction's, and between their brightness.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("BD2MUSIC_DATA", REPO.parent / "shared" / "data"))


def heldout_clips() -> list[Path]:
    listed = (REPO / "tests/data/sounds_heldout.txt").read_text().splitlines()
    return [DATA / "sounds" / name for name in listed if name and not name.startswith("#")]


def distinctness(depict, rows: list[dict], clips: list[Path]) -> dict:
    """The closest pair's distance against two references: a page and its JPEG copy, one clip's two seeds."""
    from bd2music.evaluation.depict import jpeg_copy, page_distance, thumbnail

    jpeg, seeds = [], []
    for clip in clips[:: max(1, len(clips) // 10)]:
        page = depict(clip, seed=0).image
        jpeg.append(page_distance(thumbnail(page), thumbnail(jpeg_copy(page))))
        seeds.append(page_distance(thumbnail(page), thumbnail(depict(clip, seed=1).image)))
    distances = [page_distance(a["thumbnail"], b["thumbnail"]) for i, a in enumerate(rows) for b in rows[i + 1:]]
    return {"jpeg_copy_median": round(float(np.median(jpeg)), 4), "other_seed_median": round(float(np.median(seeds)), 4),
            "pairs_median": round(float(np.median(distances)), 4),
            "pairs_under_5x_jpeg": int(np.sum(np.array(distances) < 5 * np.median(jpeg)))}


def round_trip(depict, pipeline, count: int) -> dict:
    """Page -> soundtrack -> page: how the depiction keeps the page's panel count and brightness order."""
    from scipy.stats import spearmanr
    from tqdm import tqdm

    from bd2music.evaluation.soundtrack import page_files

    heldout = (REPO / "tests/data/comic_vae_heldout.txt").read_text().split()
    pages = (page_files(DATA / "eval_pages") + [DATA / "comics" / name for name in heldout])[:count]
    rows = []
    for page in tqdm(pages, desc="round trip", mininterval=10):
        result = pipeline(page, seconds=10.0, seed=0, rtl=page.name.startswith("openmantra"), text=False)
        depicted = depict((result.audio.T, result.sample_rate), seed=0, name=page.name)
        after = pipeline.analyze(depicted.image, text=False)
        rows.append({"page": page.name, "panels": len(result.analysis.panels), "depicted_panels": len(after.panels),
                     "brightness": result.analysis.features.colour.brightness,
                     "depicted_brightness": after.features.colour.brightness,
                     "tempo_planned": float(np.mean([s.tempo for s in result.segments])),
                     "tempo_read": depicted.readings.tempo})
    column = {key: np.array([row[key] for row in rows]) for key in rows[0] if key != "page"}
    rho = {
        "panel count": spearmanr(column["panels"], column["depicted_panels"]).statistic,
        "brightness": spearmanr(column["brightness"], column["depicted_brightness"]).statistic,
        "tempo planned -> tempo read": spearmanr(column["tempo_planned"], column["tempo_read"]).statistic,
    }
    return {"pages": len(rows), "spearman": {k: round(float(v), 3) for k, v in rho.items()},
            "panel_count_mean_abs_difference": round(float(np.abs(column["panels"] - column["depicted_panels"]).mean()), 2),
            "rows": rows}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, required=True)
    parser.add_argument("--threads", type=int, default=2, help="torch threads (the machine has 2 cores)")
    parser.add_argument("--rounds", type=int, help="renders of the fit (default: the pipeline's; 1: open loop)")
    parser.add_argument("--pages", type=Path, help="also keep the depicted pages in this folder")
    parser.add_argument("--limit", type=int, help="first N held-out clips (a quick look)")
    parser.add_argument("--roundtrip", type=int, default=0, help="pages for the round trip (0: none)")
    args = parser.parse_args()

    import dataclasses

    import torch
    from tqdm import tqdm

    from bd2music.depict import DepictPipeline
    from bd2music.evaluation.depict import depict_clips, link_report
    from bd2music.pipeline import Pipeline

    torch.set_num_threads(args.threads)
    depict = DepictPipeline.from_pretrained(device="cpu")
    if args.rounds:
        depict.fit_config = dataclasses.replace(depict.fit_config, rounds=args.rounds)
    pipeline = Pipeline.from_pretrained(device="cpu")
    clips = heldout_clips()[: args.limit]
    depict(clips[0])  # warm-up: librosa's compiled functions, the first model calls
    cpu = time.process_time()
    rows = depict_clips(depict, lambda image: pipeline.analyze(image, text=False), clips, out=args.pages,
                        progress=lambda items: tqdm(items, desc="depict", mininterval=10))
    analysed_cpu = time.process_time() - cpu
    report = {"machine": "2 CPU cores, no GPU", "threads": args.threads, "rounds": depict.fit_config.rounds,
              "categories": sorted({clip.parent.name for clip in clips})} | link_report(rows)
    report["cpu_seconds_per_clip_with_analysis"] = round(analysed_cpu / len(rows), 3)
    report["distinctness"] = distinctness(depict, rows, clips)
    report["pages"] = [{k: v for k, v in row.items() if k != "thumbnail"} for row in rows]
    if args.roundtrip:
        report["round_trip"] = round_trip(depict, pipeline, args.roundtrip)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps({k: v for k, v in report.items() if k not in ("pages", "round_trip")}, indent=1))
    if args.roundtrip:
        print(json.dumps({k: v for k, v in report["round_trip"].items() if k != "rows"}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
