"""The music's production chain without any asset: the tone follows each section's height, the saturation keeps
the peak and adds harmonics, the top is rolled off, the noise floor is seeded."""

from __future__ import annotations

import numpy as np
import pytest

from bd2music.music.intent import Section
from bd2music.music.production import ProductionConfig, band_bus, expand, produce, pump, shelf_db

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
    gains = [shelf_db(h, config) for h in (-0.5, 0.0, 0.25, 0.5, 1.0, 2.0)]
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


def test_the_bell_scoops_the_low_mids_and_leaves_the_ends(noise) -> None:
    sections = [section(0, 0.0, 2.0, 0.5)]
    flat, scooped = (produce(noise, sections, RATE, 0, plain(mid_db=gain)) for gain in (0.0, -6.0))
    assert band_share(scooped, 500, 1000) < 0.6 * band_share(flat, 500, 1000)
    assert band_share(scooped, 6000) > band_share(flat, 6000)  # the rest's share rises as the mids fall


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


def test_the_band_pumps_under_each_kick_and_the_drums_do_not() -> None:
    config = plain(pump_db=6.0, pump_release_s=0.1)
    gain = pump(RATE, RATE, [0.25, 0.75], config)
    assert gain[: RATE // 4].min() == 1.0  # nothing before the first kick
    dip = gain[round(0.25 * RATE): round(0.3 * RATE)].min()  # reached 5 ms after the kick
    assert dip == pytest.approx(10 ** (-6 / 20), abs=0.01) and gain[round(0.7 * RATE)] > 0.95
    assert np.all(pump(RATE, RATE, [], config) == 1.0) and np.all(pump(RATE, RATE, [0.25], plain()) == 1.0)
    t = np.arange(RATE) / RATE
    band = np.stack([0.3 * np.sin(2 * np.pi * 330 * t)] * 2).astype(np.float32)
    drums = np.zeros_like(band)
    drums[:, round(0.25 * RATE)] = 0.5  # a click on the kick
    sections = [section(0, 0.0, 1.0, 0.5)]
    pumped = produce(band, sections, RATE, 0, config, drums, [0.25, 0.75])
    level = np.sqrt(np.mean(pumped[:, round(0.27 * RATE): round(0.3 * RATE)] ** 2))
    before = np.sqrt(np.mean(pumped[:, round(0.15 * RATE): round(0.2 * RATE)] ** 2))
    assert level < 0.7 * before and pumped[0, round(0.25 * RATE)] > 0.4  # the band ducks, the kick passes
    assert band_bus(config) and band_bus(plain(chorus_mix=0.5)) and not band_bus(plain())


def test_a_chorus_fills_the_spectrum_between_the_partials() -> None:
    t = np.arange(RATE) / RATE
    tone = np.stack([0.3 * np.sin(2 * np.pi * 440 * t)] * 2).astype(np.float32)
    sections = [section(0, 0.0, 1.0, 0.5)]
    dry = produce(tone, sections, RATE, 0, plain(), np.zeros_like(tone))
    wet = produce(tone, sections, RATE, 0, plain(chorus_mix=0.5, chorus_depth=0.5), np.zeros_like(tone))
    assert band_share(wet, 400, 435) + band_share(wet, 445, 480) > 5 * (band_share(dry, 400, 435)
                                                                        + band_share(dry, 445, 480))


def test_the_matching_eq_follows_its_points_and_holds_beyond_them(noise) -> None:
    sections = [section(0, 0.0, 2.0, 0.5)]
    points = ((100.0, 6.0), (1000.0, -6.0), (4000.0, 0.0))
    flat, matched = (produce(noise, sections, RATE, 0, plain(match_db=p)) for p in ((), points))
    low, mid, top = (band_share(matched, a, b) / band_share(flat, a, b) for a, b in ((40, 100), (900, 1100),
                                                                                   (6000, 9000)))
    assert low > 2.5 and mid < 0.4 and 0.8 < top / (band_share(matched, 0) / band_share(flat, 0)) < 1.25


def test_a_rooms_tone_lies_its_level_under_the_music(noise) -> None:
    t = np.arange(2 * RATE) / RATE
    tone = np.stack([0.3 * np.sin(2 * np.pi * 330 * t)] * 2).astype(np.float32)
    sections = [section(0, 0.0, 2.0, 0.5)]
    bare = produce(tone, sections, RATE, 0, plain())
    roomed = produce(tone, sections, RATE, 0, plain(room_tone_db=-30.0), room=noise)
    added = roomed - bare
    assert 20 * np.log10(np.sqrt(np.mean(added**2)) / np.sqrt(np.mean(bare**2))) == pytest.approx(-30.0, abs=0.5)
    assert np.corrcoef(added[0], noise[0])[0, 1] > 0.99  # the bed itself, scaled
    assert np.array_equal(produce(tone, sections, RATE, 0, plain(), room=noise), bare)  # 0 dB: no room


def test_the_band_saturates_and_the_drums_stay_clean() -> None:
    t = np.arange(RATE) / RATE
    band = np.stack([0.3 * np.sin(2 * np.pi * 220 * t)] * 2).astype(np.float32)
    sections = [section(0, 0.0, 1.0, 0.5)]
    clean = produce(band, sections, RATE, 0, plain(), np.zeros_like(band))
    driven = produce(band, sections, RATE, 0, plain(band_drive_db=12.0), np.zeros_like(band))
    assert band_share(driven, 600, 700) > 100 * band_share(clean, 600, 700)  # the third harmonic, 660 Hz
    assert np.abs(driven).max() == pytest.approx(np.abs(clean).max(), rel=0.05) and band_bus(plain(band_drive_db=6))
    kick = np.zeros_like(band)
    kick[:, 100] = 0.5
    silent = np.zeros_like(band)
    assert np.array_equal(produce(silent, sections, RATE, 0, plain(band_drive_db=12.0), kick),
                          produce(silent, sections, RATE, 0, plain(), kick))  # the drums pass as they are


def test_the_expander_widens_the_gap_between_loud_and_quiet_moments(noise) -> None:
    steps = noise.copy()
    steps[:, RATE:] *= np.float32(0.1)  # a second 20 dB under the first
    sections = [section(0, 0.0, 2.0, 0.5)]
    flat = produce(steps, sections, RATE, 0, plain())
    expanded = produce(steps, sections, RATE, 0, plain(expand=0.5))

    def gap(audio: np.ndarray) -> float:  # dB between the two halves, away from the step
        loud, quiet = audio[:, RATE // 4: 3 * RATE // 4], audio[:, 5 * RATE // 4: 7 * RATE // 4]
        return 20 * np.log10(np.sqrt(np.mean(loud**2)) / np.sqrt(np.mean(quiet**2)))

    assert gap(flat) == pytest.approx(20.0, abs=0.5)
    assert gap(expanded) == pytest.approx(30.0, abs=1.0)  # 20 dB times 1 + 0.5
    assert np.array_equal(produce(steps, sections, RATE, 0, plain(expand=0.0)), flat)
    assert not np.any(expand(np.zeros_like(steps), RATE, 0.5, 50.0))  # silence stays silent
