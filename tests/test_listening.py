"""Listening metrics on synthetic signals: each one separates a case it should pass from one it should fail."""

import numpy as np
import pytest
import soxr

from bd2music.evaluation import listening

SR = 16_000


def seconds(duration: float, sr: int = SR) -> np.ndarray:
    return np.arange(int(duration * sr)) / sr


def white(duration: float, seed: int, level: float = 0.1, sr: int = SR) -> np.ndarray:
    return level * np.random.default_rng(seed).standard_normal(int(duration * sr))


def sine(freq: float, duration: float, level: float = 0.3, sr: int = SR) -> np.ndarray:
    return level * np.sin(2 * np.pi * freq * seconds(duration, sr))


def chord(semitones: list[int], duration: float) -> np.ndarray:
    """Notes (semitones above middle C) with three harmonics each."""
    t = seconds(duration)
    return sum(0.1 / h * np.sin(2 * np.pi * 261.63 * 2 ** (n / 12) * h * t) for n in semitones for h in (1, 2, 3))


def cadence(shift: int = 0) -> np.ndarray:
    """I - IV - V - I in C major, moved up ``shift`` semitones."""
    triads = ([0, 4, 7], [5, 9, 12], [7, 11, 14], [0, 4, 7])
    return np.concatenate([chord([n + shift for n in triad], 0.5) for triad in triads])


def test_features_are_fixed_and_finite():
    for audio in (white(1.0, 0), np.zeros(SR), np.zeros(10), sine(440, 1.0, sr=44_100)):
        features = listening.clip_features(audio, 44_100 if len(audio) == 44_100 else SR)
        assert features.shape == (len(listening.FEATURE_NAMES),) and np.all(np.isfinite(features))
    assert 50 <= len(listening.FEATURE_NAMES) <= 70


def test_c2st_tells_different_sets_apart_only():
    rng = np.random.default_rng(0)
    noise = [white(0.5, seed, rng.uniform(0.05, 0.2)) for seed in range(50)]
    sines = [sine(rng.uniform(200, 1000), 0.5) for _ in range(20)]
    assert listening.realism_c2st(noise[:20], sines, SR, SR) > 0.95
    features = np.stack([listening.clip_features(clip, SR) for clip in noise])
    assert listening.c2st_accuracy(features[:20], features[20:]) < 0.75  # 20 vs 30: the larger one subsampled
    assert listening.c2st_accuracy(features[:20], features[20:], seed=1) < 0.75
    alike = listening.c2st_spread(features[:20], features[20:], seeds=6)
    assert alike["seeds"] == 6 and alike["min"] <= alike["mean"] <= alike["max"] < 0.8 and alike["sd"] > 0
    assert alike["min"] == pytest.approx(min(listening.c2st_accuracy(features[:20], features[20:], seed=s)
                                             for s in range(6)))
    sine_rows = np.stack([listening.clip_features(clip, SR) for clip in sines])
    apart = listening.c2st_spread(features[:20], sine_rows, seeds=3)
    assert apart["min"] > 0.95 and apart["sd"] < 0.03


def test_c2st_hears_a_storage_rate_cut_that_the_round_trip_diagnostic_removes():
    rng = np.random.default_rng(0)
    made = [white(1.0, seed, rng.uniform(0.05, 0.2), sr=44_100) for seed in range(20)]
    stored = [soxr.resample(white(1.0, 20 + seed, rng.uniform(0.05, 0.2), sr=44_100), 44_100, SR) for seed in range(20)]
    assert listening.realism_c2st(made, stored, 44_100, SR) > 0.9  # the same noise, told apart by the cut alone
    assert listening.realism_c2st(made, stored, 44_100, SR, round_trip_generated=True) < 0.7


def test_c2st_needs_two_clips_a_side():
    with pytest.raises(ValueError, match="at least 2"):
        listening.c2st_accuracy(np.zeros((1, 3)), np.ones((5, 3)))


def test_buzz_is_high_on_a_frame_rate_click_train_only():
    clicks = np.zeros(3 * SR)
    clicks[::256] = 0.5  # one click per 256-sample frame: 62.5 Hz
    buzzing = clicks + white(3.0, 1, 0.01)
    assert listening.frame_rate_buzz_db(buzzing, SR, 256) > 10.0
    assert listening.frame_rate_buzz_db(white(3.0, 2), SR, 256) < 2.0
    assert listening.frame_rate_buzz_db(buzzing, SR, 241) < 4.0  # another frame rate: not this comb
    clicks_44k = np.zeros(3 * 44_100)
    clicks_44k[np.round(np.arange(0, 3 * 44_100, 705.6)).astype(int)] = 0.5  # 62.5 Hz at 44.1 kHz
    assert listening.frame_rate_buzz_db(clicks_44k + white(3.0, 3, 0.01, 44_100), 44_100, 705.6) > 10.0


def test_staticness_high_on_a_drone_lower_on_a_moving_track():
    t = seconds(3.0)
    chirp = 0.3 * np.sin(2 * np.pi * (100 * t + 500 * t**2))  # 100 Hz -> 3.1 kHz
    steps = np.concatenate([chord([n], 0.5) for n in (0, 12, 24, -12, 7, 19)])
    assert listening.staticness(sine(440, 3.0) + white(3.0, 0, 1e-3), SR) > 0.98
    assert listening.staticness(chirp, SR) < 0.9
    assert listening.staticness(steps, SR) < 0.9
    assert listening.staticness(np.zeros(SR), SR) == 1.0


def test_spectral_distance():
    noise, tone = white(2.0, 0), sine(440, 2.0)
    assert listening.spectral_distance_db(noise, noise, SR) == 0.0
    assert listening.spectral_distance_db(noise, 0.5 * noise, SR) == pytest.approx(20 * np.log10(2), abs=0.05)
    assert listening.spectral_distance_db(noise, tone, SR) > 10.0
    assert listening.distinctness_db([noise, noise, noise], SR) == 0.0
    assert listening.distinctness_db([noise, tone, 0.5 * noise], SR) > 5.0
    with pytest.raises(ValueError):
        listening.distinctness_db([noise], SR)


def test_harmonic_share_high_on_a_chord_low_on_noise():
    assert listening.harmonic_share(chord([0, 4, 7], 2.0), SR) > 0.8
    assert listening.harmonic_share(white(2.0, 0), SR) < 0.2
    assert listening.harmonic_share(np.zeros(SR), SR) == 0.0


def test_silent_or_clipped():
    tone = sine(440, 2.0)
    assert listening.silent_or_clipped(tone) is None
    assert listening.silent_or_clipped(np.stack([tone, tone])) is None
    assert listening.silent_or_clipped(np.zeros(SR)) == "silent"
    assert listening.silent_or_clipped(tone * 10 ** (-70 / 20)) == "silent"
    gapped = tone.copy()
    gapped[: int(0.4 * len(tone))] = 0.0  # loud enough overall, but 40 % of it is silence
    assert listening.silent_or_clipped(gapped) == "silent"
    assert listening.silent_or_clipped(np.clip(5 * tone, -1, 1)) == "clipped"
    single_peak = tone.copy()
    single_peak[100] = 1.0  # one sample at full scale is not clipping
    assert listening.silent_or_clipped(single_peak) is None


def test_key_of_a_cadence():
    key, clarity = listening.key_clarity(cadence(), SR)
    assert key == "C major" and clarity > 0.6
    assert listening.key_clarity(cadence(2), SR)[0] == "D major"
    assert listening.key_clarity(white(2.0, 0), SR)[1] < clarity
    assert listening.key_clarity(np.zeros(SR), SR) == ("none", 0.0)


def test_structure_links_follow_the_measured_audio():
    tracks, pages = [], []
    for i in range(5):  # brighter, louder, busier tracks, one page feature value each
        t = seconds(3.0)
        bursts = np.exp(-30 * ((t * (1 + i)) % 1.0) / (1 + i))  # 1 .. 5 decaying bursts per second
        tracks.append(0.05 * (1 + i) * bursts * np.sin(2 * np.pi * 300 * (1 + i) * t))
        pages.append({"brightness": i, "colourfulness_norm": i, "edge_density": i, "panel_count": i})
    rhos = listening.structure_links(pages, tracks, SR)
    assert set(rhos) == {f"{f}->{m}" for f, m in listening.STRUCTURE_LINKS}
    for link in ("brightness->spectral_centroid", "colourfulness_norm->lufs", "edge_density->onset_rate"):
        assert rhos[link] == pytest.approx(1.0)
    measured = [listening.audio_measures(track, SR) for track in tracks]
    reversed_pages = [{name: -value for name, value in page.items()} for page in pages]
    assert listening.linked(reversed_pages, measured)["edge_density->onset_rate"] == pytest.approx(-1.0)
    flat_pages = [dict(page, brightness=0.0) for page in pages]
    assert np.isnan(listening.linked(flat_pages, measured)["brightness->spectral_centroid"])
    measured[0]["lufs"] = float("-inf")  # a silent track ranks lowest
    assert listening.linked(pages, measured)["colourfulness_norm->lufs"] == pytest.approx(1.0)


def test_link_ceilings_are_what_ties_leave():
    distinct = [{"brightness": i, "colourfulness_norm": 0.0, "edge_density": i % 2, "panel_count": i}
                for i in range(5)]
    ceilings = listening.link_ceilings(distinct)
    assert ceilings["brightness->spectral_centroid"] == pytest.approx(1.0)
    assert np.isnan(ceilings["colourfulness_norm->lufs"])  # one value: no sound can follow it
    assert 0.5 < ceilings["edge_density->onset_rate"] < 1.0
    grey = [dict(page, colourfulness_norm=0.3 if i == 0 else 0.0) for i, page in enumerate(distinct)]
    one_colour_page = listening.link_ceilings(grey)["colourfulness_norm->lufs"]  # 4 tied pages of 5
    assert one_colour_page == pytest.approx(np.sqrt(0.5))
    measured = [{"lufs": -20.0 + i, "spectral_centroid": 0, "onset_rate": 0, "tempo": 0} for i in (4, 0, 1, 2, 3)]
    assert listening.linked(grey, measured)["colourfulness_norm->lufs"] <= one_colour_page + 1e-9
