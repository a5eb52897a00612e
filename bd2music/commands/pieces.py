"""``bd2music pieces build``: read, tag and store public-domain pieces from the music21 corpus for the music backend.

    bd2music pieces build --out weights/pieces --overwrite            # the shipped library
    bd2music pieces build --out /tmp/pieces --collections chorales --limit 5

A candidate that cannot be read is named on stderr and skipped; an existing OUT is replaced only with --overwrite.
"""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    build = actions.add_parser("build", help="read and tag the pieces into a library folder", description=__doc__,
                               formatter_class=argparse.RawDescriptionHelpFormatter)
    build.add_argument("--out", type=Path, required=True, help="library folder to write (notes, index, card)")
    build.add_argument("--overwrite", action="store_true", help="replace an existing library at --out")
    build.add_argument("--limit", type=int, metavar="N", help="at most N pieces per collection")
    build.add_argument("--collections", metavar="NAMES", help="comma-separated collections (default: all)")


def run(args: argparse.Namespace) -> int:
    from bd2music.errors import InputError
    from bd2music.music.build_pieces import build_library

    if args.limit is not None and args.limit < 1:
        raise InputError(f"--limit must be at least 1, got {args.limit}")
    collections = [name.strip() for name in args.collections.split(",") if name.strip()] if args.collections else None
    command = shlex.join(["bd2music", "pieces", "build", "--out", str(args.out)]
                         + (["--limit", str(args.limit)] if args.limit is not None else [])
                         + (["--collections", ",".join(collections)] if collections else []) + ["--overwrite"])
    library = build_library(args.out, args.overwrite, args.limit, collections, command=command)
    print(f"{len(library)} pieces written to {args.out}")
    return 0
