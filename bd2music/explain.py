"""Why a page sounds as it does, in one plain sentence for a visitor: read from a pipeline Result's page
features, plan and cue sheet, e.g. "Dark, busy page: **D minor**, a fast pulse (128 BPM) and dense notes
(a new score, melody on cello); over rain, footsteps and thunder; the lettered BANG as gunfire."

* the page: its light, colour and pace, in the words and thresholds the plan's scene description uses
  (``bd2music.vision.description.RULES``), and how much it talks;
* the music (when a score plays): its key, then where it comes from and who plays the melody, panel by panel,
  and the scene's found sound that joins the band;
* the pulse: the plan's tempo and onset-rate targets placed in their listener ranges (slow / moderate / fast,
  sparse / steady / dense), as the backends follow them;
* the scene: the labels of the bank clips heard longest for the plan, then each lettered sound effect and the
  clip it became.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING


from bd2music.plan import range_place
from bd2music.text_cues import DIALOGUE
from bd2music.vision.description import RULES

if TYPE_CHECKING:
    from bd2music.music.score import Score
    from bd2music.pipeline import Result
    from bd2music.vision.features import PageFeatures

SCENE_LABELS = 3  # the scene's clips named in the sentence: the ones heard longest
MELODIES = 3  # the melody's instruments named, in the order they play it


def explain(result: Result) -> str:
    """One sentence (Markdown) on why ``result``'s page sounds like this."""
    music = result.score
    parts = [_pulse(result, "notes" if music is not None else "sound events")]
    if music is not None:
        parts[0] = f"**{music.key}**, {parts[0]} ({music_words(music)})"
    sounds = _scene(result.cues)
    if sounds:
        parts.append(f"{'over' if music is not None else 'with'} {sounds}")
    effects = _effects(result.cues)
    if effects:
        parts.append(effects)
    if not music and not sounds and any(c["layer"] == "neural" for c in result.cues):
        parts.append("the learned decoder's own sound")
    page = page_words(result.analysis.features, len(result.analysis.balloons))
    return f"{page}: {'; '.join(parts)}."


def page_words(features: PageFeatures, balloons: int) -> str:
    """``"Dark, busy, black-and-white page with lots of talk"``: light, colour, pace and speech."""
    values = features.normalised_scalars()
    words = []
    if values["brightness"] < RULES["dark"]:
        words.append("dark")
    elif values["brightness"] > RULES["bright"]:
        words.append("bright")
    if features.is_bw:
        words.append("black-and-white")
    else:
        if values["colourfulness_norm"] > RULES["colourful"]:
            words.append("colourful")
        if values["warmth"] > RULES["warm"]:
            words.append("warm")
        elif values["warmth"] < RULES["cool"]:
            words.append("cool")
    edges = values["edge_density"]
    if edges > RULES["busy"] or (values["panel_count"] > RULES["many_panels"] and edges > RULES["lively"]):
        words.append("busy")
    elif edges < RULES["still"]:
        words.append("calm")
    text = ", ".join(words or ["neutral"]) + " page"
    if balloons > RULES["chatty"] or values["text_coverage"] > RULES["wordy"]:
        text += " with lots of talk"
    elif balloons == 0:
        text += " without speech"
    return text[0].upper() + text[1:]


def music_words(score: Score) -> str:
    """Where the score comes from and who plays the melody: ``"a new score, melody on flute, then cello"``."""
    melodies = list(dict.fromkeys(s["instruments"]["melody"].replace("_", " ") for s in score.sections))
    source = score.source.removeprefix("piece: ").split(" (")[0] if score.source != "procedural" else "a new score"
    more = ", and more" if len(melodies) > MELODIES else ""
    found = list(dict.fromkeys(s["instruments"]["found"] for s in score.sections if s["instruments"].get("found")))
    joined = f"; {_listed([f.removeprefix('found: ').split(' (')[0] for f in found])} from the scene joins in" \
        if found else ""
    return f"{source}, melody on {', then '.join(melodies[:MELODIES])}{more}{joined}"


def _grade(name: str, values: list[float], words: tuple[str, str, str]) -> str:
    """The word (low, middle, high third of the range) of the segments' values: ``"fast"``, ``"slow to fast"``."""
    graded = [words[min(2, int(3 * range_place(name, v, log=True)))] for v in values]
    low, high = min(graded, key=words.index), max(graded, key=words.index)
    return low if low == high else f"{low} to {high}"


def _pulse(result: Result, events: str) -> str:
    """``"a fast pulse (128 BPM) and dense notes"``, from the plan's tempo and onset-rate targets."""
    segments = result.segments
    tempos = [s.tempo for s in segments]
    speed = _grade("tempo", tempos, ("slow", "moderate", "fast"))
    density = _grade("onset_rate", [s.onset_rate for s in segments], ("sparse", "steady", "dense"))
    bpm = f"{min(tempos):.0f}" if round(min(tempos)) == round(max(tempos)) else f"{min(tempos):.0f}-{max(tempos):.0f}"
    return f"a {speed} pulse ({bpm} BPM) and {density} {events}"


def _scene(cues: list[dict]) -> str:
    """The labels of the scene clips the plan chose, the longest heard first: ``"rain, footsteps and thunder"``."""
    heard: dict[str, float] = defaultdict(float)
    for cue in cues:
        if cue["layer"] == "scene" and cue["trigger"].startswith("plan") and cue.get("label"):
            heard[cue["label"]] += cue["end"] - cue["start"]
    return _listed(sorted(heard, key=heard.get, reverse=True)[:SCENE_LABELS])


def _effects(cues: list[dict]) -> str:
    """``"the lettered BANG as gunfire"``; a talkative panel's voices as ``"voices for the talk (crowd)"``."""
    chosen = dict.fromkeys((c["trigger"].removeprefix("lettering: "), c.get("label", ""))
                           for c in cues if c["trigger"].startswith("lettering: "))
    words = [f"{word} as {label}" for word, label in chosen if word != DIALOGUE and label]
    talk = [label for word, label in chosen if word == DIALOGUE and label]
    parts = [f"the lettered {_listed(words)}"] if words else []
    if talk:
        parts.append(f"voices for the talk ({_listed(list(dict.fromkeys(talk)))})")
    return ", ".join(parts)


def _listed(items: list[str]) -> str:
    """``"a, b and c"``."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1] if items else ""
