"""``bd2music train MODEL``: one reproducible command per model; the config is saved beside the weights."""

from __future__ import annotations

import argparse
import json
from dataclasses import fields
from pathlib import Path

from bd2music.errors import InputError

DEFAULT_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", choices=["detector"], help="which model to train")
    parser.add_argument("--config", type=Path, help="JSON file overriding the default training config")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the shared data folder (comics/, sounds/)")
    parser.add_argument("--out", type=Path, required=True, help="folder for model.safetensors + config.json")
    parser.add_argument("--work", type=Path, default=Path("runs/detector"), help="dataset and checkpoints folder")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or a CUDA index")
    parser.add_argument("--resume", action="store_true", help="continue the last run in --work")
    parser.add_argument("--epochs", type=int, help="override the config's epochs")
    parser.add_argument("--synthetic", type=int, help="override the number of synthetic pages")


def run(args: argparse.Namespace) -> int:
    from bd2music.training.detector import DetectorTrainConfig, train_detector

    config = DetectorTrainConfig()
    if args.config is not None:
        try:
            overrides = json.loads(args.config.read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise InputError(f"cannot read config {args.config}: {error}") from None
        known = {f.name for f in fields(config)}
        if unknown := set(overrides) - known:
            raise InputError(f"unknown config keys: {', '.join(sorted(unknown))}")
        config = DetectorTrainConfig(**{**vars(config), **overrides})
    if args.epochs is not None:
        config.epochs = args.epochs
    if args.synthetic is not None:
        config.synthetic_pages = args.synthetic
    comics = args.data / "comics"
    if not (comics / "labels").is_dir():
        raise InputError(f"no labelled comic pages in {comics}/labels")
    out = train_detector(config, comics, args.out, args.work, device=args.device, resume=args.resume)
    print(f"detector weights written to {out}")
    return 0
