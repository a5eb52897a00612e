"""Listening metrics on the held-out real clips: the real side every generated track is compared with.

    python benchmarks/listening_real.py [--json docs/listening_real.json]

Reads the clips of tests/data/sounds_heldout.txt from $BD2MUSIC_DATA/sounds (default shared/data/sounds beside
the repository), as they are (mono, 16 kHz, at most the first ``CLIP_SECONDS``), and computes per clip the metrics
of ``bd2music.evaluation.listening``: frame-rate buzz (at 16 kHz / hop 256), staticness, harmonic share, key and
key clarity, near-silent share, silent or clipped. Per category and over all clips it reports the medians and the
distinctness (mean pairwise spectral distance); and the classifier two-sample test between two halves of the
clips (every other clip of each category), which is what "indistinguishable" looks like with this many clips,
and between music and the other categories. Prints a markdown table and writes the JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import warnings
from pathlib import Path

import numpy as np

from bd2music.audio.load import ANALYSIS_SAMPLE_RATE, load_audio
from bd2music.evaluation import listening

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("BD2MUSIC_DATA", REPO.parent / "shared" / "data"))
HELDOUT = REPO / "tests" / "data" / "sounds_heldout.txt"
CLIP_SECONDS = 10.0  # longer clips are cut to their first 10 s, the length of a generated track
BUZZ_HOP = 256  # the vocoder's hop at 16 kHz: a 62.5 Hz frame rate
PER_CLIP = ("buzz_db", "staticness", "harmonic_share", "key_clarity", "near_silent_share")


def heldout_clips(sounds: Path) -> dict[str, np.ndarray]:
    """Held-out file -> mono 16 kHz samples (first CLIP_SECONDS), in the list's order."""
    names = [line.strip() for line in HELDOUT.read_text().splitlines() if line.strip() and not line.startswith("#")]
    limit = int(CLIP_SECONDS * ANALYSIS_SAMPLE_RATE)
    return {name: load_audio(sounds / name).samples[:limit] for name in names}


def clip_metrics(samples: np.ndarray) -> dict[str, float | str | None]:
    sr = ANALYSIS_SAMPLE_RATE
    key, clarity = listening.key_clarity(samples, sr)
    return {
        "seconds": round(len(samples) / sr, 2),
        "buzz_db": listening.frame_rate_buzz_db(samples, sr, BUZZ_HOP),
        "staticness": listening.staticness(samples, sr),
        "harmonic_share": listening.harmonic_share(samples, sr),
        "key": key,
        "key_clarity": clarity,
        "near_silent_share": listening.near_silent_share(samples),
        "flag": listening.silent_or_clipped(samples),
    }


def summary(names: list[str], clips: dict[str, np.ndarray], metrics: dict[str, dict]) -> dict[str, float | int]:
    rows = [metrics[name] for name in names]
    return {
        "clips": len(names),
        **{f"{column}_median": float(np.median([row[column] for row in rows])) for column in PER_CLIP},
        "distinctness_db": listening.distinctness_db([clips[name] for name in names], ANALYSIS_SAMPLE_RATE),
        "keys": len({row["key"] for row in rows}),
        "silent_or_clipped": sum(row["flag"] is not None for row in rows),
    }


def table(groups: dict[str, dict]) -> str:
    columns = ["clips", *(f"{c}_median" for c in PER_CLIP), "distinctness_db", "keys", "silent_or_clipped"]
    lines = ["| group | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for group, values in groups.items():
        cells = [f"{values[c]:.3g}" if isinstance(values[c], float) else str(values[c]) for c in columns]
        lines.append(f"| {group} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, default=REPO / "docs" / "listening_real.json")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", message="n_fft=.* is too large", category=UserWarning)  # sub-second clips
    clips = heldout_clips(DATA / "sounds")
    metrics = {name: clip_metrics(samples) for name, samples in clips.items()}
    features = {name: listening.clip_features(samples, ANALYSIS_SAMPLE_RATE) for name, samples in clips.items()}
    categories = sorted({name.split("/")[0] for name in clips})
    members = {c: [name for name in clips if name.startswith(c + "/")] for c in categories}
    groups = {group: summary(names, clips, metrics) for group, names in ({"all": list(clips)} | members).items()}
    halves = [[name for c in categories for name in members[c][start::2]] for start in (0, 1)]
    music, other = members["music"], [name for name in clips if name not in members["music"]]
    c2st = {
        "real_half_vs_half": listening.c2st_accuracy(*(np.stack([features[n] for n in half]) for half in halves)),
        "music_vs_other_real": listening.c2st_accuracy(np.stack([features[n] for n in music]),
                                                        np.stack([features[n] for n in other])),
    }
    print(table(groups))
    print("\n" + "\n".join(f"c2st {name}: {value:.3f}" for name, value in c2st.items()))
    report = {
        "clips": str(HELDOUT.relative_to(REPO)),
        "sample_rate": ANALYSIS_SAMPLE_RATE,
        "clip_seconds_max": CLIP_SECONDS,
        "buzz_hop": BUZZ_HOP,
        "c2st": c2st,
        "groups": groups,
        "per_clip": metrics,
    }
    args.json.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
