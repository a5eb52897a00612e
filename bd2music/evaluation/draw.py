"""The drawing targets: test drawings whose one stroke changes one thing (height, thickness, colour), and what a
listener's measurements hear in their sound (pYIN pitch, RMS, spectral centroid), for tests and benchmarks."""

from __future__ import annotations

import librosa
import numpy as np
from scipy.stats import spearmanr

from bd2music.data.drawings import SyntheticDrawing, line_drawing

RATE = 22_050  # the measurements' sample rate
GREY = (0.1, 0.1, 0.1)
SERIES = {  # what changes -> (values, drawing of each value); the other two stay at height 0.5, width 0.02, grey
    "height": ((0.1, 0.3, 0.5, 0.7, 0.9), lambda h: line_drawing(h, 0.02, GREY)),
    "thickness": ((0.005, 0.01, 0.02, 0.04, 0.07), lambda w: line_drawing(0.5, w, GREY)),
    "colour": (("blue", "cyan", "green", "yellow", "red"), lambda c: line_drawing(0.5, 0.02, COLOURS[c])),
}
COLOURS = {"blue": (0, 0, 1), "cyan": (0, 1, 1), "green": (0, 1, 0), "yellow": (1, 1, 0), "red": (1, 0, 0)}
MEASURE = {"height": "pitch_hz", "thickness": "rms", "colour": "centroid_hz"}  # what each series should order


def drawings(series: str) -> list[SyntheticDrawing]:
    values, make = SERIES[series]
    return [make(value) for value in values]


def heard(audio: np.ndarray, sample_rate: int, seconds: float) -> dict[str, float]:
    """Median pYIN pitch (Hz, NaN when nothing is voiced), RMS and mean spectral centroid (Hz) of the first
    ``seconds`` of ``audio`` (channels, samples), mixed to mono at ``RATE``."""
    mono = librosa.resample(np.asarray(audio).mean(axis=0), orig_sr=sample_rate, target_sr=RATE)
    mono = mono[: round(seconds * RATE)]
    f0, voiced, _ = librosa.pyin(mono, fmin=60, fmax=1600, sr=RATE, frame_length=2048)
    return {"pitch_hz": float(np.nanmedian(f0[voiced])) if voiced.any() else float("nan"),
            "rms": float(np.sqrt(np.mean(mono**2))),
            "centroid_hz": float(np.mean(librosa.feature.spectral_centroid(y=mono, sr=RATE)))}


def order(series: str, measured: list[dict[str, float]]) -> float:
    """Spearman rho between the series' order and what was measured (NaN pitches rank lowest)."""
    values = np.nan_to_num([m[MEASURE[series]] for m in measured], nan=-1.0)
    return float(spearmanr(np.arange(len(values)), values)[0])
