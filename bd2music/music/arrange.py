"""The arranger: a piece of the library (``music.library``) chosen by the page's mood and fitted to the plan.

* **choice**: pieces in the page's mode, ranked by how near their tempo character is to the plan's tempo and
  their melody's note density to the one the plan asks (both on a log scale); drawn from the ``top_k`` best
  with a generator seeded by the seed and the page (two pages with the same seed rarely get the same piece).
  A best fit worse than ``max_misfit`` (or a library without the mode) leaves the track to the composer.
* **time**: one beat of the plan is one beat of the piece (a dotted quarter in 6/8); the excerpt is chosen so
  that the track ends on one of the piece's phrase ends when one lies within reach (the piece loops from its
  first downbeat when it is shorter than the track); each section plays at its own tempo.
* **pitch**: transposed to the page's key (the shorter way), then by octaves so that the melody sits where the
  composer would put it for the sections' height.
* **parts**: the melody part is the melody, a bass part the bass, inner parts the harmony. A tune without them
  gets the composer's harmony and bass over the chords heard in each bar (``harmony.chord_of``), and so does a
  section whose density asks for a quicker accompaniment than the inner voices give.
* **end**: the last bar becomes the tonic chord, held (a cadence on I); the arpeggio and drums as the composer
  plays them.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from bd2music.music.compose import (BASS, HARMONY, MELODY, ComposerConfig, Event, arch, arpeggio, bass, bass_root,
                                    drums, grid, harmony, harmony_centre, metric_accent, section_of, total_beats)
from bd2music.music.harmony import Chord, chord_of, triad, voice
from bd2music.music.intent import Key, Section
from bd2music.music.library import Passage, Piece, PieceLibrary
from bd2music.plan import Plan


@dataclass
class ArrangerConfig:
    """How pieces are chosen and fitted (``weights/pipeline.json``, settings "music")."""

    top_k: int = 5  # the piece is drawn from this many best fits
    tempo_weight: float = 1.0  # weight of |log(piece tempo / plan tempo)| in the misfit...
    density_weight: float = 2.5  # ...and of |log(melody density / the plan's)|: the rhythm heard is the piece's
    max_misfit: float = 1.2  # a best misfit above this: no piece fits, the composer plays
    phrase_reach: float = 0.25  # the excerpt may start this share of the track early to end on a phrase end


FALLBACK_DECIMALS = 2  # a plan without a page_id is named by its raw readings rounded to this many decimals


def page_hash(plan: Plan) -> int:
    """A stable number for the page, which seeds the draws that differ between pages: a CRC of the plan's
    ``page_id`` (the page's pixels' fingerprint, the same on every machine). A plan without one (built by hand)
    falls back on its segments' raw head readings rounded to ``FALLBACK_DECIMALS``: the readings of an analysed
    page move in their 4th decimal with the number of CPU threads, and rounding only makes a flip rarer."""
    if plan.page_id:
        return zlib.crc32(plan.page_id.encode())
    values = np.array([[v for _, v in sorted(s.raw.items())] for s in plan.segments], dtype=np.float64)
    return zlib.crc32((np.round(values, FALLBACK_DECIMALS) + 0.0).tobytes())  # + 0.0: -0.0 becomes 0.0


def choose_piece(library: PieceLibrary, key: Key, sections: list[Section], plan: Plan, seed: int,
                 config: ArrangerConfig, melody_density: float) -> tuple[Piece | None, str]:
    """(the piece, "") or (None, why no piece fits)."""
    tags = library.tags
    candidates = np.flatnonzero(tags["mode"] == key.mode)
    if len(candidates) == 0:
        return None, f"the piece library has no piece in {key.mode}"
    tempo = float(np.average([s.tempo for s in sections], weights=[s.beats for s in sections]))
    beat_tempo = tags["tempo"][candidates] / tags["beat_quarters"][candidates]
    density = tags["melody_density"][candidates] * tags["beat_quarters"][candidates]
    misfit = (config.tempo_weight * np.abs(np.log(beat_tempo / tempo))
              + config.density_weight * np.abs(np.log(np.maximum(density, 0.05) / max(melody_density, 0.05))))
    order = np.argsort(misfit, kind="stable")
    if misfit[order[0]] > config.max_misfit:
        return None, f"no {key.mode} piece fits tempo {tempo:.0f} and {melody_density:.2f} melody notes per beat"
    best = order[: config.top_k]
    weights = 1.0 / np.arange(1, len(best) + 1)
    rng = np.random.default_rng([seed, page_hash(plan), 25])
    return library.piece(int(candidates[best[rng.choice(len(best), p=weights / weights.sum())]])), ""


def excerpt(piece: Piece, beats: int, config: ArrangerConfig) -> Passage:
    """``beats`` beats of the piece (in beats, from 0), ending on a phrase end when one is within reach."""
    unit = piece.beat_quarters
    length = beats * unit
    looped = piece.loop(length * (1 + config.phrase_reach) + piece.bar_quarters)
    ends = looped.phrases[(looped.phrases >= length) & (looped.phrases <= length * (1 + config.phrase_reach))]
    start = 0.0
    if len(ends):
        wanted = float(ends[0]) - length
        bar_starts = np.concatenate([[0.0], looped.bars])
        start = float(bar_starts[np.argmin(np.abs(bar_starts - wanted))])
    inside = (looped.onset >= start) & (looped.onset < start + length)
    return Passage(
        (looped.onset[inside] - start) / unit, np.minimum(looped.duration[inside], start + length - looped.onset[inside]) / unit,
        looped.pitch[inside].astype(int), looped.part[inside].astype(int),
        (looped.bars[(looped.bars >= start) & (looped.bars < start + length)] - start) / unit,
        (looped.phrases[(looped.phrases > start) & (looped.phrases <= start + length)] - start) / unit,
    )


def arrange(piece: Piece, key: Key, sections: list[Section], config: ArrangerConfig,
            composer: ComposerConfig) -> list[Event]:
    """The piece's events fitted to the sections (see the module docstring)."""
    total = total_beats(sections)
    passage = excerpt(piece, total, config)
    meter = max(1, round(piece.bar_quarters / piece.beat_quarters))
    shift = piece.transposition(key.tonic)
    melody_mid = (piece.tags["melody_low"] + piece.tags["melody_high"]) / 2 + shift
    height = float(np.average([s.height for s in sections], weights=[s.beats for s in sections]))
    wanted = composer.melody_centre + composer.melody_span * (height - 0.5)
    shift += 12 * round((wanted - melody_mid) / 18)  # by octaves, only when the melody sits far from its place
    roles = piece.roles
    bars = np.concatenate([[0.0], passage.bars]) if not len(passage.bars) or passage.bars[0] > 0 else passage.bars
    phrases = np.concatenate([[0.0], passage.phrases, [float(total)]])
    last_bar = float(bars[bars <= total - 1][-1]) if np.any(bars <= total - 1) else 0.0
    chords = _chords(passage, bars, total, key)
    quick = {s.index for s in sections if grid(s, composer) < 1.0}
    has_inner, has_bass = "inner" in roles[1:], "bass" in roles[1:]
    events = []
    for onset, length, pitch, part in zip(passage.onset, passage.duration, passage.pitch, passage.part):
        if onset >= last_bar and last_bar > 0:
            continue  # the final bar is the cadence
        section = section_of(sections, float(onset))
        role = MELODY if part == 0 else BASS if roles[part] == "bass" else HARMONY
        if role == HARMONY and section.index in quick:
            continue  # the composer's quicker accompaniment plays instead
        in_bar = float(onset - bars[bars <= onset][-1]) if np.any(bars <= onset) else float(onset)
        k = np.searchsorted(phrases, onset, side="right") - 1
        position = float((onset - phrases[k]) / max(phrases[k + 1] - phrases[k], 1e-6))
        events.append(Event(float(onset), float(length), int(pitch) + shift, metric_accent(in_bar, meter) * arch(position),
                            role, section.index))
    composer_chords = [c for c in chords if c.start < last_bar or last_bar == 0]
    accompaniment = harmony(sections, composer_chords, composer)
    events += [e for e in accompaniment if not has_inner or e.section in quick]
    if not has_bass:
        events += bass(sections, composer_chords, composer)
    events += arpeggio(sections, chords, composer)  # the last bar is the cadence's
    events += _cadence(events, key, last_bar, total, sections, composer) + drums(sections, composer)
    return sorted(events, key=lambda e: (e.beat, e.role))


def _chords(passage: Passage, bars: np.ndarray, total: int, key: Key) -> list[Chord]:
    """The chord heard in each bar of the excerpt (the notes' pitch classes, weighted by duration)."""
    edges = np.concatenate([bars, [float(total)]])
    chords = []
    for start, end in zip(edges[:-1], edges[1:]):
        inside = (passage.onset >= start) & (passage.onset < end)
        tones = chord_of(passage.pitch[inside], passage.duration[inside], key)
        chords.append(Chord(float(start), float(end - start), tones[0], tones))
    return chords


def _cadence(events: list[Event], key: Key, last_bar: float, total: int, sections: list[Section],
             composer: ComposerConfig) -> list[Event]:
    """The tonic chord on the last bar, held to the end: melody on the tonic nearest its last note."""
    section = sections[-1]
    tonic = triad(key, 0)
    melody_notes = [e.pitch for e in events if e.role == MELODY]
    previous = melody_notes[-1] if melody_notes else composer.melody_centre
    top = min((p for p in range(previous - 6, previous + 7) if p % 12 in (tonic[0], tonic[1])),
              key=lambda p: abs(p - previous))
    length = total - last_bar
    centre = harmony_centre(section, composer)
    root = bass_root(tonic[0], composer)
    chord = [Event(last_bar, length, top, 0.9, MELODY, section.index),
             Event(last_bar, length, root, 0.9, BASS, section.index)]
    chord += [Event(last_bar, length, p, 0.8, HARMONY, section.index) for p in voice(tonic, centre, None)]
    return chord

