"""Notes as the sampler plays them: seconds, MIDI pitch and velocity, an instrument of the bank, a pan."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from bd2music.io import with_added_suffix

DRUMS = "drums"  # the instrument name of the GM percussion kit: a note's pitch is its GM drum key (35-81)


def is_kit(name: str) -> bool:
    """Whether ``name`` is a drum kit of the bank: DRUMS, or another kit named ``drums_<kit>`` (its notes are GM
    drum keys too)."""
    return name == DRUMS or name.startswith(DRUMS + "_")


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


@dataclass
class Score:
    """What the music backend played: the notes, the tempo map, the key, where the music came from and each
    section's instruments; the MIDI and MusicXML files are written from it (``bd2music.music.export``)."""

    notes: list[Note]
    tempo_map: list[tuple[float, float]]  # (start in seconds, quarter notes per minute) per section
    key: str  # e.g. "D minor"
    source: str  # "procedural" or "piece: <title> (<collection>)"
    sections: list[dict]  # per section: panel, start, end, tempo, beats, instruments by role
    programs: dict[str, int]  # instrument name -> General MIDI program (the MIDI file's program changes)
    fallback: str = ""  # why the procedural composer played when a piece was asked for ("" otherwise)
    time_signature: str = "4/4"

    def to_dict(self) -> dict:
        """The score's summary for the result JSON (the notes go to the MIDI file)."""
        return {"key": self.key, "source": self.source, "fallback": self.fallback, "notes": len(self.notes),
                "time_signature": self.time_signature, "sections": self.sections}

    @staticmethod
    def paths(stem: str | Path, musicxml: bool = False) -> dict[str, Path]:
        """Where ``write`` puts the files, by kind: ``<stem>.mid`` (and ``<stem>.musicxml``; a dotted stem keeps its
        dots)."""
        suffixes = {"midi": ".mid"} | ({"musicxml": ".musicxml"} if musicxml else {})
        return {kind: with_added_suffix(stem, suffix) for kind, suffix in suffixes.items()}

    def write(self, stem: str | Path, musicxml: bool = False) -> dict[str, Path]:
        """The score as ``<stem>.mid`` (and ``<stem>.musicxml``): the files written, by kind ("midi", "musicxml")."""
        from bd2music.music.export import write_midi, write_musicxml

        paths = self.paths(stem, musicxml)
        write_midi(self.notes, paths["midi"], self.tempo_map, self.programs)
        if musicxml:
            names = {name: name.replace("_", " ") for name in self.programs}
            write_musicxml(self.notes, paths["musicxml"], self.tempo_map, names, self.time_signature)
        return paths

    @classmethod
    def joined(cls, scores: Sequence[Score], starts: Sequence[float]) -> Score:
        """The scores played one after another from ``starts`` (seconds): an album's score."""
        notes = [replace(n, start=n.start + start) for score, start in zip(scores, starts) for n in score.notes]
        tempo_map = [(at + start, bpm) for score, start in zip(scores, starts) for at, bpm in score.tempo_map]
        sections = [s | {"start": round(s["start"] + start, 3), "end": round(s["end"] + start, 3)}
                    for score, start in zip(scores, starts) for s in score.sections]
        programs = {name: program for score in scores for name, program in score.programs.items()}
        return cls(sorted(notes, key=lambda n: (n.start, n.instrument, n.pitch)), tempo_map,
                   " / ".join(dict.fromkeys(s.key for s in scores)), " / ".join(s.source for s in scores), sections,
                   programs)
