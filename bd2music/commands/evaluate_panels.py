"""``bd2music evaluate-panels DIR``: panel and balloon precision, recall and F1 of detectors on annotated pages.

DIR holds one JSON per page in the ``shared/data/eval_pages`` format. Each detector runs on every page as the
pipeline runs it (page downscaled to ``ANALYSIS_LONG_SIDE``); predictions match ground truth one-to-one at
IoU >= 0.5. With ``--text`` the balloons scored are the lettered areas (the detector's balloons merged with the
text read, as ``analyze`` reports them). Prints a markdown table and optionally writes per-page and overall
results as JSON.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from bd2music.errors import InputError
from bd2music.vision.detect import DETECTORS

if TYPE_CHECKING:
    from bd2music.evaluation.panels import DetectorReport


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("folder", type=Path, metavar="DIR", help="folder of annotated pages (*.json + images)")
    parser.add_argument("--detector", nargs="+", choices=DETECTORS, default=list(DETECTORS),
                        help="detectors to evaluate (default: all)")
    parser.add_argument("--weights", help="YOLO weights folder or Hub repo id (default: weights/detector)")
    parser.add_argument("--json", type=Path, metavar="OUT.json", help="write per-page and overall results here")
    parser.add_argument("--limit", type=int, metavar="N", help="evaluate the first N pages only")
    parser.add_argument("--text", action="store_true",
                        help="score the lettered areas (balloons merged with the text read) as balloons")


def markdown_table(reports: list[DetectorReport]) -> str:
    """One row per detector: panel and balloon precision / recall / F1 and seconds per page."""
    lines = ["| detector | panels P | panels R | panels F1 | balloons P | balloons R | balloons F1 | s/page |",
             "|---|---|---|---|---|---|---|---|"]
    for report in reports:
        cells = []
        for counts in (report.panels, report.balloons):
            cells += ["n/a"] * 3 if counts is None else [f"{counts.precision:.3f}", f"{counts.recall:.3f}",
                                                         f"{counts.f1:.3f}"]
        lines.append(f"| {report.detector} | " + " | ".join(cells) + f" | {report.seconds_per_page:.3f} |")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from bd2music.evaluation.panels import IOU_THRESHOLD, evaluate_detector, load_annotations
    from bd2music.vision.analysis import ANALYSIS_LONG_SIDE
    from bd2music.vision.detect import load_detector
    from bd2music.vision.lettering import LetteringDetector
    from bd2music.vision.ocr import TextReader

    if args.limit is not None and args.limit < 1:
        raise InputError(f"--limit must be at least 1, got {args.limit}")
    pages = load_annotations(args.folder)[: args.limit]
    reports, skipped = [], {}
    reader = TextReader() if args.text else None
    for kind in dict.fromkeys(args.detector):
        try:
            detector = load_detector(kind, args.weights, fallback=False)
        except (InputError, ImportError, OSError) as error:
            skipped[kind] = str(error).splitlines()[0] if str(error) else type(error).__name__
            print(f"{kind}: not evaluated ({skipped[kind]})")
            continue
        if reader is not None:
            detector = LetteringDetector(detector, reader)
        reports.append(evaluate_detector(detector, pages, ANALYSIS_LONG_SIDE))
    print(f"\n{len(pages)} page(s) from {args.folder}, IoU >= {IOU_THRESHOLD}\n")
    print(markdown_table(reports))
    if args.json is not None:
        result = {"folder": str(args.folder), "pages": len(pages), "iou_threshold": IOU_THRESHOLD,
                  "max_side": ANALYSIS_LONG_SIDE, "skipped": skipped,
                  "detectors": {report.detector: report.to_dict() for report in reports}}
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1) + "\n")
        print(f"\nwrote {args.json}")
    return 0 if reports else 1
