"""Notes as the sampler plays them: seconds, MIDI pitch and velocity, an instrument of the bank, a pan."""

from __future__ import annotations

from dataclasses import dataclass

DRUMS = "drums"  # the instrument name of the GM percussion kit: a note's pitch is its GM drum key (35-81)


@dataclass(frozen=True)
class Note:
    """One note of a rendered score."""

    start: float  # seconds from the start of the track
    duration: float  # seconds the key is held (the release tail comes after)
    pitch: int  # MIDI note number (for DRUMS: the GM percussion key)
    velocity: int  # MIDI velocity 1-127
    instrument: str  # an instrument name of the bank (``InstrumentBank.names``) or DRUMS
    pan: float = 0.0  # stereo position, -1 left .. 1 right

    @property
    def end(self) -> float:
        return self.start + self.duration
