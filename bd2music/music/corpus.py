"""Read pieces from the corpus that ships inside the ``music21`` wheel (build time only; music21 imported lazily).

:data:`COLLECTIONS` says which files each collection of the library draws from. ABC books hold many tunes per
file: they are split here, one candidate per tune (``oneills1850/0001-0050.abc#12`` is the file's 12th tune),
so that a tune is parsed alone and its header fields (``R:`` rhythm, ``N:`` notes such as "Slow", ``Q:``) are
read as written. :func:`read_piece` turns one candidate into a :class:`Reading`: the notes of its first
``PiecesConfig.max_quarters`` quarter notes (repeats expanded, ties merged, sounding pitch) by part, the bar
starts and phrase ends, the meter and what the score says about key and tempo.
"""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bd2music.errors import InputError


@dataclass(frozen=True)
class Collection:
    """One collection of the library: where its candidates come from and how many are kept."""

    name: str  # short key stored with each piece
    title: str  # as the card names it
    patterns: tuple[str, ...]  # globs under the music21 corpus folder
    count: int  # pieces kept (fewer when the candidates run out)
    minor_share: float = 0.0  # at least this share of the kept pieces is minor (a quota, filled in candidate order)
    abc_book: bool = False  # ABC files holding many tunes each
    licence: str = ""  # what applies to the encodings (the compositions are all in the public domain)


ENCODING_LICENCE = ("encoding distributed with music21 (BSD-3-Clause software) with its encoders' permission; "
                    "music21 notes that some corpus encodings may restrict commercial use")

COLLECTIONS = (
    Collection("chorales", "J. S. Bach, four-part chorales", ("bach/bwv*.mxl",), 80, 0.45,
               licence=ENCODING_LICENCE),
    Collection("essen", "Essen folk song collection (EsAC, ABC by Seymour Shlien)", ("essenFolksong/*.abc",), 45, 0.3,
               abc_book=True, licence="Essen folk song database: distributed with music21 for non-commercial use by "
                                      "permission of E. Dahlig-Turek (EsAC) and S. Shlien (ABC); legal status "
                                      "otherwise unclear (music21's essenFolksong/license.txt)"),
    Collection("oneills", "O'Neill's Music of Ireland (1850 tunes, 1903)", ("oneills1850/*.abc",), 50, 0.45,
               abc_book=True, licence="ABC transcriptions by Norbert Paap and contributors, " + ENCODING_LICENCE),
    Collection("ryans", "Ryan's Mammoth Collection (1883)", ("ryansMammoth/*.abc",), 50, 0.3,
               licence="ABC transcriptions by Ray Davies and contributors, " + ENCODING_LICENCE),
    Collection("airds", "Aird's Selection of Scotch, English, Irish and Foreign Airs (1778-1803)",
               ("airdsAirs/*.abc",), 25, 0.4, abc_book=True,
               licence="ABC transcriptions by Jack Campin, " + ENCODING_LICENCE),
    Collection("fife", "American fife tunes and Northumbrian minstrelsy", ("miscFolk/*.abc",), 10, 0.3,
               abc_book=True, licence=ENCODING_LICENCE),
    Collection("classical", "Classical movements and songs (Mozart, Beethoven, Haydn, Corelli, Handel, ...)",
               ("mozart/*/*.mxl", "beethoven/*.mxl", "beethoven/*/*.mxl", "haydn/*/*.mxl", "corelli/*/*.xml",
                "handel/*/*.mxl", "schubert/*.xml", "verdi/*.mxl", "joplin/*.mxl", "weber/*.mxl", "cpebach/*.mxl",
                "schumann_robert/*.xml", "schumann_robert/*/*.mxl", "schumann_clara/*.mxl",
                "schumann_clara/*/*.xml", "chopin/*.krn"), 60, licence=ENCODING_LICENCE),
    Collection("monteverdi", "Monteverdi, madrigals (books 3-5)", ("monteverdi/madrigal.*.mxl",), 15, 0.3,
               licence=ENCODING_LICENCE),
)

COMPOSERS = {  # by corpus folder: the scores' own composer fields are missing or garbled there
    "bach": "Johann Sebastian Bach", "mozart": "Wolfgang Amadeus Mozart", "beethoven": "Ludwig van Beethoven",
    "haydn": "Joseph Haydn", "handel": "George Frideric Handel", "verdi": "Giuseppe Verdi", "joplin": "Scott Joplin",
    "monteverdi": "Claudio Monteverdi", "cpebach": "Carl Philipp Emanuel Bach", "corelli": "Arcangelo Corelli",
    "schubert": "Franz Schubert", "weber": "Carl Maria von Weber", "chopin": "Frédéric Chopin",
    "schumann_robert": "Robert Schumann", "schumann_clara": "Clara Schumann",
}
FERMATA_PHRASES = 2  # a melody with at least this many fermatas has its phrases ended by them (chorales)
SECTION_BARLINES = ("double", "final", "light-light", "light-heavy", "heavy-light", "heavy-heavy")


@dataclass
class Reading:
    """One piece as read from its score, in quarter notes from its start (before any tag is computed)."""

    id: str  # corpus path, '#n' for the n-th tune of an ABC book
    title: str
    composer: str
    rights: str  # the copyright line the encoding carries, if any
    parts: list[str]  # part names, in score order
    onset: np.ndarray  # (n,) quarters
    duration: np.ndarray  # (n,) quarters
    pitch: np.ndarray  # (n,) MIDI, sounding
    part: np.ndarray  # (n,) index into parts
    length: float  # quarters kept (a phrase end between min_quarters and max_quarters, or the whole piece)
    bars: np.ndarray  # downbeats (full bars) in [0, length)
    phrase_ends: np.ndarray  # in (0, length], the last one is length
    bar_quarters: float  # quarters per bar (first time signature)
    beat_quarters: float  # quarters per beat (6/8: 1.5)
    pickup: float  # quarters before the first downbeat
    key_tonic: int | None  # pitch class the score names (ABC K:, MusicXML <key><mode>), None when it names none
    key_mode: str | None  # the mode it names (major, minor, dorian, ...)
    key_sharps: int | None  # the key signature (sharps > 0, flats < 0)
    final_pitch: int | None  # the lowest pitch sounding at the end of the whole piece (a tonic cue)
    profile: dict[str, float]  # music21's key correlations of the kept notes: 'C major' -> r
    bpm: float | None  # a metronome mark in quarter notes per minute
    tempo_words: list[str]  # texts that may name a tempo, in time order (Allegro, Grave, ABC N: "Slow"...)
    rhythm: str  # ABC R: (reel, jig...) or ''


def corpus_root() -> Path:
    from music21 import corpus

    return Path(corpus.__file__).parent


def candidates(collection: Collection, root: Path | None = None) -> list[str]:
    """Candidate ids of a collection, in a fixed pseudo-random order (sha1 of the id): spread over its books."""
    root = root or corpus_root()
    files = sorted({path for pattern in collection.patterns for path in root.glob(pattern)})
    ids = []
    for path in files:
        name = path.relative_to(root).as_posix()
        if collection.abc_book:
            ids += [f"{name}#{number}" for number in range(1, len(split_abc(path.read_text(errors="replace"))) + 1)]
        else:
            ids.append(name)
    return sorted(ids, key=lambda name: hashlib.sha1(name.encode()).hexdigest())


def split_abc(text: str) -> list[str]:
    """The tunes of an ABC file, each from its ``X:`` line to the next one."""
    starts = [match.start() for match in re.finditer(r"^X:", text, flags=re.MULTILINE)]
    return [text[start:end] for start, end in zip(starts, starts[1:] + [len(text)])]


def abc_headers(tune: str) -> dict[str, str]:
    """The first value of each ABC header field (``T``, ``R``, ``Q``...; every ``N:`` line joined), up to ``K:``."""
    fields: dict[str, str] = {}
    for line in tune.splitlines():
        match = re.match(r"^([A-Za-z]):\s*(.*)$", line)
        if not match:
            continue
        field, value = match[1], match[2].strip().replace('"', "")
        if field == "N" and fields.get(field):
            fields[field] += f" {value}"
        elif not fields.get(field):
            fields[field] = value
        if field == "K":
            break
    return fields


def parse(candidate: str, root: Path | None = None):
    """The music21 Score of a candidate and its ABC header fields ({} for other formats); an ABC file without
    '#n' is read as its first tune."""
    from music21 import converter

    root = root or corpus_root()
    name, _, number = candidate.partition("#")
    path = root / name
    if path.suffix != ".abc":
        return converter.parse(path), {}
    tune = split_abc(path.read_text(errors="replace"))[int(number or 1) - 1]
    return converter.parse(tune, format="abc"), abc_headers(tune)


def read_piece(candidate: str, config, root: Path | None = None) -> Reading:
    """Read one candidate (``config``: :class:`bd2music.music.build_pieces.PiecesConfig`); InputError (one line)
    when it has no usable notes, too many parts or no time signature."""
    from music21 import meter

    score, headers = parse(candidate, root)
    if headers:
        try:
            score = score.expandRepeats()
        except Exception:  # unbalanced repeat marks: the tune as written
            pass
    score.toSoundingPitch(inPlace=True)
    signatures = list(score.recurse().getElementsByClass(meter.TimeSignature))
    if not signatures:
        raise InputError(f"{candidate}: no time signature")
    whole = [_part_notes(part) for part in score.parts]
    kept = [index for index, notes in enumerate(whole) if len(notes) and notes[:, 0].min() < config.max_quarters]
    if not kept:
        raise InputError(f"{candidate}: no notes")
    if len(kept) > config.max_parts:
        raise InputError(f"{candidate}: {len(kept)} parts (at most {config.max_parts})")
    first, bar = score.parts[kept[0]], float(signatures[0].barDuration.quarterLength)
    bars, pickup, sections = _bars(first, bar)
    ends_all = _phrase_ends(first, bars, sections, bar)
    end_whole = max(float((notes[:, 0] + notes[:, 1]).max()) for notes in whole if len(notes))
    length = _cut(ends_all, end_whole, bars, config)
    notes = [whole[index] for index in kept]
    onset, duration, pitch, part = _concatenate(notes, length)
    key = next(iter(score.recurse().getElementsByClass("KeySignature")), None)
    analysed = _key_profile(onset, duration, pitch)
    final = _final_pitch(whole)
    bpm, words = _tempo(score, headers, length)
    metadata = score.metadata
    title = headers.get("T") or _title(candidate, metadata)
    composer = COMPOSERS.get(candidate.split("/")[0]) or headers.get("C") or (metadata.composer or "traditional")
    rights = str(metadata.copyright) if metadata.copyright else ""
    return Reading(
        id=candidate, title=" ".join(str(title).split()), composer=" ".join(str(composer).split()),
        rights=" ".join(rights.split()), parts=[score.parts[index].partName or f"part {index + 1}" for index in kept],
        onset=onset, duration=duration, pitch=pitch, part=part, length=length,
        bars=bars[bars < length], phrase_ends=np.append(ends_all[ends_all < length], length),
        bar_quarters=bar,
        beat_quarters=float(signatures[0].beatDuration.quarterLength), pickup=pickup,
        key_tonic=key.tonic.pitchClass if key is not None and hasattr(key, "tonic") else None,
        key_mode=getattr(key, "mode", None) if key is not None and hasattr(key, "tonic") else None,
        key_sharps=key.sharps if key is not None else None, final_pitch=final, profile=analysed,
        bpm=bpm, tempo_words=words, rhythm=headers.get("R", "").lower(),
    )


def _title(candidate: str, metadata) -> str:
    """A score's title: the chorale's hymn, else the work named from its corpus path (``Opus 59 No 1,
    movement 1``) with the title or movement name the file gives, when it gives one."""
    path = Path(candidate)
    if match := re.fullmatch(r"bwv(\d+)(\.\d+)?", path.stem):
        hymn = _chorale_titles().get(int(match[1]), {}).get("title")
        return f"{hymn} (BWV {path.stem[3:]})" if hymn else f"Chorale BWV {path.stem[3:]}"
    work = ", ".join(_pretty(part) for part in [*path.parts[1:-1], path.stem])
    named = [str(name) for name in (metadata.title, metadata.movementName)
             if name and not str(name).endswith((".mxl", ".xml", ".krn"))]
    return f"{named[0]} ({work})" if named else work


@functools.cache
def _chorale_titles() -> dict[int, dict]:
    from music21.corpus import chorales

    return chorales.ChoraleList().byBWV


def _pretty(name: str) -> str:
    """'opus59no1' -> 'Op. 59 No. 1', 'k155' -> 'K. 155', 'movement3' -> 'movement 3', 'madrigal.3.12' -> ..."""
    for pattern, replacement in ((r"^opus(\d+)", r"Op. \1"), (r"no(\d+)", r" No. \1"), (r"^k(\d+)", r"K. \1"),
                                 (r"^movement(\d+)", r"movement \1"), (r"^madrigal\.", "Madrigal "), ("_", " ")):
        name = re.sub(pattern, replacement, name)
    return name


def _part_notes(part) -> np.ndarray:
    """(n, 3) onset, duration, MIDI pitch of a part's sounding notes (chords split, ties merged, graces dropped),
    sorted by onset then pitch."""
    rows: list[list[float]] = []
    open_ties: dict[int, int] = {}  # pitch -> row still tied forward
    for element in part.flatten().notes:
        if element.duration.isGrace or element.duration.quarterLength <= 0:
            continue
        onset, length = float(element.offset), float(element.duration.quarterLength)
        for note in getattr(element, "notes", None) or [element]:
            if not hasattr(note, "pitch"):  # unpitched percussion
                continue
            midi = int(round(note.pitch.ps))
            tie = getattr(note.tie, "type", None) or getattr(element.tie, "type", None)
            if tie in ("stop", "continue") and midi in open_ties:
                rows[open_ties[midi]][1] = onset + length - rows[open_ties[midi]][0]
                if tie == "stop":
                    del open_ties[midi]
                continue
            rows.append([onset, length, midi])
            if tie == "start":
                open_ties[midi] = len(rows) - 1
    notes = np.array(rows, dtype=np.float64).reshape(-1, 3)
    return notes[np.lexsort((notes[:, 2], notes[:, 0]))]


def _bars(part, bar_quarters: float) -> tuple[np.ndarray, float, set[float]]:
    """Downbeats of full bars, the pickup length and the offsets of section barlines (double, final, repeats)."""
    measures = list(part.getElementsByClass("Measure"))
    if not measures:
        ends = np.arange(0.0, float(part.highestTime), bar_quarters)
        return ends, 0.0, set()
    first = measures[0]
    pickup = float(first.duration.quarterLength) if (
        first.paddingLeft > 0 or first.duration.quarterLength < bar_quarters - 1e-6) and len(measures) > 1 else 0.0
    bars = np.array([float(measure.offset) for measure in measures[1 if pickup else 0:]])
    sections = set()
    for measure in measures:
        barline = measure.rightBarline
        if barline is not None and (barline.type in SECTION_BARLINES or type(barline).__name__ == "Repeat"):
            sections.add(round(float(measure.offset + measure.duration.quarterLength), 6))
    return bars, pickup, sections


def _phrase_ends(part, bars: np.ndarray, sections: set[float], bar_quarters: float) -> np.ndarray:
    """Ends of the melody's fermata notes when it has FERMATA_PHRASES of them; else a phrase every 4 bars (8 when
    bars are under 3 quarters), the count starting again at each section barline."""
    fermatas = sorted({round(float(note.offset + note.duration.quarterLength), 6)
                       for note in part.flatten().notes
                       if any(type(mark).__name__ == "Fermata" for mark in note.expressions)})
    if len(fermatas) >= FERMATA_PHRASES:
        return np.array(fermatas)
    span = 4 if bar_quarters >= 3 else 8
    ends, count = [], 0
    for downbeat in bars[1:]:
        count += 1
        if count == span or round(float(downbeat), 6) in sections:
            ends.append(float(downbeat))
            count = 0
    return np.array(ends)


def _cut(phrase_ends: np.ndarray, end: float, bars: np.ndarray, config) -> float:
    """How much to keep: the whole piece when short, else the last phrase end in [min, max] quarters, else the last
    downbeat before max."""
    if end <= config.max_quarters:
        return float(end)
    fitting = phrase_ends[(phrase_ends >= config.min_quarters) & (phrase_ends <= config.max_quarters)]
    if len(fitting):
        return float(fitting[-1])
    downbeats = bars[(bars > 0) & (bars <= config.max_quarters)]
    return float(downbeats[-1]) if len(downbeats) else float(config.max_quarters)


def _concatenate(parts: list[np.ndarray], length: float):
    """Notes of every part starting before ``length``, ends clipped to it, as float32/int arrays."""
    rows = []
    for index, notes in enumerate(parts):
        inside = notes[notes[:, 0] < length - 1e-6]
        ends = np.minimum(inside[:, 0] + inside[:, 1], length)
        rows.append(np.column_stack([inside[:, 0], ends - inside[:, 0], inside[:, 2], np.full(len(inside), index)]))
    table = np.concatenate(rows)
    table = table[np.lexsort((table[:, 3], table[:, 2], table[:, 0]))]
    return (table[:, 0].astype(np.float32), table[:, 1].astype(np.float32), table[:, 2].astype(np.uint8),
            table[:, 3].astype(np.uint8))


def _key_profile(onset: np.ndarray, duration: np.ndarray, pitch: np.ndarray) -> dict[str, float]:
    """music21's Krumhansl-Schmuckler correlations of the kept notes for all 24 keys ('f# minor' -> r)."""
    from music21 import note, stream

    melody = stream.Stream()
    for start, length, midi in zip(onset, duration, pitch):
        element = note.Note(int(midi), quarterLength=max(float(length), 1 / 16))
        melody.insert(float(start), element)
    best = melody.analyze("key")
    return {str(key): float(key.correlationCoefficient) for key in [best, *best.alternateInterpretations]}


def _final_pitch(parts: list[np.ndarray]) -> int | None:
    """The lowest pitch sounding at the end of the whole piece."""
    ends = [notes for notes in parts if len(notes)]
    last = max(float((notes[:, 0] + notes[:, 1]).max()) for notes in ends)
    sounding = [notes[(notes[:, 0] + notes[:, 1]) >= last - 1e-6, 2] for notes in ends]
    pitches = np.concatenate(sounding)
    return int(pitches.min()) if len(pitches) else None


def _tempo(score, headers: dict[str, str], until: float) -> tuple[float | None, list[str]]:
    """The first metronome mark (quarter notes per minute) and the texts that may name a tempo (marks' words,
    tempo texts and text expressions such as "Grave", ABC ``N:`` notes), in time order, before ``until``."""
    from music21 import expressions, tempo

    timed = sorted(((float(element.getOffsetInHierarchy(score)), index, element) for index, element in enumerate(
        score.recurse().getElementsByClass([tempo.TempoIndication, expressions.TextExpression]))),
        key=lambda item: item[:2])
    timed = [element for offset, _, element in timed if offset < until]
    marks = [element for element in timed if isinstance(element, tempo.MetronomeMark)
             and element.number and element.referent is not None and not element.numberImplicit]
    bpm = float(marks[0].number) * float(marks[0].referent.quarterLength) if marks else None
    texts = [str(getattr(element, "text", None) or getattr(element, "content", "") or "") for element in timed]
    return bpm, [" ".join(text.split()) for text in [*texts, headers.get("N", "")] if text.strip()]
