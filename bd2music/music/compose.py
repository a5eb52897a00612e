"""The procedural composer, and the accompaniment it shares with the arranger of existing pieces.

Everything here is in beats (from the start of the track); ``perform`` turns events into timed notes. Each
section (a segment of the plan) gets, from its ``intent.Section``:

* a **grid** from its density: half notes, quarters, eighths or sixteenths, the finest value any voice moves on;
* **chords**: a progression of the key (one chord per bar, two in very short sections), a new progression for
  every other section, V - I at the end of the track;
* **melody** in phrases of 2-4 bars: a rhythm motif on the grid repeated and varied, chord tones on strong beats
  and steps between them, an arch towards the phrase's peak, a long chord tone and a breath at each phrase end;
  its height follows the section's register and the panel's place on the page;
* **harmony**: a pad at slow grids or low levels, pulsed chords, or broken chords (arpeggios) on the grid; or,
  with ``comp_ratio``, whole chords comped on a ``pulse`` of that many times the density, as a rhythm guitar or
  a piano comps; ``harmony_voices`` notes to a chord (a wider voicing fills more of the middle register);
* **arpeggio**: from ``arpeggio_from`` (notes per beat), the chord's tones broken by a plucked or struck
  instrument, an octave over the harmony, rising then falling, on a ``pulse``: ``arpeggio_ratio`` times the
  section's density in notes per beat (1 to 4), every beat first, then the half beats, then the sixteenths, each
  level filled evenly (a Euclidean rhythm) with the share that rate asks; the pulse a listener hears follows
  the plan's density continuously whatever the melody's own rhythm;
* **bass**: roots, root and fifth, or driving eighths as the grid quickens;
* **the end**: the last chord (the tonic) held by harmony and bass, the melody on one of its tones;
* **grace notes** (``graces``, applied to the arranged pieces too): ``grace_share`` of the melody's notes with
  room before them led into by a soft grace note a scale step above, ``grace_beats`` early: onsets a listener
  hears, as many as the melody has notes, without another percussion voice;
* **on the pulse** (``on_pulse``, applied to the arranged pieces too): with ``pulse_ratio``, the melody, counter,
  harmony and bass keep only their onsets on a ``pulse`` of that many times the section's density, each dropped
  note tied into its role's previous one, as a player simplifies a part: the rhythm heard is the plan's, whatever
  rhythm the piece brings;
* **a breakdown** (``breakdown``, applied to the arranged pieces too): from the middle bar, ``breakdown_bars``
  bars without drums, bass and arpeggio;
* **drums** when the density reaches ``drums_from``: kick, backbeat (side stick when quiet), hats on a
  ``pulse`` of ``hat_ratio`` times the density (eighths to sixteenths; the ride from ``ride_from``, an open hat
  on each bar's last half beat from ``open_hat_from``),
  a crash at loud section starts and a fill into the next section; below that, from ``shaker_from``, a shaker on
  the grid (or on a ``pulse`` of ``shaker_ratio`` times the density), so that the onsets a listener hears follow
  the density even under legato instruments; and, from ``perc_from`` to ``perc_to``, drummed or not, a hand
  percussion (``perc_key``: a shaker, a cabasa, a tambourine) on a ``pulse`` of ``perc_ratio`` times the density
  (at most ``perc_max`` notes per beat), softer between the beats: a broadband noise on the plan's onset grid, as
  a percussionist adds over a band; where it plays without the kit's groove, ``beat_key`` (a kick) can mark every
  beat under it, so that the pulse a beat tracker hears stays the beat, not the percussion's half beats.

Every choice is drawn from a generator seeded by the track's seed, so the same seed gives the same score.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from bd2music.music.harmony import CADENCE, PROGRESSIONS, Chord, progression, voice
from bd2music.music.intent import Key, Section

MELODY, COUNTER, HARMONY, ARPEGGIO, BASS, DRUMS = "melody", "counter", "harmony", "arpeggio", "bass", "drums"
ROLES = (MELODY, COUNTER, HARMONY, ARPEGGIO, BASS, DRUMS)
KICK, SIDE_STICK, SNARE, CLOSED_HAT, PEDAL_HAT, OPEN_HAT, CRASH, TOM_LOW, TOM_MID, TOM_HIGH, SHAKER, RIDE = (
    36, 37, 38, 42, 44, 46, 49, 45, 47, 50, 70, 51)

# Rhythm cells (beats) per grid step: a bar's melody rhythm is a sequence of cells.
CELLS = {
    2.0: ((2.0,), (2.0,), (1.0, 1.0)),
    1.0: ((1.0,), (1.0,), (1.5, 0.5), (2.0,), (0.5, 0.5)),
    0.5: ((0.5, 0.5), (1.0,), (0.75, 0.25), (0.5, 0.5), (1.5, 0.5)),
    0.25: ((0.25, 0.25, 0.25, 0.25), (0.5, 0.25, 0.25), (0.25, 0.25, 0.5), (0.5, 0.5), (0.75, 0.25)),
}


@dataclass(frozen=True)
class Event:
    """A note of the score in beats, before performance."""

    beat: float
    length: float  # beats
    pitch: int  # MIDI (drums: GM percussion key)
    accent: float  # 0-1, the composer's dynamics (metric accent x phrase arc); the performer scales it
    role: str
    section: int


@dataclass
class ComposerConfig:
    """Knobs of the composer (``weights/pipeline.json``, settings "music")."""

    meter: int = 4  # beats per bar
    grid_steps: tuple[float, float, float] = (0.9, 1.6, 3.0)  # density from which the grid is 1, 1/2, 1/4 beat
    drums_from: float = 1.5  # density (notes per beat) from which the drums play...
    shaker_from: float = 0.9  # ...and from which, below it, a shaker marks the grid (onsets a listener hears)
    pad_below: float = 0.3  # sections quieter than this level hold pads instead of pulsing chords
    melody_centre: int = 67  # MIDI centre of the melody at middle height and contour (G4)
    melody_span: int = 16  # semitones the height and contour move the melody's centre over their ranges
    harmony_centre: int = 57  # MIDI centre of the chords' voicing at middle height (A3)
    bass_centre: int = 40  # MIDI centre of the bass (E2)
    phrase_bars: int = 4  # longest phrase
    rest_share: float = 0.15  # chance that a weak grid step of the melody is a rest
    arpeggio_from: float = 1.0  # density (notes per beat) from which an arpeggio breaks the chords...
    arpeggio_ratio: float = 1.5  # ...at this many times the density (notes per beat, 1 to 4: sixteenths at most)
    hat_ratio: float = 1.0  # the drums' hats: this many times the density (notes per beat, 2 to 4)
    fill_accent: float = 1.0  # the arpeggio's notes between the beats this much softer (the beat stays heard)
    shaker_ratio: float = 0.0  # the shaker on a pulse of this many times the density (1 to 4 per beat; 0: the grid)
    ride_from: float = 1.01  # sections at least this loud keep time on the ride cymbal instead of the hats
    open_hat_from: float = 1.01  # sections at least this loud open the hats on the last half beat of each bar
    breakdown_bars: int = 0  # bars from the middle of the track without drums, bass and arpeggio (0: none)
    grace_share: float = 0.0  # share of the melody's notes led into by a grace note a scale step above (0: none)...
    grace_beats: float = 0.25  # ...this many beats early (a note with a melody onset closer before it gets none)...
    grace_accent: float = 0.5  # ...at this share of the note's accent
    harmony_voices: int = 0  # voices of the harmony's chords (0: 3, or 4 in sections louder than 0.6)
    comp_ratio: float = 0.0  # the harmony's pulsed and broken chords comped instead: whole chords on a pulse of
    # this many times the density (1 to 4 per beat), each held to the next (0: pulsed or broken as the grid says)
    perc_ratio: float = 0.0  # a hand percussion (``perc_key``) on a pulse of this many times the density...
    perc_from: float = 1.0  # ...in the sections at least this dense (notes per beat), drummed or not...
    perc_to: float = 99.0  # ...and less dense than this (``drums_from``: only where the kit has no groove)...
    perc_key: int = 82  # ...this GM percussion key (82: shaker, 69: cabasa, 54: tambourine, 70: maracas)...
    perc_accent: float = 0.4  # ...at this accent between the beats (on the beats 0.15 more) (0 ratio: none)...
    perc_max: float = 4.0  # ...and at most this many notes per beat (2: the beats and half beats, no sixteenths)
    pulse_ratio: float = 0.0  # melody, counter, harmony and bass only on a pulse of this many times the density
    # (1 to 4 notes per beat, ``on_pulse``; 0: their own rhythm)
    beat_key: int = 0  # where the hand percussion plays without the kit's groove, this GM key on every beat
    # (36: the kick; 0: none)...
    beat_accent: float = 0.6  # ...at this accent (the bar's first beat 0.15 more): the beat a tracker hears under
    # the percussion's fills


def grid(section: Section, config: ComposerConfig) -> float:
    """The finest note value (beats) any voice moves on, from the section's density."""
    low, mid, high = config.grid_steps
    d = section.density
    return 2.0 if d < low else 1.0 if d < mid else 0.5 if d < high else 0.25


def arpeggio_rate(section: Section, config: ComposerConfig) -> float:
    """Notes per beat of the arpeggio: ``arpeggio_ratio`` times the section's density, 1 to 4 (sixteenths)."""
    return float(np.clip(config.arpeggio_ratio * section.density, 1.0, 4.0))


PULSE_LEVELS = ((0.0,), (0.5,), (0.25, 0.75))  # places in a beat: the beat, the half beat, the sixteenths


def pulse(start: float, length: float, rate: float) -> list[float]:
    """Onsets (beats) from ``start`` over ``length`` beats, ``rate`` notes per beat (at most 4) on the sixteenth
    grid: every beat is filled first, then the half beats, then the other sixteenths; a level filled in part takes
    its share of places spread as evenly as they go (a Euclidean rhythm), the first place kept, so that the number
    of notes follows ``rate`` in steps of one note per span rather than doubling from one grid to the next."""
    onsets, left = [], rate
    for places in PULSE_LEVELS:
        share = float(np.clip(left / len(places), 0.0, 1.0))
        left -= share * len(places)
        slots = [start + beat + place for beat in range(int(np.ceil(length))) for place in places
                 if beat + place < length]
        chosen = round(share * len(slots))
        onsets += [slot for i, slot in enumerate(slots) if (i * chosen) % len(slots) < chosen]
    return sorted(onsets)


def section_starts(sections: list[Section]) -> list[int]:
    """The beat at which each section starts."""
    return list(np.concatenate([[0], np.cumsum([s.beats for s in sections])[:-1]]).astype(int))


def total_beats(sections: list[Section]) -> int:
    return int(sum(s.beats for s in sections))


def phrase_bars(sections: list[Section], config: ComposerConfig) -> int:
    """Bars per phrase: ``phrase_bars``, fewer when the track is short (at least two phrases when it can)."""
    bars = int(np.ceil(total_beats(sections) / config.meter))
    return int(np.clip(bars // 2, 1, config.phrase_bars))


def chords_for(sections: list[Section], key: Key, rng: np.random.Generator, config: ComposerConfig) -> list[Chord]:
    """One chord per bar (two per bar in a track of under three bars), two progressions alternating phrase by
    phrase, a V - I cadence at the end. Phrases run across the sections: the music flows from panel to panel."""
    total = total_beats(sections)
    step = config.meter if total >= 3 * config.meter else max(1, config.meter // 2)
    per_phrase = max(1, phrase_bars(sections, config) * config.meter // step)
    choices = PROGRESSIONS[key.mode]
    picked = rng.choice(len(choices), size=2, replace=False)
    count = int(np.ceil(total / step))
    degrees = [choices[picked[(i // per_phrase) % 2]][i % per_phrase % 4] for i in range(count)]
    degrees[-len(CADENCE):] = CADENCE[-count:]
    chords = progression(key, tuple(degrees), 0.0, step)
    return clip_chords(chords, total)


def clip_chords(chords: list[Chord], total: float) -> list[Chord]:
    """Chords cut at ``total`` beats (the last bar of a section may be short)."""
    return [Chord(c.start, min(c.length, total - c.start), c.root, c.tones) for c in chords if c.start < total]


def chord_at(chords: list[Chord], beat: float) -> Chord:
    for chord in chords:
        if chord.start <= beat < chord.end:
            return chord
    return chords[-1]


def harmony_centre(section: Section, config: ComposerConfig) -> int:
    """MIDI centre of the chords' voicing: ``harmony_centre`` moved by the section's height."""
    return int(round(config.harmony_centre + 10 * (section.height - 0.5)))


def bass_root(pitch_class: int, config: ComposerConfig) -> int:
    """The bass note of ``pitch_class`` within half an octave of ``bass_centre``."""
    return config.bass_centre - 6 + (pitch_class - config.bass_centre + 6) % 12


def metric_accent(beat_in_bar: float, meter: int) -> float:
    """1 on the downbeat, a little less on the other strong beat, less on beats, least between them."""
    if beat_in_bar == 0:
        return 1.0
    if meter == 4 and beat_in_bar == 2:
        return 0.85
    return 0.75 if float(beat_in_bar).is_integer() else 0.6


def arch(position: float) -> float:
    """Phrase dynamics and height: rising to 2/3 of the phrase, falling after (0.8 .. 1)."""
    return 0.8 + 0.2 * (position / 0.66 if position < 0.66 else (1 - position) / 0.34)


def melody(sections: list[Section], chords: list[Chord], key: Key, rng: np.random.Generator,
           config: ComposerConfig) -> list[Event]:
    """The melody over the whole track (see the module docstring); each bar takes the grid of its section."""
    events, total, meter = [], total_beats(sections), config.meter
    phrase = phrase_bars(sections, config)
    bars = int(np.ceil(total / meter))
    motifs = {}  # a rhythm motif per grid, repeated in alternate bars of each phrase
    previous = None
    for bar in range(bars):
        first = bar * meter
        section = section_of(sections, first)
        step = grid(section, config)
        if step not in motifs:
            motifs[step] = [_bar_rhythm(step, meter, rng) for _ in range(2)]
        in_phrase = bar % phrase
        end_of_phrase = in_phrase == phrase - 1 or bar == bars - 1
        rhythm = motifs[step][in_phrase % 2] if rng.random() > 0.25 else _bar_rhythm(step, meter, rng)
        if end_of_phrase:  # a long note on a chord tone, then a breath
            rhythm = [meter / 2, meter / 2] if meter % 2 == 0 else [float(meter)]
        beat = float(first)
        for k, length in enumerate(rhythm):
            if beat >= total:
                break
            section = section_of(sections, beat)
            centre = config.melody_centre + config.melody_span * ((section.height - 0.5) + 0.5 * (section.contour - 0.5))
            previous = int(round(centre)) if previous is None else previous
            position = (in_phrase * meter + beat - first) / (phrase * meter)
            target = centre + 5 * (arch(position) - 0.9) / 0.1
            in_bar = beat - first
            strong = float(in_bar).is_integer() and (in_bar % 2 == 0 or step >= 1)
            rest = (end_of_phrase and k == len(rhythm) - 1 and len(rhythm) > 1) or (
                not strong and rng.random() < config.rest_share)
            if not rest:
                pitch = _pick_pitch(previous, target, chord_at(chords, beat), key, strong or end_of_phrase, rng)
                events.append(Event(beat, min(length, total - beat), pitch,
                                    metric_accent(in_bar, meter) * arch(position), MELODY, section.index))
                previous = pitch
            beat += length
    return events


def _bar_rhythm(step: float, meter: int, rng: np.random.Generator) -> list[float]:
    """Cells of the grid's family filling one bar."""
    cells, filled, rhythm = CELLS[step], 0.0, []
    while filled < meter:
        cell = cells[rng.integers(len(cells))]
        for length in cell:
            length = min(length, meter - filled)
            if length <= 0:
                break
            rhythm.append(length)
            filled += length
    return rhythm


def _pick_pitch(previous: int, target: float, chord: Chord, key: Key, strong: bool,
                rng: np.random.Generator) -> int:
    """A chord tone (strong beats) or a scale tone (between them) near the previous note and pulled to the
    target; a repeated note or a leap over a fifth costs extra, so the line moves mostly by steps."""
    pool = chord.tones if strong else tuple((key.tonic + d) % 12 for d in key.scale)
    candidates = np.array([p for p in range(previous - 9, previous + 10) if p % 12 in pool])
    interval = np.abs(candidates - previous)
    cost = 0.4 * interval + 0.7 * np.abs(candidates - target) + 2.5 * (interval == 0) + 2.0 * (interval > 7)
    cost += rng.random(len(candidates)) * 2.0
    return int(candidates[int(np.argmin(cost))])


def harmony(sections: list[Section], chords: list[Chord], config: ComposerConfig) -> list[Event]:
    """Pads, pulsed chords or broken chords, voiced near the section's height with smooth voice leading."""
    events, previous = [], None
    for chord in chords:
        section = section_of(sections, chord.start)
        step = grid(section, config)
        centre = harmony_centre(section, config)
        voices = config.harmony_voices or (3 if section.level < 0.6 else 4)
        pitches = voice(chord.tones, centre, previous, voices=voices)
        previous = pitches
        if section.level < config.pad_below or step >= 2.0 or chord is chords[-1]:  # the last chord is held
            events += [Event(chord.start, chord.length, p, 0.8, HARMONY, section.index) for p in pitches]
        elif config.comp_ratio:  # comping: whole chords on the section's pulse, each held to the next
            onsets = pulse(chord.start, chord.length, float(np.clip(config.comp_ratio * section.density, 1.0, 4.0)))
            for beat, following in zip(onsets, onsets[1:] + [chord.end]):
                accent = metric_accent((beat - chord.start) % config.meter, config.meter)
                events += [Event(beat, following - beat, p, 0.9 * accent, HARMONY, section.index) for p in pitches]
        elif step >= 1.0:  # pulsed chords on the beats
            for beat in np.arange(chord.start, chord.end, 1.0):
                accent = metric_accent((beat - chord.start) % config.meter, config.meter)
                events += [Event(beat, 0.9, p, accent, HARMONY, section.index) for p in pitches]
        else:  # broken chords: low, high, middle, high ... on the grid
            order = [pitches[0], pitches[-1], pitches[len(pitches) // 2], pitches[-1]]
            for i, beat in enumerate(np.arange(chord.start, chord.end, step)):
                accent = metric_accent((beat - chord.start) % config.meter, config.meter)
                events.append(Event(beat, step * 1.5, order[i % 4], 0.85 * accent, HARMONY, section.index))
    return events


def arpeggio(sections: list[Section], chords: list[Chord], config: ComposerConfig) -> list[Event]:
    """The chords' tones broken on the arpeggio's ``pulse``, an octave over the harmony's voicing (rising, then
    falling), in the sections dense enough; the last chord is the cadence's, left to the harmony."""
    events = []
    for chord in chords[:-1]:
        section = section_of(sections, chord.start)
        if section.density < config.arpeggio_from:
            continue
        onsets = pulse(chord.start, chord.length, arpeggio_rate(section, config))
        tones = sorted(voice(chord.tones, harmony_centre(section, config) + 12, None, voices=3))
        cycle = tones + [tones[0] + 12] + tones[1:][::-1]
        for i, (beat, following) in enumerate(zip(onsets, onsets[1:] + [chord.end])):
            accent = metric_accent((beat - chord.start) % config.meter, config.meter)
            accent *= 1.0 if float(beat - chord.start).is_integer() else config.fill_accent
            events.append(Event(beat, following - beat, cycle[i % len(cycle)], accent, ARPEGGIO, section.index))
    return events


def bass(sections: list[Section], chords: list[Chord], config: ComposerConfig) -> list[Event]:
    """Roots (slow), root and fifth (quarters), driving eighths (fast grids)."""
    events = []
    for chord in chords:
        section = section_of(sections, chord.start)
        step = grid(section, config)
        root = bass_root(chord.root, config)
        fifth = root + 7 if root + 7 <= config.bass_centre + 9 else root - 5
        if step >= 2.0 or chord is chords[-1]:  # the last chord: its root, held
            pattern = [(0.0, chord.length, root)]
        elif step >= 1.0:
            half = chord.length / 2
            pattern = [(0.0, half, root), (half, half, fifth)] if chord.length >= 2 else [(0.0, chord.length, root)]
        else:
            pattern = [(b, 0.45, root if (b % 2) < 1.5 else fifth) for b in np.arange(0, chord.length, 0.5)]
        for offset, length, pitch in pattern:
            accent = metric_accent(offset % config.meter, config.meter)
            events.append(Event(chord.start + offset, length, pitch, accent, BASS, section.index))
    return events


def drums(sections: list[Section], config: ComposerConfig) -> list[Event]:
    """A groove for the sections dense enough (see the module docstring), bars counted over the whole track."""
    events, meter = [], config.meter
    for section, start in zip(sections, section_starts(sections)):
        if config.shaker_from <= section.density < config.drums_from:
            step = grid(section, config)
            beats = (pulse(start, section.beats, float(np.clip(config.shaker_ratio * section.density, 1.0, 4.0)))
                     if config.shaker_ratio else list(np.arange(start, start + section.beats, step)))
            events += [Event(beat, step, SHAKER, 0.45 + 0.2 * float(beat % config.meter == 0), DRUMS, section.index)
                       for beat in beats]
        if config.perc_ratio and config.perc_from <= section.density < config.perc_to:
            rate = float(np.clip(config.perc_ratio * section.density, 1.0, min(config.perc_max, 4.0)))
            beats = pulse(start, section.beats, rate)
            events += [Event(beat, 0.25, config.perc_key, config.perc_accent + 0.15 * float(float(beat).is_integer()),
                             DRUMS, section.index) for beat in beats]
            if config.beat_key and section.density < config.drums_from:
                events += [Event(float(beat), 0.5, config.beat_key,
                                 config.beat_accent + 0.15 * float(beat % config.meter == 0), DRUMS, section.index)
                           for beat in range(start, start + section.beats)]
        if section.density < config.drums_from:
            continue
        snare = SNARE if section.level >= config.pad_below else SIDE_STICK
        end = start + section.beats
        if section.level > 0.6 and section.index > 0:
            events.append(Event(start, 2.0, CRASH, 0.9, DRUMS, section.index))
        for beat in np.arange(start, end, 0.5):
            in_bar = beat % meter
            if in_bar == 0 or (meter == 4 and in_bar in (2.0, 2.5)):
                events.append(Event(beat, 0.5, KICK, metric_accent(in_bar, meter), DRUMS, section.index))
            if meter == 4 and in_bar in (1.0, 3.0) or meter == 3 and in_bar == 2.0:
                events.append(Event(beat, 0.5, snare, 0.9, DRUMS, section.index))
        hats = pulse(start, section.beats, max(2.0, config.hat_ratio * section.density))
        cymbal = RIDE if section.level >= config.ride_from else CLOSED_HAT
        for beat, following in zip(hats, hats[1:] + [end]):  # the hats (or the ride) on the section's pulse
            in_bar = beat % meter
            fill = beat >= end - 1 and section.index < len(sections) - 1
            accent = 0.5 + 0.3 * float(float(in_bar).is_integer())
            opened = cymbal == CLOSED_HAT and section.level >= config.open_hat_from and in_bar == meter - 0.5
            events.append(Event(beat, following - beat, SNARE if fill else OPEN_HAT if opened else cymbal, accent,
                                DRUMS, section.index))
    return events


def section_of(sections: list[Section], beat: float) -> Section:
    for section, start in zip(sections, section_starts(sections)):
        if beat < start + section.beats:
            return section
    return sections[-1]


def breakdown(events: list[Event], sections: list[Section], config: ComposerConfig) -> list[Event]:
    """``events`` less the drums, bass and arpeggio of ``breakdown_bars`` bars from the bar at the middle of the
    track (when a bar is left either side), as an arrangement thins out before its last phrase."""
    bars = total_beats(sections) // config.meter
    if not config.breakdown_bars or bars < config.breakdown_bars + 2:
        return events
    first = (bars // 2) * config.meter
    last = first + config.breakdown_bars * config.meter
    return [e for e in events if not (first <= e.beat < last and e.role in (DRUMS, BASS, ARPEGGIO))]


def on_pulse(events: list[Event], sections: list[Section], config: ComposerConfig) -> list[Event]:
    """``events`` with the melody's, counter's, harmony's and bass's onsets off the section's ``pulse`` of
    ``pulse_ratio`` times its density (1 to 4 per beat) dropped; the notes of a dropped onset tie into their
    role's notes at its previous kept onset (held to the dropped notes' end). Unchanged when ``pulse_ratio`` is 0."""
    if not config.pulse_ratio:
        return events
    places = set()
    for section, start in zip(sections, section_starts(sections)):
        rate = float(np.clip(config.pulse_ratio * section.density, 1.0, 4.0))
        places.update(round(beat * 4) for beat in pulse(start, section.beats, rate))  # in sixteenths
    kept, held = [], {}  # held: each role's notes (indices in ``kept``) at its last kept onset
    for event in sorted(events, key=lambda e: (e.beat, e.role)):
        thinned = event.role in (MELODY, COUNTER, HARMONY, BASS)
        on_grid = abs(event.beat * 4 - round(event.beat * 4)) < 1e-3 and round(event.beat * 4) in places
        if not thinned or on_grid:
            if thinned:
                notes = held.get(event.role)
                if notes is None or kept[notes[0]].beat != event.beat:
                    held[event.role] = notes = []
                notes.append(len(kept))
            kept.append(event)
            continue
        for i in held.get(event.role, []):  # a tie: the previous notes last to this one's end
            note = kept[i]
            kept[i] = replace(note, length=max(note.length, event.beat + event.length - note.beat))
    return kept


def graces(events: list[Event], key: Key, seed: int, config: ComposerConfig) -> list[Event]:
    """``events`` and, before ``grace_share`` of the melody's notes (drawn with the seed), a grace note: the scale
    tone above the note, ``grace_beats`` long and early, ``grace_accent`` times its accent; only where the melody
    leaves that much room (its previous onset at least twice as early) and never before the first beat."""
    if not config.grace_share:
        return events
    rng = np.random.default_rng([seed, 25])
    melody = sorted((e for e in events if e.role == MELODY), key=lambda e: e.beat)
    added, previous = [], -np.inf
    for event in melody:
        early = event.beat - config.grace_beats
        if early >= 0 and event.beat - previous >= 2 * config.grace_beats and rng.random() < config.grace_share:
            added.append(Event(early, config.grace_beats, _step_above(event.pitch, key),
                               config.grace_accent * event.accent, MELODY, event.section))
        previous = event.beat
    return sorted(events + added, key=lambda e: (e.beat, e.role))


def _step_above(pitch: int, key: Key) -> int:
    """The next tone of ``key``'s scale above ``pitch``."""
    scale = {(key.tonic + degree) % 12 for degree in key.scale}
    return next(p for p in range(pitch + 1, pitch + 13) if p % 12 in scale)


def compose(sections: list[Section], key: Key, seed: int, config: ComposerConfig) -> list[Event]:
    """The whole score of the procedural composer."""
    rng = np.random.default_rng([seed, 21])
    chords = chords_for(sections, key, rng, config)
    return sorted(melody(sections, chords, key, rng, config) + harmony(sections, chords, config)
                  + arpeggio(sections, chords, config) + bass(sections, chords, config) + drums(sections, config),
                  key=lambda e: (e.beat, e.role))
