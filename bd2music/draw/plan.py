"""A drawing's plan: what each stroke sounds like, read left to right as time (``DrawPlan``).

Every stroke is an event from its left edge to its right edge (the canvas's width is ``seconds`` long; a dab
lasts at least ``min_note_s``). Its centre line, shifted to the stroke's height reading, is read every
``note_step_s`` as notes: the canvas's bottom is ``low_pitch``, its top ``high_pitch`` (MIDI), snapped to the
``scale``'s pitch classes, equal neighbours joined into one held note. The loudness reading gives the notes'
velocity (``velocity``); the drawing's loudness (its strokes' loudness weighted by their ink) gives the
track's loudness inside ``LUFS_RANGE``, which the master reaches; the brightness reading is each event's
timbre (the renderers pick an instrument or a clip by it, and tilt its spectrum ``tilt_db`` up or down).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from bd2music.draw.reading import DrawingReading
from bd2music.errors import InputError
from bd2music.master import LUFS_RANGE

SECONDS_RANGE = (1.0, 30.0)
NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


@dataclass
class DrawPlanConfig:
    """How readings become events and notes."""

    low_pitch: int = 48  # MIDI pitch at the canvas's bottom edge (C3)
    high_pitch: int = 84  # at its top edge (C6)
    scale: tuple[int, ...] = (0, 2, 4, 7, 9)  # pitch classes notes snap to (C major pentatonic); () = all twelve
    note_step_s: float = 0.25  # the centre line is read as one note every this many seconds
    min_note_s: float = 0.25  # shortest event (a dab)
    velocity: tuple[int, int] = (35, 120)  # MIDI velocity at loudness 0 and 1
    lufs: tuple[float, float] = LUFS_RANGE  # track loudness at drawing loudness 0 and 1
    tilt_db: float = 8.0  # spectral tilt at brightness 0 (-) and 1 (+), dB at the spectrum's ends


@dataclass
class DrawEvent:
    """One stroke's sound."""

    stroke: int  # its index, left to right
    start: float  # seconds
    end: float
    notes: list[tuple[float, float, int]]  # (start s, duration s, MIDI pitch), in the track's time
    pitch: float  # the height reading as a MIDI pitch (not snapped)
    velocity: int
    height: float  # 0-1 readings
    loudness: float
    brightness: float
    colour: str  # the pen's colour, #rrggbb

    @property
    def tilt(self) -> float:
        """-1 (darkest) .. 1 (brightest)."""
        return 2 * self.brightness - 1

    def to_dict(self) -> dict:
        out = asdict(self) | {"start": round(self.start, 3), "end": round(self.end, 3), "pitch": round(self.pitch, 2)}
        out["notes"] = [[round(s, 3), round(d, 3), p, note_name(p)] for s, d, p in self.notes]
        return out


@dataclass
class DrawPlan:
    """Every stroke's event, the track's length and loudness."""

    seconds: float
    events: list[DrawEvent]
    lufs: float  # the master's target loudness
    config: DrawPlanConfig = field(default_factory=DrawPlanConfig)

    def to_dict(self) -> dict:
        return {"seconds": self.seconds, "lufs": round(self.lufs, 2), "events": [e.to_dict() for e in self.events]}


def note_name(pitch: int) -> str:
    """MIDI 60 -> ``C4``."""
    return f"{NOTE_NAMES[pitch % 12]}{pitch // 12 - 1}"


def check_seconds(seconds: float) -> float:
    if not SECONDS_RANGE[0] <= seconds <= SECONDS_RANGE[1]:
        raise InputError(f"seconds must be between {SECONDS_RANGE[0]:g} and {SECONDS_RANGE[1]:g}, got {seconds:g}")
    return float(seconds)


def snap(pitch: float, scale: tuple[int, ...]) -> int:
    """The nearest MIDI pitch whose pitch class is in ``scale`` (any pitch when it is empty)."""
    candidates = np.arange(int(pitch) - 12, int(pitch) + 13)
    if scale:
        candidates = candidates[np.isin(candidates % 12, scale)]
    return int(candidates[np.argmin(np.abs(candidates - pitch))])


def plan_drawing(reading: DrawingReading, seconds: float, config: DrawPlanConfig = DrawPlanConfig()) -> DrawPlan:
    """The plan of a read drawing, ``seconds`` long."""
    seconds = check_seconds(seconds)
    span = config.high_pitch - config.low_pitch
    events = []
    for index, stroke in enumerate(reading.strokes):
        start = stroke.start * seconds
        end = min(seconds, max(stroke.end * seconds, start + config.min_note_s))
        start = min(start, end - config.min_note_s)
        count = max(1, round((end - start) / config.note_step_s))
        edges = np.linspace(0, len(stroke.contour), count + 1).round().astype(int)
        heights = [float(np.mean(stroke.contour[a:max(b, a + 1)])) for a, b in zip(edges[:-1], edges[1:])]
        step = (end - start) / count
        notes: list[tuple[float, float, int]] = []
        for k, height in enumerate(heights):
            pitch = snap(config.low_pitch + height * span, config.scale)
            if notes and notes[-1][2] == pitch:
                notes[-1] = (notes[-1][0], notes[-1][1] + step, pitch)
            else:
                notes.append((start + k * step, step, pitch))
        low, high = config.velocity
        events.append(DrawEvent(index, start, end, notes, config.low_pitch + stroke.height * span,
                                round(low + stroke.loudness * (high - low)), stroke.height, stroke.loudness,
                                stroke.brightness, stroke.stroke.to_dict()["colour"]))
    ink = np.array([s.stroke.ink for s in reading.strokes])
    loudness = float(np.average([s.loudness for s in reading.strokes], weights=ink))
    lufs = config.lufs[0] + loudness * (config.lufs[1] - config.lufs[0])
    return DrawPlan(seconds, events, lufs, config)
