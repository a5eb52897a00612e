"""``bd2music instruments build``: render the instrument bank the music backend plays from a GM SoundFont.

    bd2music instruments build --soundfont SF --out DIR [--overwrite] [--instruments piano,cello]

The shipped bank:

    bd2music instruments build --soundfont ../shared/data/soundfonts/MuseScore_General_Lite.sf3 \\
        --out weights/instruments --overwrite

Needs TinySoundFont (build time only: ``pip install --no-deps tinysoundfont==0.3.7``). An existing DIR is
replaced only with --overwrite, and only when it holds an instrument bank.
"""

from __future__ import annotations

import argparse
import shlex
from dataclasses import replace
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    build = actions.add_parser("build", help="render the instrument bank from a SoundFont", description=__doc__,
                               formatter_class=argparse.RawDescriptionHelpFormatter)
    build.add_argument("--soundfont", type=Path, required=True, help="a General MIDI SoundFont (.sf2 or .sf3)")
    build.add_argument("--out", type=Path, required=True, help="bank folder to write (samples, config, card)")
    build.add_argument("--overwrite", action="store_true", help="replace an existing bank at --out")
    build.add_argument("--instruments", help="comma-separated names to render (default: all of bd2music.music.gm)")


def run(args: argparse.Namespace) -> int:
    from bd2music.music.instrument_build import InstrumentBuildConfig, build_instruments

    config = InstrumentBuildConfig()
    if args.instruments:
        config = replace(config, instruments=tuple(name.strip() for name in args.instruments.split(",")))
    command = shlex.join(["bd2music", "instruments", "build", "--soundfont", str(args.soundfont), "--out",
                          str(args.out)] + (["--instruments", args.instruments] if args.instruments else [])
                         + ["--overwrite"])
    out = build_instruments(args.soundfont, args.out, config, overwrite=args.overwrite, command=command)
    print(f"instrument bank written to {out}")
    return 0
