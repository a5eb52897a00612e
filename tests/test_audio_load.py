"""The audio loader: any format, rate and channels become mono float32 at 16 kHz; bad input is refused in one line."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from bd2music.audio.load import ANALYSIS_SAMPLE_RATE, load_audio
from bd2music.errors import InputError


def tone(seconds: float, rate: int, channels: int = 1, amplitude: float = 0.5) -> np.ndarray:
    """A 440 Hz sine, (samples, channels)."""
    t = np.arange(int(seconds * rate)) / rate
    return np.repeat((amplitude * np.sin(2 * np.pi * 440 * t))[:, None], channels, axis=1).astype(np.float32)


def encode(samples: np.ndarray, rate: int, fmt: str, subtype: str | None = None) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, samples, rate, format=fmt, subtype=subtype)
    return buffer.getvalue()


def refused(source, match: str, **kwargs) -> str:
    with pytest.raises(InputError, match=match) as error:
        load_audio(source, **kwargs)
    assert "\n" not in str(error.value)
    return str(error.value)


def test_real_clip_keeps_its_length(data_dir: Path, sound_rows: list[dict[str, str]]) -> None:
    row = sound_rows[0]
    clip = load_audio(data_dir / "sounds" / row["file"])
    assert clip.sample_rate == ANALYSIS_SAMPLE_RATE and clip.samples.dtype == np.float32 and clip.samples.ndim == 1
    assert clip.duration_s == pytest.approx(float(row["duration_s"]), abs=0.01)
    assert clip.name == Path(row["file"]).name and not clip.silent


@pytest.mark.parametrize(
    ("fmt", "subtype", "suffix"),
    [
        ("WAV", "PCM_16", ".wav"),
        ("FLAC", None, ".flac"),
        ("OGG", "VORBIS", ".ogg"),
        ("MP3", "MPEG_LAYER_III", ".mp3"),
    ],
)
def test_formats_rates_and_channels_become_mono_16k(tmp_path: Path, fmt: str, subtype: str | None, suffix: str) -> None:
    path = tmp_path / f"stereo{suffix}"
    path.write_bytes(encode(tone(1.0, 44_100, channels=2), 44_100, fmt, subtype))
    clip = load_audio(path)
    assert clip.sample_rate == 16_000 and clip.samples.ndim == 1 and clip.samples.dtype == np.float32
    assert clip.duration_s == pytest.approx(1.0, abs=0.1)  # MP3 adds encoder padding
    assert np.abs(clip.samples).max() == pytest.approx(0.5, abs=0.05)


def test_path_bytes_and_array_give_the_same_clip(tmp_path: Path) -> None:
    samples = tone(0.5, 22_050, channels=2)
    data = encode(samples, 22_050, "WAV", "FLOAT")
    (tmp_path / "a.wav").write_bytes(data)
    from_path, from_bytes = load_audio(tmp_path / "a.wav"), load_audio(data)
    from_array = load_audio((samples, 22_050))
    from_int16 = load_audio(((samples * 32768).astype(np.int16), 22_050))
    np.testing.assert_array_equal(from_path.samples, from_bytes.samples)
    np.testing.assert_allclose(from_path.samples, from_array.samples, atol=1e-6)
    np.testing.assert_allclose(from_path.samples, from_int16.samples, atol=1e-3)
    assert from_bytes.name == "audio" and load_audio(data, "mine.wav").name == "mine.wav"


def test_missing_empty_and_non_audio_files(tmp_path: Path) -> None:
    refused(tmp_path / "nothing.wav", "nothing.wav: no such file")
    (tmp_path / "empty.wav").write_bytes(b"")
    refused(tmp_path / "empty.wav", "empty")
    refused(b"", "empty")
    (tmp_path / "notes.mp3").write_bytes(b"these are not the sounds you are looking for\n" * 20)
    refused(tmp_path / "notes.mp3", "notes.mp3: not a readable audio file")
    refused(b"\x89PNG\r\n\x1a\n" + bytes(200), "not a readable audio file")


def test_zero_samples_nan_and_inf_are_refused() -> None:
    refused(encode(np.zeros((0, 1), np.float32), 16_000, "WAV"), "no samples")
    refused((np.zeros(0, np.float32), 16_000), "no samples")
    refused(encode(np.array([0.0, np.nan, 0.1], np.float32), 16_000, "WAV", "FLOAT"), "NaN or infinite")
    refused((np.array([0.0, np.inf], np.float32), 16_000), "NaN or infinite")
    refused(encode(np.full((1, 1), 0.5, np.float32), 16_000, "WAV"), "0.1 ms long, under the 50 ms")  # one sample
    assert load_audio((np.full(800, 0.5, np.float32), 16_000)).duration_s == pytest.approx(0.05)


def test_too_long_is_refused_from_the_header(monkeypatch: pytest.MonkeyPatch) -> None:
    data = encode(tone(2.0, 8_000), 8_000, "FLAC")

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded a file that the header already showed to be too long")

    with monkeypatch.context() as patch:
        patch.setattr(sf.SoundFile, "read", no_decoding)
        message = refused(data, "over the 1 s limit", max_duration_s=1.0)
    assert "2.0 s" in message
    refused((tone(2.0, 8_000), 8_000), "over the 1 s limit", max_duration_s=1.0)
    assert load_audio(data, max_duration_s=2.0).duration_s == pytest.approx(2.0)


def test_bad_arrays_and_rates() -> None:
    refused((np.zeros((2, 16_000), np.float32), 16_000), "more channels than samples")
    refused((np.zeros((4, 4, 4), np.float32), 16_000), "1-D")
    refused((np.zeros(100, bool), 16_000), "unsupported sample type")
    refused((np.zeros(100, np.float32), 0), "sample rate must be a positive integer")
    refused(encode(np.ones((100, 1), np.float32) * 0.5, 1, "WAV"), "a sample rate of 1 Hz is too low to analyse")


@pytest.mark.parametrize(("dbfs", "silent"), [(None, True), (-70.0, True), (-50.0, False)])
def test_silent_clips_are_loaded_and_flagged(dbfs: float | None, silent: bool) -> None:
    amplitude = 0.0 if dbfs is None else 10 ** (dbfs / 20)
    clip = load_audio(encode(tone(0.5, 16_000, amplitude=amplitude), 16_000, "WAV", "FLOAT"))
    assert clip.silent is silent and len(clip.samples) == 8_000
