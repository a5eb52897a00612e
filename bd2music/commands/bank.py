"""``bd2music bank build``: index a folder of clips into a sound bank for the scene backend; ``bd2music bank
prompt-index``: embed its training clips (no audio) for text to sound (``bd2music.bank.prompt_index``).

    bd2music bank build DIR --out OUT [--overwrite] [--curate configs/bank/shipped.json] [--components WEIGHTS]
    bd2music bank prompt-index DIR --out OUT [--overwrite] [--components WEIGHTS]

DIR is a sounds folder (manifest.csv), FSD50K as distributed, or any folder of audio files. The shipped bank:

    bd2music bank build ../shared/data/sounds --out weights/bank --curate configs/bank/shipped.json --overwrite
    bd2music bank prompt-index ../shared/data/sounds --out weights/prompt_index --overwrite

A clip that cannot be decoded is named on stderr and skipped; an existing OUT is replaced only with --overwrite.
"""

from __future__ import annotations

import argparse
import json
import shlex
from pathlib import Path

from bd2music.errors import InputError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    build = actions.add_parser("build", help="index a folder of clips into a bank", description=__doc__,
                               formatter_class=argparse.RawDescriptionHelpFormatter)
    build.add_argument("folder", type=Path, metavar="DIR", help="manifest.csv folder, FSD50K, or audio files")
    build.add_argument("--out", type=Path, required=True, help="bank folder to write (clips, index, manifest, card)")
    build.add_argument("--overwrite", action="store_true", help="replace an existing bank at --out")
    build.add_argument("--curate", type=Path, metavar="JSON", help="curation settings (CurationConfig keys)")
    build.add_argument("--components", help="audio_vae + audio_text weights folder or Hub repo (default weights/)")
    index = actions.add_parser("prompt-index", help="embed a folder's training clips for text to sound",
                               description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    index.add_argument("folder", type=Path, metavar="DIR", help="manifest.csv folder or FSD50K")
    index.add_argument("--out", type=Path, required=True, help="index folder to write (embeddings, clips, card)")
    index.add_argument("--overwrite", action="store_true", help="replace an existing index at --out")
    index.add_argument("--components", help="audio_text weights folder or Hub repo (default weights/)")


def run(args: argparse.Namespace) -> int:
    if args.action == "prompt-index":
        from bd2music.bank.prompt_index import build_prompt_index

        command = shlex.join(["bd2music", "bank", "prompt-index", str(args.folder), "--out", str(args.out)]
                             + (["--components", args.components] if args.components else []) + ["--overwrite"])
        out = build_prompt_index(args.folder, args.out, args.components, args.overwrite, command)
        print(f"prompt index written to {out}")
        return 0
    from bd2music.bank.build import build_bank
    from bd2music.bank.curate import CurationConfig
    from bd2music.models.base import config_from_dict

    curation = None
    if args.curate is not None:
        try:
            curation = config_from_dict(CurationConfig, json.loads(args.curate.read_text()), str(args.curate))
        except (OSError, json.JSONDecodeError) as error:
            raise InputError(f"cannot read {args.curate}: {error}") from None
    command = shlex.join(["bd2music", "bank", "build", str(args.folder), "--out", str(args.out)]
                         + (["--curate", str(args.curate)] if args.curate else [])
                         + (["--components", args.components] if args.components else []) + ["--overwrite"])
    out = build_bank(args.folder, args.out, args.components, curation=curation, overwrite=args.overwrite,
                     command=command)
    print(f"sound bank written to {out}")
    return 0
