"""The classical detector on drawn pages with known panels (white and black gutters) and on a real page."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from bd2music.evaluation import count_matches
from bd2music.vision.boxes import Box, iou_matrix
from bd2music.vision.classical import ClassicalConfig, ClassicalDetector

# A 3-tier page: one wide panel, a tall panel beside a stack of two, two panels (x0, y0, x1, y1).
PANELS: list[Box] = [
    (40, 40, 760, 330),
    (40, 360, 380, 860), (410, 360, 760, 590), (410, 620, 760, 860),
    (40, 890, 450, 1160), (480, 890, 760, 1160),
]
SIZE = (800, 1200)


def draw_page(background: str, border: str, fill: str, ink: str, seed: int = 0) -> Image.Image:
    """Panels with a border and some scribbled art on a page of the given gutter colour."""
    rng = random.Random(seed)
    page = Image.new("RGB", SIZE, background)
    draw = ImageDraw.Draw(page)
    for x0, y0, x1, y1 in PANELS:
        draw.rectangle((x0, y0, x1 - 1, y1 - 1), fill=fill, outline=border, width=4)
        for _ in range(12):
            a = (rng.uniform(x0 + 10, x1 - 10), rng.uniform(y0 + 10, y1 - 10))
            b = (rng.uniform(x0 + 10, x1 - 10), rng.uniform(y0 + 10, y1 - 10))
            draw.line((a, b), fill=ink, width=2)
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        draw.ellipse((cx - 40, cy - 30, cx + 40, cy + 30), outline=ink, width=3)
    return page


def panel_boxes(image: Image.Image, detector: ClassicalDetector | None = None) -> list[Box]:
    return [d.box for d in (detector or ClassicalDetector()).detect(image) if d.label == "panel"]


def assert_all_found(found: list[Box], expected: list[Box], iou: float = 0.8) -> None:
    assert len(found) == len(expected), f"{len(found)} panels found, {len(expected)} drawn: {found}"
    best = iou_matrix(np.asarray(expected), np.asarray(found)).max(axis=1)
    assert best.min() > iou, f"worst IoU {best.min():.2f}"


def test_bordered_panels_on_white() -> None:
    page = draw_page(background="white", border="black", fill="white", ink="black")
    assert_all_found(panel_boxes(page), PANELS)


def test_black_gutters() -> None:
    page = draw_page(background="black", border="black", fill=(235, 235, 235), ink=(40, 40, 40))
    assert_all_found(panel_boxes(page), PANELS)


def test_colour_page_with_a_balloon_over_a_gutter() -> None:
    """A balloon straddling the gutter between the stacked panels must not merge them."""
    page = draw_page(background="white", border=(30, 30, 90), fill=(180, 210, 240), ink=(120, 60, 20))
    draw = ImageDraw.Draw(page)
    draw.ellipse((520, 560, 700, 650), fill="white", outline="black", width=3)
    assert_all_found(panel_boxes(page), PANELS)


def test_boxes_are_in_the_given_image_pixels() -> None:
    page = draw_page(background="white", border="black", fill="white", ink="black")
    doubled = page.resize((SIZE[0] * 2, SIZE[1] * 2))
    assert_all_found(panel_boxes(doubled), [tuple(2 * v for v in box) for box in PANELS])


def test_balloon_text_found() -> None:
    page = draw_page(background="white", border="black", fill="white", ink="black")
    draw = ImageDraw.Draw(page)
    draw.ellipse((100, 80, 300, 280), fill="white", outline="black", width=3)
    for column in range(3):  # three columns of "characters"
        for row in range(5):
            x, y = 150 + column * 35, 120 + row * 28
            draw.rectangle((x, y, x + 16, y + 16), outline="black", width=3)
    balloons = [d.box for d in ClassicalDetector().detect(page) if d.label == "balloon"]
    assert any(x0 <= 150 and y0 <= 120 and x1 >= 236 and y1 >= 248 and x1 <= 300 for x0, y0, x1, y1 in balloons)


def test_blank_page_has_no_panels() -> None:
    assert panel_boxes(Image.new("RGB", SIZE, "white")) == []


def test_balloons_can_be_switched_off() -> None:
    page = draw_page(background="white", border="black", fill="white", ink="black")
    detections = ClassicalDetector(ClassicalConfig(balloons=None)).detect(page)
    assert {d.label for d in detections} == {"panel"}


@pytest.mark.parametrize("name", [
    "openmantra_tojime_no_siora_007",  # a shipped example page, its human labels in tests/data/labels
    pytest.param("openmantra_tojime_no_siora_002", marks=pytest.mark.data),
    pytest.param("openmantra_rasetugari_010", marks=pytest.mark.data),
])
def test_real_page(request: pytest.FixtureRequest, name: str) -> None:
    repo = Path(__file__).resolve().parents[1]
    pages, label_dir = repo / "examples", repo / "tests" / "data" / "labels"
    if not (label_dir / f"{name}.json").is_file():
        pages = request.getfixturevalue("data_dir") / "comics"
        label_dir = pages / "labels"
    labels = json.loads((label_dir / f"{name}.json").read_text())
    image = Image.open(pages / labels["image"]).convert("RGB")
    detections = ClassicalDetector().detect(image)
    panels = [d.box for d in detections if d.label == "panel"]
    assert panels and all(0 <= x0 < x1 <= image.width and 0 <= y0 < y1 <= image.height for x0, y0, x1, y1 in panels)
    assert all(0.0 <= d.score <= 1.0 for d in detections)
    counts = count_matches(panels, labels["panels"])
    assert counts.recall >= 0.5 and counts.precision >= 0.5, counts
