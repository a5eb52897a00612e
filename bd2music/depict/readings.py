"""What ``depict`` reads in a sound: the clip's tempo, onset rate, spectral centroid, loudness, onset variety and
key, and the same readings on each time window that becomes a panel.

Every number comes from the descriptors of :mod:`bd2music.audio.descriptors` (one computation per clip):

* ``tempo`` (BPM), ``onset_rate`` (onsets/s) and ``centroid`` (Hz, ``spectral_centroid_mean``) as they are;
* ``loudness``: the mean frame RMS in dBFS, ``20 log10(rms_mean)``;
* ``onset_variety``: the coefficient of variation of the intervals between onsets (0: a metronome, about 1:
  onsets at random, above 1: bursts), 0 with fewer than three onsets;
* ``key``: the Krumhansl-Kessler correlations of the clip's mean chroma (``bd2music.music.library``), its best
  tonic and mode and how strongly it stands out (``key_strength``, the best correlation; noise scores low).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import librosa
import numpy as np

from bd2music.audio.descriptors import PITCH_CLASSES, ClipDescriptors
from bd2music.music.library import key_correlations

SCALAR_READINGS = ("tempo", "onset_rate", "centroid", "loudness", "onset_variety")
MODES = ("major", "minor")
SILENT_DB = -100.0  # the loudness of digital silence


@dataclass(frozen=True)
class WindowReadings:
    """One time window of the clip (one panel): its span and its own centroid, loudness and onsets."""

    start: float  # seconds
    end: float
    frames: tuple[int, int]  # first and last (excluded) descriptor frame: the same frames as the models' mel
    centroid: float  # Hz, mean over the window's frames
    loudness: float  # dBFS of the window's mean frame RMS
    onsets: int  # onsets inside the window


@dataclass(frozen=True)
class Readings:
    """The clip's readings (see the module docstring) and its windows'."""

    name: str
    duration: float  # seconds
    silent: bool
    tempo: float
    onset_rate: float
    centroid: float
    loudness: float
    onset_variety: float
    tonic: int  # pitch class of the best key, 0 = C
    mode: str  # "major" or "minor"
    key_strength: float  # correlation of the mean chroma with that key's profile (-1..1)
    windows: list[WindowReadings] = field(default_factory=list)  # read_windows, once the panels are counted

    @property
    def key(self) -> str:
        return f"{PITCH_CLASSES[self.tonic].replace('s', '#')} {self.mode}"

    def scalars(self) -> dict[str, float]:
        """The readings that the calibration maps (``SCALAR_READINGS``) by name."""
        return {name: float(getattr(self, name)) for name in SCALAR_READINGS}

    def to_dict(self) -> dict:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(self).items() if k != "windows"} | {
            "key": self.key,
            "windows": [{k: round(v, 4) if isinstance(v, float) else v for k, v in asdict(w).items()}
                        for w in self.windows],
        }


def decibels(rms: float | np.ndarray) -> float | np.ndarray:
    """dBFS of an RMS level, ``SILENT_DB`` for silence."""
    return np.maximum(20 * np.log10(np.maximum(rms, 1e-12)), SILENT_DB)


def onset_frames(result: ClipDescriptors) -> np.ndarray:
    """Frame indices of the onsets picked in the clip's onset strength (as its ``onset_rate`` counts them)."""
    config = result.config
    return librosa.onset.onset_detect(onset_envelope=result.frames["onset_strength"], sr=config.sample_rate,
                                      hop_length=config.hop_length)


def onset_variety(onsets: np.ndarray) -> float:
    """Coefficient of variation of the inter-onset intervals (0 with fewer than three onsets)."""
    intervals = np.diff(np.sort(onsets)).astype(np.float64)
    if len(intervals) < 2 or intervals.mean() <= 0:
        return 0.0
    return float(intervals.std() / intervals.mean())


def window_bounds(frames: int, count: int) -> list[tuple[int, int]]:
    """``count`` consecutive, near-equal frame ranges covering ``frames`` frames (each at least one frame long,
    overlapping when the clip has fewer frames than windows)."""
    edges = np.linspace(0, frames, count + 1)
    bounds = []
    for low, high in zip(edges[:-1], edges[1:]):
        start = min(int(np.floor(low)), frames - 1)
        bounds.append((start, max(int(np.floor(high)), start + 1)))
    return bounds


def read_clip(result: ClipDescriptors) -> Readings:
    """The clip-level readings of a clip's descriptors (no windows yet)."""
    frames, summary = result.frames, result.summary
    correlations = key_correlations(np.arange(12), frames["chroma"].mean(axis=1))
    mode, tonic = np.unravel_index(int(np.argmax(correlations)), correlations.shape)
    return Readings(
        name=result.name,
        duration=float(result.clip_level["duration"]),
        silent=result.silent,
        tempo=float(summary["tempo"]),
        onset_rate=float(summary["onset_rate"]),
        centroid=float(summary["spectral_centroid_mean"]),
        loudness=float(decibels(summary["rms_mean"])),
        onset_variety=onset_variety(onset_frames(result)),
        tonic=int(tonic),
        mode=MODES[int(mode)],
        key_strength=float(np.nan_to_num(correlations.max())),
    )


def read_windows(result: ClipDescriptors, count: int) -> list[WindowReadings]:
    """The readings of ``count`` consecutive windows of near-equal length."""
    frames, onsets = result.frames, onset_frames(result)
    seconds_per_frame = result.config.hop_length / result.config.sample_rate
    return [
        WindowReadings(
            start=start * seconds_per_frame,
            end=min(end * seconds_per_frame, result.clip_level["duration"]),
            frames=(start, end),
            centroid=float(frames["spectral_centroid"][start:end].mean()),
            loudness=float(decibels(frames["rms"][start:end].mean())),
            onsets=int(((onsets >= start) & (onsets < end)).sum()),
        )
        for start, end in window_bounds(len(frames["rms"]), count)
    ]
