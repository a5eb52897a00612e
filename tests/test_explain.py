"""Why a page sounds as it does: one sentence from the page's features, the plan and the cue sheet."""

from __future__ import annotations

from types import SimpleNamespace

from bd2music.explain import explain, music_words, page_words
from bd2music.vision.description import RULES

NEUTRAL = {"brightness": 0.7, "colourfulness_norm": 0.1, "warmth": 0.5, "edge_density": 0.5, "panel_count": 0.3,
           "text_coverage": 0.1}


def features(is_bw: bool = False, **values: float) -> SimpleNamespace:
    return SimpleNamespace(normalised_scalars=lambda: NEUTRAL | values, is_bw=is_bw)


def cue(start: float, end: float, label: str, layer: str = "scene", trigger: str = "plan: panel 1") -> dict:
    return {"start": start, "end": end, "layer": layer, "label": label, "trigger": trigger}


def result(page: SimpleNamespace, cues: list[dict], tempos=(130.0,), onsets=(5.0,), score=None) -> SimpleNamespace:
    segments = [SimpleNamespace(tempo=t, onset_rate=o) for t, o in zip(tempos, onsets)]
    analysis = SimpleNamespace(features=page, balloons=[object()] * 3)
    return SimpleNamespace(analysis=analysis, segments=segments, cues=cues, score=score)


def score(key: str = "D minor", source: str = "procedural", melodies=("cello",)) -> SimpleNamespace:
    return SimpleNamespace(key=key, source=source, sections=[{"instruments": {"melody": m}} for m in melodies])


def test_a_dark_busy_page_in_minor_with_rain_and_footsteps() -> None:
    dark = features(brightness=RULES["dark"] - 0.1, edge_density=RULES["busy"] + 0.1)
    cues = [cue(0, 6, "rain", trigger="plan: page (bed)"), cue(0, 0.4, "footsteps"), cue(1, 1.4, "footsteps"),
            cue(2, 2.3, "thunder"), cue(3, 3.2, "dog"), cue(0, 6, "cello", layer="music")]
    sentence = explain(result(dark, cues, score=score()))
    assert sentence.startswith("Dark, busy page: **D minor**, a fast pulse (130 BPM) and dense notes")
    assert "(a new score, melody on cello)" in sentence
    assert "over rain, footsteps and thunder" in sentence and "dog" not in sentence  # the three heard longest
    assert "cello" not in sentence.split("; ", 1)[1]  # instruments are the music's, not the scene's


def test_a_scene_names_its_lettered_effects_and_its_pulse_range() -> None:
    cues = [cue(0, 4, "park birds"), cue(1, 1.5, "gunfire", trigger="lettering: BANG"),
            cue(0, 4, "crowd", trigger="lettering: dialogue")]
    sentence = explain(result(features(), cues, tempos=(82.0, 139.0), onsets=(0.4, 0.5)))
    assert "a slow to fast pulse (82-139 BPM) and sparse sound events" in sentence
    assert "with park birds" in sentence and "the lettered BANG as gunfire" in sentence
    assert "voices for the talk (crowd)" in sentence and sentence.endswith(".")


def test_page_words() -> None:
    assert page_words(features(), 3) == "Neutral page"
    assert page_words(features(True, brightness=0.9), 0) == "Bright, black-and-white page without speech"
    colourful = features(colourfulness_norm=0.5, warmth=0.7, edge_density=0.2)
    assert page_words(colourful, RULES["chatty"] + 1) == "Colourful, warm, calm page with lots of talk"


def test_music_words_name_the_piece_and_at_most_three_melodies() -> None:
    piece = score("G major", "piece: Old Mother Goose (ryans)", ("flute", "flute", "oboe", "french_horn", "harp"))
    assert music_words(piece) == "Old Mother Goose, melody on flute, then oboe, then french horn, and more"


def test_music_words_name_the_found_sound_that_joins() -> None:
    piece = score("G major", "procedural", ("flute", "oboe"))
    piece.sections[1]["instruments"]["found"] = "found: cow (134)"
    assert music_words(piece) == "a new score, melody on flute, then oboe; cow from the scene joins in"
