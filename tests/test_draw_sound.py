"""Drawing -> sound, measured on the audio: higher strokes sound higher (pYIN), thicker ones louder (RMS), warmer
colours brighter (spectral centroid), with the music sampler and the sound bank; the plan's notes and the
CLI (bad files reported and skipped)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from bd2music.__main__ import main
from bd2music.data.drawings import line_drawing
from bd2music.draw.pipeline import DrawPipeline
from bd2music.draw.plan import DrawPlanConfig, snap
from bd2music.errors import InputError
from bd2music.evaluation.draw import drawings, heard, order

SECONDS = 2.0


@pytest.fixture(scope="module")
def pipe() -> DrawPipeline:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipeline = DrawPipeline.from_pretrained()
        assert pipeline.usable_sounds() == (["sampler", "bank"], [])
    return pipeline


@pytest.mark.parametrize("sound", ["sampler", "bank"])
@pytest.mark.parametrize("series", ["height", "thickness", "colour"])
def test_what_changes_in_the_drawing_changes_in_the_sound(pipe: DrawPipeline, series: str, sound: str) -> None:
    """Height -> pYIN pitch, thickness -> RMS, blue .. red -> spectral centroid, ordered with rho >= 0.8."""
    measured = []
    for drawing in drawings(series):
        result = pipe(drawing.image, sound, "learned", SECONDS)
        measured.append(heard(result.audio, result.sample_rate, SECONDS))
    assert order(series, measured) >= 0.8, measured


def test_strokes_left_to_right_are_events_in_time_with_their_cues(pipe: DrawPipeline) -> None:
    from bd2music.data.drawings import paint

    size = (600, 300)
    left = line_drawing(0.8, 0.02, (1, 0, 0), size, span=(0.05, 0.3)).strokes[0]
    right = line_drawing(0.2, 0.04, (0, 0, 1), size, span=(0.6, 0.95)).strokes[0]
    result = pipe(paint(np.ones((300, 600, 3), np.float32), [right, left]), "sampler", "classical", 4.0)
    first, second = result.plan.events
    assert first.start == pytest.approx(0.2, abs=0.05) and second.start == pytest.approx(2.4, abs=0.05)
    assert first.notes[0][2] > second.notes[0][2] and first.velocity < second.velocity
    record = result.to_dict()
    assert [c["trigger"].split(" (")[0] for c in record["cues"]] == ["stroke 1", "stroke 2"]
    assert all(c["license"] and c["author"] for c in record["cues"])
    assert record["settings"]["reading"] == "classical" and len(record["reading"]["strokes"]) == 2
    assert result.audio.shape[0] == 2 and result.mastered.true_peak_db <= -1.0 + 1e-3


def test_a_wave_is_a_melody_snapped_to_the_scale(pipe: DrawPipeline) -> None:
    from bd2music.data.drawings import make_stroke, paint

    x = np.arange(40, 560, dtype=float)
    points = np.stack([x, 150 - 100 * np.sin(2 * np.pi * (x - 40) / 520)], axis=1)
    stroke = make_stroke(points, np.full(len(x), 4.0), (0, 0, 0), "wave", (600, 300))
    plan = pipe(paint(np.ones((300, 600, 3), np.float32), [stroke]), "sampler", "classical", 4.0).plan
    pitches = [p for _, _, p in plan.events[0].notes]
    assert len(pitches) > 4 and max(pitches) - min(pitches) >= 12  # up and down over about two octaves
    assert {p % 12 for p in pitches} <= set(DrawPlanConfig().scale)
    assert snap(61.2, (0, 2, 4, 7, 9)) == 62 and snap(61.2, ()) == 61


def test_bad_settings_and_blank_drawings_are_one_line(pipe: DrawPipeline) -> None:
    from PIL import Image

    with pytest.raises(InputError, match="the drawing is blank"):
        pipe(Image.new("RGB", (400, 300), "white"))
    with pytest.raises(InputError, match="seconds must be between 1 and 30"):
        pipe(line_drawing(0.5, 0.02, (0, 0, 0)).image, seconds=0.5)
    with pytest.raises(InputError, match="unknown sound 'piano', expected one of sampler, bank"):
        pipe(line_drawing(0.5, 0.02, (0, 0, 0)).image, sound="piano")


def test_the_draw_command_writes_sounds_and_skips_bad_files(tmp_path: Path, capsys) -> None:
    line_drawing(0.6, 0.02, (1, 0.5, 0)).image.save(tmp_path / "line.png")
    (tmp_path / "notes.png").write_bytes(b"not an image")
    from PIL import Image

    Image.new("RGB", (300, 200), "white").save(tmp_path / "blank.png")
    out = tmp_path / "out"
    assert main(["draw", str(tmp_path), "--out", str(out), "--seconds", "2"]) == 1
    err = capsys.readouterr().err
    assert "skipped: blank.png: the drawing is blank" in err and "skipped: notes.png: not a readable image" in err
    record = json.loads((out / "line.json").read_text())
    assert record["wav"] == "line.wav" and record["midi"] == "line.mid" and (out / "line.wav").stat().st_size > 1000
    assert record["plan"]["events"] and record["cues"][0]["clip"].startswith("instrument: ")
    assert main(["draw", str(tmp_path / "line.png"), "--out", str(out), "--seconds", "99"]) == 2
