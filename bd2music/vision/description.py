"""A short scene/mood sentence for a page or a panel, from its visual features, for text-to-audio embeddings.

The mapper's semantic loss compares the audio embedding of what it generates with the text embedding of this
sentence, so the words are the ones the sound labels and categories use (``sounds/manifest.csv``: ambience,
night, wind, rumble, suspense, playful, calm, impact, crash, footsteps, drum, crowd, people talking...).
Deterministic rules on ``PageFeatures.normalised_scalars()`` (each in ~[0, 1]; thresholds in :data:`RULES`):

* light: brightness below ``dark`` -> "dark, ominous night ambience with a low rumble" (+ "and suspense" when
  contrast is above ``stark``); above ``bright`` -> "bright, cheerful, playful music" when colourfulness is above
  ``colourful``, else "bright, calm daytime ambience"; otherwise "quiet, neutral mood".
* colour (colour pages only): colourfulness above ``colourful`` (and not already bright) -> "colourful music";
  warmth above ``warm`` -> "warm", below ``cool`` -> "cold wind".
* pace: edge density above ``busy``, or above ``lively`` with many panels (panel_count above ``many_panels``) ->
  "busy action with impacts, crashes, footsteps and a fast drum beat"; below ``still`` -> "calm, slow ambience";
  else "steady movement".
* speech: balloons (the page's own count unless ``balloon_count`` is given) above ``chatty`` or text coverage
  above ``wordy`` -> "people talking, crowd chatter"; at least one balloon -> "a few voices talking"; none ->
  "no speech".

The parts are joined with "; " into one sentence, e.g. "Quiet, neutral mood; steady movement; a few voices
talking." The thresholds sit near the terciles of the training pages (shared/data/comics).

Per panel (:func:`describe_panel`): the same rules on :func:`panel_view`, the page seen from one panel.
"""

from __future__ import annotations

from dataclasses import replace

from bd2music.errors import InputError
from bd2music.vision.features import PageFeatures

RULES: dict[str, float] = {  # thresholds on normalised scalars (see PageFeatures.normalised_scalars)
    "dark": 0.55,  # brightness (about the darkest tenth of the training pages)
    "bright": 0.82,
    "stark": 0.75,  # contrast (2 x RMS luma contrast)
    "colourful": 0.3,  # colourfulness_norm
    "warm": 0.58,  # warmth (0.5 + mean (R - B) / 255)
    "cool": 0.45,
    "busy": 0.65,  # edge_density (4 x share of edge pixels; above the training pages' median)
    "lively": 0.55,
    "still": 0.4,
    "many_panels": 0.5,  # panel_count / 12
    "chatty": 8,  # balloons
    "wordy": 0.25,  # text_coverage (2 x share of the page under balloons)
}


def panel_view(features: PageFeatures, panel_index: int) -> PageFeatures:
    """The page's features seen from one panel: page layout, the panel's colour stats, balloons and text coverage."""
    if not 0 <= panel_index < len(features.panels):
        raise InputError(f"panel {panel_index} does not exist: the page has {len(features.panels)} panels")
    panel = features.panels[panel_index]
    layout = replace(features.layout, balloon_count=panel.balloon_count, text_coverage=panel.text_coverage)
    return replace(features, layout=layout, colour=panel.colour)


def _light(v: dict[str, float]) -> str:
    if v["brightness"] < RULES["dark"]:
        suspense = " and suspense" if v["contrast"] > RULES["stark"] else ""
        return f"dark, ominous night ambience with a low rumble{suspense}"
    if v["brightness"] > RULES["bright"]:
        if v["colourfulness_norm"] > RULES["colourful"]:
            return "bright, cheerful, playful music"
        return "bright, calm daytime ambience"
    return "quiet, neutral mood"


def _colour(v: dict[str, float], is_bw: bool) -> list[str]:
    if is_bw:
        return []
    colourful = v["colourfulness_norm"] > RULES["colourful"] and v["brightness"] <= RULES["bright"]
    words = ["colourful music"] if colourful else []
    if v["warmth"] > RULES["warm"]:
        words.append("warm")
    elif v["warmth"] < RULES["cool"]:
        words.append("cold wind")
    return words


def _pace(v: dict[str, float]) -> str:
    edges = v["edge_density"]
    if edges > RULES["busy"] or (v["panel_count"] > RULES["many_panels"] and edges > RULES["lively"]):
        return "busy action with impacts, crashes, footsteps and a fast drum beat"
    return "calm, slow ambience" if edges < RULES["still"] else "steady movement"


def _speech(balloons: int, text_coverage: float) -> str:
    if balloons > RULES["chatty"] or text_coverage > RULES["wordy"]:
        return "people talking, crowd chatter"
    return "a few voices talking" if balloons > 0 else "no speech"


def describe_page(features: PageFeatures, balloon_count: int | None = None) -> str:
    """One sentence of scene/mood/sound words for a page (``balloon_count`` overrides the detected count)."""
    values = features.normalised_scalars()
    balloons = features.layout.balloon_count if balloon_count is None else balloon_count
    parts = [_light(values), *_colour(values, features.is_bw), _pace(values), _speech(balloons, values["text_coverage"])]
    sentence = "; ".join(parts)
    return sentence[0].upper() + sentence[1:] + "."


def describe_panel(features: PageFeatures, panel_index: int) -> str:
    """:func:`describe_page` of one panel (its colour, balloons and text, the page's layout)."""
    return describe_page(panel_view(features, panel_index))
