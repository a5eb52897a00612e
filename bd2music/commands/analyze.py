"""``bd2music analyze``: panels, balloons (with their lettering read), reading order and visual features of pages,
as one JSON file. An unreadable page is reported in one line and skipped; exit code 0 when every page was
analysed, 1 when some were skipped (the others are still written), 2 for bad parameters."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bd2music.commands.outputs import output_file, output_folder
from bd2music.errors import InputError
from bd2music.io import IMAGE_SUFFIXES, expand_inputs, load_page
from bd2music.vision.detect import DETECTORS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", type=Path, metavar="PAGE_OR_DIR", help="page images or folders of them")
    parser.add_argument("--json", type=Path, required=True, metavar="OUT.json", help="where to write the results")
    parser.add_argument("--overlay", type=Path, metavar="DIR", help="also write each page with its boxes drawn")
    parser.add_argument("--rtl", action="store_true", help="right-to-left reading order (manga)")
    parser.add_argument("--detector", choices=DETECTORS, default="yolo", help="panel/balloon detector")
    parser.add_argument("--text", action=argparse.BooleanOptionalAction, default=True,
                        help="read the lettering: each balloon's text and kind, and the areas the detector missed "
                             "(default: on)")
    parser.add_argument("--weights", help="detector weights folder or Hub repo id (default: weights/detector)")


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from bd2music.vision.analysis import analyze_page
    from bd2music.vision.detect import load_detector
    from bd2music.vision.ocr import TextReader
    from bd2music.vision.overlay import draw_overlay

    files = expand_inputs(args.inputs, IMAGE_SUFFIXES)
    if not files:
        raise InputError("no page images found in " + ", ".join(map(str, args.inputs)))
    output_file(args.json, "--json")
    if args.overlay is not None:
        output_folder(args.overlay, "--overlay")
    detector = load_detector(args.detector, args.weights)
    reader = TextReader() if args.text else None
    if args.overlay is not None:
        args.overlay.mkdir(parents=True, exist_ok=True)
    pages, failed = [], 0
    for path in tqdm(files, desc="pages", unit="page", disable=len(files) == 1):
        try:
            page = load_page(path)
        except InputError as error:
            tqdm.write(f"skipped: {error}", file=sys.stderr)
            failed += 1
            continue
        analysis = analyze_page(page, detector, rtl=args.rtl, reader=reader)
        pages.append(analysis.to_dict())
        if args.overlay is not None:
            overlay = draw_overlay(page.image, analysis.panels, analysis.balloons, kinds=analysis.lettering)
            overlay.save(args.overlay / f"{path.stem}.png")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"pages": pages}, indent=1) + "\n")
    print(f"{len(pages)} page(s) analysed with {detector.name}, {failed} skipped → {args.json}")
    return 1 if failed else 0
