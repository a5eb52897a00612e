"""Score export: MIDI written and read back gives the same notes (within a tick, through tempo changes), one
track per instrument with its program, drums on channel 10; MusicXML parses back with music21 with the same
pitches on the sixteenth grid."""

from __future__ import annotations

from pathlib import Path

import mido
import numpy as np
import pytest

from bd2music.errors import InputError
from bd2music.music.export import TICKS_PER_BEAT, TempoGrid, read_midi, write_midi, write_musicxml
from bd2music.music.score import DRUMS, Note

TEMPO_MAP = [(0.0, 120.0), (4.0, 90.0), (7.5, 150.0)]
PROGRAMS = {"piano": 0, "cello": 42, "flute": 73}


def made_up_notes(seed: int = 0, count: int = 80) -> list[Note]:
    """Random notes over 12 s on three instruments and the drums, no key struck again while it sounds."""
    rng = np.random.default_rng(seed)
    notes, busy = [], {}
    while len(notes) < count:
        instrument = str(rng.choice([*PROGRAMS, DRUMS]))
        pitch = int(rng.integers(35, 82) if instrument == DRUMS else rng.integers(36, 96))
        start = round(float(rng.uniform(0, 12)), 3)
        duration = float(rng.choice([0.1, 0.25, 0.5, 1.0, 1.7]))
        if any(start < end and begin < start + duration for begin, end in busy.get((instrument, pitch), [])):
            continue
        busy.setdefault((instrument, pitch), []).append((start, start + duration))
        pan = 0.5 if instrument == "cello" else 0.0
        notes.append(Note(start, duration, pitch, int(rng.integers(1, 128)), instrument, pan))
    return notes


def order(notes: list[Note]) -> list[Note]:
    return sorted(notes, key=lambda note: (note.start, note.instrument, note.pitch))


def test_midi_round_trip_keeps_every_note(tmp_path: Path) -> None:
    notes = made_up_notes()
    path = write_midi(notes, tmp_path / "score.mid", TEMPO_MAP, PROGRAMS)
    back = read_midi(path)
    assert len(back) == len(notes)
    tick = 60.0 / (min(bpm for _, bpm in TEMPO_MAP) * TICKS_PER_BEAT)  # the longest tick, seconds
    for mine, read in zip(order(notes), back):
        assert (read.pitch, read.velocity, read.instrument) == (mine.pitch, mine.velocity, mine.instrument)
        assert abs(read.start - mine.start) <= tick and abs(read.end - mine.end) <= tick
    assert all(abs(note.pan - (0.5 if note.instrument == "cello" else 0.0)) < 0.01 for note in back)


def test_midi_tracks_programs_drums_and_tempo(tmp_path: Path) -> None:
    midi = mido.MidiFile(str(write_midi(made_up_notes(1), tmp_path / "score.mid", TEMPO_MAP, PROGRAMS)))
    assert midi.type == 1 and midi.ticks_per_beat == TICKS_PER_BEAT
    tempi = [mido.tempo2bpm(message.tempo) for message in midi.tracks[0] if message.type == "set_tempo"]
    assert np.allclose(tempi, [bpm for _, bpm in TEMPO_MAP])
    ticks = np.cumsum([message.time for message in midi.tracks[0] if message.type == "set_tempo"])
    assert list(ticks) == [0, 8 * TICKS_PER_BEAT, round((8 + 3.5 * 1.5) * TICKS_PER_BEAT)]  # 4 s at 120, 3.5 s at 90
    tracks = {next(m.name for m in track if m.type == "track_name"): track for track in midi.tracks[1:]}
    assert set(tracks) == {*PROGRAMS, DRUMS}
    for name, track in tracks.items():
        channels = {message.channel for message in track if hasattr(message, "channel")}
        programs = [message.program for message in track if message.type == "program_change"]
        assert channels == {9} if name == DRUMS else (len(channels) == 1 and 9 not in channels)
        assert programs == ([] if name == DRUMS else [PROGRAMS[name]])


def test_a_key_struck_again_ends_the_sounding_note(tmp_path: Path) -> None:
    notes = [Note(0.0, 2.0, 60, 90, "piano"), Note(1.0, 0.5, 60, 70, "piano")]
    back = read_midi(write_midi(notes, tmp_path / "restruck.mid", [(0.0, 60.0)], PROGRAMS))
    assert [(note.start, round(note.duration, 3), note.velocity) for note in back] == [(0.0, 1.0, 90), (1.0, 0.5, 70)]


def test_instruments_that_stopped_hand_their_channel_on(tmp_path: Path) -> None:
    """An album: 20 instruments one after another fit the 15 channels; 16 at once do not."""
    names = [f"instrument{index}" for index in range(20)]
    notes = [Note(2.0 * index + 0.1 * step, 0.1, 60 + step, 80, name) for index, name in enumerate(names)
             for step in range(4)]
    programs = {name: index for index, name in enumerate(names)}
    back = read_midi(write_midi(notes, tmp_path / "album.mid", [(0.0, 100.0)], programs))
    assert [(note.instrument, note.pitch) for note in back] == [(note.instrument, note.pitch) for note in notes]
    assert max(abs(mine.start - read.start) for mine, read in zip(notes, back)) <= 60 / (100 * TICKS_PER_BEAT)
    together = [Note(0.0, 1.0, 60, 80, name) for name in names[:16]]
    with pytest.raises(InputError, match="more than 15 play at once"):
        write_midi(together, tmp_path / "crowd.mid", [(0.0, 100.0)], programs)


def test_tempo_grid_maps_seconds_to_quarter_notes() -> None:
    grid = TempoGrid(TEMPO_MAP)
    np.testing.assert_allclose(grid.beats_at([0.0, 4.0, 7.5, 9.5]), [0.0, 8.0, 13.25, 18.25])


def test_bad_exports_are_one_line_errors(tmp_path: Path) -> None:
    notes = made_up_notes(2, 10)
    with pytest.raises(InputError, match="no GM program for instrument"):
        write_midi(notes, tmp_path / "a.mid", TEMPO_MAP, {"piano": 0})
    with pytest.raises(InputError, match="tempo map"):
        write_midi(notes, tmp_path / "a.mid", [(0.0, 0.0)], PROGRAMS)
    with pytest.raises(InputError, match="no part name"):
        write_musicxml(notes, tmp_path / "a.musicxml", TEMPO_MAP, {"piano": "Piano"})
    (tmp_path / "bad.mid").write_bytes(b"MThd not really")
    with pytest.raises(InputError, match="not a readable MIDI file"):
        read_midi(tmp_path / "bad.mid")


def test_musicxml_round_trip_keeps_the_pitches(tmp_path: Path) -> None:
    from music21 import converter

    notes = made_up_notes(3, 50)
    names = {"flute": "Flute", "piano": "Piano", "cello": "Cello"}
    score = converter.parse(str(write_musicxml(notes, tmp_path / "score.musicxml", TEMPO_MAP, names)))
    assert [part.partName for part in score.parts] == ["Flute", "Piano", "Cello", "Drums"]
    marks = [mark.number for mark in score.parts[0].recurse().getElementsByClass("MetronomeMark")]
    assert marks == [bpm for _, bpm in TEMPO_MAP]
    grid = TempoGrid(TEMPO_MAP)
    for part, name in zip(score.parts, [*names, DRUMS]):
        expected = sorted((float(np.round(grid.beats_at(note.start) * 4) / 4), note.pitch)
                          for note in notes if note.instrument == name)
        written = sorted((float(element.getOffsetInHierarchy(part)), pitch.midi)
                         for element in part.recurse().notes for pitch in element.pitches
                         if element.tie is None or element.tie.type == "start")
        assert written == expected, name
