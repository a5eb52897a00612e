"""Chords in a key: triads on scale degrees, progressions, cadences, voicings that move little, and the chord
of a bar of existing music (for accompanying a tune that has none)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bd2music.music.intent import Key

# Progressions as scale degrees (0 = I), one chord per harmonic step; the composer picks one per section.
PROGRESSIONS = {
    "major": ((0, 4, 5, 3), (0, 3, 4, 0), (5, 3, 0, 4), (0, 5, 1, 4), (0, 3, 5, 4), (0, 2, 3, 4)),
    "minor": ((0, 5, 2, 6), (0, 3, 4, 0), (0, 6, 5, 4), (0, 3, 6, 2), (0, 5, 3, 4), (0, 4, 5, 3)),
}
CADENCE = (4, 0)  # V - I (in minor with the raised leading tone: harmonic minor's V)


@dataclass(frozen=True)
class Chord:
    """A chord over a stretch of beats."""

    start: float  # beat
    length: float  # beats
    root: int  # pitch class
    tones: tuple[int, ...]  # pitch classes, root first

    @property
    def end(self) -> float:
        return self.start + self.length


def triad(key: Key, degree: int) -> tuple[int, ...]:
    """Pitch classes of the triad on scale ``degree`` (0-6) of ``key``; minor's V and vii take the leading tone."""
    scale = list(key.scale)
    if key.mode == "minor" and degree % 7 in (4, 6):
        scale[6] = 11  # harmonic minor
    return tuple((key.tonic + scale[(degree + step) % 7]) % 12 for step in (0, 2, 4))


def progression(key: Key, degrees: tuple[int, ...], start: float, step: float) -> list[Chord]:
    """One chord of ``step`` beats per scale degree, from beat ``start``."""
    chords = []
    for i, degree in enumerate(degrees):
        tones = triad(key, degree)
        chords.append(Chord(start + i * step, step, tones[0], tones))
    return chords


def voice(tones: tuple[int, ...], centre: int, previous: list[int] | None, voices: int = 3) -> list[int]:
    """MIDI pitches of ``voices`` chord tones near ``centre``, as close as possible to the ``previous`` voicing
    (common tones held, the rest moving by the smallest steps); from 5 voices the span widens by 3 semitones each
    side per voice."""
    reach = 9 + 3 * max(0, voices - 4)
    candidates = sorted(p for p in range(centre - reach, centre + reach + 1) if p % 12 in tones)
    best, best_cost = None, np.inf
    for low in range(len(candidates)):
        chosen = candidates[low:low + voices]
        if len(chosen) < voices or len({p % 12 for p in chosen}) < min(voices, len(tones)):
            continue
        if previous:
            cost = sum(min(abs(p - q) for q in previous) for p in chosen)
        else:
            cost = abs(np.mean(chosen) - centre)
        if cost < best_cost:
            best, best_cost = chosen, cost
    return best or [centre - centre % 12 + tones[0]]


def chord_of(pitches: np.ndarray, weights: np.ndarray, key: Key) -> tuple[int, ...]:
    """The diatonic triad of ``key`` that best covers the pitch classes sounding in a bar (``weights``: their
    durations); ties go to the more stable degree (I, V, IV, vi, ii, iii, vii)."""
    if len(pitches) == 0:
        return triad(key, 0)
    profile = np.zeros(12)
    np.add.at(profile, np.asarray(pitches) % 12, weights)
    best, best_score = triad(key, 0), -np.inf
    for rank, degree in enumerate((0, 4, 3, 5, 1, 2, 6)):
        tones = triad(key, degree)
        score = profile[list(tones)].sum() + 0.5 * profile[tones[0]] - 0.01 * rank * profile.sum()
        if score > best_score:
            best, best_score = tones, score
    return best
