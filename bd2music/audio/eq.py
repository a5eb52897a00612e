"""A matching EQ: a long-term spectrum bent towards a reference's by a smooth gain curve.

``match_eq(audio, rate, points)`` applies the curve of ``points`` ((Hz, dB), gains interpolated on a log frequency
scale between them and held beyond) in the frequency domain, zero phase. ``match_points`` fits such a curve from
two sets of ``listening.clip_features``: the difference of their MFCC means (the DCT of the mean log-mel, in dB)
without the level's coefficient, turned back into one gain per mel band, which is the difference of the two
sets' mean log-mel spectra smoothed to the cepstrum's resolution.

``tilt_gain`` is the other curve the backends use: a straight line in dB over log frequency, steep enough to bring
a spectrum's mean centroid to a target.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

MATCH_BAND_HZ = (40.0, 6400.0)  # mel bands whose gains a fitted curve keeps (the top band reads the clips' storage)
MATCH_MAX_DB = 10.0  # largest boost or cut of a fitted curve


def check_points(points: Sequence[Sequence[float]], name: str) -> None:
    """ValueError naming ``name`` unless ``points`` are (Hz, dB) pairs of finite numbers with Hz above 0."""
    for point in points:
        if (len(point) != 2 or not all(isinstance(v, (int, float)) and np.isfinite(v) for v in point)
                or point[0] <= 0):
            raise ValueError(f"{name}: each point must be (Hz above 0, dB), got {list(point)}")


def match_eq(audio: np.ndarray, rate: int, points: Sequence[Sequence[float]]) -> np.ndarray:
    """``audio`` (..., samples) through the matching EQ of ``points`` ((Hz, dB)), zero phase."""
    from scipy.fft import irfft, next_fast_len, rfft

    hz, db = np.array(sorted(points), dtype=np.float64).T
    n = audio.shape[-1]
    size = next_fast_len(n, real=True)
    freqs = np.maximum(np.fft.rfftfreq(size, 1.0 / rate), 1.0)
    gain = (10 ** (np.interp(np.log(freqs), np.log(hz), db) / 20)).astype(np.float32)
    return irfft(rfft(audio, n=size, axis=-1) * gain, n=size, axis=-1)[..., :n].astype(np.float32)


def match_points(made: np.ndarray, reference: np.ndarray, scale: float = 1.0) -> list[list[float]]:
    """(Hz, dB) points of the EQ that brings ``made``'s mean log-mel to ``reference``'s (both (clips, features) of
    ``listening.clip_features``), times ``scale``: one point per mel band centre within ``MATCH_BAND_HZ``, each
    gain within ``MATCH_MAX_DB``."""
    import librosa
    from scipy.fft import idct

    from bd2music.audio.load import ANALYSIS_SAMPLE_RATE
    from bd2music.evaluation import listening as L

    means = [L.FEATURE_NAMES.index(f"mfcc{i}_mean") for i in range(L.N_MFCC)]
    cepstrum = np.zeros(L.N_MELS)
    cepstrum[: L.N_MFCC] = np.asarray(reference)[:, means].mean(0) - np.asarray(made)[:, means].mean(0)
    cepstrum[0] = 0.0  # the level: the master sets the loudness
    gains = idct(cepstrum, type=2, norm="ortho") * scale
    hz = librosa.mel_frequencies(n_mels=L.N_MELS + 2, fmin=0.0, fmax=ANALYSIS_SAMPLE_RATE / 2)[1:-1]
    low, high = MATCH_BAND_HZ
    return [[round(float(f), 1), round(float(np.clip(g, -MATCH_MAX_DB, MATCH_MAX_DB)), 2)]
            for f, g in zip(hz, gains) if low <= f <= high]


def tilt_gain(magnitude: np.ndarray, freqs: np.ndarray, centroid: float, max_db: float,
              pivot_hz: float = 1000.0) -> np.ndarray:
    """Magnitude gains (bins,) of the tilt (dB linear in log frequency, 0 at ``pivot_hz``, at most ``max_db`` at
    the end farthest from it) that brings the mean spectral centroid of ``magnitude`` (bins, frames; bins at
    ``freqs`` Hz) to ``centroid`` Hz as nearly as ``max_db`` allows. The centroid is each frame's
    magnitude-weighted mean frequency (librosa's), averaged over the frames that are not silent."""
    octaves = np.log2(np.maximum(freqs, 20.0) / pivot_hz)
    span = np.abs(octaves).max()

    def centroid_at(slope_db: float) -> float:
        tilted = magnitude * (10 ** (slope_db * octaves / span / 20))[:, None]
        frames = tilted.sum(axis=0)
        valid = frames > 1e-12
        if not valid.any():
            return float(centroid)
        return float(np.mean((freqs @ tilted[:, valid]) / frames[valid]))

    low, high = -max_db, max_db
    for _ in range(20):  # the centroid grows with the slope: bisection
        middle = (low + high) / 2
        low, high = (middle, high) if centroid_at(middle) < centroid else (low, middle)
    return 10 ** ((low + high) / 2 * octaves / span / 20)
