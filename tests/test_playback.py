"""The page map (panel boxes with their segments' times) and the figures' time axes the browser's playhead uses."""

from __future__ import annotations

import base64
import io
import json
import re
from html.parser import HTMLParser

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure
from PIL import Image

from bd2music.audio.mel import MEL
from bd2music.audio.plots import plot_soundtrack
from bd2music.playback import page_map, time_axis
from bd2music.plan import WHOLE_PAGE, SegmentPlan
from bd2music.vision.analysis import PageAnalysis
from bd2music.vision.boxes import Panel

WIDTH, HEIGHT = 400, 600
PANELS = [  # reading order: a wide top panel, then a panel with a smaller one in its top-left corner
    Panel((10, 10, 390, 200), 0, 1.0),
    Panel((10, 210, 390, 590), 1, 1.0),
    Panel((12, 212, 150, 300), 2, 1.0),
]


class Elements(HTMLParser):
    """Every start tag's attributes, in document order."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def panels(self) -> list[dict]:
        return [attrs for _, attrs in self.tags if "bd-panel" in attrs.get("class", "")]


def analysis(panels: list[Panel] = PANELS) -> PageAnalysis:
    return PageAnalysis("page.png", WIDTH, HEIGHT, panels, [], features=None, detector="yolo")


def segment(panel: int, start: float, end: float) -> SegmentPlan:
    return SegmentPlan(panel, start, end, 120.0, 2.0, 1000.0, -20.0, 0.1, "", torch.zeros(1), None)


@pytest.fixture(scope="module")
def image() -> Image.Image:
    return Image.new("RGB", (WIDTH, HEIGHT), "white")


def test_each_panel_carries_its_segment_and_its_place(image: Image.Image) -> None:
    segments = [segment(0, 0.0, 1.5), segment(1, 1.5, 4.0), segment(2, 4.0, 6.0)]
    text = page_map(image, analysis(), segments, 6.0)
    boxes = {int(b["data-panel"]): b for b in Elements(text).panels()}
    assert {n: (float(b["data-start"]), float(b["data-end"])) for n, b in boxes.items()} == {
        1: (0.0, 1.5), 2: (1.5, 4.0), 3: (4.0, 6.0)}
    place = dict(re.findall(r"(left|top|width|height):([\d.]+)%", boxes[3]["style"]))
    assert {k: float(v) for k, v in place.items()} == pytest.approx(
        {"left": 100 * 12 / WIDTH, "top": 100 * 212 / HEIGHT, "width": 100 * 138 / WIDTH, "height": 100 * 88 / HEIGHT},
        abs=1e-3)
    order = [int(b["data-panel"]) for b in Elements(text).panels()]
    assert order.index(3) > order.index(2), "a panel inside another must lie above it, to take the click"
    badges = [attrs.get("style", "") for tag, attrs in Elements(text).tags if attrs.get("class") == "bd-number"]
    assert sum("margin-left" in style for style in badges) == 1, "the nested panel's number sits beside its host's"
    root = Elements(text).tags[0][1]
    assert float(root["data-duration"]) == 6.0 and json.loads(root["data-plots"]) == {}
    assert all(tag == "button" for tag, attrs in Elements(text).tags if "bd-panel" in attrs.get("class", ""))


def test_page_mode_gives_every_panel_the_whole_track_and_says_so(image: Image.Image) -> None:
    text = page_map(image, analysis(), [segment(WHOLE_PAGE, 0.0, 8.0)], 8.0)
    assert {(b["data-start"], b["data-end"]) for b in Elements(text).panels()} == {("0.000", "8.000")}
    assert len(Elements(text).panels()) == 3 and "One segment for the whole page" in text


def test_an_analysis_alone_has_numbered_boxes_without_times(image: Image.Image) -> None:
    text = page_map(image, analysis())
    boxes = Elements(text).panels()
    assert len(boxes) == 3 and not any("data-start" in b for b in boxes) and "data-plots" not in text
    assert sorted(re.findall(r'class="bd-number"[^>]*>(\d+)<', text)) == ["1", "2", "3"]
    source = re.search(r'src="data:image/jpeg;base64,([^"]+)"', text).group(1)
    assert Image.open(io.BytesIO(base64.b64decode(source))).size == (WIDTH, HEIGHT)
    assert "No panel found" in page_map(image, analysis([]))


def test_time_axis_places_a_time_where_the_figure_draws_it() -> None:
    """The browser puts the playhead at left + share x (right - left) of the image's width: check that on a
    red line the figure itself draws at 2.5 s."""
    frames = round(4.6 * MEL.sample_rate / MEL.hop_length)
    mel = np.random.default_rng(0).normal(-5.0, 1.0, (MEL.n_mels, frames)).astype(np.float32)
    figure = plot_soundtrack(mel, [segment(0, 0.0, 2.0), segment(1, 2.0, 4.6)])
    left, right, top, bottom, first, last = time_axis(figure)
    assert 0 < left < right < 1 and 0 < top < bottom < 1 and first <= 0.0 and last == pytest.approx(4.6, abs=0.05)
    figure.axes[0].axvline(2.5, color=(1, 0, 0), linewidth=2)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")  # as Gradio encodes a gr.Plot: no tight bounding box
    pixels = np.asarray(Image.open(buffer).convert("RGB")).astype(int)
    height, width = pixels.shape[:2]
    middle = pixels[round(height * (top + bottom) / 2)]
    red = np.flatnonzero((middle[:, 0] > 200) & (middle[:, 1] < 60) & (middle[:, 2] < 60))
    expected = width * (left + (2.5 - first) / (last - first) * (right - left))
    assert red.size and abs(red.mean() - expected) < 2


def test_time_axis_reads_the_first_axes() -> None:
    figure = Figure(figsize=(4, 2))
    axes = figure.add_subplot()
    axes.set_xlim(1.0, 3.0)
    figure.colorbar(axes.imshow(np.zeros((2, 2))), ax=axes)
    assert time_axis(figure)[4:] == [1.0, 3.0]
