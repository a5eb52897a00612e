"""From the plan to musical decisions: the page's key and mode, and per segment its tempo, note density,
dynamics, register and melody height. Every rule reads the plan (its calibrated targets and the visual mood of
each segment) and is stated where it is applied:

* **key**: on a colour page the dominant hue picks the tonic around the circle of fifths, as Scriabin's colour
  keyboard does (red C, orange G, yellow D, green A...); on a black-and-white page (or one without a clear hue)
  brightness does: darker pages lean to the flat keys (F, B flat, E flat...), lighter ones to the sharp keys.
* **mode**: valence, a weighted mean of brightness, warmth and saturation; below ``minor_below`` the page is in
  minor (dark, cool pages), otherwise in major.
* **tempo**: the segment's tempo target, pulled ``tempo_glue`` of the way (log) towards the page's mean tempo
  (weighted by duration) so that the music does not lurch from panel to panel; the boundaries between panels
  move to the nearest beat (``beat_bounds``), so every section holds whole beats at its tempo.
* **density** (notes per beat the texture aims at): the onset-rate target's place in its listener range (log),
  optionally bent (``onsets_curve``: a power under 1 spreads the calm end, where most targets crowd), carried onto
  the onset rates of music (``onsets``, log-even: music moves faster than a scene's events), divided by the beats
  per second.
* **level** (0-1, dynamics: velocity and the number of voices): the loudness target's place in the listener range.
* **height** (0-1, register and the instruments' brightness): the centroid target's place in its listener range
  (log frequency), averaged with the segment's brightness.
* **contour** (0-1): where the melody sits in its range: the panel's height on the page (top panels high).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bd2music.plan import Plan, SegmentPlan, range_place

PITCH_NAMES = ("C", "D♭", "D", "E♭", "E", "F", "F♯", "G", "A♭", "A", "B♭", "B")
SCALES = {"major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 10)}


@dataclass
class IntentConfig:
    """The thresholds of the mapping from plan to music (``weights/pipeline.json``, settings "music")."""

    valence_weights: tuple[float, float, float] = (0.5, 0.3, 0.2)  # brightness, warmth, saturation
    minor_below: float = 0.52  # valence under which the page is in minor (about a third of the training pages)
    min_hue_saturation: float = 0.15  # a page less saturated than this picks its key by brightness, not hue
    flat_keys_from: float = 0.55  # black and white: brightness mapped onto the circle of fifths from here...
    sharp_keys_to: float = 0.9  # ...(4 flats) to here (4 sharps): the span of the training pages' brightness
    height_mix: float = 0.5  # height = this share of the centroid target + the rest of the brightness
    onsets: tuple[float, float] = (1.5, 10.0)  # onsets per second of the music at the bottom and top of the range
    onsets_curve: float = 1.0  # the target's place in its range raised to this power before it is carried onto
    # ``onsets`` (under 1: the calm end, where the targets of calm pages crowd, spread wider; ranks kept)
    tempo_glue: float = 0.3  # a segment's tempo: its target pulled this far (log) towards the page's mean tempo


@dataclass(frozen=True)
class Key:
    tonic: int  # pitch class, 0 = C
    mode: str  # "major" or "minor"

    @property
    def name(self) -> str:
        return f"{PITCH_NAMES[self.tonic]} {self.mode}"

    @property
    def scale(self) -> tuple[int, ...]:
        return SCALES[self.mode]


@dataclass
class Section:
    """What one segment of the plan asks of the music."""

    index: int  # segment index
    panel: int  # the segment's panel (-1: the whole page)
    start: float  # seconds: the segment's start moved to the nearest beat (``beat_bounds``)
    end: float
    beats: int  # whole beats in the section
    tempo: float  # BPM that fits ``beats`` into the section exactly
    density: float  # notes per beat
    level: float  # 0 quietest .. 1 loudest
    height: float  # 0 low and dark .. 1 high and bright
    contour: float  # 0 low .. 1 high: where the melody sits

    @property
    def beat_s(self) -> float:
        return 60.0 / self.tempo


def page_mood(plan: Plan) -> dict[str, float]:
    """The segments' visual readings weighted by duration (the hue: of the most colourful segment)."""
    weights = np.array([s.duration for s in plan.segments]) / plan.seconds
    names = [name for name in plan.segments[0].mood if name != "hue"]
    mood = {name: float(sum(w * s.mood[name] for w, s in zip(weights, plan.segments))) for name in names}
    coloured = [s for s in plan.segments if s.mood.get("hue", -1.0) >= 0]
    best = max(coloured, key=lambda s: s.mood["saturation"], default=None)
    return mood | {"hue": best.mood["hue"] if best else -1.0}


def choose_key(plan: Plan, config: IntentConfig) -> Key:
    """The page's key: tonic from hue (colour) or brightness (black and white), mode from valence."""
    mood = page_mood(plan)
    brightness, saturation = mood["brightness"], mood["saturation"]
    valence = float(np.dot(config.valence_weights, (brightness, mood["warmth"], saturation)))
    mode = "minor" if valence < config.minor_below else "major"
    if mood["hue"] >= 0 and not mood["is_bw"] and saturation >= config.min_hue_saturation:
        fifths = round(mood["hue"] * 12) % 12  # Scriabin: red C, orange G, yellow D, green A, ...
    else:
        span = config.sharp_keys_to - config.flat_keys_from
        fifths = round(np.clip((brightness - config.flat_keys_from) / span, 0, 1) * 8) - 4
    return Key(tonic=7 * fifths % 12, mode=mode)


def plan_sections(plan: Plan, config: IntentConfig) -> list[Section]:
    """One ``Section`` per plan segment (see the module docstring for each rule)."""
    bounds, tempos = beat_bounds(plan, config)
    sections = []
    for index, segment in enumerate(plan.segments):
        start, end = bounds[index], bounds[index + 1]
        height = config.height_mix * range_place("centroid", segment.centroid, log=True)
        height += (1 - config.height_mix) * segment.mood.get("brightness", 0.5)
        sections.append(Section(
            index=index, panel=segment.panel, start=start, end=end, beats=tempos[index][0], tempo=tempos[index][1],
            density=_music_onsets(segment.onset_rate, config) * 60.0 / tempos[index][1],
            level=range_place("loudness", segment.loudness),
            height=float(height), contour=_contour(plan, segment),
        ))
    return sections


def beat_bounds(plan: Plan, config: IntentConfig) -> tuple[list[float], list[tuple[int, float]]]:
    """Where the music's sections start and end (s), and each one's (whole beats, BPM).

    The tempo runs as a curve: each segment at its glued target, scaled a little so that the track holds whole
    beats. Each boundary between panels moves to the nearest beat of that curve (at most half a beat away), so a
    short panel neither rushes nor drags the tempo to fit whole beats into its exact length; every section keeps
    at least one beat (a track too short for that plays faster).
    """
    segments = plan.segments
    logs = np.log([s.tempo for s in segments])
    page = np.average(logs, weights=[s.duration for s in segments])
    bps = np.exp((1 - config.tempo_glue) * logs + config.tempo_glue * page) / 60.0  # beats per second
    durations = np.array([s.duration for s in segments])
    total = max(len(segments), round(float(bps @ durations)))
    bps *= total / float(bps @ durations)
    at = np.concatenate([[0.0], np.cumsum(bps * durations)])  # beats at the plan's boundaries
    beats = [0]
    for k in range(1, len(segments)):  # the nearest beat, one beat after the last, leaving one per later section
        beats.append(int(min(max(round(at[k]), beats[-1] + 1), total - (len(segments) - k))))
    beats.append(total)
    edges = np.concatenate([[0.0], np.cumsum(durations)])
    times = [float(np.interp(b, at, edges)) for b in beats]
    times[-1] = plan.seconds
    spans = [(b1 - b0, 60.0 * (b1 - b0) / (t1 - t0)) for b0, b1, t0, t1 in zip(beats, beats[1:], times, times[1:])]
    return times, spans


def _music_onsets(onset_rate: float, config: IntentConfig) -> float:
    """The onset-rate target carried from its listener range onto the music's (both log-even)."""
    low, high = np.log(config.onsets)
    place = range_place("onset_rate", onset_rate, log=True) ** config.onsets_curve
    return float(np.exp(low + place * (high - low)))


def _contour(plan: Plan, segment: SegmentPlan) -> float:
    """The panel's height on the page (top 1, bottom 0); the page's middle in page mode."""
    if segment.panel < 0 or segment.panel >= len(plan.layout):
        return 0.5
    return float(np.clip(1.0 - plan.layout[segment.panel][1], 0.0, 1.0))
