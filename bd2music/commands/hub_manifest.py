"""``bd2music hub-manifest``: pin the Hub model repo and commit the app loads, with every weight file's sha256."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from bd2music.commands.outputs import output_file
from bd2music.errors import InputError
from bd2music.hub import HUB_CONFIG, WEIGHTS_DIR, write_hub_config


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--repo", required=True, help="Hub model repo id (owner/name) holding one folder per model")
    parser.add_argument("--revision", help="commit to pin; a branch or tag is resolved to its commit on the Hub")
    parser.add_argument("--weights", type=Path, default=WEIGHTS_DIR, help="local folders whose files are hashed")
    parser.add_argument("--out", type=Path, default=HUB_CONFIG, help="manifest to write")


def run(args: argparse.Namespace) -> int:
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(args.repo)
    except HFValidationError:
        raise InputError(f"--repo {args.repo!r} is not a Hub repo id (owner/name)") from None
    if not args.weights.is_dir():
        raise InputError(f"--weights {args.weights}: no such folder")
    output_file(args.out, "--out")
    revision = args.revision
    if revision and not re.fullmatch(r"[0-9a-f]{40}", revision):
        from huggingface_hub import HfApi

        try:
            revision = HfApi().model_info(args.repo, revision=revision).sha
        except Exception as error:  # offline, unreachable, unknown repo or revision
            raise InputError(f"could not resolve {args.repo}@{revision} on the Hub ({type(error).__name__}); "
                             "pin a 40-hex commit instead") from None
    args.out.parent.mkdir(parents=True, exist_ok=True)
    config = write_hub_config(args.repo, revision, args.weights, args.out)
    print(f"{args.out}: {config.repo_id}@{config.revision or '(no revision: local weights only)'}, "
          f"{len(config.sha256)} files hashed")
    return 0
