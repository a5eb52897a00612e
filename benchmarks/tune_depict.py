"""Tuning ``depict`` on TRAINING clips only: the readings' quantile tables and a check of the links.

    python benchmarks/tune_depict.py [--write] [--sample 90] [--settings '{"edge_density": [0.1, 0.25]}']

Reads every clip of shared/data/sounds outside tests/data/sounds_heldout.txt, fits the quantile knots of its
readings (``DepictConfig.fit``), then depicts a seeded sample of those training clips (every category) and
prints the links as ``benchmarks/bench_depict.py`` measures them on the held-out clips. ``--write`` saves the
settings to weights/depict/config.json; ``--settings`` overrides fields of ``DepictConfig`` (JSON). The
held-out clips stay for bench_depict.py.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from dataclasses import fields
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("BD2MUSIC_DATA", REPO.parent / "shared" / "data"))


def training_clips() -> list[Path]:
    held = {line for line in (REPO / "tests/data/sounds_heldout.txt").read_text().splitlines()
            if line and not line.startswith("#")}
    with open(DATA / "sounds" / "manifest.csv", newline="") as manifest:
        return [DATA / "sounds" / row["file"] for row in csv.DictReader(manifest) if row["file"] not in held]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="save the settings to weights/depict/config.json")
    parser.add_argument("--sample", type=int, default=90, help="training clips depicted for the check")
    parser.add_argument("--settings", default="{}", help="DepictConfig fields to override (JSON)")
    args = parser.parse_args()

    import torch
    from tqdm import tqdm

    from bd2music.audio.descriptors import compute_descriptors
    from bd2music.audio.load import load_audio
    from bd2music.depict import DepictConfig, DepictPipeline
    from bd2music.depict.readings import read_clip
    from bd2music.evaluation.depict import depict_clips, link_report
    from bd2music.hub import WEIGHTS_DIR
    from bd2music.models.base import config_from_dict, config_to_dict
    from bd2music.pipeline import Pipeline

    torch.set_num_threads(1)  # tiny models: one thread never stalls when another job shares the cores
    clips = training_clips()
    readings = [read_clip(compute_descriptors([load_audio(clip)])[0]) for clip in tqdm(clips, desc="readings", mininterval=10)]
    fitted = ("knots", "clips")
    settings = {k: v for k, v in (config_to_dict(DepictConfig()) | json.loads(args.settings)).items() if k not in fitted}
    chosen = config_from_dict(DepictConfig, settings, "--settings")
    config = DepictConfig.fit(readings, **{f.name: getattr(chosen, f.name) for f in fields(chosen) if f.name not in fitted})
    if args.write:
        config.save(WEIGHTS_DIR / "depict")
        print(f"written: {WEIGHTS_DIR / 'depict' / 'config.json'} ({config.clips} training clips)")
    depict = DepictPipeline.from_pretrained(device="cpu")
    depict.config = config
    pipeline = Pipeline.from_pretrained(device="cpu")
    rng = np.random.default_rng(0)
    sample = [clips[i] for i in sorted(rng.choice(len(clips), min(args.sample, len(clips)), replace=False))]
    rows = depict_clips(depict, lambda image: pipeline.analyze(image, text=False), sample,
                        progress=lambda items: tqdm(items, desc="depict", mininterval=10))
    print(json.dumps(link_report(rows), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
