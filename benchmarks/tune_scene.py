"""Tuning sweep of the scene backend on training data only (never eval_pages or the held-out pages and clips).

    python benchmarks/tune_scene.py '{}' '{"max_events_per_beat": 8.0}' '{"_tempo": [60, 170]}' --features

Each argument is one candidate: ``SceneConfig`` fields, plus ``"_tempo": [low, high]`` (a log-even tempo ramp in
the planner's tables), ``"_old_tempo": true`` (the tempo table before tuning, ``planner_before_tuning.json``),
``"_table": {"TARGET": [...]}`` (another calibration table for a plan target, on the shipped source knots) and
``"_master": {...}`` (``MasterConfig`` fields), each over the settings of weights/pipeline.json.

Pages: every ``--step``-th training comic page (the held-out colour pages of tests/data/comic_vae_heldout.txt left
out), 10 s, seed 0 (``--seeds 0 1``: each seed's row, then their mean), analysed and planned once (``--cache``),
then rendered and mastered per candidate; a candidate's tables re-read each segment's head readings (the
lettering's loudness change kept). Realism: c2st against every third real clip that is neither held out nor in
the shipped bank, the mean over ``--c2st-seeds`` subsamples and folds, for all pages and for the manga pages
alone (eval_pages are manga) and the western ones, each also against the clips in the whole corpus's category
proportions (``corpus_balanced``; the held-out clips come in those). Links: Spearman rho on the final audio, manga
and western pages apart. ``--features``: the manga pages' per-feature AUCs against the clips (0.5: no
difference), the farthest from 0.5 first. ``--fit-match``: the matching EQ (``SceneConfig.match_db``,
``bd2music.audio.eq.match_points``) that brings all pages' mean log-mel to the clips'. ``--ladder``: each stage
of the scene apart (a random bank clip, the chosen bed clip as recorded, mastered, looped as the bed, pulsed, the
whole scene; ``ladder_audio``), with the manga pages' c2st against the clips of each category and against clips
in the whole corpus's category proportions (``corpus_balanced``). Beside the four links, each part gets the
plan's own links to the audio (``plan_onset_rate->onset_rate``, ``plan_tempo->tempo``: is a link lost in the plan
or in the audio?).
``--draws N``: per part, the share of 2000 seeded draws of N of its pages on which each link falls under
``LINK_TARGET`` (how likely a held-out set of N such pages, e.g. the 20 held-out colour pages, misses it).
``--reference bank``: the c2st against the shipped bank's own recordings (their first 10 s) instead of the tuning
clips: the bank's clips are told from the held-out clips about as often as chance, but from the tuning clips (the
corpus less the bank and the held-out clips) well above it, so against those a scene made of bank clips starts
from a floor (``realism_floor.py``).
``--only manga|western``: those pages alone (a quicker look at one part). ``--dump FILE``: one JSON line per
candidate and page (page features, the plan's tempo and onset-rate targets, the audio's measures). A cache of all
pages serves any ``--step``.
"""

from __future__ import annotations

import argparse
import copy
import csv
import json
import os
import pickle
import sys
from dataclasses import replace
from collections import Counter
from pathlib import Path

import numpy as np
import soxr

import bd2music.pipeline as P
from bd2music.audio.eq import match_points
from bd2music.audio.load import load_audio
from bd2music.backends.base import Layer
from bd2music.evaluation import listening as L
from bd2music.master import master

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("BD2MUSIC_DATA", REPO.parent / "shared" / "data"))


def tuning_clips(step: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """(features, category) of every ``step``-th real clip that is neither held out nor in the bank, for the c2st
    (features at the generated tracks' rate path)."""
    held = set((REPO / "tests/data/sounds_heldout.txt").read_text().split())
    bank = {row["source_path"] for row in csv.DictReader(open(REPO / "weights/bank/manifest.csv"))}
    rows = csv.DictReader(open(DATA / "sounds/manifest.csv"))
    pool = [row for row in rows if row["file"] not in held and row["source_path"] not in bank][::step]
    clips = [load_audio(DATA / "sounds" / row["file"]).samples for row in pool]
    features = np.stack([L.clip_features(soxr.resample(clip, 16000, 44100), 44100) for clip in clips])
    return features, np.array([row["category"] for row in pool])


def bank_excerpts(bank, seconds: float = 10.0) -> list[np.ndarray]:
    """The first ``seconds`` of every clip of ``bank``, at the analysis rate (as the real clips are stored)."""
    rate = L.ANALYSIS_SAMPLE_RATE
    return [np.asarray(bank.audio(index, rate), np.float32)[: round(seconds * rate)] for index in range(len(bank))]


def bank_clips(bank, excerpts: list[np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(features, category) of every clip of the shipped bank (``bank_excerpts``, unless given, at the real clips'
    path), the recordings the scene is made of: the reference of ``--reference bank``."""
    excerpts = bank_excerpts(bank) if excerpts is None else excerpts
    return L.real_features(excerpts, L.ANALYSIS_SAMPLE_RATE, 44100), np.array([clip.category for clip in bank.clips])


def corpus_balanced(categories: np.ndarray, seed: int = 0) -> np.ndarray:
    """Indices of a subsample of the tuning clips whose categories come in the whole sound corpus's proportions
    (the bank takes few music clips, so the clips left for tuning hold about twice the corpus's share of music)."""
    counts = Counter(row["category"] for row in csv.DictReader(open(DATA / "sounds/manifest.csv")))
    shares = {name: count / sum(counts.values()) for name, count in counts.items()}
    have = Counter(categories)
    size = min(have[name] / shares[name] for name in shares if shares[name] > 0)
    rng = np.random.default_rng(seed)
    return np.sort(np.concatenate([rng.choice(np.flatnonzero(categories == name), round(size * share),
                                              replace=False) for name, share in shares.items()]))


LADDER = ("bank", "raw", "raw+master", "bed", "bed+pulse", "scene")


def ladder_audio(scene, plan, stage: str, page: int, config, seed: int = 0) -> tuple[np.ndarray, int]:
    """(audio, rate) of one stage of the scene for a page-mode plan: ``bank`` a random bank clip, ``raw`` the bed
    clip the scene chooses, as recorded (at most the track's length), ``raw+master`` that clip mastered to the
    plan's loudness, ``bed`` the bed as rendered (looped, levelled, tilted) and mastered, ``bed+pulse`` with its
    pulse, ``scene`` the whole scene (events and lettering too), each mastered."""
    if stage == "scene":
        return master(scene.render(plan, seed), config, target_lufs=plan.loudness).audio, 44100
    rate, segment = scene.sample_rate, plan.segments[0]
    length = round(plan.seconds * rate)
    rng = np.random.default_rng([seed, 0])
    bed, events = scene.choose(segment, rng)
    clip = int(np.random.default_rng(page).integers(len(scene.bank))) if stage == "bank" else (bed or events)[0]
    if stage in ("bank", "raw"):
        return soxr.resample(np.asarray(scene.bank.audio(clip))[:length], rate, 44100), 44100
    if stage == "raw+master":
        audio = np.asarray(scene.bank.audio(clip))[:length]
    else:
        audio = scene._bed(clip, length, segment.flatness, rng)
        if stage == "bed+pulse":
            audio = audio * scene._pulse(segment, length)
        audio = scene._tilt(audio, segment.centroid)
    return master([Layer("scene", audio, rate)], config, target_lufs=plan.loudness).audio, 44100


def listen_stage(scene, plans: list, stage: str, config, seed: int) -> tuple[np.ndarray, list[dict]]:
    """(clip features (pages, features), audio measures per page) of one ``ladder_audio`` stage of every plan."""
    generated, measured = [], []
    for page, plan in enumerate(plans):
        audio, rate = ladder_audio(scene, plan, stage, page, config, seed)
        generated.append(L.clip_features(audio, rate))
        measured.append(L.audio_measures(audio, rate))
    return np.stack(generated), measured


def planned_pages(pipeline: P.Pipeline, step: int, cache: Path | None) -> list[tuple[str, object, dict]]:
    """(page name, plan, page features) of every ``step``-th training page, read from ``cache`` when it has them."""
    held = set((REPO / "tests/data/comic_vae_heldout.txt").read_text().split())
    pages = [page for page in sorted((DATA / "comics").glob("*.jpg")) if page.name not in held][::step]
    if cache is not None and cache.exists():  # a cache of these pages, or of more pages that hold them all
        cached = {name: (name, plan, features) for name, plan, features in pickle.loads(cache.read_bytes())}
        if all(page.name in cached for page in pages):
            return [cached[page.name] for page in pages]
    planned = []
    for page in pages:
        result = pipeline(page, seconds=10, seed=0, sound="scene", rtl="openmantra" in page.name)
        planned.append((page.name, result.plan, result.analysis.features.normalised_scalars()))
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_bytes(pickle.dumps(planned))
    return planned


def with_tables(plan, calibration, tables: dict[str, list[float]]):
    """A copy of ``plan`` whose targets in ``tables`` are re-read from the heads' readings with those tables."""
    plan = copy.copy(plan)
    plan.segments = [copy.copy(segment) for segment in plan.segments]
    for segment in plan.segments:
        for name, table in tables.items():
            shipped = float(calibration.apply(name, segment.raw[name]))
            wanted = float(np.interp(segment.raw[name], calibration.source[name], table))
            setattr(segment, name, getattr(segment, name) - shipped + wanted)
    return plan


LINK_TARGET = 0.6  # the structure links' target (issue 20)


def under_target(features: list[dict], measured: list[dict], size: int, draws: int = 2000) -> dict[str, float]:
    """Per link, the share of ``draws`` seeded draws of ``size`` pages whose rho is under ``LINK_TARGET``."""
    rng = np.random.default_rng(0)
    counts: Counter[str] = Counter()
    for _ in range(draws):
        pick = rng.choice(len(features), size=min(size, len(features)), replace=False)
        for link, rho in L.linked([features[i] for i in pick], [measured[i] for i in pick]).items():
            counts[link] += bool(rho < LINK_TARGET)
    return {link: round(count / draws, 2) for link, count in counts.items()}


PLANNED = (("plan_onset_rate", "onset_rate"), ("plan_tempo", "tempo"), ("plan_tempo", "onset_rate"))


def targets(plan) -> dict[str, float]:
    """The plan's tempo and onset-rate targets (``plan_*``) of a page-mode plan (its one segment)."""
    return {"plan_onset_rate": plan.segments[0].onset_rate, "plan_tempo": plan.segments[0].tempo}


def feature_aucs(generated: np.ndarray, real: np.ndarray, top: int = 8) -> list[tuple[str, float]]:
    from sklearn.metrics import roc_auc_score

    labels = np.r_[np.ones(len(generated)), np.zeros(len(real))]
    aucs = [(name, roc_auc_score(labels, np.r_[generated[:, k], real[:, k]])) for k, name in enumerate(L.FEATURE_NAMES)]
    return sorted(aucs, key=lambda item: -abs(item[1] - 0.5))[:top]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("candidates", nargs="+", help="JSON objects, one per candidate")
    parser.add_argument("--step", type=int, default=1, help="every step-th training page")
    parser.add_argument("--c2st-seeds", type=int, default=5)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="render seeds (a row each, then the mean)")
    parser.add_argument("--clip-step", type=int, default=3, help="every clip-step-th tuning clip (1: all 378)")
    parser.add_argument("--cache", type=Path, help="pickle of the analysed and planned pages (read or written)")
    parser.add_argument("--draws", type=int, help="share of draws of this many pages per part with a link under target")
    parser.add_argument("--only", choices=("manga", "western"), help="only the manga or the western pages")
    parser.add_argument("--dump", type=Path, help="JSON lines: per candidate and page, the plan's and the audio's numbers")
    parser.add_argument("--features", action="store_true", help="print the manga pages' per-feature AUCs")
    parser.add_argument("--fit-match", action="store_true",
                        help="print the matching EQ (match_db) bringing the tracks' mean log-mel to the clips'")
    parser.add_argument("--reference", choices=("tuning", "bank"), default="tuning",
                        help="the real side of the c2st: the tuning clips (neither held out nor in the bank) or the "
                             "shipped bank's own recordings")
    parser.add_argument("--ladder", action="store_true",
                        help=f"measure each stage of the scene ({', '.join(LADDER)}) instead of the scene alone")
    args = parser.parse_args()
    pipeline = P.Pipeline.from_pretrained(device="cpu")
    real, categories = (tuning_clips(args.clip_step) if args.reference == "tuning"
                        else bank_clips(pipeline.backend("scene").bank))
    balanced = corpus_balanced(categories)
    planned = planned_pages(pipeline, args.step, args.cache)
    if args.only:
        planned = [row for row in planned if ("openmantra" in row[0]) == (args.only == "manga")]
    manga = np.array(["openmantra" in name for name, _, _ in planned])
    scene = pipeline.backend("scene")
    base, calibration, master_base = scene.config, pipeline.planner.config.calibration, pipeline.master_config
    source = calibration.source["tempo"]
    before = json.loads((REPO / "benchmarks/planner_before_tuning.json").read_text())["calibration"]

    def c2st(rows: np.ndarray, clips: np.ndarray = real) -> float:
        return round(float(np.mean([L.c2st_accuracy(rows, clips, seed=s) for s in range(args.c2st_seeds)])), 3)

    for spec in args.candidates:
        options = json.loads(spec)
        tables = options.pop("_table", {})
        if "_tempo" in options:
            tables["tempo"] = np.geomspace(*options.pop("_tempo"), len(source)).tolist()
        if options.pop("_old_tempo", False):
            tables["tempo"] = np.interp(source, before["source"]["tempo"], before["target"]["tempo"]).tolist()
        config = replace(master_base, **options.pop("_master", {}))
        scene.config = replace(base, **options)
        for stage in LADDER if args.ladder else ("scene",):
            rows = []
            for seed in args.seeds:
                generated, measured = listen_stage(scene, [with_tables(plan, calibration, tables)
                                                           for _, plan, _ in planned], stage, config, seed)
                row = {"c2st": c2st(generated), "pages": len(planned)}
                for part, keep in (("manga", manga), ("western", ~manga)):
                    if keep.sum() >= 5:  # enough tracks for the folds
                        row |= {f"c2st_{part}": c2st(generated[keep]),
                                f"c2st_{part}_balanced": c2st(generated[keep], real[balanced])}
                if args.ladder:
                    row |= {f"c2st_manga_vs_{name}": c2st(generated[manga], real[categories == name])
                            for name in sorted(set(categories))}
                for part, keep in (("manga", manga), ("western", ~manga)):
                    index = np.flatnonzero(keep)
                    if len(index) < 3:
                        continue
                    rhos = L.linked([planned[i][2] for i in index], [measured[i] for i in index])
                    row |= {f"{part}:{link}": round(rho, 2) for link, rho in rhos.items()}
                    if args.draws:
                        shares = under_target([planned[i][2] for i in index], [measured[i] for i in index], args.draws)
                        row |= {f"{part}:P({link}<{LINK_TARGET}|{args.draws})": share
                                for link, share in shares.items() if "colourfulness" not in link or part == "western"}
                    rhos = L.linked([targets(planned[i][1]) for i in index], [measured[i] for i in index], PLANNED)
                    row |= {f"{part}:{link}": round(rho, 2) for link, rho in rhos.items()}
                if args.dump:
                    with args.dump.open("a") as out:
                        for (name, plan, features), numbers in zip(planned, measured):
                            row_json = {"candidate": spec, "stage": stage, "seed": seed, "page": name,
                                        "features": features, "plan": targets(plan), "audio": numbers}
                            out.write(json.dumps(row_json) + "\n")
                print(spec, stage, f"seed {seed}", json.dumps(row), flush=True)
                rows.append(row)
                if args.features:
                    for name, auc in feature_aucs(generated[manga], real):
                        print(f"    {name}: AUC {auc:.2f}")
                if args.fit_match:
                    print("    match_db", json.dumps(match_points(generated, real)), flush=True)
            if len(rows) > 1:  # the mean over the seeds
                print(spec, stage, "mean", json.dumps({key: round(float(np.mean([r[key] for r in rows])), 3)
                                                      for key in rows[0]}), flush=True)
        scene.config = base
    return 0


if __name__ == "__main__":
    sys.exit(main())
