"""The master: loudness on target, true peak under the ceiling, ducking, mixed formats, silence, determinism."""

import numpy as np
import pytest

from bd2music.backends.base import Layer
from bd2music.master import (
    LUFS_RANGE,
    OUTPUT_RATE,
    TRUE_PEAK_CEILING_DB,
    MasterConfig,
    duck_gain,
    master,
    true_peak_db,
)


def tone(freq: float, seconds: float, sr: int, amplitude: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def noise(seconds: float, sr: int, amplitude: float = 0.1, seed: int = 0) -> np.ndarray:
    return (amplitude * np.random.default_rng(seed).standard_normal(int(seconds * sr))).astype(np.float32)


def music_like(seconds: float = 4.0, sr: int = 22_050) -> np.ndarray:
    """A tone whose level swells, over a noise floor: loudness gating and the compressor both have work."""
    t = np.arange(int(seconds * sr)) / sr
    swell = (1 + 0.6 * np.sin(2 * np.pi * 0.7 * t)).astype(np.float32)
    return tone(220, seconds, sr) * swell + noise(seconds, sr, 0.02)


def band_level_db(audio: np.ndarray, freq: float, width: float = 20.0) -> float:
    spectrum = np.abs(np.fft.rfft(audio)) ** 2
    freqs = np.fft.rfftfreq(len(audio), 1 / OUTPUT_RATE)
    return 10 * np.log10(spectrum[np.abs(freqs - freq) < width].sum() + 1e-20)


def rms_db(audio: np.ndarray) -> float:
    return 10 * np.log10(np.mean(np.square(audio, dtype=np.float64)) + 1e-20)


@pytest.mark.parametrize("target", [-24.0, -18.0, -14.0])
def test_loudness_reaches_the_target(target):
    result = master([Layer("scene", music_like(), 22_050)], target_lufs=target)
    assert result.sample_rate == OUTPUT_RATE
    assert result.audio.shape[0] == 2 and result.audio.dtype == np.float32
    assert abs(result.lufs - target) < 0.5
    assert result.true_peak_db <= TRUE_PEAK_CEILING_DB + 1e-3


def test_target_is_clamped_to_the_allowed_range():
    assert abs(master([Layer("scene", music_like(), 22_050)], target_lufs=-40.0).lufs - LUFS_RANGE[0]) < 0.5
    assert abs(master([Layer("scene", music_like(), 22_050)], target_lufs=0.0).lufs - LUFS_RANGE[1]) < 0.5


@pytest.mark.parametrize("make", [
    lambda sr: np.sign(tone(100, 3.0, sr)),  # a full-scale square wave (Gibbs overshoot between samples)
    lambda sr: np.where(np.arange(3 * sr) % (sr // 2) == 0, 1.0, 0.0).astype(np.float32) + noise(3.0, sr, 0.002),
])  # the clicks over a faint floor need about 20 dB of peak reduction to reach -14 LUFS under the ceiling
def test_true_peak_stays_under_the_ceiling(make):
    result = master([Layer("loud", make(48_000), 48_000)], target_lufs=-14.0)
    assert result.true_peak_db <= TRUE_PEAK_CEILING_DB + 1e-3
    assert true_peak_db(result.audio) == pytest.approx(result.true_peak_db)
    assert result.lufs > -16.0  # the ceiling holds by limiting the peaks, not by turning the whole track down


def test_beds_duck_under_the_main_layer():
    sr, seconds = 22_050, 4.0
    main = tone(440, seconds, sr, 0.5)
    main[len(main) // 2:] = 0.0  # the main layer sounds in the first half only
    layers = [Layer("music", main, sr), Layer("scene", noise(seconds, sr), sr, role="bed")]
    half = int(seconds * OUTPUT_RATE) // 2
    margin = OUTPUT_RATE // 2  # leave out the attack and release around the change

    def bed_drop_db(config: MasterConfig) -> float:
        bed = master(layers, config, stems=True).stems["scene"]
        return rms_db(bed[:, half + margin:-margin]) - rms_db(bed[:, margin:half - margin])

    assert bed_drop_db(MasterConfig(duck_depth_db=9.0)) > 6.0
    assert abs(bed_drop_db(MasterConfig(duck_depth_db=0.0))) < 1.0


def test_duck_gain_follows_the_main_envelope():
    config = MasterConfig(duck_depth_db=12.0)
    mains = np.zeros((2, OUTPUT_RATE * 3), np.float32)  # 1 s loud, then 2 s (five release times) of silence
    mains[:, :OUTPUT_RATE] = 0.5
    gain = duck_gain(mains, mains.shape[1], config)
    assert 20 * np.log10(gain[OUTPUT_RATE // 2]) == pytest.approx(-12.0, abs=0.5)
    assert gain[-1] == pytest.approx(1.0, abs=0.01)
    assert np.all(np.diff(gain[OUTPUT_RATE // 2:]) >= -1e-9)  # released smoothly, never dipping again


def test_beds_alone_are_not_ducked():
    bed = noise(2.0, 22_050)
    solo = master([Layer("scene", bed, 22_050, role="bed")], stems=True)
    assert rms_db(solo.audio[:, : OUTPUT_RATE // 2]) == pytest.approx(rms_db(solo.audio[:, OUTPUT_RATE:]), abs=1.0)


def test_mono_and_stereo_layers_at_different_rates_mix():
    mono = Layer("a", tone(440, 2.0, 16_000), 16_000)
    left_only = np.stack([tone(1000, 3.0, 48_000), np.zeros(3 * 48_000, np.float32)])
    stereo = Layer("b", left_only, 48_000)
    result = master([mono, stereo], stems=True)
    assert result.audio.shape == (2, 3 * OUTPUT_RATE)
    assert set(result.stems) == {"a", "b"} and all(s.shape == result.audio.shape for s in result.stems.values())
    left, right = result.stems["a"]  # mono on both sides (the room makes them differ a little)
    assert band_level_db(left, 440) == pytest.approx(band_level_db(right, 440), abs=0.5)
    left, right = result.stems["b"]
    assert band_level_db(left, 1000) > band_level_db(right, 1000) + 10  # the left-only tone stays left
    left, right = result.audio  # both in the mix (the compressor, linked, turns the busier left down a little)
    assert band_level_db(left, 440) == pytest.approx(band_level_db(right, 440), abs=3.0)
    assert band_level_db(left, 1000) > band_level_db(right, 1000) + 10


def test_fades_and_no_dc():
    result = master([Layer("a", music_like() + 0.2, 22_050)])
    assert np.all(np.abs(result.audio[:, [0, -1]]) < 1e-4)
    assert np.all(np.abs(result.audio.mean(axis=1)) < 1e-3)


@pytest.mark.filterwarnings("error")  # no division by zero, no log of zero on the way
def test_silent_layers_give_silent_finite_output():
    layers = [Layer("a", np.zeros(16_000, np.float32), 16_000), Layer("b", np.zeros((2, 1000)), 8000, role="bed")]
    result = master(layers, target_lufs=-14.0, stems=True)
    assert np.all(result.audio == 0.0) and all(np.all(s == 0.0) for s in result.stems.values())
    assert result.lufs == float("-inf") and result.true_peak_db == float("-inf")


@pytest.mark.filterwarnings("error")
def test_empty_and_very_short_layers():
    empty = master([Layer("a", np.zeros((1, 0), np.float32), 16_000)], stems=True)
    assert empty.audio.shape == (2, 0) and empty.stems["a"].shape == (2, 0) and empty.lufs == float("-inf")
    burst = tone(440, 0.05, 16_000)  # shorter than a loudness block
    short = master([Layer("a", burst, 16_000)], target_lufs=-18.0)
    assert short.audio.shape == (2, round(len(burst) * OUTPUT_RATE / 16_000))
    assert np.all(np.isfinite(short.audio)) and short.true_peak_db <= TRUE_PEAK_CEILING_DB + 1e-3


def test_non_finite_samples_are_dropped():
    audio = music_like()
    audio[100:200] = np.nan
    assert np.all(np.isfinite(master([Layer("a", audio, 22_050)]).audio))


def test_same_layers_same_master():
    layers = [Layer("music", music_like(), 22_050), Layer("scene", noise(3.0, 32_000), 32_000, role="bed")]
    first, second = master(layers, stems=True), master(layers, stems=True)
    assert np.array_equal(first.audio, second.audio)
    assert all(np.array_equal(first.stems[name], second.stems[name]) for name in first.stems)


def test_no_layers_is_refused():
    with pytest.raises(ValueError, match="no layers"):
        master([])
