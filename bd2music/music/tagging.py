"""Tags computed once per piece when the library is built: key and mode, a suggested tempo, part roles.

Key: a mode the score names outright (ABC ``K:Am``, ``K:ADor``; MusicXML ``<mode>minor</mode>``) is kept, the
church modes mapped to the nearer of major and minor (dorian, phrygian, aeolian, locrian: minor; lydian,
mixolydian: major). A score naming only "major" or a bare signature (ABC and MusicXML default to major, Essen
tunes name their final note, not their mode) gets the best of the 24 keys by music21's Krumhansl-Schmuckler
correlation over the kept notes, plus a bonus when the key shares the score's signature and when the whole
piece ends on its tonic.

Tempo, in quarter notes per minute, from the first that applies: a metronome mark; tempo words (Allegro,
O'Neill's "Slow"...; the first text naming one), read as beats per minute of the meter's beat (three quarters
of that for a dotted beat, as in 6/8); a dance rhythm (ABC ``R:`` or the title: reel, jig...), read as onsets
per second (all parts); the collection's default (a tempo or a note rate).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

MINOR_MODES = ("minor", "dorian", "phrygian", "aeolian", "locrian")
MAJOR_MODES = ("major", "ionian", "lydian", "mixolydian")
PITCH_CLASSES = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
MAJOR_SHARPS = {0: 0, 7: 1, 2: 2, 9: 3, 4: 4, 11: 5, 6: 6, 1: -5, 8: -4, 3: -3, 10: -2, 5: -1}  # tonic pc -> key sig

TEMPO_WORDS = {  # beats per minute of the meter's beat; longest words are matched first
    "very slow": 50, "grave": 44, "largo": 48, "larghetto": 60, "lento": 52, "adagio": 60, "slow": 66,
    "andante": 80, "andantino": 88, "moderato": 104, "moderate": 104, "allegretto": 112, "allegro": 132,
    "lively": 132, "quick": 144, "vivace": 152, "presto": 176, "langsam": 56, "mässig": 88, "massig": 88,
    "lebhaft": 132, "schnell": 152,
}
RHYTHM_NOTE_RATES = {  # onsets per second that dance rhythms are played at
    "reel": 7.5, "hornpipe": 5.5, "jig": 6.0, "slide": 6.0, "clog": 5.5, "strathspey": 4.5, "fling": 5.0,
    "polka": 5.0, "schottische": 4.5, "march": 4.0, "waltz": 3.5, "air": 2.5, "lament": 2.0,
}


@dataclass(frozen=True)
class TempoDefault:
    """A collection's tempo when its score gives no mark nor words: a fixed tempo, or a melody note rate (a
    rhythm's when it has one) turned into a tempo within a range."""

    bpm: float | None = None  # quarter notes per minute (chorales)
    note_rate: float = 3.5  # else onsets per second (all parts)
    bpm_range: tuple[float, float] = (60.0, 200.0)  # where the note rate's tempo is clipped


COLLECTION_TEMPI = {
    "chorales": TempoDefault(bpm=76.0), "essen": TempoDefault(note_rate=2.2, bpm_range=(60.0, 132.0)),
    "oneills": TempoDefault(note_rate=5.0), "ryans": TempoDefault(note_rate=5.5), "airds": TempoDefault(note_rate=4.0),
    "fife": TempoDefault(note_rate=4.5), "classical": TempoDefault(note_rate=4.5, bpm_range=(50.0, 160.0)),
    "monteverdi": TempoDefault(note_rate=2.5, bpm_range=(72.0, 160.0)),
}


def key_of(name: str) -> tuple[int, str, int]:
    """'f# minor' or 'B- major' (music21's names) -> (tonic pitch class, mode, sharps of its signature)."""
    tonic, mode = name.split()
    pitch_class = (PITCH_CLASSES[tonic[0].upper()] + tonic.count("#") - tonic.count("-")) % 12
    major_tonic = pitch_class if mode == "major" else (pitch_class + 3) % 12
    return pitch_class, mode, MAJOR_SHARPS[major_tonic]


def choose_key(reading, signature_bonus: float, final_bonus: float) -> tuple[int, str, str]:
    """(tonic pitch class, 'major' or 'minor', where it came from: 'named' or 'analysed') of a Reading."""
    if reading.key_tonic is not None and reading.key_mode in MINOR_MODES + MAJOR_MODES[1:]:
        return reading.key_tonic, "minor" if reading.key_mode in MINOR_MODES else "major", "named"

    def score(name: str) -> float:
        tonic, _, sharps = key_of(name)
        return (reading.profile[name] + signature_bonus * (sharps == reading.key_sharps)
                + final_bonus * (reading.final_pitch is not None and reading.final_pitch % 12 == tonic))

    best = max(sorted(reading.profile), key=score)
    tonic, mode, _ = key_of(best)
    return tonic, mode, "analysed"


def dance(reading) -> str:
    """The dance rhythm (a key of RHYTHM_NOTE_RATES) named by the tune's ``R:`` field or its title, or ''."""
    described = f"{reading.rhythm} {reading.title}".lower()
    return next((rhythm for rhythm in sorted(RHYTHM_NOTE_RATES, key=len, reverse=True)
                 if re.search(rf"\b{rhythm}", described)), "")


def suggest_tempo(reading, collection: str, onset_density: float, bpm_range: tuple[float, float]):
    """(quarter notes per minute, source: 'mark', 'words', 'rhythm' or 'collection') of a Reading;
    ``onset_density``: distinct onsets per quarter note, all parts (the surface rhythm a note rate applies to)."""
    low, high = bpm_range
    if reading.bpm:
        return float(np.clip(reading.bpm, low, high)), "mark"
    for text in reading.tempo_words:
        for word in sorted(TEMPO_WORDS, key=len, reverse=True):
            if re.search(rf"\b{word}\b", text.lower()):
                compound = 0.75 if reading.beat_quarters % 1 else 1.0  # dotted beats (6/8) are taken slower
                return float(np.clip(TEMPO_WORDS[word] * reading.beat_quarters * compound, low, high)), "words"
    rhythm = dance(reading)
    rate, source = (RHYTHM_NOTE_RATES[rhythm], "rhythm") if rhythm else (None, "collection")
    default = COLLECTION_TEMPI[collection]
    if rate is None and default.bpm:
        return default.bpm, source
    rate = rate or default.note_rate
    low, high = max(low, default.bpm_range[0]), min(high, default.bpm_range[1])
    return float(np.clip(60.0 * rate / max(onset_density, 1e-6), low, high)), source


def order_parts(part: np.ndarray, pitch: np.ndarray, count: int) -> tuple[np.ndarray, list[int], list[str]]:
    """Parts top to bottom: each note's new part index, the old index of each new part and its role (melody,
    inner, bass). The first part of the score, its principal voice, stays the melody; the others follow from the
    highest mean pitch to the lowest."""
    means = [float(pitch[part == index].mean()) for index in range(1, count)]
    order = [0] + [1 + index for index in np.argsort(-np.array(means), kind="stable")]
    mapping = np.empty(count, dtype=np.uint8)
    mapping[order] = np.arange(count)
    roles = ["melody"] + ["inner"] * max(count - 2, 0) + (["bass"] if count > 1 else [])
    return mapping[part], order, roles
