"""``bd2music make-pages``: draw procedural comic pages with their exact labels (PNG + JSON per page)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bd2music.commands.train import DEFAULT_DATA
from bd2music.errors import InputError

DEFAULT_COMICS = DEFAULT_DATA / "comics"  # without it, pages are drawn with no real panel content


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("-n", "--count", type=int, default=10, help="number of pages")
    parser.add_argument("--seed", type=int, default=0, help="random seed (same seed, same pages)")
    parser.add_argument("--comics", type=Path, default=DEFAULT_COMICS, help="real pages for panel content")


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from bd2music.data.synthetic_pages import PageGenerator, load_content_sources

    if args.count < 1:
        raise InputError("--count must be at least 1")
    sources = load_content_sources(args.comics) if args.comics.is_dir() else []
    generator = PageGenerator(sources, seed=args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    for i in tqdm(range(args.count), desc="pages", unit="page"):
        page = generator(i)
        name = f"synthetic_{args.seed}_{i:05d}"
        page.image.save(args.out / f"{name}.png")
        labels = {"image": f"{name}.png", "width": page.image.width, "height": page.image.height,
                  "panels": [[round(v, 1) for v in b] for b in page.panels],
                  "balloons": [[round(v, 1) for v in b] for b in page.balloons]}
        (args.out / f"{name}.json").write_text(json.dumps(labels) + "\n")
    print(f"{args.count} pages written to {args.out}")
    return 0
