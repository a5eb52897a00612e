"""Scores out: ``write_midi`` (Standard MIDI File, mido) and ``write_musicxml`` (music21, imported when called).

Both take the :class:`~bd2music.music.score.Note` list the sampler plays, in seconds, and a tempo map
``[(start_s, bpm), ...]`` (quarter notes per minute from each start on; the first applies from 0 s), so that a
DAW or a score editor shows the bars the music was composed in. ``read_midi`` reads a file written here back
into notes (tests, tools).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bd2music.errors import InputError
from bd2music.music.score import DRUMS, Note, is_kit

TICKS_PER_BEAT = 480  # MIDI ticks per quarter note
DRUM_CHANNEL = 9  # General MIDI percussion: channel 10, counted from 1
SIXTEENTH = 0.25  # MusicXML grid, quarter notes

TempoMap = Sequence[tuple[float, float]]


class TempoGrid:
    """Seconds <-> quarter notes through a tempo map: the tempo changes where each entry starts."""

    def __init__(self, tempo_map: TempoMap) -> None:
        entries = sorted((float(start), float(bpm)) for start, bpm in tempo_map)
        if not entries or any(not np.isfinite(bpm) or bpm <= 0 for _, bpm in entries):
            raise InputError(f"tempo map needs at least one (start_s, bpm) with bpm > 0, got {list(tempo_map)}")
        self.starts = np.array([0.0] + [start for start, _ in entries[1:]])
        self.bpms = np.array([bpm for _, bpm in entries])
        self.beats = np.concatenate([[0.0], np.cumsum(np.diff(self.starts) * self.bpms[:-1] / 60.0)])

    def beats_at(self, seconds: np.ndarray | float) -> np.ndarray:
        """Quarter notes from the start at ``seconds``."""
        seconds = np.asarray(seconds, dtype=np.float64)
        segment = np.searchsorted(self.starts, seconds, side="right") - 1
        return self.beats[segment] + (seconds - self.starts[segment]) * self.bpms[segment] / 60.0


def _check(notes: Sequence[Note], names: dict[str, object], what: str) -> None:
    if missing := sorted(name for name in {note.instrument for note in notes} - set(names) if not is_kit(name)):
        raise InputError(f"no {what} for instrument {', '.join(missing)}")


def write_midi(notes: Sequence[Note], path: str | Path, tempo_map: TempoMap, programs: dict[str, int]) -> Path:
    """Write ``notes`` as a type-1 MIDI file: a tempo track, then one track per instrument (named after it, in
    order of first note) with its General MIDI ``programs`` number (0-127) on its own channel (shared only with
    instruments that have stopped playing), drum kits on channel 10 (a kit other than DRUMS selects its
    program there, as GS does). Velocities are kept; a track's pan is its notes'
    mean pan; a key struck again while it sounds ends there."""
    import mido

    _check(notes, programs, "GM program")
    grid = TempoGrid(tempo_map)
    midi = mido.MidiFile(type=1, ticks_per_beat=TICKS_PER_BEAT)
    conductor = mido.MidiTrack([mido.MetaMessage("track_name", name="tempo", time=0)])
    tempo_ticks = np.round(grid.beats * TICKS_PER_BEAT).astype(int)
    conductor += _delta([(int(tick), 0, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm), time=0))
                         for tick, bpm in zip(tempo_ticks, grid.bpms)])
    midi.tracks.append(conductor)
    tracks = {}  # instrument -> (its notes, start ticks, end ticks), in order of first note
    for name in sorted(dict.fromkeys(note.instrument for note in notes), key=lambda name: min(
            note.start for note in notes if note.instrument == name)):
        own = [note for note in notes if note.instrument == name]
        on = np.round(grid.beats_at([note.start for note in own]) * TICKS_PER_BEAT).astype(int)
        off = np.round(grid.beats_at([note.end for note in own]) * TICKS_PER_BEAT).astype(int)
        tracks[name] = own, on, _restruck(on, off, np.array([note.pitch for note in own]))
    channels = _channels({name: (int(on.min()), int(off.max())) for name, (_, on, off) in tracks.items()})
    for name, (own, on, off) in tracks.items():
        channel, first = channels[name], int(on.min())
        pan = int(np.clip(round((np.mean([note.pan for note in own]) + 1) * 63.5), 0, 127))
        events = [(first, -1, mido.Message("control_change", channel=channel, control=10, value=pan))]
        if name != DRUMS and (not is_kit(name) or name in programs):
            events.append((first, -1, mido.Message("program_change", channel=channel, program=int(programs[name]))))
        events += [(int(tick), 1, mido.Message("note_on", channel=channel, note=note.pitch, velocity=note.velocity))
                   for tick, note in zip(on, own)]
        events += [(int(tick), 0, mido.Message("note_off", channel=channel, note=note.pitch, velocity=0))
                   for tick, note in zip(off, own)]  # at the same tick a note ends before the next one starts
        midi.tracks.append(mido.MidiTrack([mido.MetaMessage("track_name", name=name, time=0)] + _delta(events)))
    path = Path(path)
    midi.save(str(path))
    return path


def _channels(spans: dict[str, tuple[int, int]]) -> dict[str, int]:
    """A MIDI channel per instrument (first tick, last tick): drum kits on channel 10, the others on the 15 left,
    an instrument taking a channel that an earlier one has stopped using (an album's pages); InputError when more
    than 15 play at once."""
    free_from = {channel: -1 for channel in range(16) if channel != DRUM_CHANNEL}
    assigned = {}
    for name, (first, last) in spans.items():
        if is_kit(name):
            assigned[name] = DRUM_CHANNEL
            continue
        channel = next((channel for channel, end in free_from.items() if end < first), None)
        if channel is None:
            raise InputError(f"{len(spans)} instruments: more than 15 play at once, a MIDI file has 15 channels "
                             "besides the drums")
        assigned[name], free_from[channel] = channel, last
    return assigned


def _restruck(start: np.ndarray, end: np.ndarray, pitch: np.ndarray) -> np.ndarray:
    """Note ends in ticks: a key struck again while it sounds ends there (MIDI cannot tell two overlapping notes of
    one key apart), and every note lasts at least one tick."""
    end = end.copy()
    for key in np.unique(pitch):
        same = np.flatnonzero(pitch == key)
        same = same[np.argsort(start[same], kind="stable")]
        end[same[:-1]] = np.minimum(end[same[:-1]], start[same[1:]])
    return np.maximum(end, start + 1)


def _delta(events: list[tuple[int, int, object]]) -> list:
    """Messages sorted by (tick, order) with their delta times set, and the end of track."""
    import mido

    messages, now = [], 0
    for tick, _, message in sorted(events, key=lambda event: (event[0], event[1])):
        messages.append(message.copy(time=tick - now))
        now = tick
    return messages + [mido.MetaMessage("end_of_track", time=0)]


def _absolute(track) -> list[tuple[int, object]]:
    """A track's messages with their absolute ticks."""
    now, timed = 0, []
    for message in track:
        now += message.time
        timed.append((now, message))
    return timed


def read_midi(path: str | Path) -> list[Note]:
    """The notes of a MIDI file (times in seconds through its tempo changes), instruments named after their
    tracks (channel 10: DRUMS), pans from each track's last pan controller; one-line InputError if unreadable."""
    import mido

    try:
        midi = mido.MidiFile(str(path))
    except (OSError, ValueError, EOFError, KeyError) as error:
        raise InputError(f"{path}: not a readable MIDI file ({type(error).__name__})") from None
    tempi = sorted((tick, message.tempo) for track in midi.tracks for tick, message in _absolute(track)
                   if message.type == "set_tempo")
    tempi = [(0, mido.bpm2tempo(120))] * (not tempi or tempi[0][0] > 0) + tempi  # MIDI's default before any

    def seconds(tick: int) -> float:
        passed, last_tick, tempo = 0.0, 0, tempi[0][1]
        for change, value in tempi:
            if change > tick:
                break
            passed += mido.tick2second(change - last_tick, midi.ticks_per_beat, tempo)
            last_tick, tempo = change, value
        return passed + mido.tick2second(tick - last_tick, midi.ticks_per_beat, tempo)

    notes = []
    for track in midi.tracks:
        name = next((message.name for message in track if message.type == "track_name"), "")
        sounding, pan = {}, 0.0
        for tick, message in _absolute(track):
            if message.type == "control_change" and message.control == 10:
                pan = message.value / 63.5 - 1
            elif message.type == "note_on" and message.velocity > 0:
                sounding.setdefault(message.note, []).append((tick, message.velocity))
            elif message.type in ("note_on", "note_off") and sounding.get(message.note):
                on, velocity = sounding[message.note].pop(0)
                instrument = DRUMS if message.channel == DRUM_CHANNEL else name or f"channel {message.channel + 1}"
                notes.append(Note(seconds(on), seconds(tick) - seconds(on), message.note, velocity, instrument,
                                  round(pan, 3)))
    return sorted(notes, key=lambda note: (note.start, note.instrument, note.pitch))


def write_musicxml(notes: Sequence[Note], path: str | Path, tempo_map: TempoMap, names: dict[str, str],
                   time_signature: str = "4/4") -> Path:
    """Write ``notes`` as MusicXML: one part per instrument (``names``: instrument -> the part's name, in score
    order), onsets and ends quantised to sixteenth notes through the tempo map, a metronome mark at each tempo
    change; overlapping notes of a part become chords or voices."""
    from music21 import clef, meter, note as m21note, stream, tempo

    _check(notes, names, "part name")
    grid = TempoGrid(tempo_map)
    score = stream.Score()
    order = [name for name in names if any(note.instrument == name for note in notes)]
    order += [kit for kit in dict.fromkeys(note.instrument for note in notes) if is_kit(kit) and kit not in order]
    for index, name in enumerate(order):
        part = stream.Part()
        part.partName = names.get(name, name.replace("_", " ").capitalize())
        part.insert(0, meter.TimeSignature(time_signature))
        if is_kit(name):
            part.insert(0, clef.PercussionClef())
        if index == 0:
            for beat, bpm in zip(grid.beats, grid.bpms):
                part.insert(_quantise(beat), tempo.MetronomeMark(number=round(float(bpm), 2)))
        own = [note for note in notes if note.instrument == name]
        onsets = _quantise(grid.beats_at([note.start for note in own]))
        ends = np.maximum(_quantise(grid.beats_at([note.end for note in own])), onsets + SIXTEENTH)
        for onset, end, note in zip(onsets, ends, own):
            element = m21note.Note(note.pitch, quarterLength=float(end - onset))
            element.volume.velocity = note.velocity
            part.insert(float(onset), element)
        score.insert(0, part)
    path = Path(path)
    score.write("musicxml", fp=str(path))
    return path


def _quantise(beats: np.ndarray | float) -> np.ndarray:
    return np.round(np.asarray(beats, dtype=np.float64) / SIXTEENTH) * SIXTEENTH
