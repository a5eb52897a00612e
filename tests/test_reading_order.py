"""Reading order on constructed layouts (LTR and manga RTL) and balloon-to-panel assignment."""

from __future__ import annotations

import random

import pytest

from bd2music.vision.boxes import Box
from bd2music.vision.reading_order import assign_balloons, reading_order

GRID = [(c * 100, r * 100, c * 100 + 90, r * 100 + 90) for r in range(3) for c in range(2)]  # 2 columns x 3 rows


def shuffled_order(boxes: list[Box], rtl: bool, seed: int = 0) -> list[Box]:
    """Reading order of the boxes given in a random order, returned as the boxes themselves."""
    mixed = boxes[:]
    random.Random(seed).shuffle(mixed)
    return [mixed[i] for i in reading_order(mixed, rtl=rtl)]


def test_grid_left_to_right() -> None:
    assert shuffled_order(GRID, rtl=False) == GRID


def test_grid_right_to_left() -> None:
    expected = [GRID[i] for i in (1, 0, 3, 2, 5, 4)]
    assert shuffled_order(GRID, rtl=True) == expected


@pytest.mark.parametrize("rtl", [False, True])
def test_tall_panel_left_of_a_stack(rtl: bool) -> None:
    tall, top, bottom = (0, 0, 90, 190), (100, 0, 190, 90), (100, 100, 190, 190)
    expected = [top, bottom, tall] if rtl else [tall, top, bottom]
    assert shuffled_order([tall, top, bottom], rtl) == expected


@pytest.mark.parametrize("rtl", [False, True])
def test_tall_panel_right_of_a_stack(rtl: bool) -> None:
    top, bottom, tall = (0, 0, 90, 90), (0, 100, 90, 190), (100, 0, 190, 190)
    expected = [tall, top, bottom] if rtl else [top, bottom, tall]
    assert shuffled_order([top, bottom, tall], rtl) == expected


def test_tall_panel_and_stack_inside_a_page_of_tiers() -> None:
    header = (0, 0, 300, 80)
    tall, top, bottom = (200, 100, 300, 300), (0, 100, 190, 195), (0, 205, 190, 300)
    footer_left, footer_right = (0, 320, 140, 400), (160, 320, 300, 400)
    page = [header, tall, top, bottom, footer_left, footer_right]
    assert shuffled_order(page, rtl=True) == [header, tall, top, bottom, footer_right, footer_left]
    assert shuffled_order(page, rtl=False) == [header, top, bottom, tall, footer_left, footer_right]


def test_tiers_with_different_panel_counts() -> None:
    tiers = [[(0, 0, 300, 100)], [(0, 110, 90, 200), (100, 110, 190, 200), (200, 110, 300, 200)],
             [(0, 210, 140, 300), (150, 210, 300, 300)]]
    ltr = [box for tier in tiers for box in tier]
    rtl = [box for tier in tiers for box in reversed(tier)]
    assert shuffled_order(ltr, rtl=False) == ltr
    assert shuffled_order(ltr, rtl=True) == rtl


@pytest.mark.parametrize("seed", range(5))
def test_jittered_grid(seed: int) -> None:
    """Boxes that overlap their neighbours by a few pixels or are misaligned still read as a grid."""
    rng = random.Random(seed)
    jittered = [tuple(v + rng.uniform(-8, 8) for v in box) for box in GRID]
    assert shuffled_order(jittered, rtl=False, seed=seed) == jittered
    assert shuffled_order(jittered, rtl=True, seed=seed) == [jittered[i] for i in (1, 0, 3, 2, 5, 4)]


def test_slanted_tier_with_overlapping_boxes() -> None:
    """Bounding boxes of slanted panels overlap sideways; the tier still reads along x."""
    left, middle, right = (0, 0, 120, 100), (90, 0, 220, 100), (200, 0, 300, 100)
    assert shuffled_order([left, middle, right], rtl=True) == [right, middle, left]


def test_noisy_detections_give_a_permutation() -> None:
    rng = random.Random(1)
    boxes = []
    for _ in range(40):
        x, y = rng.uniform(0, 800), rng.uniform(0, 1100)
        boxes.append((x, y, x + rng.uniform(1, 300), y + rng.uniform(1, 300)))
    for rtl in (False, True):
        assert sorted(reading_order(boxes, rtl=rtl)) == list(range(len(boxes)))


def test_single_and_no_panel() -> None:
    assert reading_order([(10, 10, 50, 50)]) == [0]
    assert reading_order([]) == []


def test_assign_balloons() -> None:
    panels_in_order = [(100, 0, 200, 100), (0, 0, 90, 100)]  # manga: the right panel is read first
    balloons = [
        (20, 20, 60, 60),  # inside the second panel
        (80, 10, 150, 40),  # straddles the gutter, mostly in the first panel
        (300, 300, 350, 350),  # outside every panel
    ]
    assert assign_balloons(balloons, panels_in_order) == [1, 0, None]
    assert assign_balloons(balloons, []) == [None, None, None]
    assert assign_balloons([], panels_in_order) == []
