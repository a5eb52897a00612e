"""Classical panel and balloon detector (no learned weights): the baseline and fallback for YOLO.

Panels: ink is whatever differs from the gutter colour (sampled on the page edge, white or black), the
gutter is the background flood-filled from the page edge, and a recursive X-Y cut splits the page along
gutters. A gutter may be a clean band, a gap between two parallel border lines, or a low-ink band beside
border lines that a balloon or bleeding art crosses; each cut takes the gutter crossing the least content.
A leaf whose content falls into separate large components (slanted gutters) gives one panel per component.

Balloons: white blobs, nearly convex, holding several dark holes (text strokes); the box is the box around
the strokes plus a margin, which is how OpenMantra draws its text boxes.

Every knob was tuned on ``shared/data/comics/labels`` (OpenMantra training titles), never on eval_pages.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import pairwise

import cv2
import numpy as np
from PIL import Image

from bd2music.vision.boxes import Detection, clip_box, scale_box

Rect = tuple[int, int, int, int]  # x0, y0, x1, y1 in working pixels, exclusive ends
SPECK = 2  # a row or column with at most this many ink (or content) pixels counts as empty


@dataclass(frozen=True)
class PanelConfig:
    """Panel knobs; pixel values are at the working size (long side ``ClassicalConfig.max_side``)."""

    ink_distance: int = 48  # a pixel is ink if a channel differs this much from the gutter colour
    edge_strip: float = 0.01  # page-edge strip (fraction of the short side) that samples the gutter colour
    edge_share: float = 0.2  # light or dark edge pixels must fill this share of the strip to be a gutter colour
    line_length: float = 0.05  # shortest border line, fraction of the long side
    border_cover: float = 0.5  # a border line covers at least this fraction of the gutter's length
    double_cover: float = 0.4  # the same, for the two lines around a gap that anything may cross
    cut_tolerance: float = 0.25  # ink a gutter with border lines on both sides may cross, fraction
    one_side_tolerance: float = 0.08  # ink a gutter with a border line on one side only may cross
    max_crossing: float = 0.9  # most non-gutter a cut line may run over (a cut inside a panel runs over ~all)
    flank: int = 12  # border lines lie at most this far from their gutter
    min_gutter: int = 3  # thinnest gutter
    max_gutter: int = 40  # widest gap between two parallel border lines
    max_depth: int = 12  # X-Y cut recursion limit
    merge_overlap: float = 0.3  # components of a leaf overlapping more than this (of the smaller) are one
    min_area: float = 0.025  # smallest panel, fraction of the page area
    min_side: float = 0.06  # smallest panel side, fraction of the page side along it


@dataclass(frozen=True)
class BalloonConfig:
    """Balloon knobs; areas are fractions of the page area."""

    light: int = 220  # balloon interiors are at least this bright (0-255)
    min_area: float = 0.0008  # smallest balloon interior
    max_area: float = 0.08  # largest balloon interior
    min_solidity: float = 0.9  # interior area over its convex hull (balloons are nearly convex)
    min_strokes: int = 2  # text holes inside the interior
    ink_range: tuple[float, float] = (0.03, 0.5)  # text area over interior area
    margin: float = 0.013  # added around the strokes, fraction of the long side (OpenMantra's text boxes)


@dataclass(frozen=True)
class ClassicalConfig:
    """Working size plus the panel and balloon knobs (``balloons=None`` skips balloons)."""

    max_side: int = 1024  # the page is analysed at this long side
    panels: PanelConfig = field(default_factory=PanelConfig)
    balloons: BalloonConfig | None = field(default_factory=BalloonConfig)


class ClassicalDetector:
    """Gutter X-Y cut panels and white-blob text balloons; boxes in the pixels of the given image."""

    name = "classical"

    def __init__(self, config: ClassicalConfig | None = None) -> None:
        self.config = config or ClassicalConfig()

    def detect(self, image: Image.Image) -> list[Detection]:
        """Detect panels and balloons in an RGB page."""
        scale = max(image.size) / self.config.max_side
        size = (max(1, round(image.width / scale)), max(1, round(image.height / scale)))
        rgb = np.asarray(image.convert("RGB").resize(size, Image.Resampling.BILINEAR))
        panels = find_panels(rgb, self.config.panels)
        found = [(rect, score, "panel") for rect, score in panels]
        if self.config.balloons is not None:
            balloons = find_balloons(rgb, [rect for rect, _ in panels], self.config.balloons)
            found += [(rect, score, "balloon") for rect, score in balloons]
        return [
            Detection(clip_box(scale_box(rect, scale), image.width, image.height), score, label)
            for rect, score, label in found
        ]


@dataclass(frozen=True)
class PageMasks:
    """Working masks of a page: ink (dilated), gutter (background reached from the edge), border lines."""

    ink: np.ndarray
    gutter: np.ndarray
    lines: tuple[np.ndarray, np.ndarray]  # long horizontal, long vertical ink runs


def gutter_colours(rgb: np.ndarray, config: PanelConfig) -> list[np.ndarray]:
    """Candidate gutter colours: median light (the usual gutter) and dark colours of the page-edge strip.

    Only colours that fill at least ``edge_share`` of the strip count; on a page with neither, the median.
    """
    strip = max(1, round(config.edge_strip * min(rgb.shape[:2])))
    edge = np.concatenate([rgb[:strip].reshape(-1, 3), rgb[-strip:].reshape(-1, 3),
                           rgb[:, :strip].reshape(-1, 3), rgb[:, -strip:].reshape(-1, 3)])
    luma = edge.mean(axis=1)
    groups = (edge[luma > 192], edge[luma < 64])
    colours = [np.median(group, axis=0) for group in groups if len(group) >= config.edge_share * len(edge)]
    return colours or [np.median(edge, axis=0)]


def page_masks(rgb: np.ndarray, colour: np.ndarray, config: PanelConfig) -> PageMasks:
    """Ink, gutter and border-line masks of a working-size RGB page with this gutter colour."""
    distance = np.abs(rgb.astype(np.int16) - colour.astype(np.int16)).max(axis=2)
    ink = cv2.dilate((distance > config.ink_distance).astype(np.uint8), np.ones((3, 3), np.uint8))
    _, labels = cv2.connectedComponents(1 - ink, connectivity=4)
    edge_labels = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    gutter = np.isin(labels, edge_labels[edge_labels > 0])
    length = max(3, round(config.line_length * max(rgb.shape[:2])))
    lines = tuple(cv2.morphologyEx(ink, cv2.MORPH_OPEN, np.ones(k, np.uint8)).astype(bool)
                  for k in ((1, length), (length, 1)))
    return PageMasks(ink.astype(bool), gutter, lines)


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Start and end (exclusive) of every run of True in a 1-D mask."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def _trim(gutter: np.ndarray, rect: Rect) -> Rect | None:
    """Shrink a rectangle to the rows and columns that hold more than a speck of non-gutter."""
    x0, y0, x1, y1 = rect
    content = ~gutter[y0:y1, x0:x1]
    rows, cols = np.flatnonzero(content.sum(axis=1) > SPECK), np.flatnonzero(content.sum(axis=0) > SPECK)
    if len(rows) == 0 or len(cols) == 0:
        return None
    return x0 + int(cols[0]), y0 + int(rows[0]), x0 + int(cols[-1]) + 1, y0 + int(rows[-1]) + 1


def _gutters(ink: np.ndarray, line: np.ndarray, span: int, config: PanelConfig) -> list[tuple[int, int]]:
    """Gutters along one axis as (cut position, strength), from per-line ink and border-line fractions.

    Strength 3: a clean band; 2: a narrow gap between two parallel border lines, whatever crosses it;
    1: a low-ink band flanked by border lines on both sides; 0: on one side, with less ink allowed.
    """
    borders = _runs(line >= config.double_cover)
    bands = [(start, end, 0, 3) for start, end in _runs(ink * span <= SPECK + 0.5)]
    bands += [(a_end, b_start, 0, 2) for (_, a_end), (b_start, _) in pairwise(borders)
              if b_start - a_end <= config.max_gutter and ink[a_end:b_start].mean() <= config.cut_tolerance]
    bands += [(start, end, 2, 1) for start, end in _runs(ink <= config.cut_tolerance)]
    bands += [(start, end, 1, 0) for start, end in _runs(ink <= config.one_side_tolerance)]
    cuts: list[tuple[int, int]] = []
    for start, end, sides_needed, strength in bands:
        if end - start < config.min_gutter or start == 0 or end == ink.size:
            continue  # too thin, or a margin rather than a gutter
        if any(start <= cut < end for cut, _ in cuts):
            continue
        flanks = (line[max(0, start - config.flank):start], line[end:end + config.flank])
        if sum(side.max() >= config.border_cover for side in flanks) >= sides_needed:
            cuts.append(((start + end) // 2, strength))
    return cuts


def _split(masks: PageMasks, rect: Rect, config: PanelConfig) -> list[Rect]:
    """Cut a rectangle in two along its best gutter: the one crossing the least content, then the strongest."""
    x0, y0, x1, y1 = rect
    window = np.s_[y0:y1, x0:x1]
    candidates = []
    for axis in (0, 1):  # 0: horizontal gutters (profiles over rows), 1: vertical
        across = 1 - axis
        ink, line = masks.ink[window].mean(axis=across), masks.lines[axis][window].mean(axis=across)
        content = 1 - masks.gutter[window].mean(axis=across)
        for cut, strength in _gutters(ink, line, (x1 - x0, y1 - y0)[axis], config):
            if content[cut] <= config.max_crossing:
                candidates.append((round(float(content[cut]), 1), -strength, axis, cut))
    if not candidates:
        return [rect]
    _, _, axis, cut = min(candidates)
    if axis == 0:
        return [(x0, y0, x1, y0 + cut), (x0, y0 + cut, x1, y1)]
    return [(x0, y0, x0 + cut, y1), (x0 + cut, y0, x1, y1)]


def xy_cut(masks: PageMasks, rect: Rect, config: PanelConfig, depth: int = 0) -> list[Rect]:
    """Recursive X-Y cut along gutters: leaves are content rectangles that no gutter crosses."""
    trimmed = _trim(masks.gutter, rect)
    if trimmed is None:
        return []
    parts = _split(masks, trimmed, config) if depth < config.max_depth else [trimmed]
    if len(parts) == 1:
        return [trimmed]
    return [leaf for part in parts for leaf in xy_cut(masks, part, config, depth + 1)]


def _panel_sized(rect: Rect, shape: tuple[int, ...], config: PanelConfig) -> bool:
    """Whether a rectangle is large enough to be a panel of a page of this (height, width)."""
    height, width = shape[:2]
    w, h = rect[2] - rect[0], rect[3] - rect[1]
    return w * h >= config.min_area * width * height and w >= config.min_side * width and h >= config.min_side * height


def _overlap(a: Rect, b: Rect) -> float:
    """Intersection over the smaller rectangle's area."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return max(w, 0) * max(h, 0) / max(smaller, 1)


def _merge_overlapping(rects: list[Rect], threshold: float) -> list[Rect]:
    """Replace rectangles overlapping by more than ``threshold`` with their union until none do."""
    merged = list(rects)
    while True:
        pair = next(((i, j) for i in range(len(merged)) for j in range(i + 1, len(merged))
                     if _overlap(merged[i], merged[j]) > threshold), None)
        if pair is None:
            return merged
        a, b = merged[pair[0]], merged.pop(pair[1])
        merged[pair[0]] = (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


def _leaf_panels(gutter: np.ndarray, leaf: Rect, config: PanelConfig) -> list[Rect]:
    """Panels of one X-Y leaf: its separate large components (slanted gutters), else the leaf itself."""
    x0, y0, x1, y1 = leaf
    content = (~gutter[y0:y1, x0:x1]).astype(np.uint8)
    _, _, stats, _ = cv2.connectedComponentsWithStats(content, connectivity=8)
    parts = [(x0 + left, y0 + top, x0 + left + w, y0 + top + h) for left, top, w, h, _ in stats[1:].tolist()]
    parts = _merge_overlapping([r for r in parts if _panel_sized(r, gutter.shape, config)], config.merge_overlap)
    if len(parts) > 1:
        return parts
    return [leaf] if _panel_sized(leaf, gutter.shape, config) else []


def _panels(masks: PageMasks, config: PanelConfig) -> list[tuple[Rect, float]]:
    """Panel rectangles found with one gutter colour, scored by the share of non-gutter pixels inside."""
    height, width = masks.gutter.shape
    panels = []
    for leaf in xy_cut(masks, (0, 0, width, height), config):
        for x0, y0, x1, y1 in _leaf_panels(masks.gutter, leaf, config):
            score = 1.0 - float(masks.gutter[y0:y1, x0:x1].mean())
            panels.append(((x0 + 1, y0 + 1, x1 - 1, y1 - 1), score))  # undo the one-pixel ink dilation
    return panels


def find_panels(rgb: np.ndarray, config: PanelConfig) -> list[tuple[Rect, float]]:
    """Panels of a working-size RGB page; with light and dark page edges, the gutter colour finding more
    (white on ties)."""
    results = [_panels(page_masks(rgb, colour, config), config) for colour in gutter_colours(rgb, config)]
    return max(results, key=len)


def _holes(contours: tuple, links: np.ndarray, index: int) -> list[np.ndarray]:
    """The hole contours of an outer contour (``RETR_CCOMP`` hierarchy: next, previous, first child, parent)."""
    holes, child = [], links[index][2]
    while child != -1:
        holes.append(contours[child])
        child = links[child][0]
    return holes


def _text_box(contour: np.ndarray, holes: list[np.ndarray], config: BalloonConfig) -> tuple[Rect, float] | None:
    """Box around the text strokes of a light blob and the blob's solidity; None if it is no text balloon."""
    area = cv2.contourArea(contour)
    _, _, w, h = cv2.boundingRect(contour)
    solidity = area / max(cv2.contourArea(cv2.convexHull(contour)), 1.0)
    strokes = [r for r in map(cv2.boundingRect, holes) if r[2] < 0.8 * w and r[3] < 0.8 * h]
    text_share = sum(cv2.contourArea(hole) for hole in holes) / max(area, 1.0)
    if solidity < config.min_solidity or len(strokes) < config.min_strokes:
        return None
    if not config.ink_range[0] <= text_share <= config.ink_range[1]:
        return None
    x0, y0 = min(r[0] for r in strokes), min(r[1] for r in strokes)
    return (x0, y0, max(r[0] + r[2] for r in strokes), max(r[1] + r[3] for r in strokes)), solidity


def find_balloons(rgb: np.ndarray, panels: list[Rect], config: BalloonConfig) -> list[tuple[Rect, float]]:
    """Text boxes of a working-size RGB page, scored by how convex their balloon is.

    Panel outlines are drawn as ink first, so that a balloon touching its panel's edge is closed off.
    """
    height, width = rgb.shape[:2]
    light = (cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY) >= config.light).astype(np.uint8)
    for x0, y0, x1, y1 in panels:
        cv2.rectangle(light, (x0, y0), (x1 - 1, y1 - 1), 0, thickness=2)
    light = cv2.morphologyEx(light, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))  # cut thin light bridges
    contours, hierarchy = cv2.findContours(light, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    if hierarchy is None:
        return []
    links = hierarchy[0]
    margin = round(config.margin * max(height, width))
    balloons = []
    for index, contour in enumerate(contours):
        x, y, w, h = cv2.boundingRect(contour)
        if links[index][3] != -1 or x == 0 or y == 0 or x + w >= width or y + h >= height:
            continue  # a hole, or touching the page edge (gutter or bleed, not a balloon)
        area = cv2.contourArea(contour)
        if not config.min_area <= area / (height * width) <= config.max_area:
            continue
        found = _text_box(contour, _holes(contours, links, index), config)
        if found is not None:
            (x0, y0, x1, y1), solidity = found
            box = (max(x0 - margin, 0), max(y0 - margin, 0), min(x1 + margin, width), min(y1 + margin, height))
            balloons.append((box, solidity))
    return balloons
