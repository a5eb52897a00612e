"""Words -> sound: a lettered sound effect becomes a scene cue triggered by its word; shouting raises the loudness
target, dialogue brings voices, and the words join the semantic target."""

from __future__ import annotations

import copy
import os

import pytest
import torch
from PIL import Image, ImageDraw, ImageFont

from bd2music.io import load_page
from bd2music.pipeline import Pipeline
from bd2music.plan import LISTENER_RANGES
from bd2music.text_cues import DIALOGUE, TextCueConfig, apply_lettering, shouting
from bd2music.vision.analysis import analyze_page
from bd2music.vision.boxes import Balloon


@pytest.fixture(scope="module")
def pipe(one_torch_thread) -> Pipeline:
    return Pipeline.from_pretrained(os.environ.get("BD2MUSIC_WEIGHTS"), device="cpu")


def two_panels(top: str = "", bottom: str = "") -> Image.Image:
    """A page of two framed panels, lettered in large type."""
    page = Image.new("RGB", (900, 1200), "white")
    draw = ImageDraw.Draw(page)
    for y0 in (40, 620):
        draw.rectangle((40, y0, 860, y0 + 540), outline="black", width=8)
        draw.line((120, y0 + 450, 780, y0 + 380), fill="black", width=5)  # some drawing in each panel
    font = ImageFont.load_default(size=110)
    draw.text((300, 200), top, fill="black", font=font)
    draw.text((300, 800), bottom, fill="black", font=font)
    return page


def test_a_page_lettered_boom_gets_a_cue_triggered_by_that_word(pipe: Pipeline) -> None:
    page = two_panels("BOOM!")
    result = pipe(page, seconds=6, seed=3, per_panel=True, sound="scene")
    assert any(b.text == "BOOM!" and b.kind == "sfx" for b in result.analysis.balloons)
    segment = next(s for s in result.plan.segments if s.effects)
    assert [e.word for e in segment.effects] == ["BOOM"] and segment.effects[0].label == "explosion"
    cues = [c for c in result.cues if c["trigger"] == "lettering: BOOM"]
    assert len(cues) == 1 and segment.start - 0.5 <= cues[0]["start"] < segment.end
    labels = {clip.id: clip.label for clip in pipe.backend("scene").bank.clips}
    assert labels[cues[0]["clip"]] == "explosion", cues[0]["clip"]
    assert result.to_dict()["plan"]["segments"][segment.panel]["effects"][0]["word"] == "BOOM"
    silent = pipe(page, seconds=6, seed=3, per_panel=True, sound="scene", text=False)
    assert not any(c["trigger"].startswith("lettering") for c in silent.cues) and not silent.analysis.lettering


def test_shouting_dialogue_and_words_shape_the_plan(pipe: Pipeline) -> None:
    image = two_panels()
    analysis = analyze_page(load_page(image, name="plain"), pipe.detector)
    assert len(analysis.panels) == 2
    plan = pipe.planner(analysis, image, 6.0, 0, per_panel=True)
    before = copy.deepcopy(plan)
    balloons = [
        Balloon((100, 100, 400, 200), 0, 0.9, "WATCH OUT! RUN!", "speech"),
        Balloon((100, 700, 700, 800), 1, 0.9, "well, I was telling you about my old friend who lived by the "
                                              "sea, and how we talked all night long.", "speech"),
    ]
    config = TextCueConfig()
    apply_lettering(plan, balloons, pipe.components["audio_text"], config)
    shout, talk = plan.segments
    expected = min(before.segments[0].loudness + config.shout_db, LISTENER_RANGES["loudness"][1])
    assert shout.loudness == pytest.approx(expected) and talk.loudness == pytest.approx(before.segments[1].loudness)
    assert [e.word for e in talk.effects] == [DIALOGUE] and not shout.effects
    assert talk.effects[0].trigger == "lettering: dialogue" and talk.effects[0].label == "crowd"
    for old, new, words in zip(before.segments, plan.segments, [b.text for b in balloons]):
        assert new.lettering == words and words in new.text
        assert torch.nn.functional.cosine_similarity(old.embedding, new.embedding, dim=0) < 0.9999
        assert new.embedding.norm().item() == pytest.approx(1.0, abs=1e-5)
    layer, = pipe.backend("scene").render(plan, seed=0)
    voices = [c for c in layer.cues if c.trigger == "lettering: dialogue"]
    assert len(voices) == 1 and voices[0].end - voices[0].start > 0.9 * talk.duration


def test_shouting_is_capitals_on_a_mixed_case_page_or_exclamations() -> None:
    assert shouting("ATTACK!!!", lower_case_page=True) == 1.0
    assert shouting("HOW YOU FEELING? NOT BAD.", lower_case_page=False) == 0.0  # a page lettered in capitals
    assert shouting("HOW YOU FEELING? NOT BAD.", lower_case_page=True) == 1.0
    assert shouting("Hello there. How are you? Great day!", lower_case_page=True) == pytest.approx(1 / 3)
