"""Loop points: where a held note can repeat without a seam.

``find_loop`` looks for the loop length whose end matches its start best (normalised cross-correlation of a short
window, at an upward zero crossing) and bakes a crossfade into the loop's last samples so that the jump from its
end back to its start continues the waveform. A sustained note's loop repeats as it is; a decaying note's loop
(``decay_db_per_s`` from ``decay_rate``) repeats each time quieter by what the note loses over one loop, so the
note goes on decaying past the stored sample. Used when the instrument bank is built and when a found sound is
registered as a sustained instrument.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import correlate


@dataclass(frozen=True)
class Loop:
    """A seamless loop ``audio[start:end]`` (samples) and how well its end matched its start (-1..1)."""

    start: int
    end: int
    match: float
    gain: float = 1.0  # each repetition is this times the one before (1: sustained, below 1: decaying)


def upward_zero_crossing(audio: np.ndarray, after: int) -> int:
    """The first index at or after ``after`` where the signal goes from below zero to zero or above."""
    rising = np.flatnonzero((audio[after:-1] < 0) & (audio[after + 1:] >= 0))
    return after + 1 + int(rising[0]) if len(rising) else after


def attack_end(audio: np.ndarray, sample_rate: int, frame: float = 0.01) -> int:
    """Where the note reaches its steady level: the first 10 ms frame within 3 dB of the median level of the
    second half (the sustain)."""
    hop = max(1, int(frame * sample_rate))
    frames = audio[: len(audio) // hop * hop].reshape(-1, hop)
    level = np.sqrt(np.mean(frames.astype(np.float64) ** 2, axis=1))
    steady = np.median(level[len(level) // 2:])
    return int(np.argmax(level >= steady / np.sqrt(2))) * hop


def decay_rate(audio: np.ndarray, sample_rate: int, seconds: float) -> float:
    """dB per second the note's level changes over its last ``seconds`` (a line fitted to 10 ms frames)."""
    hop = sample_rate // 100
    tail = audio[-int(seconds * sample_rate) // hop * hop:].astype(np.float64).reshape(-1, hop)
    level = 10 * np.log10(np.mean(tail**2, axis=1) + 1e-20)
    return float(np.polyfit(np.arange(len(level)) / 100, level, 1)[0])


def find_loop(audio: np.ndarray, sample_rate: int, earliest: float, shortest: float, longest: float,
              decay_db_per_s: float = 0.0, starts: int = 4, window: float = 0.03, crossfade: float = 0.06,
              ) -> tuple[np.ndarray, Loop]:
    """A seamless loop in ``audio`` (mono) starting at or after ``earliest`` seconds, between ``shortest`` and
    ``longest`` seconds long, and the audio up to the loop's end with a ``crossfade`` (s) baked into the loop's
    tail: playing ``out[:end]`` then ``out[start:end]`` again and again (each time ``gain`` times the last, the
    level ``decay_db_per_s`` loses over the loop) has no seam.

    ``starts`` loop starts 0.1 s apart are tried, each at an upward zero crossing; the loop whose end matches its
    start best wins. The crossfade keeps the level of two signals that correlate only partly (an ensemble, a
    chorus): its weights are divided by the power their sum would have. Raises ValueError when the audio is too
    short for the loop asked for.
    """
    shortest_n, longest_n, width = (int(seconds * sample_rate) for seconds in (shortest, longest, window))
    if longest_n < shortest_n:
        raise ValueError(f"{len(audio) / sample_rate:.2f} s leaves no room for a loop of {shortest:g} s")
    first = max(int(earliest * sample_rate), int(crossfade * sample_rate))
    best = None
    for start in (upward_zero_crossing(audio, first + k * sample_rate // 10) for k in range(starts)):
        if start + longest_n + width > len(audio):
            break
        reference = audio[start:start + width].astype(np.float64)
        candidates = audio[start + shortest_n:start + longest_n + width].astype(np.float64)
        similarity = correlate(candidates, reference, mode="valid", method="fft")
        energy = np.sqrt(np.convolve(candidates**2, np.ones(width), mode="valid")) * np.linalg.norm(reference)
        similarity = similarity / np.maximum(energy, 1e-12)
        index = int(np.argmax(similarity))
        if best is None or similarity[index] > best.match:
            best = Loop(start, start + shortest_n + index, float(similarity[index]))
    if best is None:
        raise ValueError(f"{len(audio) / sample_rate:.2f} s is too short for a loop of up to {longest:g} s")
    gain = 10 ** (min(decay_db_per_s, 0.0) * (best.end - best.start) / sample_rate / 20)
    best = Loop(best.start, best.end, best.match, gain)
    fade = min(int(crossfade * sample_rate), (best.end - best.start) // 4)
    weight = 0.5 - 0.5 * np.cos(np.pi * np.arange(fade) / fade)
    power = (1 - weight) ** 2 + weight**2 + 2 * max(best.match, 0.0) * weight * (1 - weight)
    out = audio[:best.end].astype(np.float32)
    mixed = (1 - weight) * out[best.end - fade:] + weight * gain * audio[best.start - fade:best.start]
    out[best.end - fade:] = mixed / np.sqrt(power)
    return out, best
