"""Tuning sweep of the scene backend on training data only (never eval_pages or the held-out pages and clips).

    python benchmarks/tune_scene.py '{}' '{"max_events_per_beat": 4.0}' '{"_tempo": [60, 170]}'

Each argument is one candidate: ``SceneConfig`` fields, plus ``"_tempo": [low, high]`` (a log-even tempo ramp in
the planner's tables), ``"_old_tempo": true`` (the tempo table before tuning, ``planner_before_tuning.json``) and
``"_master": {...}`` (``MasterConfig`` fields), each over the settings of weights/pipeline.json. Pages: every third training comic page (the held-out colour pages
of tests/data/comic_vae_heldout.txt left out), 10 s, seed 0. Realism: c2st against every third real clip that is
neither held out nor in the shipped bank. Links: Spearman rho on the final audio, manga and western pages apart.
"""

from __future__ import annotations

import csv
import json
import os
import sys
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import soxr

import bd2music.pipeline as P
from bd2music.audio.load import load_audio
from bd2music.evaluation import listening as L

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("BD2MUSIC_DATA", REPO.parent / "shared" / "data"))


def tuning_clips() -> np.ndarray:
    """Features of the real clips for the c2st (at the generated tracks' rate path)."""
    held = set((REPO / "tests/data/sounds_heldout.txt").read_text().split())
    bank = {row["source_path"] for row in csv.DictReader(open(REPO / "weights/bank/manifest.csv"))}
    rows = csv.DictReader(open(DATA / "sounds/manifest.csv"))
    pool = [row["file"] for row in rows if row["file"] not in held and row["source_path"] not in bank]
    clips = [load_audio(DATA / "sounds" / name).samples for name in pool[::3]]
    return np.stack([L.clip_features(soxr.resample(clip, 16000, 44100), 44100) for clip in clips])


def main() -> int:
    real = tuning_clips()
    held_pages = set((REPO / "tests/data/comic_vae_heldout.txt").read_text().split())
    pages = [page for page in sorted((DATA / "comics").glob("*.jpg")) if page.name not in held_pages][::3]
    pipeline = P.Pipeline.from_pretrained(device="cpu")
    scene = pipeline.backend("scene")
    base, calibration = scene.config, pipeline.planner.config.calibration
    master_base = pipeline.master_config
    tempo_now = list(calibration.target["tempo"])
    tempo_before = json.loads((REPO / "benchmarks/planner_before_tuning.json").read_text())["calibration"]["target"]["tempo"]
    for spec in sys.argv[1:]:
        options = json.loads(spec)
        ramp = options.pop("_tempo", None)
        before = options.pop("_old_tempo", False)
        calibration.target["tempo"] = tempo_before if before else np.geomspace(*ramp, 21).tolist() if ramp else tempo_now
        pipeline.index.settings["master"] = asdict(replace(master_base, **options.pop("_master", {})))
        scene.config = replace(base, **options)
        tracks, features = [], []
        for page in pages:
            result = pipeline(page, seconds=10, seed=0, sound="scene", rtl="openmantra" in page.name)
            tracks.append(result.audio)
            features.append(result.analysis.features.normalised_scalars())
        generated = np.stack([L.clip_features(track, 44100) for track in tracks])
        measured = [L.audio_measures(track, 44100) for track in tracks]
        row = {"c2st": round(L.c2st_accuracy(generated, real), 3), "pages": len(pages)}
        for part, keep in (("manga", True), ("western", False)):
            index = [i for i, page in enumerate(pages) if ("openmantra" in page.name) == keep]
            rhos = L.linked([features[i] for i in index], [measured[i] for i in index])
            row |= {f"{part}:{link}": round(rho, 2) for link, rho in rhos.items()}
        print(spec, json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
