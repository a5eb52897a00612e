"""Audio descriptors: the names, units and framing that later models learn to predict, and the librosa reference.

``DESCRIPTORS`` below is the one table of names and units. Frame-level descriptors are computed on centred
frames of ``FrameConfig.n_fft`` samples every ``FrameConfig.hop_length`` samples (periodic Hann window, zero
padding), so frame ``t`` is centred on ``t * hop_length / sample_rate`` seconds and a clip of ``n`` samples has
``1 + n // hop_length`` frames. Each frame-level descriptor is summarised per clip over its frames as
``{name}_{stat}`` (single row) or ``{name}_{row}_{stat}`` (one column per row label), with ``SUMMARY_STATS``;
clip-level descriptors are one column named as they are. ``summary_columns()`` lists the columns in order.

Two backends compute the same numbers behind :func:`compute_descriptors`: ``librosa`` (the reference, one clip
at a time) and ``torch`` (batched, CPU or CUDA; see :mod:`bd2music.audio.torch_descriptors` for tolerances).
Deliberate choices: chroma assumes A4 = 440 Hz (no per-clip tuning estimate, so it is a fixed filter bank) and
tonnetz is computed from that STFT chroma (librosa's own default is CQT chroma). Silent clips are analysed like
any other (``onset_rate`` 0, ``tempo`` at the prior's peak, about 120 BPM): check ``ClipDescriptors.silent``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import librosa
import numpy as np

from bd2music.audio.load import ANALYSIS_SAMPLE_RATE, Clip
from bd2music.errors import InputError

BACKENDS = ("librosa", "torch")
SUMMARY_STATS = ("mean", "std", "p10", "p50", "p90")  # over the frames of one clip; pXX = XXth percentile
PITCH_CLASSES = ("C", "Cs", "D", "Ds", "E", "F", "Fs", "G", "Gs", "A", "As", "B")  # s = sharp
TONNETZ_AXES = ("fifth_x", "fifth_y", "minor_x", "minor_y", "major_x", "major_y")


@dataclass(frozen=True)
class FrameConfig:
    """Framing and descriptor parameters shared by both backends (defaults: 64 ms frames every 16 ms at 16 kHz)."""

    sample_rate: int = ANALYSIS_SAMPLE_RATE  # Hz; clips must come at this rate (load_audio's default)
    n_fft: int = 1024  # samples per frame (STFT size, Hann window)
    hop_length: int = 256  # samples between frame centres
    n_mels: int = 64  # mel bands, 0 Hz to Nyquist (Slaney scale and norm)
    n_mfcc: int = 20  # cepstral coefficients kept (DCT-II, orthonormal)
    top_db: float = 80.0  # mel_db floor below the clip's loudest value
    contrast_fmin: float = 200.0  # Hz, upper edge of the lowest contrast band; bands double upwards
    contrast_bands: int = 6  # octave bands above contrast_fmin (plus the band below it)
    contrast_quantile: float = 0.02  # fraction of a band's bins averaged for its peak and for its valley
    rolloff_percent: float = 0.85  # fraction of spectral magnitude below the rolloff frequency
    tempo_window_s: float = 8.0  # autocorrelation window of the tempogram

    @property
    def tempo_window(self) -> int:
        """Tempogram window in frames."""
        return int(librosa.time_to_frames(self.tempo_window_s, sr=self.sample_rate, hop_length=self.hop_length))


@dataclass(frozen=True)
class Descriptor:
    """One descriptor: level (sample, frame or clip), unit, meaning and row labels (empty for a single row)."""

    level: str
    unit: str
    meaning: str
    rows: tuple[str, ...] = ()
    summarised: bool = True  # frame level only: per-clip statistics go into the summary columns


def descriptor_table(config: FrameConfig = FrameConfig()) -> dict[str, Descriptor]:
    """The descriptor names, in output order, with units and row labels for ``config``."""
    edges = [config.contrast_fmin * 2**k for k in range(config.contrast_bands + 1)]
    bands = ", ".join(
        [f"0: under {edges[0]:g} Hz"] + [f"{k + 1}: from {edge:g} Hz" for k, edge in enumerate(edges[:-1])]
    )
    return {
        "waveform": Descriptor("sample", "full scale", "mono samples in [-1, 1]", summarised=False),
        "mel_db": Descriptor(
            "frame",
            "dB",
            "mel power spectrogram, 10 log10(power), floored top_db below the clip max",
            tuple(f"{k:02d}" for k in range(config.n_mels)),
            summarised=False,
        ),
        "mfcc": Descriptor(
            "frame", "dB (cepstral)", "DCT-II of mel_db", tuple(f"{k:02d}" for k in range(config.n_mfcc))
        ),
        "chroma": Descriptor(
            "frame", "ratio", "STFT chroma (A4 = 440 Hz, no tuning estimate), frame max = 1", PITCH_CLASSES
        ),
        "zero_crossing_rate": Descriptor("frame", "crossings/sample", "sign changes per sample in the frame"),
        "spectral_centroid": Descriptor("frame", "Hz", "magnitude-weighted mean frequency"),
        "spectral_bandwidth": Descriptor("frame", "Hz", "magnitude-weighted standard deviation around the centroid"),
        "spectral_contrast": Descriptor(
            "frame",
            "dB",
            f"peak minus valley magnitude ({config.contrast_quantile:.0%} quantiles) per octave band ({bands})",
            tuple(str(k) for k in range(config.contrast_bands + 1)),
        ),
        "spectral_rolloff": Descriptor(
            "frame", "Hz", f"frequency below which {config.rolloff_percent:.0%} of the magnitude lies"
        ),
        "spectral_flatness": Descriptor(
            "frame", "ratio", "geometric over arithmetic mean of the power spectrum (0 tonal, 1 noise)"
        ),
        "tonnetz": Descriptor(
            "frame",
            "coordinate",
            "tonal centroid of the STFT chroma above on the circles of fifths, minor and major thirds",
            TONNETZ_AXES,
        ),
        "rms": Descriptor("frame", "full scale", "root mean square of the frame's samples"),
        "onset_strength": Descriptor("frame", "dB", "mean positive mel_db increase since the previous frame"),
        "duration": Descriptor("clip", "s", "clip length"),
        "onset_rate": Descriptor("clip", "onsets/s", "peaks picked in onset_strength per second"),
        "tempo": Descriptor("clip", "BPM", "tempogram peak weighted by a log-normal prior around 120 BPM"),
    }


DESCRIPTORS = descriptor_table()


def _summarised(config: FrameConfig) -> dict[str, list[str]]:
    """Summarised frame-level descriptors and the column prefix of each of their rows."""
    return {
        name: [f"{name}_{row}" for row in descriptor.rows] or [name]
        for name, descriptor in descriptor_table(config).items()
        if descriptor.level == "frame" and descriptor.summarised
    }


def summary_columns(config: FrameConfig = FrameConfig()) -> list[str]:
    """The flat per-clip summary columns in order: clip-level, then e.g. ``spectral_centroid_mean``, ``mfcc_00_p90``."""
    clip_level = [name for name, descriptor in descriptor_table(config).items() if descriptor.level == "clip"]
    summarised = [
        f"{prefix}_{stat}" for prefixes in _summarised(config).values() for prefix in prefixes for stat in SUMMARY_STATS
    ]
    return clip_level + summarised


def _percentiles(sorted_rows: np.ndarray, percents: Sequence[float]) -> list[np.ndarray]:
    """``np.percentile(rows, percents, axis=1)`` (linear method, same rounding) of rows sorted along axis 1.

    One sort serves every percentile: twice as fast as ``np.percentile``, which partitions the rows again.
    """
    n = sorted_rows.shape[1]
    values = []
    for percent in percents:
        position = percent / 100 * (n - 1)
        below = int(np.floor(position))
        share = position - below
        low, high = sorted_rows[:, below], sorted_rows[:, min(below + 1, n - 1)]
        values.append(high - (high - low) * (1 - share) if share >= 0.5 else low + (high - low) * share)
    return values


def _statistics(rows: np.ndarray) -> np.ndarray:
    """(rows, stats) summary of a (rows, frames) array."""
    rows = rows.astype(np.float64)
    return np.column_stack([rows.mean(axis=1), rows.std(axis=1), *_percentiles(np.sort(rows, axis=1), [10, 50, 90])])


@dataclass
class ClipDescriptors:
    """Everything computed for one clip: frame arrays (see ``DESCRIPTORS``), clip values and the flat summary."""

    name: str
    silent: bool
    config: FrameConfig
    frames: dict[str, np.ndarray]  # waveform (samples,), single-row (frames,), multi-row (rows, frames)
    clip_level: dict[str, float]  # duration, onset_rate, tempo
    summary: dict[str, float] = field(init=False)

    def __post_init__(self) -> None:
        summarised = _summarised(self.config)
        prefixes = [prefix for row_prefixes in summarised.values() for prefix in row_prefixes]
        statistics = _statistics(np.vstack([np.atleast_2d(self.frames[name]) for name in summarised]))
        self.summary = dict(self.clip_level) | {
            f"{prefix}_{stat}": float(value)
            for prefix, values in zip(prefixes, statistics)
            for stat, value in zip(SUMMARY_STATS, values)
        }

    @property
    def times(self) -> np.ndarray:
        """Centre time in seconds of each frame."""
        n_frames = self.frames["rms"].shape[-1]
        return librosa.frames_to_time(
            np.arange(n_frames), sr=self.config.sample_rate, hop_length=self.config.hop_length
        )


def reference_frames(samples: np.ndarray, config: FrameConfig) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Librosa reference: frame arrays of one clip and its tempogram averaged over frames."""
    sr, n_fft, hop = config.sample_rate, config.n_fft, config.hop_length
    magnitude = np.abs(librosa.stft(samples, n_fft=n_fft, hop_length=hop))
    power = magnitude**2
    mel_db = librosa.power_to_db(
        librosa.feature.melspectrogram(S=power, sr=sr, n_mels=config.n_mels), top_db=config.top_db
    )
    chroma = librosa.feature.chroma_stft(S=power, sr=sr, tuning=0.0)
    centroid = librosa.feature.spectral_centroid(S=magnitude, sr=sr)
    onset_strength = librosa.onset.onset_strength(S=mel_db, sr=sr, n_fft=n_fft, hop_length=hop)
    frames = {
        "waveform": samples,
        "mel_db": mel_db,
        "mfcc": librosa.feature.mfcc(S=mel_db, n_mfcc=config.n_mfcc),
        "chroma": chroma,
        "zero_crossing_rate": librosa.feature.zero_crossing_rate(samples, frame_length=n_fft, hop_length=hop)[0],
        "spectral_centroid": centroid[0],
        "spectral_bandwidth": librosa.feature.spectral_bandwidth(S=magnitude, sr=sr, centroid=centroid)[0],
        "spectral_contrast": librosa.feature.spectral_contrast(
            S=magnitude,
            sr=sr,
            fmin=config.contrast_fmin,
            n_bands=config.contrast_bands,
            quantile=config.contrast_quantile,
        ),
        "spectral_rolloff": librosa.feature.spectral_rolloff(S=magnitude, sr=sr, roll_percent=config.rolloff_percent)[
            0
        ],
        "spectral_flatness": librosa.feature.spectral_flatness(S=magnitude)[0],
        "tonnetz": librosa.feature.tonnetz(chroma=chroma),
        "rms": librosa.feature.rms(y=samples, frame_length=n_fft, hop_length=hop)[0],
        "onset_strength": onset_strength,
    }
    tempogram = librosa.feature.tempogram(
        onset_envelope=onset_strength, sr=sr, hop_length=hop, win_length=config.tempo_window
    )
    return frames, tempogram.mean(axis=1)


def rhythm(
    onset_strength: np.ndarray, tempogram: np.ndarray, duration_s: float, config: FrameConfig
) -> dict[str, float]:
    """Onset rate (peak-picked onset strength) and tempo (prior-weighted mean tempogram) of one clip."""
    sr, hop = config.sample_rate, config.hop_length
    onsets = librosa.onset.onset_detect(onset_envelope=onset_strength, sr=sr, hop_length=hop)
    tempo = librosa.feature.tempo(tg=tempogram[:, None], sr=sr, hop_length=hop)
    return {"onset_rate": len(onsets) / duration_s, "tempo": float(tempo[0])}


def check_backend(backend: str, device: str) -> None:
    """Raise :class:`InputError` unless ``backend`` exists and can run on ``device``."""
    if backend not in BACKENDS:
        raise InputError(f"unknown backend {backend!r}, expected one of {', '.join(BACKENDS)}")
    if backend == "librosa" and device != "cpu":
        raise InputError(f"the librosa backend runs on the CPU only, not {device!r}; use the torch backend")
    if backend == "torch":
        from bd2music.audio.torch_descriptors import check_device

        check_device(device)


def compute_descriptors(
    clips: Sequence[Clip],
    backend: str = "librosa",
    device: str = "cpu",
    config: FrameConfig = FrameConfig(),
    batch_size: int = 16,
) -> list[ClipDescriptors]:
    """Descriptors of every clip, in order: ``librosa`` reference one by one, or ``torch`` in padded batches."""
    check_backend(backend, device)
    if batch_size < 1:
        raise InputError(f"batch size must be at least 1, got {batch_size}")
    for clip in clips:
        if clip.sample_rate != config.sample_rate:
            raise InputError(
                f"{clip.name}: sampled at {clip.sample_rate} Hz, the analysis expects {config.sample_rate} Hz"
            )
    if backend == "torch":
        from bd2music.audio.torch_descriptors import torch_frames

        computed = torch_frames([clip.samples for clip in clips], config, device, batch_size)
    else:
        computed = [reference_frames(clip.samples, config) for clip in clips]
    results = []
    for clip, (frames, tempogram) in zip(clips, computed):
        values = {"duration": clip.duration_s} | rhythm(frames["onset_strength"], tempogram, clip.duration_s, config)
        results.append(ClipDescriptors(clip.name, clip.silent, config, frames, values))
    return results
