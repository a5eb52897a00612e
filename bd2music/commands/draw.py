"""``bd2music draw``: the sound of each drawing: ``<stem>.wav`` (44.1 kHz stereo) and ``<stem>.json`` (the
readings of every stroke, the plan, the cue sheet, the settings), and ``<stem>.mid`` when the sampler plays.
Bad files are reported and skipped (exit code 1 when any was)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bd2music.commands.outputs import output_folder
from bd2music.draw.plan import SECONDS_RANGE
from bd2music.draw.reading import METHODS
from bd2music.draw.render import SOUNDS
from bd2music.errors import InputError
from bd2music.io import IMAGE_SUFFIXES, expand_inputs


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", type=Path, metavar="DRAWING_OR_DIR", help="drawings (images) or folders")
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="folder for the WAV and JSON files")
    parser.add_argument("--sound", choices=SOUNDS, default=SOUNDS[0],
                        help="sampler: notes on instruments chosen by colour; bank: the nearest real clips")
    parser.add_argument("--reading", choices=METHODS, default=METHODS[0], help="the learned or the classical reading")
    parser.add_argument("--seconds", type=float, default=8.0,
                        help=f"the canvas's width in seconds ({SECONDS_RANGE[0]:g}-{SECONDS_RANGE[1]:g})")
    parser.add_argument("--weights", type=Path, help="weights folder (default: weights/)")
    parser.add_argument("--bank", type=Path, metavar="DIR", help="another sound bank (bd2music bank build)")


def run(args: argparse.Namespace) -> int:
    from bd2music.commands.generate import write_track
    from bd2music.draw.pipeline import DrawPipeline

    files = expand_inputs(args.inputs, IMAGE_SUFFIXES)
    if not files:
        raise InputError("no drawings found in " + ", ".join(map(str, args.inputs)))
    output_folder(args.out)
    pipeline = DrawPipeline.from_pretrained(args.weights, args.bank)
    pipeline.check_inputs(args.sound, args.reading, args.seconds)
    args.out.mkdir(parents=True, exist_ok=True)
    written = failed = 0
    for path in files:
        try:
            result = pipeline(path, args.sound, args.reading, args.seconds)
            write_track(args.out, path.stem, result.audio, result.sample_rate, result.to_dict(), score=result.score)
        except InputError as error:  # the loader's messages name the file; the reading's are about any drawing
            message = str(error) if str(error).startswith(path.name) else f"{path.name}: {error}"
            print(f"skipped: {message}", file=sys.stderr)
            failed += 1
            continue
        written += 1
    print(f"{written} drawing sound(s) written to {args.out}, {failed} skipped")
    return 1 if failed else 0
