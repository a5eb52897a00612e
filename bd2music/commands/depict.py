"""``bd2music depict``: a comic page per sound clip, the reverse direction through the mapper's inverse.

    bd2music depict clip.wav sounds/ --out runs/pages [--seed 0]

Per clip, ``<name>.png`` (the page) and ``<name>.json`` (the readings of the sound, the page's targets, what the
page measures, the drawing's knobs, each panel's box and time window); NAME is the clip's path inside the folder
it was found in (without its suffix), or its file name when given directly. A file that cannot be read is
reported in one line and skipped. Exit code 0 when every clip was depicted, 1 when some were skipped, 2 for bad
parameters (a seed out of range, no audio file found).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bd2music.commands.outputs import all_or_none, output_folder
from bd2music.errors import InputError
from bd2music.io import with_added_suffix


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", type=Path, metavar="CLIP_OR_DIR", help="sound files or folders")
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="folder for the PNG and JSON files")
    parser.add_argument("--seed", type=int, default=0, help="same clip and seed, same page (0 to 2**32 - 1)")
    parser.add_argument("--weights", help="folder of component weights or Hub repo id (default: weights/)")
    parser.add_argument("--revision", help="Hub revision (commit) of --weights")
    parser.add_argument("--device", help="cpu, cuda or cuda:N (default: cuda when available)")


def run(args: argparse.Namespace) -> int:
    import torch
    from tqdm import tqdm

    from bd2music.commands.audio_features import find_audio
    from bd2music.depict import DepictPipeline

    torch.set_num_threads(1)  # tiny models: one thread is as fast, and never stalls on cores shared with other jobs

    clips = find_audio(args.inputs)
    if not clips:
        raise InputError("no audio files found in " + ", ".join(map(str, args.inputs)))
    output_folder(args.out)
    depict = DepictPipeline.from_pretrained(args.weights, args.revision, device=args.device)
    depict.check_inputs(args.seed)
    written = failed = 0
    for path, name in tqdm(clips, desc="clips", unit="clip", disable=len(clips) == 1):
        stem = args.out / Path(name).with_suffix("")  # ``take.2.flac``: ``take.2.png``, not ``take.png``
        try:
            page = depict(path, seed=args.seed, name=name)
            with all_or_none() as new:
                stem.parent.mkdir(parents=True, exist_ok=True)
                page.image.save(new(with_added_suffix(stem, ".png")))
                record = page.to_dict() | {"image": f"{stem.name}.png"}
                new(with_added_suffix(stem, ".json")).write_text(json.dumps(record, indent=1) + "\n")
        except InputError as error:
            tqdm.write(f"skipped: {error}", file=sys.stderr)
            failed += 1
            continue
        written += 1
    print(f"{written} page(s) written to {args.out}, {failed} skipped")
    return 1 if failed else 0
