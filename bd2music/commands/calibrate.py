"""``bd2music calibrate``: the planner's quantile tables (``bd2music.plan.Calibration``).

    bd2music calibrate --pages ../shared/data/comics --sounds ../shared/data/sounds --out runs/planner

Source side: every page of ``--pages`` except those listed in ``--exclude-pages`` (the held-out colour pages),
planned in page mode and per panel with ``--seeds`` seeds; the audio VAE's heads read each segment. Target side:
the clips of ``--sounds`` except ``--exclude-sounds`` (the held-out clips), measured with the librosa reference
descriptors. Writes ``OUT/config.json`` (settings + tables) and ``OUT/README.md``; refuses a folder that already
holds a config unless ``--overwrite``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bd2music.errors import InputError

REPO = Path(__file__).resolve().parents[2]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--pages", type=Path, required=True, metavar="DIR", help="training comic pages")
    parser.add_argument("--sounds", type=Path, required=True, metavar="DIR", help="real clips (manifest layout)")
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="planner folder to write")
    parser.add_argument("--exclude-pages", type=Path, default=REPO / "tests/data/comic_vae_heldout.txt")
    parser.add_argument("--exclude-sounds", type=Path, default=REPO / "tests/data/sounds_heldout.txt")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per page")
    parser.add_argument("--weights", help="folder of component weights (default: weights/)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing planner config in --out")


def _listed(path: Path) -> set[str]:
    lines = path.read_text().splitlines() if path.is_file() else []
    return {line.strip() for line in lines if line.strip() and not line.startswith("#")}


def run(args: argparse.Namespace) -> int:
    import numpy as np
    from tqdm import tqdm

    from bd2music.audio.descriptors import compute_descriptors
    from bd2music.audio.load import load_audio
    from bd2music.evaluation.soundtrack import page_files, sound_files
    from bd2music.io import load_page
    from bd2music.pipeline import Pipeline
    from bd2music.plan import MEASURED, TARGETS, Calibration, PlannerConfig

    if (args.out / "config.json").exists() and not args.overwrite:
        raise InputError(f"{args.out} already holds a planner config; pass --overwrite to replace it")
    skip_pages, skip_sounds = _listed(args.exclude_pages), _listed(args.exclude_sounds)
    pages = [p for p in page_files(args.pages) if p.name not in skip_pages]
    clips = [c for c in sound_files(args.sounds) if c.relative_to(args.sounds).as_posix() not in skip_sounds]
    if not pages or not clips:
        raise InputError(f"no pages in {args.pages} or no clips in {args.sounds}")
    pipeline = Pipeline.from_pretrained(args.weights, device="cpu")
    pipeline.planner.config = PlannerConfig()  # identity tables: the raw readings are what we fit
    generated: dict[str, list[float]] = {name: [] for name in TARGETS}
    for path in tqdm(pages, desc="pages", unit="page"):
        page = load_page(path)
        analysis = pipeline.analyze(page)
        for seed in range(args.seeds):
            for per_panel in (False, True):
                plan = pipeline.planner(analysis, page.image, 10.0, seed, per_panel)
                for segment in plan.segments:
                    for name in TARGETS:
                        generated[name].append(segment.raw[name])
    real: dict[str, list[float]] = {name: [] for name in MEASURED}  # the heads' descriptors, measured on clips
    for path in tqdm(clips, desc="clips", unit="clip"):
        clip = load_audio(path)
        if clip.silent:
            continue
        summary = compute_descriptors([clip])[0].summary
        for name in MEASURED:
            real[name].append(summary[TARGETS[name]])
    calibration = Calibration.fit({k: np.asarray(v) for k, v in generated.items()},
                                  {k: np.asarray(v) for k, v in real.items()}, len(pages) * args.seeds)
    config = PlannerConfig(calibration=calibration)
    config.save(args.out)
    (args.out / "README.md").write_text(_card(args, len(pages), calibration.clips))
    print(f"calibrated on {len(pages)} pages x {args.seeds} seeds and {calibration.clips} clips -> {args.out}")
    return 0


def _card(args: argparse.Namespace, pages: int, clips: int) -> str:
    return f"""# Planner calibration

Quantile tables that carry the audio VAE's head readings on generated latents onto the scale of real sound
(``bd2music.plan``): tempo (BPM), onset rate (onsets/s), spectral centroid (Hz), flatness, and loudness as a
LUFS range. No trained weights: tables only.

- Source: {pages} comic pages of `{args.pages.name}/` (held-out pages excluded: `{args.exclude_pages.name}`), page
  mode and per panel, {args.seeds} seeds each. Their licences are listed in `shared/data/comics/README.md`
  (much of it CC BY-NC 4.0); the tables are statistics of model outputs on those pages.
- Target: {clips} non-silent real clips of `{args.sounds.name}/` (held-out clips excluded:
  `{args.exclude_sounds.name}`), measured with the librosa reference descriptors (per-clip licences in its
  `manifest.csv`).

Rebuild: `bd2music calibrate --pages ../shared/data/comics --sounds ../shared/data/sounds --out runs/planner`,
then copy `runs/planner` to `weights/planner`.
"""
