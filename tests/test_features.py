"""Visual page features: known answers on flat and real pages (the shipped examples, and many more from the data),
constructed layouts, JSON, vector and plots."""

from __future__ import annotations

import io
import json
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from bd2music.io import load_page
from bd2music.vision.boxes import Balloon, Panel
from bd2music.vision.features import (
    FEATURE_DOCS,
    VECTOR_NAMES,
    ColourStats,
    LayoutStats,
    PageFeatures,
    PanelFeatures,
    compute_features,
)
from bd2music.audio.plots import DISPLAY_SIZE
from bd2music.vision.plots import feature_table, plot_features

W, H = 600, 900  # page size of the constructed layouts
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def flat(colour: tuple[int, int, int], size: tuple[int, int] = (W, H)) -> Image.Image:
    return Image.new("RGB", size, colour)


def grid(rows: int, cols: int, margin: float = 30, gutter: float = 20) -> list[Panel]:
    """A perfect grid of equal panels on a W x H page, in row-major reading order."""
    w = (W - 2 * margin - (cols - 1) * gutter) / cols
    h = (H - 2 * margin - (rows - 1) * gutter) / rows
    corners = [(margin + c * (w + gutter), margin + r * (h + gutter)) for r in range(rows) for c in range(cols)]
    return [Panel((x, y, x + w, y + h), i, 1.0) for i, (x, y) in enumerate(corners)]


IRREGULAR = [
    Panel((30, 30, 420, 260), 0, 1.0),
    Panel((445, 60, 570, 470), 1, 1.0),
    Panel((40, 290, 300, 860), 2, 1.0),
    Panel((330, 500, 555, 700), 3, 1.0),
    Panel((320, 735, 580, 870), 4, 1.0),
]


@pytest.fixture(params=["examples", pytest.param("comics", marks=pytest.mark.data)])
def pages(request: pytest.FixtureRequest):
    """``pages(pattern, step)``: the shipped example pages that match ``pattern``; or every ``step``-th page of the
    data's comics/ that matches it."""
    folder, stride = EXAMPLES, 1
    if request.param == "comics":
        folder, stride = request.getfixturevalue("data_dir") / "comics", None

    def matching(pattern: str, step: int) -> list[Path]:
        found = sorted(folder.glob(pattern))[:: stride or step]
        assert found, f"no {pattern} in {folder}"
        return found

    return matching


def test_flat_red_page() -> None:
    f = compute_features(flat((255, 0, 0)), [], [])
    assert f.colour.brightness == pytest.approx(0.299, abs=0.01)
    assert f.colour.saturation == pytest.approx(1.0)
    assert f.colour.hue_histogram[0] == pytest.approx(1.0) and sum(f.colour.hue_histogram) == pytest.approx(1.0)
    assert [c.hex for c in f.palette] == ["#ff0000"] and f.palette[0].share == pytest.approx(1.0)
    assert f.colour.colourfulness > 80 and f.colour.colourfulness_norm > 0.8
    assert f.colour.warmth == pytest.approx(1.0)
    assert f.colour.edge_density == 0.0
    assert f.colour.contrast == pytest.approx(0.0, abs=1e-6)
    assert not f.is_bw


def test_flat_blue_is_cool_and_in_the_blue_bin() -> None:
    f = compute_features(flat((0, 0, 255)), [], [])
    assert f.colour.warmth == pytest.approx(-1.0)
    assert f.colour.hue_histogram[8] == pytest.approx(1.0)
    assert not f.is_bw


@pytest.mark.parametrize(("colour", "hue_bin"), [((255, 0, 43), 0), ((255, 85, 0), 1), ((0, 255, 128), 5)])
def test_hue_bins_are_centred_on_their_hue(colour: tuple[int, int, int], hue_bin: int) -> None:
    histogram = compute_features(flat(colour), [], []).colour.hue_histogram  # hues 350, 20 and 150 degrees
    assert histogram[hue_bin] == pytest.approx(1.0)


def test_flat_grey_page() -> None:
    f = compute_features(flat((128, 128, 128)), [], [])
    assert f.is_bw
    assert f.colour.saturation == 0.0 and f.colour.colourfulness == pytest.approx(0.0)
    assert f.colour.hue_histogram == [0.0] * 12
    assert f.colour.warmth == 0.0
    assert f.colour.brightness == pytest.approx(128 / 255, abs=1e-3)
    assert [c.hex for c in f.palette] == ["#808080"]


def test_manga_pages_are_black_and_white_and_busier_than_flat(pages) -> None:
    flat_edges = compute_features(flat((255, 255, 255)), [], []).colour.edge_density
    for path in pages("openmantra_*.jpg", 16):
        f = compute_features(load_page(path).image, [], [])
        assert f.is_bw, path.name
        assert f.colour.hue_histogram == [0.0] * 12, path.name
        assert f.colour.edge_density > flat_edges + 0.05, path.name


def test_tinted_scan_of_a_manga_page_is_still_black_and_white(pages) -> None:
    gray = np.asarray(load_page(pages("openmantra_tojime_no_siora_*.jpg", 10)[-1]).image, dtype=np.float64)
    for gain, offset in (((1.0, 0.95, 0.85), (8, 4, 0)), ((0.88, 0.94, 1.0), (0, 4, 16))):  # sepia, blue-ish
        tinted = np.clip(gray * gain + offset, 0, 255).astype(np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(tinted).save(buffer, "JPEG", quality=80)  # rescanned: JPEG chroma noise included
        f = compute_features(load_page(buffer.getvalue()).image, [], [])
        assert f.is_bw and f.colour.colourfulness > 3, gain


def test_colour_pages_are_not_black_and_white(pages) -> None:
    for path in pages("peppercarrot_*.jpg", 3):
        f = compute_features(load_page(path).image, [], [])
        assert not f.is_bw, path.name
        assert f.colour.colourfulness > 20 and sum(f.colour.hue_histogram) == pytest.approx(1.0), path.name


def test_perfect_grid_layout() -> None:
    page = flat((255, 255, 255))
    for panel in grid(3, 2):
        ImageDraw.Draw(page).rectangle(panel.box, outline=(0, 0, 0), width=3)
    f = compute_features(page, grid(3, 2), [])
    assert f.colour.edge_density > 0.01 and all(p.colour.edge_density > 0.01 for p in f.panels)  # the frames
    layout = f.layout
    area = 260 * (800 / 3) / (W * H)
    assert layout.panel_count == 6
    assert layout.gutter == pytest.approx(20 / W)
    assert (layout.area_mean, layout.area_min, layout.area_max) == pytest.approx((area, area, area))
    assert layout.area_std == pytest.approx(0.0, abs=1e-12) and layout.size_rhythm == pytest.approx(0.0, abs=1e-12)
    assert layout.aspect_mean == pytest.approx(260 / (800 / 3)) and layout.aspect_std == pytest.approx(0.0, abs=1e-12)
    assert layout.regularity == pytest.approx(1.0)


def test_grid_is_more_regular_than_an_irregular_layout() -> None:
    regular = compute_features(flat((255, 255, 255)), grid(3, 2), []).layout
    irregular = compute_features(flat((255, 255, 255)), IRREGULAR, []).layout
    assert irregular.regularity < regular.regularity - 0.3
    assert irregular.size_rhythm > 0.3 and irregular.area_std > 0.01 and irregular.aspect_std > 0.3
    assert irregular.gutter == pytest.approx(25 / W)  # gaps to the nearest panel: 25, 25, 20, 30, 20


def test_regularity_definition() -> None:
    # two panels in one row, widths 2:1: top and bottom edges align (4 of 8 edges), area CV = 1/3
    panels = [Panel((0, 100, 400, 500), 0, 1.0), Panel((420, 100, 620, 500), 1, 1.0)]
    layout = compute_features(flat((255, 255, 255), (620, 600)), panels, []).layout
    assert layout.regularity == pytest.approx(0.5 * 0.5 + 0.5 * (1 - 1 / 3))


def test_size_rhythm_follows_reading_order() -> None:
    big, small = (0, 0, 300, 400), (0, 500, 150, 700)  # areas 120000 and 30000: each step is 3/4 of the larger
    panels = [Panel(big, 0, 1.0), Panel(small, 1, 1.0), Panel((300, 0, 600, 400), 2, 1.0)]
    assert compute_features(flat((255, 255, 255)), panels, []).layout.size_rhythm == pytest.approx(0.75)


def test_single_and_no_panel_layouts() -> None:
    one = compute_features(flat((255, 255, 255)), [Panel((0, 0, W, H), 0, 1.0)], []).layout
    assert (one.panel_count, one.gutter, one.regularity, one.area_mean) == (1, 0.0, 1.0, pytest.approx(1.0))
    none = compute_features(flat((255, 255, 255)), [], []).layout
    assert (none.panel_count, none.area_mean, none.gutter, none.regularity, none.text_in_panels) == (0, 0, 0, 0, 0)


def test_balloon_coverage_and_per_panel_stats() -> None:
    image = Image.new("RGB", (W, H), (255, 0, 0))
    image.paste((0, 0, 255), (W // 2, 0, W, H))  # left half red, right half blue
    panels = [Panel((W // 2, 0, W, H), 1, 1.0), Panel((0, 0, W // 2, H), 0, 1.0)]  # given out of reading order
    balloons = [Balloon((0, 0, W // 2, H // 2), 0, 1.0)]
    f = compute_features(image, panels, balloons)
    assert [p.order for p in f.panels] == [0, 1]
    left, right = f.panels
    assert f.layout.balloon_count == 1 and (left.balloon_count, right.balloon_count) == (1, 0)
    assert f.layout.text_coverage == pytest.approx(0.25, abs=0.01)
    assert f.layout.text_in_panels == pytest.approx(0.25, abs=0.01)
    assert left.text_coverage == pytest.approx(0.5, abs=0.01) and right.text_coverage == 0.0
    assert left.area == pytest.approx(0.5) and left.aspect == pytest.approx(W / 2 / H)
    assert left.colour.warmth == pytest.approx(1.0, abs=0.02) and right.colour.warmth == pytest.approx(-1.0, abs=0.02)
    assert left.colour.hue_histogram[0] == pytest.approx(1.0, abs=0.02)
    assert right.colour.hue_histogram[8] == pytest.approx(1.0, abs=0.02)
    top = {c.hex: c.share for c in f.palette[:2]}
    assert set(top) == {"#ff0000", "#0000ff"} and list(top.values()) == pytest.approx([0.5, 0.5], abs=0.03)


def test_json_round_trip_and_determinism() -> None:
    image = load_page(EXAMPLES / "peppercarrot_ep03_en_002.jpg").image
    f = compute_features(image, grid(3, 2), [Balloon((40, 40, 200, 120), 0, 0.9)])
    restored = PageFeatures.from_dict(json.loads(json.dumps(f.to_dict(), allow_nan=False)))
    assert restored == f
    assert compute_features(image, grid(3, 2), [Balloon((40, 40, 200, 120), 0, 0.9)]) == f
    shares = [c.share for c in f.palette]
    assert len(shares) == 5 and sum(shares) == pytest.approx(1.0) and shares == sorted(shares, reverse=True)


def test_vector_is_finite_named_and_in_unit_range() -> None:
    manga = load_page(EXAMPLES / "openmantra_tojime_no_siora_007.jpg").image
    images = [flat((255, 0, 0)), flat((128, 128, 128)), manga]
    for image in images:
        vector = compute_features(image, grid(3, 2), []).vector()
        assert vector.shape == (len(VECTOR_NAMES),) and len(set(VECTOR_NAMES)) == len(VECTOR_NAMES)
        assert np.isfinite(vector).all() and vector.min() >= 0 and vector.max() <= 1


def test_every_feature_is_documented() -> None:
    names = {f.name for cls in (PageFeatures, PanelFeatures, LayoutStats, ColourStats) for f in fields(cls)}
    assert names <= set(FEATURE_DOCS)
    assert all(doc and "\n" not in doc for doc in FEATURE_DOCS.values())


def test_plot_renders_to_png_and_table_has_docs() -> None:
    f = compute_features(flat((200, 120, 40)), grid(2, 2), [])
    buffer = io.BytesIO()
    plot_features(f).savefig(buffer, format="png")
    png = Image.open(io.BytesIO(buffer.getvalue()))
    assert png.format == "PNG" and png.size[0] == 100 * DISPLAY_SIZE[0] and png.size[1] > png.size[0]  # a column
    table = feature_table(f)
    assert {row[0] for row in table} >= {"panel_count", "brightness", "palette", "hue_histogram", "is_bw"}
    assert all(len(row) == 3 and all(isinstance(cell, str) and cell for cell in row) for row in table)
