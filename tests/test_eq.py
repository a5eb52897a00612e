"""The matching EQ (``bd2music.audio.eq``): a curve fitted from two sets' features brings one set's long-term
spectrum to the other's; bad points are refused; a tilt reaches its centroid within its bound (the scene's EQ:
``tests/test_scene.py``; the music's production: ``tests/test_production.py``)."""

from __future__ import annotations

import numpy as np
import pytest

from bd2music.audio.eq import check_points, match_eq, match_points, tilt_gain
from bd2music.evaluation import listening as L
from bd2music.music.production import ProductionConfig

RATE = 44_100


def _noises(seed: int, colour: float, count: int = 6) -> list[np.ndarray]:
    """``count`` 2 s noises whose spectrum falls ``colour`` dB per octave (0: white)."""
    rng = np.random.default_rng(seed)
    freqs = np.maximum(np.fft.rfftfreq(2 * RATE, 1 / RATE), 20.0)
    shape = 10 ** (-colour * np.log2(freqs / 1000.0) / 20)
    return [np.fft.irfft(np.fft.rfft(rng.standard_normal(2 * RATE)) * shape).astype(np.float32) * 0.05
            for _ in range(count)]


def _mfcc_means(tracks: list[np.ndarray]) -> np.ndarray:
    means = [L.FEATURE_NAMES.index(f"mfcc{i}_mean") for i in range(1, L.N_MFCC)]
    return np.stack([L.clip_features(t, RATE) for t in tracks])[:, means].mean(0)


def test_a_fitted_curve_brings_the_long_term_spectrum_to_the_references() -> None:
    made, reference = _noises(0, 0.0), _noises(1, 3.0)  # white against a darker noise
    points = match_points(np.stack([L.clip_features(t, RATE) for t in made]),
                          np.stack([L.clip_features(t, RATE) for t in reference]))
    hz, db = np.array(points).T
    assert np.all(np.diff(hz) > 0) and hz[0] >= 40 and hz[-1] <= 6400 and np.abs(db).max() <= 10
    assert db[hz < 300].mean() > db[hz > 2000].mean() + 6  # the darker reference asks for less top
    matched = [match_eq(t, RATE, points) for t in made]
    before = np.abs(_mfcc_means(made) - _mfcc_means(reference)).sum()
    after = np.abs(_mfcc_means(matched) - _mfcc_means(reference)).sum()
    assert after < 0.3 * before
    half = np.array(match_points(np.stack([L.clip_features(t, RATE) for t in made]),
                                 np.stack([L.clip_features(t, RATE) for t in reference]), scale=0.5))[:, 1]
    unclamped = np.abs(db) < 10
    assert np.allclose(half[unclamped], db[unclamped] / 2, atol=0.011)


def test_a_flat_curve_leaves_the_audio_as_it_is_and_bad_points_are_refused() -> None:
    audio = _noises(2, 0.0, 1)[0][None].repeat(2, axis=0)
    assert np.allclose(match_eq(audio, RATE, [[100.0, 0.0], [5000.0, 0.0]]), audio, atol=1e-5)
    for bad in ([[0.0, 3.0]], [[100.0, float("nan")]], [[100.0]], [[100.0, "3"]]):
        with pytest.raises(ValueError, match="match_db"):
            check_points(bad, "match_db")
        with pytest.raises(ValueError, match="match_db"):
            ProductionConfig(match_db=bad)


def test_a_tilt_brings_the_mean_centroid_to_its_target_within_its_bound():
    rng = np.random.default_rng(0)
    freqs = np.linspace(0.0, 8000.0, 513)
    magnitude = rng.uniform(0.5, 1.5, (513, 20))

    def centroid(gain: np.ndarray) -> float:
        tilted = magnitude * gain[:, None]
        return float(np.mean(freqs @ tilted / tilted.sum(axis=0)))

    for target in (3300.0, 4500.0):  # the untilted centroid is about 4000 Hz
        gain = tilt_gain(magnitude, freqs, target, 15.0)
        assert centroid(gain) == pytest.approx(target, rel=0.01)
        assert gain[np.argmin(np.abs(freqs - 1000.0))] == pytest.approx(1.0, abs=0.01)  # the pivot stays
    steepest = 20 * np.log10(tilt_gain(magnitude, freqs, 50.0, 15.0))  # out of reach: the bound, no further
    assert steepest.max() == pytest.approx(15.0, abs=0.01) and steepest[-1] < 0 < steepest[1]
    assert np.allclose(tilt_gain(magnitude, freqs, 3000.0, 0.0), 1.0)  # no tilt allowed: none
