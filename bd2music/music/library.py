"""Public-domain pieces from the music21 corpus, tagged once: ``PieceLibrary.load()``, ``lib.tags``, ``lib.piece(i)``.

    lib = PieceLibrary.load()                          # the shipped weights/pieces, or PieceLibrary.load("my/pieces")
    fits = (lib.tags["minor"]) & (lib.tags["density"] > 2)   # numpy arrays by tag name, one value per piece
    piece = lib.piece(int(np.flatnonzero(fits)[0]))    # a Piece: its tags and its notes in quarter notes
    passage = piece.loop(96.0)                         # 96 quarters: the piece, then again from its first downbeat

A library folder (``bd2music pieces build``, :mod:`bd2music.music.build_pieces`) holds ``index.json`` (one entry
of tags per piece, see :class:`Piece`), ``notes.safetensors`` and ``config.json`` (how it was built). The notes
of all pieces are stored end to end: ``onset``, ``duration`` (float32 quarter notes from the piece's start),
``pitch`` (uint8 MIDI, sounding) and ``part`` (uint8: 0 is the melody, then top to bottom; the roles are in the
index), piece ``i``'s notes at ``notes_offsets[i]:notes_offsets[i + 1]``; likewise ``bars`` (downbeats of full
bars, ``bars_offsets``) and ``phrases`` (phrase ends, the last one the piece's end; ``phrases_offsets``).
Nothing here needs music21.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load_file

from bd2music.errors import InputError
from bd2music.hub import PIECES_FILES, WEIGHTS_DIR

DEFAULT_LIBRARY = WEIGHTS_DIR / "pieces"
CONFIG, INDEX, NOTES = PIECES_FILES
ARRAYS = {"notes": ("onset", "duration", "pitch", "part"), "bars": ("bars",), "phrases": ("phrases",)}
NUMERIC_TAGS = ("tonic", "tempo", "density", "melody_density", "onset_density", "low", "high", "melody_low",
                "melody_high", "length", "parts", "notes", "bar_quarters", "beat_quarters", "pickup")
TEXT_TAGS = ("mode", "collection", "key_source", "tempo_source", "dance")
ROLES = ("melody", "inner", "bass")
KEY_PROFILES = np.array([  # Krumhansl-Kessler probe-tone ratings from the tonic up: major, minor
    [6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88],
    [6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17],
])


@dataclass(frozen=True)
class Passage:
    """Notes in quarter notes (one array per field, sorted by onset), with the bar starts and phrase ends of the
    same time line."""

    onset: np.ndarray
    duration: np.ndarray
    pitch: np.ndarray  # MIDI
    part: np.ndarray  # 0: the melody
    bars: np.ndarray
    phrases: np.ndarray

    def __len__(self) -> int:  # the number of notes
        return len(self.onset)

    def shifted(self, quarters: float) -> Passage:
        """The same passage ``quarters`` later."""
        shift = np.float32(quarters)
        return replace(self, onset=self.onset + shift, bars=self.bars + shift, phrases=self.phrases + shift)

    @staticmethod
    def joined(passages: list[Passage]) -> Passage:
        """Passages one after the other (each already at its place in time)."""
        return Passage(*(np.concatenate([getattr(passage, name) for passage in passages])
                         for name in Passage.__dataclass_fields__))


@dataclass(frozen=True)
class Piece:
    """One piece of the library: where it comes from, its tags (computed at build time) and its notes."""

    index: int  # position in the library
    id: str  # music21 corpus path ('#n': the n-th tune of an ABC book)
    title: str
    composer: str
    collection: str  # chorales, essen, oneills, ryans, airds, fife, classical, monteverdi
    licence: str
    rights: str  # the copyright line of the encoding, if any
    part_names: tuple[str, ...]  # as the score names them, part 0 first
    roles: tuple[str, ...]  # melody, inner or bass, one per part
    tonic: int  # pitch class 0-11 (C = 0)
    mode: str  # major or minor
    tempo: float  # suggested quarter notes per minute
    dance: str  # reel, jig, hornpipe, air, march, waltz... when the tune names one, else ''
    density: float  # notes per quarter note, all parts
    melody_density: float  # notes per quarter note of the melody part
    onset_density: float  # distinct onsets per quarter note, all parts (the surface rhythm)
    low: int  # lowest and highest MIDI pitch, all parts
    high: int
    length: float  # quarter notes
    bar_quarters: float  # quarter notes per bar (first time signature)
    beat_quarters: float  # quarter notes per beat (6/8: 1.5)
    pickup: float  # quarter notes before the first downbeat
    notes: Passage = field(repr=False)
    tags: dict = field(repr=False, default_factory=dict)  # the whole index entry

    def notes_between(self, start: float, end: float) -> Passage:
        """Notes starting in [start, end) (times unchanged, ends clipped to ``end``), bars and phrase ends there."""
        notes = self.notes
        inside = (notes.onset >= start) & (notes.onset < end)
        return Passage(notes.onset[inside], np.minimum(notes.duration[inside], end - notes.onset[inside]),
                       notes.pitch[inside], notes.part[inside], notes.bars[(notes.bars >= start) & (notes.bars < end)],
                       notes.phrases[(notes.phrases > start) & (notes.phrases <= end)])

    def loop(self, length: float, restart: float | None = None) -> Passage:
        """``length`` quarter notes: the piece, then again from ``restart`` (default its first downbeat, so that a
        pickup is heard once and the bars keep their place) as often as needed; the last note ends at ``length``.
        ``restart`` must be 0 or a bar start before the piece's end."""
        restart = self.pickup if restart is None else float(restart)
        if restart != 0 and not np.any(np.isclose(self.notes.bars, restart)):
            raise InputError(f"{self.id}: cannot loop from {restart:g} quarters, not a bar start")
        if not 0 <= restart < self.length:
            raise InputError(f"{self.id}: cannot loop from {restart:g} quarters (the piece has {self.length:g})")
        passes, start = [self.notes_between(0.0, min(length, self.length))], self.length
        while start < length:
            passes.append(self.notes_between(restart, min(self.length, restart + length - start)).shifted(
                start - restart))
            start += self.length - restart
        return Passage.joined(passes)

    def melody(self) -> Passage:
        """The melody part as one line: at each onset its highest note (a keyboard part's chords reduced)."""
        notes = self.notes
        line = np.flatnonzero(notes.part == 0)
        starts = notes.onset[line]
        top = line[np.r_[starts[1:] != starts[:-1], True]]  # sorted by onset then pitch: the last is the highest
        return Passage(notes.onset[top], notes.duration[top], notes.pitch[top], notes.part[top], notes.bars,
                       notes.phrases)

    def transposition(self, tonic: int) -> int:
        """Semitones (-6..5) that move this piece's tonic to pitch class ``tonic`` by the shorter way."""
        return (tonic - self.tonic + 6) % 12 - 6


def key_correlations(pitch: np.ndarray, duration: np.ndarray) -> np.ndarray:
    """(2, 12) correlations of the notes' duration-weighted pitch-class histogram with the Krumhansl-Kessler
    profiles: row 0 major, row 1 minor, column the tonic's pitch class (an independent check of the key tags)."""
    histogram = np.bincount(np.asarray(pitch) % 12, weights=np.asarray(duration, dtype=np.float64), minlength=12)
    centred = histogram - histogram.mean()
    profiles = np.stack([np.roll(profile, tonic) for profile in KEY_PROFILES for tonic in range(12)])
    profiles = profiles - profiles.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(profiles, axis=1) * max(np.linalg.norm(centred), 1e-12)
    return (profiles @ centred / norms).reshape(2, 12)


class PieceLibrary:
    """The tagged pieces; build one with ``bd2music pieces build``, load it with :meth:`load`."""

    def __init__(self, root: Path, entries: list[dict], arrays: dict[str, np.ndarray], config: dict) -> None:
        self.root, self.entries, self.config = root, entries, config
        self._arrays = arrays
        self.tags: dict[str, np.ndarray] = {name: np.array([entry[name] for entry in entries], dtype=np.float64)
                                            for name in NUMERIC_TAGS}
        self.tags.update({name: np.array([entry[name] for entry in entries]) for name in TEXT_TAGS})
        self.tags["minor"] = self.tags["mode"] == "minor"
        self.ids = [entry["id"] for entry in entries]

    def __len__(self) -> int:
        return len(self.entries)

    @classmethod
    def load(cls, path: str | Path | None = None) -> PieceLibrary:
        """The library in ``path`` (default: the shipped ``weights/pieces``); one-line :class:`InputError` if it is
        missing, incomplete or its files disagree."""
        root = Path(path) if path is not None else DEFAULT_LIBRARY
        if missing := [name for name in PIECES_FILES if not (root / name).is_file()]:
            raise InputError(f"no piece library in {root} (missing {', '.join(missing)}; build one: "
                             "bd2music pieces build)")
        try:
            entries = json.loads((root / INDEX).read_text())["pieces"]
            config = json.loads((root / CONFIG).read_text())
            arrays = load_file(str(root / NOTES))
            for group, names in ARRAYS.items():
                offsets = arrays[f"{group}_offsets"]
                if len(offsets) != len(entries) + 1 or any(len(arrays[name]) != offsets[-1] for name in names):
                    raise ValueError(f"{group} arrays do not match the {len(entries)} index entries")
            if entries and (missing := [name for name in (*NUMERIC_TAGS, *TEXT_TAGS, "id", "roles")
                                        if name not in entries[0]]):
                raise KeyError(", ".join(missing))
        except (OSError, KeyError, ValueError, TypeError, IndexError, SafetensorError) as error:
            raise InputError(f"piece library {root} is corrupt ({type(error).__name__}: {error})") from None
        return cls(root, entries, arrays, config)

    def piece(self, index: int) -> Piece:
        """Piece ``index`` (0 .. len - 1) with its notes."""
        if not 0 <= index < len(self):
            raise InputError(f"no piece {index} (the library has {len(self)})")
        entry, arrays = self.entries[index], self._arrays
        group = {}
        for name, names in ARRAYS.items():
            start, end = arrays[f"{name}_offsets"][index: index + 2]
            group.update({array: arrays[array][start:end] for array in names})
        notes = Passage(group["onset"], group["duration"], group["pitch"], group["part"], group["bars"],
                        group["phrases"])
        fields = {name: entry[name] for name in Piece.__dataclass_fields__ if name in entry and name != "notes"}
        fields.update(part_names=tuple(entry["part_names"]), roles=tuple(entry["roles"]))
        return Piece(index=index, notes=notes, tags=entry, **fields)

    def find(self, piece_id: str) -> int:
        """The index of the piece with corpus id ``piece_id``."""
        try:
            return self.ids.index(piece_id)
        except ValueError:
            raise InputError(f"no piece {piece_id} in {self.root}") from None
