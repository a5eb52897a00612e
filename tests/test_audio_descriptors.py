"""Audio descriptors: stable names, known answers on synthetic sounds, torch matches librosa on made-up and real
clips."""

from __future__ import annotations

from pathlib import Path

import librosa
import numpy as np
import pytest
import torch

from bd2music.audio.descriptors import (
    DESCRIPTORS,
    PITCH_CLASSES,
    SUMMARY_STATS,
    ClipDescriptors,
    compute_descriptors,
    summary_columns,
)
from bd2music.audio.load import Clip, load_audio
from bd2music.audio.torch_descriptors import TOLERANCES, tolerance_of
from bd2music.errors import InputError

SR = 16_000
BACKENDS = ("librosa", "torch")


def synthetic(samples: np.ndarray, name: str) -> Clip:
    return load_audio((samples.astype(np.float32), SR), name)


def sine(hz: float = 440.0, seconds: float = 2.0) -> Clip:
    return synthetic(0.5 * np.sin(2 * np.pi * hz * np.arange(int(seconds * SR)) / SR), "sine")


def white_noise() -> Clip:
    return synthetic(np.random.default_rng(0).normal(0, 0.2, 2 * SR), "noise")


def click_track(bpm: float = 120.0, seconds: float = 8.0) -> Clip:
    times = np.arange(0.25, seconds, 60 / bpm)
    return synthetic(0.8 * librosa.clicks(times=times, sr=SR, length=int(seconds * SR)), "clicks")


@pytest.fixture(scope="module", params=["made-up", pytest.param("real", marks=pytest.mark.data)])
def clips(request: pytest.FixtureRequest) -> list[Clip]:
    """Made-up clips of four categories and a click track; or, from the data, 8 real clips over all six
    categories: the middle clip of each, plus the first music and ambience clips."""
    if request.param == "made-up":
        made_up = request.getfixturevalue("sound_clips").values()
        return [load_audio(path, path.name) for path in made_up] + [click_track(seconds=5.0)]
    data_dir: Path = request.getfixturevalue("data_dir")
    sound_rows: list[dict[str, str]] = request.getfixturevalue("sound_rows")
    by_category: dict[str, list[str]] = {}
    for row in sound_rows:
        by_category.setdefault(row["category"], []).append(row["file"])
    files = [names[len(names) // 2] for names in by_category.values()] + [
        by_category["music"][0],
        by_category["ambience"][0],
    ]
    assert len(by_category) == 6 and len(set(files)) == 8
    return [load_audio(data_dir / "sounds" / file, file) for file in files]


@pytest.fixture(scope="module")
def both(clips: list[Clip]) -> tuple[list[ClipDescriptors], list[ClipDescriptors]]:
    return compute_descriptors(clips, "librosa"), compute_descriptors(clips, "torch", batch_size=4)


def test_torch_matches_librosa_clip_by_clip(both) -> None:
    reference, batched = both
    failures = []
    for ref, out in zip(reference, batched):
        assert ref.frames.keys() == out.frames.keys()
        for name, values in ref.frames.items():
            assert values.shape == out.frames[name].shape, (ref.name, name)
        worst_mel = float(np.abs(ref.frames["mel_db"] - out.frames["mel_db"]).max())
        if worst_mel > TOLERANCES["mel_db"].atol:
            failures.append(f"{ref.name} mel_db frames differ by {worst_mel:.4f} dB")
        for column, expected in ref.summary.items():
            (_, tolerance), got = tolerance_of(column), out.summary[column]
            if not abs(got - expected) <= tolerance.atol + tolerance.rtol * abs(expected):
                failures.append(f"{ref.name} {column}: torch {got:.6g} vs librosa {expected:.6g}")
    assert not failures, "\n".join(failures)


def test_batching_and_padding_do_not_change_results(clips: list[Clip], both) -> None:
    _, batched = both
    alone = compute_descriptors(clips[:3], "torch", batch_size=1)
    for one, many in zip(alone, batched):
        for column, value in one.summary.items():
            assert many.summary[column] == pytest.approx(value, rel=1e-4, abs=1e-4), (one.name, column)


def test_names_units_and_columns_are_stable(both) -> None:
    columns = summary_columns()
    assert len(columns) == len(set(columns)) == 263
    assert columns[:3] == ["duration", "onset_rate", "tempo"]
    for column in (
        "spectral_centroid_mean",
        "mfcc_00_p90",
        "chroma_A_p50",
        "tonnetz_fifth_x_std",
        "spectral_contrast_6_p10",
        "zero_crossing_rate_mean",
        "spectral_flatness_p90",
        "rms_std",
        "onset_strength_mean",
    ):
        assert column in columns
    assert {DESCRIPTORS[name].unit for name in ("spectral_centroid", "spectral_rolloff", "spectral_bandwidth")} == {
        "Hz"
    }
    assert (DESCRIPTORS["tempo"].unit, DESCRIPTORS["onset_rate"].unit, DESCRIPTORS["spectral_contrast"].unit) == (
        "BPM",
        "onsets/s",
        "dB",
    )
    for result in both[0] + both[1]:
        assert list(result.summary) == columns
        assert result.frames.keys() == {name for name, d in DESCRIPTORS.items() if d.level != "clip"}
        assert np.isfinite(list(result.summary.values())).all()
        assert len(result.times) == 1 + len(result.frames["waveform"]) // result.config.hop_length


def test_summary_statistics_are_numpys(both) -> None:
    """Summary columns are exactly numpy's mean, std and linear percentiles of the frame arrays."""
    for result in both[0][:2]:
        for name, rows in (("rms", result.frames["rms"]), ("mfcc_03", result.frames["mfcc"][3])):
            rows = rows.astype(np.float64)
            expected = [rows.mean(), rows.std(), *np.percentile(rows, [10, 50, 90])]
            assert [result.summary[f"{name}_{stat}"] for stat in SUMMARY_STATS] == expected


@pytest.mark.parametrize("backend", BACKENDS)
def test_sine_440(backend: str) -> None:
    [result] = compute_descriptors([sine()], backend)
    s = result.summary
    assert s["spectral_centroid_p50"] == pytest.approx(440, rel=0.02)
    assert s["spectral_rolloff_p50"] == pytest.approx(440, abs=16)
    assert s["zero_crossing_rate_p50"] == pytest.approx(880 / SR, rel=0.02)
    assert s["rms_p50"] == pytest.approx(0.5 / np.sqrt(2), rel=0.01)
    assert s["spectral_flatness_p50"] < 0.01
    assert max(PITCH_CLASSES, key=lambda pitch: s[f"chroma_{pitch}_mean"]) == "A"
    assert s["chroma_A_p50"] == pytest.approx(1.0)
    assert not result.silent


@pytest.mark.parametrize("backend", BACKENDS)
def test_white_noise_is_flat_and_bright(backend: str) -> None:
    noise, tone = compute_descriptors([white_noise(), sine()], backend)
    assert noise.summary["spectral_flatness_p50"] > 0.4 > 100 * tone.summary["spectral_flatness_p50"]
    assert noise.summary["spectral_centroid_mean"] == pytest.approx(SR / 4, rel=0.05)
    assert noise.summary["zero_crossing_rate_mean"] == pytest.approx(0.5, abs=0.05)


@pytest.mark.parametrize("backend", BACKENDS)
def test_click_track_at_120_bpm(backend: str) -> None:
    [result] = compute_descriptors([click_track()], backend)
    assert result.summary["tempo"] == pytest.approx(120, rel=0.03)
    assert result.summary["onset_rate"] == pytest.approx(2.0, abs=0.15)
    [fast] = compute_descriptors([click_track(bpm=90.0)], backend)
    assert fast.summary["tempo"] == pytest.approx(90, rel=0.03)


@pytest.mark.parametrize("backend", BACKENDS)
def test_silent_clip_is_analysed_and_flagged(backend: str) -> None:
    [result] = compute_descriptors([synthetic(np.zeros(SR), "silence")], backend)
    assert result.silent
    assert np.isfinite(list(result.summary.values())).all()
    assert result.summary["onset_rate"] == 0 and result.summary["rms_mean"] == 0


def test_bad_parameters_are_input_errors() -> None:
    clip = sine(seconds=0.5)
    with pytest.raises(InputError, match="unknown backend"):
        compute_descriptors([clip], "essentia")
    with pytest.raises(InputError, match="CPU only"):
        compute_descriptors([clip], "librosa", device="cuda")
    with pytest.raises(InputError, match="unknown device"):
        compute_descriptors([clip], "torch", device="tpu")
    with pytest.raises(InputError, match="batch size"):
        compute_descriptors([clip], "torch", batch_size=0)
    with pytest.raises(InputError, match="8000 Hz"):
        compute_descriptors([load_audio((clip.samples, SR), sample_rate=8_000)])
    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="no CUDA GPU"):
            compute_descriptors([clip], "torch", device="cuda")


def test_a_tempo_that_cannot_be_measured_says_why() -> None:
    """A very short clip, a silent one and one with a single click get no invented tempo in the app's table."""
    from bd2music.audio.plots import analyze_clip

    rate = 16000
    rng = np.random.default_rng(0)
    clicks = np.zeros(6 * rate, dtype=np.float32)
    clicks[:: rate // 2] = 1.0  # 120 BPM
    short = (0.3 * rng.standard_normal(int(0.28 * rate))).astype(np.float32)
    one_click = np.zeros(4 * rate, dtype=np.float32)
    one_click[rate] = 1.0
    tempo_of = {}
    for name, samples in {"clicks": clicks, "short": short, "silence": np.zeros(3 * rate, np.float32),
                          "one_click": one_click}.items():
        _figure, rows = analyze_clip((samples, rate), name)
        tempo_of[name] = next(value for row_name, value, _unit in rows if row_name == "tempo")
    assert isinstance(tempo_of["clicks"], float) and abs(tempo_of["clicks"] - 120) < 5
    assert tempo_of["short"] == "not measured: too short for a tempo (under 2 s)"
    assert tempo_of["silence"] == "not measured: silent clip"
    assert tempo_of["one_click"] == "not measured: too few onsets for a tempo (under 3)"
