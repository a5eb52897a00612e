"""Reading a drawing: the generator's labels, the strokes found, the classical and the learned readings (the
shipped heads at least as close to the labels as the classical reading on held-out generated drawings), and a
blank canvas refused in one line."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from PIL import Image

from bd2music.data.drawings import DrawingConfig, line_drawing, paint, random_drawing
from bd2music.draw import readings
from bd2music.draw.measure import FEATURES, classical, features, measure
from bd2music.draw.reading import DrawingReader
from bd2music.draw.strokes import BLANK, find_strokes
from bd2music.errors import InputError
from bd2music.io import load_page
from bd2music.models.draw_reader import StrokeReader, StrokeReaderConfig

RAINBOW = [(0, 0, 1), (0, 1, 1), (0, 1, 0), (1, 1, 0), (1, 0, 0)]  # blue, cyan, green, yellow, red: dark -> bright


def test_the_definitions_order_colours_widths_and_ink() -> None:
    assert np.all(np.diff([readings.brightness(c) for c in RAINBOW]) > 0)
    assert readings.brightness((0, 0, 0)) == readings.NEUTRAL_BRIGHTNESS == readings.brightness((0.5, 0.5, 0.5))
    assert readings.brightness((1, 0, 1)) == pytest.approx(0.5)  # magenta: half way back to red
    assert readings.loudness(0.004, 3e-4) == 0 and readings.loudness(0.08, 0.05) == 1
    assert np.all(np.diff([readings.loudness(w, 0.01) for w in (0.005, 0.01, 0.02, 0.04)]) > 0)


def test_drawings_are_a_function_of_seed_and_index() -> None:
    first, again, other = random_drawing(3, 5), random_drawing(3, 5), random_drawing(4, 5)
    assert np.array_equal(np.asarray(first.image), np.asarray(again.image))
    assert not np.array_equal(np.asarray(first.image), np.asarray(other.image))
    for stroke in first.strokes:
        assert 0 <= stroke.height <= 1 and 0 <= stroke.loudness <= 1 and 0 <= stroke.brightness <= 1
        assert stroke.coverage.shape == first.image.size[::-1] and stroke.ink > 0


def test_a_line_is_labelled_as_drawn() -> None:
    drawing = line_drawing(0.7, 0.03, (1, 0, 0), size=(500, 300))
    [stroke] = drawing.strokes
    assert stroke.height == pytest.approx(0.7, abs=1e-3) and stroke.width == pytest.approx(0.03, rel=1e-3)
    assert stroke.brightness == 1.0 and stroke.ink == pytest.approx(0.03 * 300 * 0.8 * 500 / (500 * 300), rel=0.1)


@pytest.mark.parametrize("image", [Image.new("RGB", (300, 200), "white"), Image.new("RGB", (300, 200), (240, 230, 200)),
                                   Image.new("RGBA", (300, 200), (0, 0, 0, 0))])
def test_a_blank_canvas_is_one_clear_line(image: Image.Image) -> None:
    """White, tinted paper, and a transparent canvas (as the sketchpad gives before anything is drawn)."""
    with pytest.raises(InputError, match="^" + re.escape(BLANK) + "$"):
        find_strokes(load_page(image).image)


def test_crossing_strokes_of_two_colours_are_two_strokes_left_to_right() -> None:
    size = (400, 300)
    red = line_drawing(0.3, 0.03, (1, 0, 0), size, span=(0.3, 0.9)).strokes[0]
    points = np.stack([np.full(200, 120.0), np.linspace(30, 270, 200)], axis=1)  # a vertical blue stroke
    from bd2music.data.drawings import make_stroke

    blue = make_stroke(points, np.full(200, 5.0), (0, 0, 1), "line", size)
    strokes = find_strokes(paint(np.ones((300, 400, 3), np.float32), [red, blue]))
    assert len(strokes) == 2
    assert [s.to_dict()["colour"] for s in strokes] == ["#0000ff", "#ff0000"]  # blue starts further left


def test_the_classical_reading_orders_heights_widths_and_colours() -> None:
    def read(drawing):
        [stroke] = find_strokes(drawing.image)
        return classical(measure(stroke))

    heights = [read(line_drawing(h, 0.02, (0, 0, 0)))["height"] for h in (0.1, 0.3, 0.5, 0.7, 0.9)]
    assert np.allclose(heights, (0.1, 0.3, 0.5, 0.7, 0.9), atol=0.01)
    loud = [read(line_drawing(0.5, w, (0, 0, 0)))["loudness"] for w in (0.005, 0.01, 0.02, 0.04, 0.07)]
    assert np.all(np.diff(loud) > 0)
    bright = [read(line_drawing(0.5, 0.02, c))["brightness"] for c in RAINBOW]
    assert np.allclose(bright, (0, 0.25, 0.5, 0.75, 1), atol=0.03)


def test_an_untrained_reader_is_the_classical_reading_and_round_trips(tmp_path) -> None:
    model = StrokeReader(StrokeReaderConfig(inputs=dict(FEATURES), hidden=8))
    drawing = random_drawing(0, 1)
    measured = [measure(s) for s in find_strokes(drawing.image)]
    plain = [classical(m) for m in measured]
    vectors = [features(m, p) for m, p in zip(measured, plain)]
    batch = {name: torch.from_numpy(np.stack([v[name] for v in vectors])) for name in readings.READINGS}
    read = model.read(batch)
    for name in readings.READINGS:
        assert np.allclose(read[name].numpy(), [p[name] for p in plain], atol=1e-6)
    model.heads["height"].net[-1].bias.data.fill_(0.1)
    model.save_pretrained(tmp_path)
    again = StrokeReader.from_pretrained(tmp_path)
    assert torch.allclose(again.read(batch)["height"], model.read(batch)["height"])


def test_the_shipped_reader_matches_the_classical_one_on_held_out_drawings() -> None:
    """Held-out series (seed 1, as the training command holds out), drawings the heads never saw."""
    from bd2music.training.draw import DrawTrainConfig, labelled_strokes

    reader = DrawingReader.from_pretrained()
    assert reader.methods == ("learned", "classical")
    config = DrawTrainConfig()
    errors = {method: {name: [] for name in readings.READINGS} for method in reader.methods}
    for index in range(3000, 3040):  # past the held-out drawings the card's metrics used
        drawing = random_drawing(config.seed + 1, index, DrawingConfig())
        pairs = labelled_strokes(drawing, config)
        for method in reader.methods:
            reading = reader(drawing.image, method)
            by_box = {s.stroke.box: s for s in reading.strokes}
            for stroke, drawn in pairs:
                for name in readings.READINGS:
                    label = getattr(drawing.strokes[drawn], name)
                    errors[method][name].append(abs(getattr(by_box[stroke.box], name) - label))
    assert len(errors["learned"]["height"]) > 60
    for name in readings.READINGS:
        learned, baseline = np.mean(errors["learned"][name]), np.mean(errors["classical"][name])
        assert learned <= baseline * 1.05, (name, learned, baseline)
