"""Performance: the score's events (beats, roles) become notes (seconds, instruments, velocities) as a player
would give them:

* **time**: each section at its own tempo (its beats fill its segment exactly); every onset moved by a little
  Gaussian timing noise (``timing_ms``), drums less than the others;
* **dynamics**: the section's level sets the velocity range, a swell rises and falls over each section
  (``swell``), the composer's accents shape each note, and every velocity varies a little (``velocity_jitter``);
* **articulation**: sustained instruments play legato, the last chord of the track rings to its end; the
  harmony's chords can be strummed (``strum_ms``: each note a little after the one under it);
* **orchestration**: each role is played by the instrument the section chose for it, kept inside that
  instrument's range by octaves; a melody doubled an octave below when the section has a ``counter`` voice, the
  bass when it has a ``sub`` one;
* **space**: each role has its place in the stereo field.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bd2music.music.compose import (ARPEGGIO, BASS, CLOSED_HAT, COUNTER, DRUMS, HARMONY, MELODY, OPEN_HAT, Event,
                                    section_starts)
from bd2music.music.intent import Section
from bd2music.music.score import DRUMS as DRUM_KIT, Note

FOUND = "found"  # a found sound (``bd2music.music.found``) doubling the melody's strong beats
SUB = "sub"  # the bass doubled an octave below (``Orchestration.sub``), as double basses double the cellos
PANS = {MELODY: 0.0, COUNTER: 0.3, HARMONY: -0.3, ARPEGGIO: 0.35, BASS: 0.0, DRUMS: 0.0, FOUND: -0.45, SUB: 0.0}
# velocity share per role (the arpeggio as loud as the melody: a pulse under pads must be heard to count)
BALANCE = {MELODY: 1.0, COUNTER: 0.8, HARMONY: 0.75, ARPEGGIO: 1.0, BASS: 0.85, DRUMS: 0.8, FOUND: 0.9, SUB: 0.8}


@dataclass
class PerformerConfig:
    """How the score is played (``weights/pipeline.json``, settings "music")."""

    velocity_range: tuple[int, int] = (24, 116)  # MIDI velocity of an accented note at level 0 and at level 1
    swell: float = 0.5  # the level rises by this much towards 2/3 of a section and falls back after
    velocity_jitter: float = 6.0  # standard deviation of the velocity noise
    timing_ms: float = 9.0  # standard deviation of the timing noise (drums: half)
    legato: float = 0.95  # share of a note's length a sustained instrument holds it
    detached: float = 0.8  # ... and a decaying instrument (its own decay does the rest)
    drum_s: float = 0.3  # how long a drum hit is held
    ring_s: float = 1.5  # the final chord is held at least this long (the track is extended when needed)
    found_accent: float = 0.8  # a found sound doubles the melody's notes at least this accented (strong beats)
    strum_ms: float = 0.0  # the harmony's chords strummed: each note this much after the one under it (0: none)


@dataclass(frozen=True)
class Orchestration:
    """Which instrument plays each role in one section (None: the role is silent)."""

    melody: str
    harmony: str | None
    bass: str | None
    counter: str | None = None
    drums: bool = False
    found: str | None = None  # a found sound on the melody's strong beats
    arpeggio: str | None = None  # a plucked or struck instrument breaking the chords (``compose.arpeggio``)
    kit: str | None = None  # the drum kit when ``drums`` (None: the standard kit)
    sub: str | None = None  # an instrument doubling the bass an octave below (None: none)

    def instrument(self, role: str) -> str | None:
        if role == DRUMS:
            return (self.kit or DRUM_KIT) if self.drums else None
        return getattr(self, role)


class Timeline:
    """Beats to seconds over sections of different tempi."""

    def __init__(self, sections: list[Section]) -> None:
        self.sections, self.starts = sections, section_starts(sections)

    def index(self, beat: float) -> int:
        return max(0, int(np.searchsorted(self.starts, beat, side="right")) - 1)

    def seconds(self, beat: float) -> float:
        k = self.index(beat)
        return self.sections[k].start + (beat - self.starts[k]) * self.sections[k].beat_s

    @property
    def beats(self) -> int:
        return self.starts[-1] + self.sections[-1].beats


def perform(events: list[Event], sections: list[Section], orchestration: list[Orchestration], seed: int,
            ranges: dict[str, tuple[int, int, bool]], config: PerformerConfig) -> list[Note]:
    """Notes for ``events``; ``ranges``: instrument -> (lowest, highest MIDI pitch, sustained)."""
    rng = np.random.default_rng([seed, 22])
    timeline = Timeline(sections)
    last_beat = max((e.beat for e in events if e.role != DRUMS), default=0.0)
    end_s = sections[-1].end
    notes, strums = [], strum_offsets(events, config.strum_ms)
    for event in events:
        plan = orchestration[event.section]
        players = [(event.role, plan.instrument(event.role), 0)]
        if event.role == MELODY and plan.counter:
            players.append((COUNTER, plan.counter, -12))
        if event.role == BASS and plan.sub:
            players.append((SUB, plan.sub, -12))
        if event.role == MELODY and plan.found and event.accent >= config.found_accent:
            players.append((FOUND, plan.found, 0))
        for role, instrument, shift in players:
            if instrument is None:
                continue
            notes.append(_note(event, role, instrument, shift, timeline, rng, ranges, config,
                               ring=event.beat >= last_beat and event.role != DRUMS, end_s=end_s,
                               strum=strums.get(id(event), 0.0)))
    return sorted(notes, key=lambda n: (n.start, n.instrument, n.pitch))


def strum_offsets(events: list[Event], strum_ms: float) -> dict[int, float]:
    """Seconds after its onset each harmony note of a chord (its notes on one beat) is played, keyed by the
    event's ``id``: ``strum_ms`` more for each note over the lowest, as a guitarist's down-strum (none: empty)."""
    if not strum_ms:
        return {}
    chords: dict[float, list[Event]] = {}
    for event in events:
        if event.role == HARMONY:
            chords.setdefault(event.beat, []).append(event)
    return {id(e): rank * strum_ms / 1000 for chord in chords.values() if len(chord) > 1
            for rank, e in enumerate(sorted(chord, key=lambda e: e.pitch))}


def _note(event: Event, role: str, instrument: str, shift: int, timeline: Timeline, rng: np.random.Generator,
          ranges: dict[str, tuple[int, int, bool]], config: PerformerConfig, ring: bool, end_s: float,
          strum: float = 0.0) -> Note:
    section = timeline.sections[event.section]
    start = timeline.seconds(event.beat) + strum
    jitter = config.timing_ms / 1000 * (0.5 if role == DRUMS else 1.0)
    start = max(0.0, start + float(np.clip(rng.normal(0, jitter), -2 * jitter, 2 * jitter)))
    if role == DRUMS:
        duration, pitch = config.drum_s, event.pitch
    else:
        low, high, sustained = ranges[instrument]
        pitch = event.pitch + shift
        while pitch < low:
            pitch += 12
        while pitch > high:
            pitch -= 12
        held = timeline.seconds(event.beat + event.length) - timeline.seconds(event.beat)
        duration = held * (config.legato if sustained else config.detached)
        if ring:
            duration = max(end_s - start, config.ring_s)
    position = (event.beat - timeline.starts[event.section]) / max(section.beats, 1)
    swell = config.swell * (position / 0.66 if position < 0.66 else (1 - position) / 0.34) - config.swell / 2
    level = float(np.clip(section.level + swell, 0.0, 1.0))
    low_v, high_v = config.velocity_range
    velocity = (low_v + (high_v - low_v) * level) * event.accent * BALANCE[role]
    if event.pitch in (CLOSED_HAT, OPEN_HAT) and role == DRUMS:
        velocity *= 0.8
    velocity = int(np.clip(round(velocity + rng.normal(0, config.velocity_jitter)), 1, 127))
    return Note(start, float(duration), int(pitch), velocity, instrument, PANS[role] if role != DRUMS else
                (0.3 if event.pitch in (CLOSED_HAT, OPEN_HAT) else 0.0))
