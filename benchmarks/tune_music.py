"""Tuning the music backend on TRAINING data only: generated music vs the training music clips.

    python benchmarks/tune_music.py ['{"composer": {"drums_from": 1.5}, "production": {"drive_db": 0}}' ...]
    BD2MUSIC_TUNE_PAGES=30 python benchmarks/tune_music.py   # a quicker, noisier look
    BD2MUSIC_TUNE_REST=1 python benchmarks/tune_music.py     # the other training pages: a second look
    BD2MUSIC_TUNE_PAGES=1000 BD2MUSIC_TUNE_SEEDS=3 python benchmarks/tune_music.py   # every training page, 3 draws
    BD2MUSIC_TUNE_PAGES=1000 BD2MUSIC_TUNE_KIND=colour python benchmarks/tune_music.py  # its colour pages only

70 training pages (the comics minus tests/data/comic_vae_heldout.txt, seeded draw; BD2MUSIC_TUNE_PAGES; with
BD2MUSIC_TUNE_REST=1 the training pages that draw leaves out, to confirm a choice on pages it was not made on),
10 s of ``--sound music`` each (optionally with other music settings: each argument is one variant, a JSON object of
MusicConfig fields merged into weights/pipeline.json's; none: the shipped settings), against every music clip of
shared/data/sounds outside tests/data/sounds_heldout.txt: the realism c2st (and its mean over 5 seeds of the real
clips' subsample and the folds), the same without the top spectral-contrast band (a
diagnostic: see ``TOP_BAND``), the features that tell the sides apart most (standardised mean difference and
the feature's own AUC: 0.5 = no help to the classifier), the structure links on the training pages, the plan's
onset targets against the onset rates heard (planned -> measured), the frame-level range, harmonic share and key
clarity (medians), the instruments played most, the render stage's time (median per page); and per kind of
page (``groups``: manga, like eval_pages, and colour, like the held-out colour comics) the c2st on as many tracks
as the smaller kind has and the onset and tempo links. With BD2MUSIC_TUNE_SEEDS=n (default 1) every page is
rendered with seeds 0..n-1, each seed drawing other pieces, composer turns and instruments, and the links per kind
are also given over those draws and over random 20-page sets of the kind (the size of the held-out colour set):
their mean, standard deviation and 10th percentile, so that a change is judged on its robustness, not on one draw.
With BD2MUSIC_TUNE_FIT_MATCH=1 it prints the matching EQ (``production.match_db``, ``bd2music.audio.eq``'s
``match_points``) that brings the tracks' mean log-mel (draw 0) to the clips'. The held-out pages and clips stay
for bench_sound.py.

Cached in the system's temporary folder: the real clips' features (they depend on nothing this script tunes) and
the pages' analyses and plans (keyed by the pages, weights/pipeline.json without its music settings and
weights/hub.json), so that each variant only renders and masters, as ``Pipeline.__call__`` does after its plan.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("BD2MUSIC_DATA", REPO.parent / "shared" / "data"))
CACHE = Path(tempfile.gettempdir())
# The top spectral-contrast band (6.4-8 kHz at the analysis rate) reads mostly the valley under its Nyquist, which
# the real clips (stored at 16 kHz, then taken through the round trip of ``listening.realism_c2st``) have deeper
# than any track made at 44.1 kHz: the c2st without it is printed beside the metric's, as a diagnostic only.
TOP_BAND = "contrast6_mean"


def training_set() -> tuple[list[Path], list[Path]]:
    """(training pages drawn with seed 0, or the rest of them with BD2MUSIC_TUNE_REST, training music clips), the
    held-out ones left out."""
    held_pages = set((REPO / "tests/data/comic_vae_heldout.txt").read_text().split())
    held_clips = {line for line in (REPO / "tests/data/sounds_heldout.txt").read_text().splitlines()
                  if line and not line.startswith("#")}
    rng = np.random.default_rng(0)
    pages = [p for p in sorted((DATA / "comics").glob("*.jpg")) if p.name not in held_pages]
    count = int(os.environ.get("BD2MUSIC_TUNE_PAGES", 70))
    drawn = set(rng.choice(len(pages), min(count, len(pages)), replace=False).tolist())
    rest = os.environ.get("BD2MUSIC_TUNE_REST", "") not in ("", "0")
    pages = [page for i, page in enumerate(pages) if (i in drawn) != rest]
    clips = [p for p in sorted((DATA / "sounds" / "music").iterdir())
             if p.suffix != ".md" and f"music/{p.name}" not in held_clips]
    return pages, clips


def real_features(clips: list[Path]) -> np.ndarray:
    import soxr

    from bd2music.audio.load import load_audio
    from bd2music.evaluation import listening as L

    digest = hashlib.sha256("\n".join(str(c) for c in clips).encode()).hexdigest()[:12]
    cache = CACHE / f"bd2music_tune_music_real_{digest}.npy"
    if cache.is_file():
        return np.load(cache)
    recorded = np.stack([L.clip_features(soxr.resample(load_audio(c).samples, 16_000, 44_100), 44_100)
                         for c in clips])
    np.save(cache, recorded)
    return recorded


def page_plans(pipeline, pages: list[Path]) -> list[tuple[np.ndarray, object]]:
    """(the page's normalised features, its plan) for each page, as ``Pipeline.__call__`` makes them (seed 0)."""
    settings = {k: v for k, v in pipeline.index.settings.items() if k != "music"}
    key = json.dumps([[p.name for p in pages], settings, "page_id"], sort_keys=True)  # "page_id": plans that carry
    key += (REPO / "weights/hub.json").read_text()  # one (older caches hold plans without it)
    cache = CACHE / f"bd2music_tune_music_plans_{hashlib.sha256(key.encode()).hexdigest()[:12]}.pkl"
    if cache.is_file():
        return pickle.loads(cache.read_bytes())
    planned = []
    for page in pages:
        result = pipeline(page, seconds=10.0, seed=0, sound="music", rtl="openmantra" in page.name)
        planned.append((result.analysis.features.normalised_scalars(), result.plan))
    cache.write_bytes(pickle.dumps(planned))
    return planned


def groups(pages: list[Path]) -> dict[str, np.ndarray]:
    """Masks of the page kinds the held-out sets hold: black-and-white manga (eval_pages are manga pages; the
    training comics' openmantra pages are their like) and colour pages (the held-out colour comics' like)."""
    manga = np.array(["openmantra" in p.name for p in pages])
    return {"manga": manga, "colour": ~manga & np.array(["xkcd" not in p.name for p in pages])}


def evaluate(pipeline, planned, recorded: np.ndarray, shipped: dict, variant: dict,
             kinds: dict[str, np.ndarray] | None = None) -> None:
    from scipy.stats import spearmanr
    from sklearn.metrics import roc_auc_score

    from bd2music.evaluation import listening as L
    from bd2music.master import master

    settings = json.loads(json.dumps(shipped))  # each variant from the shipped settings
    for name, value in variant.items():
        settings[name] = settings.get(name, {}) | value if isinstance(value, dict) else value
    pipeline.index.settings["music"] = settings
    pipeline.backends.pop("music", None)
    backend = pipeline.backend("music")
    made, scores, seconds = [], [], []
    draws = int(os.environ.get("BD2MUSIC_TUNE_SEEDS", 1))
    for seed in range(draws):
        for _, plan in planned:
            start = time.perf_counter()
            layers = backend.render(plan, seed)
            seconds.append(time.perf_counter() - start)
            made.append(master(layers, pipeline.master_config, target_lufs=plan.loudness).audio)
            scores.append(layers[0].score)
    measured = [L.audio_measures(t, 44_100) for t in made]
    generated = np.stack([L.clip_features(t, 44_100) for t in made])
    print(f"== {json.dumps(variant) if variant else 'shipped settings'}")
    if draws > 1:  # the links and the c2st over the draws; the rest on draw 0
        drawn_links(planned, measured, kinds or {})
        per_draw = np.split(generated, draws)
        c2sts = [L.c2st_accuracy(g, recorded, seed=s) for s, g in enumerate(per_draw)]
        print(f"c2st per draw {np.round(c2sts, 3).tolist()} mean {np.mean(c2sts):.3f}; the rest on draw 0")
        made, scores, measured = made[: len(planned)], scores[: len(planned)], measured[: len(planned)]
        generated = per_draw[0]
    if save := os.environ.get("BD2MUSIC_TUNE_SAVE", ""):  # the tracks' features, the real clips' and the pages'
        name = hashlib.sha256(json.dumps(variant, sort_keys=True).encode()).hexdigest()[:8]
        np.savez(f"{save}_{name}.npz", generated=generated, recorded=recorded,
                 manga=np.asarray((kinds or {}).get("manga", [])), colour=np.asarray((kinds or {}).get("colour", [])))
        print(f"features saved in {save}_{name}.npz")
    if os.environ.get("BD2MUSIC_TUNE_FIT_MATCH", "") not in ("", "0"):  # the matching EQ these tracks would need
        from bd2music.audio.eq import match_points

        print("match_db", json.dumps(match_points(generated, recorded)))
    seeds = [L.c2st_accuracy(generated, recorded, seed=seed) for seed in range(5)]
    print(f"realism c2st {seeds[0]:.3f} (seeds 0-4 of the subsample and folds: mean {np.mean(seeds):.3f}, "
          f"{min(seeds):.3f}-{max(seeds):.3f})")
    below = [i for i, name in enumerate(L.FEATURE_NAMES) if name != TOP_BAND]
    print(f"c2st without the top contrast band (diagnostic, mean of 5 seeds): "
          f"{np.mean([L.c2st_accuracy(generated[:, below], recorded[:, below], seed=s) for s in range(5)]):.3f}")
    spread = np.sqrt((generated.var(0) + recorded.var(0)) / 2 + 1e-9)
    effect = (generated.mean(0) - recorded.mean(0)) / spread
    sides = np.repeat([0, 1], [len(generated), len(recorded)])
    both = np.concatenate([generated, recorded])
    for i in np.argsort(-np.abs(effect))[:12]:
        print(f"{L.FEATURE_NAMES[i]:22s} d={effect[i]:+.2f} AUC {roc_auc_score(sides, both[:, i]):.2f} "
              f"generated {generated[:, i].mean():.3f} real {recorded[:, i].mean():.3f}")
    print("links", {k: round(v, 2) for k, v in L.linked([f for f, _ in planned], measured).items()})
    kinds = kinds or {}
    size = min((int(m.sum()) for m in kinds.values()), default=0)  # as many tracks as the smaller kind has
    for kind, mask in kinds.items():  # c2st on ``size`` of each kind's tracks, subsampled 5 times
        rng = np.random.default_rng(0)
        draws = [np.sort(rng.choice(np.flatnonzero(mask), size, replace=False)) for _ in range(5)]
        c2st = np.mean([L.c2st_accuracy(generated[d], recorded, seed=s) for s, d in enumerate(draws)])
        links = L.linked([f for (f, _), m in zip(planned, mask) if m], [x for x, m in zip(measured, mask) if m])
        print(f"{kind} pages ({mask.sum()}): c2st on {size} of them {c2st:.3f}, edge density -> onsets "
              f"{links['edge_density->onset_rate']:.2f}, panel count -> tempo {links['panel_count->tempo']:.2f}")
    targets = [np.average([s.onset_rate for s in p.segments], weights=[s.duration for s in p.segments])
               for _, p in planned]
    heard = [m["onset_rate"] for m in measured]
    print(f"planned -> measured onsets rho {spearmanr(targets, heard)[0]:.2f}, measured {np.median(heard):.2f}/s "
          f"(median; real {np.median(recorded[:, L.FEATURE_NAMES.index('onset_rate')]):.2f}/s)")
    level = L.FEATURE_NAMES.index("level_db_range")
    print(f"frame level range {np.median(generated[:, level]):.1f} dB (median; real "
          f"{np.median(recorded[:, level]):.1f} dB)")
    played = Counter(name for score in scores for section in score.sections
                     for name in section["instruments"].values() if isinstance(name, str))
    print("instruments (sections)", dict(played.most_common()))
    keys = [L.key_clarity(t, 44_100) for t in made]
    print(f"harmonic share {np.median([L.harmonic_share(t, 44_100) for t in made]):.2f}, key clarity "
          f"{np.median([clarity for _, clarity in keys]):.2f} (medians), {len({k for k, _ in keys})} keys heard; "
          f"render {np.median(seconds):.3f} s per page (median)", flush=True)


SUBSET = 20  # pages in each random set of ``drawn_links`` (the held-out colour set's size)
LINKS = ("edge_density->onset_rate", "panel_count->tempo", "brightness->spectral_centroid")


def drawn_links(planned, measured: list[dict], kinds: dict[str, np.ndarray], sets: int = 30) -> None:
    """The links of each kind of page over the draws (``measured``: the pages of each seed one after the other)
    and over ``sets`` random ``SUBSET``-page sets of the kind per draw: mean, standard deviation, 10th percentile."""
    from bd2music.evaluation import listening as L

    features = [f for f, _ in planned]
    draws = len(measured) // len(planned)
    for kind, mask in ({"all": np.ones(len(planned), bool)} | kinds).items():
        pages = np.flatnonzero(mask)
        whole = {name: [] for name in LINKS}
        sets_ = {name: [] for name in LINKS}
        rng = np.random.default_rng(0)
        for draw in range(draws):
            heard = measured[draw * len(planned): (draw + 1) * len(planned)]
            for name, value in L.linked([features[i] for i in pages], [heard[i] for i in pages]).items():
                if name in whole:
                    whole[name].append(value)
            for _ in range(sets if len(pages) > SUBSET else 0):
                chosen = rng.choice(pages, SUBSET, replace=False)
                for name, value in L.linked([features[i] for i in chosen], [heard[i] for i in chosen]).items():
                    if name in sets_:
                        sets_[name].append(value)
        text = "; ".join(f"{name.split('->')[0]} {np.mean(whole[name]):.2f} (draws {np.round(whole[name], 2).tolist()}"
                         + (f", {SUBSET}-page sets {np.mean(sets_[name]):.2f} sd {np.std(sets_[name]):.2f} "
                            f"p10 {np.percentile(sets_[name], 10):.2f}" if sets_[name] else "") + ")"
                         for name in LINKS)
        print(f"draws x sets, {kind} pages ({len(pages)}): {text}")


def main() -> int:
    from bd2music.pipeline import Pipeline

    pages, clips = training_set()
    pipeline = Pipeline.from_pretrained(device="cpu")
    recorded = real_features(clips)
    planned = page_plans(pipeline, pages)
    if kind := os.environ.get("BD2MUSIC_TUNE_KIND", ""):  # only the pages of one kind (``groups``)
        mask = groups(pages)[kind]
        pages, planned = [p for p, m in zip(pages, mask) if m], [p for p, m in zip(planned, mask) if m]
    print(f"{len(pages)} training pages against {len(clips)} training music clips")
    shipped = pipeline.index.settings.get("music", {})
    for variant in [json.loads(arg) for arg in sys.argv[1:]] or [{}]:
        evaluate(pipeline, planned, recorded, shipped, variant, {k: m for k, m in groups(pages).items() if m.any()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
