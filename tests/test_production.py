"""The music's production chain without any asset: the tone follows each section's height, the saturation keeps
the peak and adds harmonics, the top is rolled off, the noise floor is seeded."""

from __future__ import annotations

import numpy as np
import pytest

from bd2music.music.intent import Section
from bd2music.music.production import ProductionConfig, produce, tilt_gain

RATE = 22_050
PLAIN = {"bass_db": 0.0, "tilt_db": (0.0, 0.0), "drive_db": 0.0, "lowpass_hz": 0.0, "reverb_wet": 0.0,
         "noise_floor_db": -120.0}  # every stage off


def plain(**changes) -> ProductionConfig:
    return ProductionConfig(**(PLAIN | changes))


def section(index: int, start: float, end: float, height: float) -> Section:
    return Section(index, index, start, end, 4, 240.0 / (end - start), 1.0, 0.5, height, 0.5)


def centroid(audio: np.ndarray) -> float:
    magnitude = np.abs(np.fft.rfft(audio.mean(axis=0)))
    return float(np.fft.rfftfreq(audio.shape[-1], 1 / RATE) @ magnitude / magnitude.sum())


def band_share(audio: np.ndarray, low: float, high: float = np.inf) -> float:
    power = np.abs(np.fft.rfft(audio.mean(axis=0))) ** 2
    freqs = np.fft.rfftfreq(audio.shape[-1], 1 / RATE)
    return float(power[(freqs >= low) & (freqs < high)].sum() / power.sum())


@pytest.fixture(scope="module")
def noise() -> np.ndarray:
    return (0.1 * np.random.default_rng(0).standard_normal((2, 2 * RATE))).astype(np.float32)


def test_the_tilt_follows_height_between_its_two_ends() -> None:
    config = ProductionConfig(tilt_db=(-12.0, 3.0))
    gains = [tilt_gain(h, config) for h in (-0.5, 0.0, 0.25, 0.5, 1.0, 2.0)]
    assert gains[0] == gains[1] == -12.0 and gains[-1] == gains[-2] == 3.0
    assert np.all(np.diff(gains) >= 0) and gains[2] < gains[3]


def test_a_higher_section_sounds_brighter_and_the_tone_moves_with_the_sections(noise) -> None:
    config = plain(tilt_db=(-12.0, 3.0))
    dark = produce(noise, [section(0, 0.0, 2.0, 0.0)], RATE, 0, config)
    bright = produce(noise, [section(0, 0.0, 2.0, 1.0)], RATE, 0, config)
    assert centroid(bright) > 1.3 * centroid(dark)
    both = produce(noise, [section(0, 0.0, 1.0, 0.0), section(1, 1.0, 2.0, 1.0)], RATE, 0, config)
    first, second = both[:, : RATE - RATE // 4], both[:, RATE + RATE // 4:]
    assert centroid(first) == pytest.approx(centroid(dark[:, : first.shape[1]]), rel=0.05)
    assert centroid(second) == pytest.approx(centroid(bright[:, -second.shape[1]:]), rel=0.05)


def test_the_bass_shelf_lifts_the_low_end(noise) -> None:
    flat, lifted = plain(), plain(bass_db=6.0)
    sections = [section(0, 0.0, 2.0, 0.5)]
    assert band_share(produce(noise, sections, RATE, 0, lifted), 0, 100) > \
        2.0 * band_share(produce(noise, sections, RATE, 0, flat), 0, 100)


def test_saturation_keeps_the_peak_adds_harmonics_and_the_top_is_rolled_off() -> None:
    t = np.arange(RATE) / RATE
    tone = np.stack([0.5 * np.sin(2 * np.pi * 220 * t)] * 2).astype(np.float32)
    sections = [section(0, 0.0, 1.0, 0.5)]
    clean = produce(tone, sections, RATE, 0, plain())
    driven = produce(tone, sections, RATE, 0, plain(drive_db=9.0))
    assert np.abs(driven).max() == pytest.approx(np.abs(clean).max(), rel=0.02)
    assert band_share(driven, 600, 700) > 100 * band_share(clean, 600, 700)  # the third harmonic, 660 Hz
    hiss = tone + np.float32(0.05) * np.random.default_rng(1).standard_normal(tone.shape, np.float32)
    rolled = produce(hiss, sections, RATE, 0, plain(lowpass_hz=3000.0))
    assert band_share(rolled, 6000) < 0.2 * band_share(hiss, 6000)


def test_the_chain_is_seeded(noise) -> None:
    config = ProductionConfig(compressor_threshold_db=-10.0)  # the defaults, and the bus compressor
    sections = [section(0, 0.0, 1.0, 0.2), section(1, 1.0, 2.0, 0.8)]
    quiet = noise * np.float32(0.1)
    a, b = (produce(quiet, sections, RATE, 3, config) for _ in range(2))
    assert a.shape == quiet.shape and a.dtype == np.float32 and np.array_equal(a, b)
    assert not np.array_equal(a, produce(quiet, sections, RATE, 4, config))  # another seed, another noise floor
