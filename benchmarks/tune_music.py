"""Tuning the music backend on TRAINING data only: generated music vs the training music clips.

    python benchmarks/tune_music.py ['{"composer": {"drums_from": 1.5}, "production": {"drive_db": 0}}']
    BD2MUSIC_TUNE_PAGES=30 python benchmarks/tune_music.py   # a quicker, noisier look

70 training pages (the comics minus tests/data/comic_vae_heldout.txt, seeded draw; BD2MUSIC_TUNE_PAGES), 10 s of
``--sound music`` each (optionally with other music settings, a JSON object of MusicConfig fields, merged into
weights/pipeline.json's), against every music clip of shared/data/sounds outside tests/data/sounds_heldout.txt:
the realism c2st, the features that tell the sides apart most (standardised mean difference and the feature's own
AUC: 0.5 = no help to the classifier), the structure links on the training pages, the plan's onset targets against
the onset rates heard (planned -> measured), harmonic share and key clarity (medians), the instruments played most.
The held-out pages and clips stay for bench_sound.py. The real clips' features are cached beside the clips' list
in the system's temporary folder (they depend on nothing this script tunes).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("BD2MUSIC_DATA", REPO.parent / "shared" / "data"))


def main() -> int:
    import soxr
    from scipy.stats import spearmanr
    from sklearn.metrics import roc_auc_score

    from bd2music.audio.load import load_audio
    from bd2music.evaluation import listening as L
    from bd2music.pipeline import Pipeline

    held_pages = set((REPO / "tests/data/comic_vae_heldout.txt").read_text().split())
    held_clips = {line for line in (REPO / "tests/data/sounds_heldout.txt").read_text().splitlines()
                  if line and not line.startswith("#")}
    rng = np.random.default_rng(0)
    pages = [p for p in sorted((DATA / "comics").glob("*.jpg")) if p.name not in held_pages]
    count = int(os.environ.get("BD2MUSIC_TUNE_PAGES", 70))
    pages = [pages[i] for i in sorted(rng.choice(len(pages), min(count, len(pages)), replace=False))]
    clips = [p for p in sorted((DATA / "sounds" / "music").iterdir())
             if p.suffix != ".md" and f"music/{p.name}" not in held_clips]
    pipeline = Pipeline.from_pretrained(device="cpu")
    if len(sys.argv) > 1:
        settings = pipeline.index.settings.setdefault("music", {})
        for name, value in json.loads(sys.argv[1]).items():
            settings[name] = settings.get(name, {}) | value if isinstance(value, dict) else value
    results = [pipeline(p, seconds=10.0, seed=0, sound="music", rtl="openmantra" in p.name) for p in pages]
    made = [r.audio for r in results]
    generated = np.stack([L.clip_features(t, 44_100) for t in made])
    digest = hashlib.sha256("\n".join(str(c) for c in clips).encode()).hexdigest()[:12]
    cache = Path(tempfile.gettempdir()) / f"bd2music_tune_music_real_{digest}.npy"
    if cache.is_file():
        recorded = np.load(cache)
    else:
        recorded = np.stack([L.clip_features(soxr.resample(load_audio(c).samples, 16_000, 44_100), 44_100)
                             for c in clips])
        np.save(cache, recorded)
    print(f"{len(pages)} training pages against {len(clips)} training music clips")
    print(f"realism c2st {L.c2st_accuracy(generated, recorded):.3f}")
    spread = np.sqrt((generated.var(0) + recorded.var(0)) / 2 + 1e-9)
    effect = (generated.mean(0) - recorded.mean(0)) / spread
    sides = np.repeat([0, 1], [len(generated), len(recorded)])
    both = np.concatenate([generated, recorded])
    for i in np.argsort(-np.abs(effect))[:12]:
        print(f"{L.FEATURE_NAMES[i]:22s} d={effect[i]:+.2f} AUC {roc_auc_score(sides, both[:, i]):.2f} "
              f"generated {generated[:, i].mean():.3f} real {recorded[:, i].mean():.3f}")
    features = [r.analysis.features.normalised_scalars() for r in results]
    measured = [L.audio_measures(t, 44_100) for t in made]
    print("links", {k: round(v, 2) for k, v in L.linked(features, measured).items()})
    planned = [np.average([s.onset_rate for s in r.plan.segments], weights=[s.duration for s in r.plan.segments])
               for r in results]
    heard = [m["onset_rate"] for m in measured]
    print(f"planned -> measured onsets rho {spearmanr(planned, heard)[0]:.2f}, measured {np.median(heard):.2f}/s "
          f"(median; real {np.median(recorded[:, L.FEATURE_NAMES.index('onset_rate')]):.2f}/s)")
    played = Counter(name for r in results for section in r.score.sections
                     for name in section["instruments"].values() if isinstance(name, str))
    print("instruments (sections)", dict(played.most_common()))
    keys = [L.key_clarity(t, 44_100) for t in made]
    print(f"harmonic share {np.median([L.harmonic_share(t, 44_100) for t in made]):.2f}, key clarity "
          f"{np.median([clarity for _, clarity in keys]):.2f} (medians), {len({k for k, _ in keys})} keys heard")
    return 0


if __name__ == "__main__":
    sys.exit(main())
