"""Safe audio decoding: one loader for every sound that enters bd2music (CLI, app, training, tests), and one
WAV writer for every sound it writes.

Every accepted input becomes a :class:`Clip`: mono float32 samples at ``ANALYSIS_SAMPLE_RATE`` (channels
averaged, resampled with soxr). Files are decoded with soundfile (WAV, FLAC, OGG/Vorbis/Opus, MP3, AIFF...).
Anything unusable is refused with an :class:`~bd2music.errors.InputError` whose message fits on one line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import librosa
import numpy as np
import soundfile as sf

from bd2music.errors import InputError
from bd2music.io import open_source

ANALYSIS_SAMPLE_RATE = 16_000  # Hz: every clip is analysed (and modelled) at this rate
MAX_DURATION_S = 600.0  # longer inputs are refused; checked from the file header before decoding
MIN_SAMPLE_RATE = 4_000  # Hz: a slower recording holds too little of the spectrum (below 2 kHz) to describe
MIN_DURATION_S = 0.05  # shorter inputs hold no sound a listener could name (nor one analysis frame) and are refused
SILENCE_DBFS = -60.0  # a clip whose peak is at or below this level is flagged silent (still analysed)
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff")  # picked up in folders

AudioSource = str | Path | bytes | tuple[np.ndarray, int]


@dataclass(frozen=True)
class Clip:
    """A decoded sound: mono float32 samples in [-1, 1] (full scale), its rate, its name, and a silence flag."""

    samples: np.ndarray
    sample_rate: int
    name: str
    silent: bool

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sample_rate


def _too_long(seconds: float, limit: float, name: str) -> InputError:
    return InputError(f"{name}: audio is {seconds:.1f} s long, over the {limit:g} s limit")


def _read(source: str | Path | bytes, name: str, max_duration_s: float) -> tuple[np.ndarray, int]:
    """Decode a file or its bytes to (samples, channels) float32, refusing long ones from the header."""
    opened = open_source(source, name)
    try:
        audio = sf.SoundFile(opened)
    except RuntimeError:
        raise InputError(f"{name}: not a readable audio file (expected WAV, FLAC, OGG or MP3)") from None
    with audio:
        rate, limit = audio.samplerate, int(max_duration_s * audio.samplerate)
        if audio.frames > limit:
            raise _too_long(audio.frames / rate, max_duration_s, name)
        try:  # reading one sample past the cap also catches a header that under-reports the length
            data = audio.read(limit + 1, dtype="float32", always_2d=True)
        except RuntimeError:
            raise InputError(f"{name}: the audio file is corrupt and cannot be decoded") from None
    if len(data) > limit:
        raise _too_long(len(data) / rate, max_duration_s, name)
    return data, rate


def _as_frames(array: np.ndarray, name: str) -> np.ndarray:
    """Check a caller's array and return it as (samples, channels) float32 in full-scale units."""
    if not isinstance(array, np.ndarray) or array.ndim not in (1, 2):
        raise InputError(f"{name}: expected a 1-D (samples,) or 2-D (samples, channels) array")
    if array.ndim == 2 and array.shape[1] > array.shape[0]:
        raise InputError(
            f"{name}: array of shape {array.shape} has more channels than samples; pass (samples, channels)"
        )
    if np.issubdtype(array.dtype, np.signedinteger):
        array = array / float(2 ** (8 * array.itemsize - 1))  # PCM integers, e.g. int16 from a browser recording
    elif not np.issubdtype(array.dtype, np.floating):
        raise InputError(f"{name}: unsupported sample type {array.dtype} (expected float or signed integer)")
    return (array[:, None] if array.ndim == 1 else array).astype(np.float32, copy=False)


def load_audio(
    source: AudioSource,
    name: str | None = None,
    *,
    sample_rate: int = ANALYSIS_SAMPLE_RATE,
    max_duration_s: float = MAX_DURATION_S,
) -> Clip:
    """Decode a path, file bytes or ``(array, sample_rate)`` into a mono float32 :class:`Clip` at ``sample_rate``.

    Raises :class:`InputError` (one-line message) for a missing, empty or non-audio file, a corrupt stream,
    zero samples, NaN or infinite samples, a sample rate under ``MIN_SAMPLE_RATE``, audio shorter than
    ``MIN_DURATION_S`` and audio longer than
    ``max_duration_s`` (refused from the header before decoding when the format has one). Silent clips
    (peak <= ``SILENCE_DBFS``) are returned, flagged.
    """
    if name is None:
        name = Path(source).name if isinstance(source, (str, Path)) else "audio"
    if isinstance(source, tuple):
        array, rate = source
        if not isinstance(rate, (int, np.integer)) or rate <= 0:
            raise InputError(f"{name}: sample rate must be a positive integer, got {rate!r}")
        frames = _as_frames(array, name)
        if len(frames) > max_duration_s * rate:
            raise _too_long(len(frames) / rate, max_duration_s, name)
    else:
        frames, rate = _read(source, name, max_duration_s)
    if rate < MIN_SAMPLE_RATE:
        raise InputError(f"{name}: a sample rate of {rate} Hz is too low to analyse (at least {MIN_SAMPLE_RATE} Hz)")
    if frames.size == 0:
        raise InputError(f"{name}: the audio contains no samples")
    if not np.isfinite(frames).all():
        raise InputError(f"{name}: the audio contains NaN or infinite samples")
    if len(frames) < MIN_DURATION_S * rate:
        raise InputError(f"{name}: audio is {len(frames) / rate * 1000:.1f} ms long, under the "
                         f"{MIN_DURATION_S * 1000:g} ms a sound needs")
    mono = frames.mean(axis=1, dtype=np.float32)
    if rate != sample_rate:
        mono = librosa.resample(mono, orig_sr=int(rate), target_sr=sample_rate, res_type="soxr_hq")
    mono = np.ascontiguousarray(mono, dtype=np.float32)
    silent = bool(np.abs(mono).max(initial=0.0) <= 10 ** (SILENCE_DBFS / 20))
    return Clip(mono, sample_rate, name, silent)


PEAK_LIMIT = 10 ** (-1 / 20)  # -1 dBFS: written tracks are scaled down to this peak only if they would clip


def write_wav(path: str | Path, samples, sample_rate: int) -> None:
    """16-bit PCM WAV of ``samples``, mono (samples,) or (channels, samples) (array or tensor, full scale 1),
    scaled to -1 dBFS only if it would clip; one InputError line when the file cannot be written."""
    samples = samples.detach().float().cpu().numpy() if hasattr(samples, "detach") else np.asarray(samples, np.float32)
    samples = samples.T if samples.ndim == 2 else samples  # soundfile writes (frames, channels)
    peak = float(np.abs(samples).max(initial=0.0))
    if peak > PEAK_LIMIT:
        samples = samples * (PEAK_LIMIT / peak)
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        sf.write(str(path), samples, sample_rate, subtype="PCM_16")
    except (OSError, RuntimeError) as error:  # soundfile's errors are RuntimeErrors
        detail = getattr(error, "strerror", None) or " ".join(str(error).split())[:200]
        raise InputError(f"{path}: cannot write the WAV ({detail})") from None
