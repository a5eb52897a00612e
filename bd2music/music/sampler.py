"""The sampler's voice: one stored sample played at a pitch for a duration, as mono float32 at the output rate.

``pitched`` resamples a sample once per (pitch, output rate) with soxr. A looped sample is resampled so that its
loop holds a whole number of output samples (the rate moves by half a sample per loop at most: under 0.1 cent for
the bank's loops) and from a copy whose loop goes on past its end for as long as the filter reads, so that the
resampled loop is itself seamless. soxr's medium quality keeps 16 bits, as much as the samples hold. ``voice`` then
plays the attack, repeats the loop while the key is held (a decaying note's loop each time quieter, until it is
60 dB down) and applies the envelope: a short fade-in, and after the
note-off an exponential release that reaches -60 dB, and silence, at the release time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import soxr

FILTER_MARGIN = 128  # input samples on each side that soxr's filter reads, upsampling (HQ: under 100)


@dataclass(frozen=True)
class Sample:
    """One recorded note: int16 audio at ``rate``, its root, layer velocity and gain, loop points if any."""

    key: str  # name in the bank (instrument/root/velocity)
    audio: np.ndarray  # int16 mono
    rate: int  # Hz
    root: float  # MIDI pitch it sounds at
    velocity: int  # the layer's MIDI velocity
    gain: float  # int16 units -> the bank's level at ``velocity``
    loop: tuple[int, int] | None = None  # [start, end) in samples; None: it plays once
    loop_gain: float = 1.0  # each repetition of the loop is this times the one before (decaying notes: below 1)


@dataclass(frozen=True)
class Pitched:
    """A sample resampled to a pitch and an output rate, float32, gain applied; its loop in output samples."""

    audio: np.ndarray
    loop: tuple[int, int] | None
    loop_gain: float = 1.0

    @property
    def nbytes(self) -> int:
        return self.audio.nbytes


def pitched(sample: Sample, pitch: float, rate: int, quality: str = "MQ") -> Pitched:
    """``sample`` played at MIDI ``pitch`` and written at ``rate`` Hz."""
    audio = sample.audio.astype(np.float32) * np.float32(sample.gain)
    factor = rate / (sample.rate * 2 ** ((pitch - sample.root) / 12))  # output samples per stored sample
    if sample.loop is None:
        return Pitched(soxr.resample(audio, sample.rate, sample.rate * factor, quality), None)
    start, end = sample.loop
    length = end - start
    out_length = max(1, round(length * factor))
    margin = math.ceil(FILTER_MARGIN / min(1.0, factor))  # the filter is longer in input samples downsampling
    tail = np.resize(audio[start:end], 2 * margin + 1) * np.float32(sample.loop_gain)  # the loop goes on
    periodic = np.concatenate([audio[:end], tail, np.zeros(margin, np.float32)])
    resampled = soxr.resample(periodic, length, out_length, quality)  # exactly out_length / length
    out_start = math.ceil((start + margin) * out_length / length)
    out_end = out_start + out_length
    return Pitched(resampled[:out_end], (out_start, out_end), sample.loop_gain)


def release_curve(length: int) -> np.ndarray:
    """``length`` samples falling exponentially to -60 dB, times a line to silence (float32)."""
    t = np.arange(length, dtype=np.float32) / np.float32(max(length, 1))
    return np.power(np.float32(10), -3 * t) * (1 - t)


def voice(sound: Pitched, held: int, release: np.ndarray, attack: np.ndarray, gain: float, one_shot: bool = False,
          ) -> np.ndarray:
    """The note times ``gain``: the ``attack`` ramp, ``held`` samples with the key down, then the ``release``
    curve (cut short if a sample without loop ends first; ``one_shot``: the whole sample whatever the key does,
    as drums play)."""
    source, gain = sound.audio, np.float32(gain)
    if one_shot:
        out = source * gain
        out[: len(attack)] *= attack[: len(out)]
        return out
    length = min(held + len(release), len(source) if sound.loop is None else audible_length(sound))
    out = np.empty(length, dtype=np.float32)
    np.multiply(source[:length], gain, out=out[: min(length, len(source))])
    if sound.loop is not None:  # the loop again and again after the stored end
        start, end = sound.loop
        for repetition, position in enumerate(range(end, length, end - start), start=1):
            count = min(end - start, length - position)
            np.multiply(out[start:start + count], np.float32(sound.loop_gain**repetition),
                        out=out[position:position + count])
    out[: len(attack)] *= attack[:length]
    if length > held:
        out[held:] *= release[: length - held]
    return out


def audible_length(sound: Pitched) -> float:
    """Samples until a looped note has decayed 60 dB under its loop's first pass (infinite when it sustains)."""
    if sound.loop_gain >= 1:
        return math.inf
    start, end = sound.loop
    return end + (end - start) * math.ceil(math.log(1e-3) / math.log(sound.loop_gain))


def pan_gains(pan: float) -> tuple[float, float]:
    """Constant-power panning: (left, right) gains for ``pan`` in -1 (left) .. 1 (right)."""
    angle = (pan + 1) * math.pi / 4
    return math.cos(angle), math.sin(angle)
