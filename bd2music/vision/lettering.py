"""Lettered areas: the OCR's text lines grouped into areas (a balloon, a caption box, a sign, a sound effect) and
merged with the detector's balloons, so that an area is found when either finds it.

* **grouping**: two lines belong to one area when their heights are alike (ratio under ``height_ratio``) and
  they are stacked (vertical gap under ``line_gap`` line heights, horizontal ranges overlapping or centred
  alike) or side by side on one row (horizontal gap under ``word_gap`` line heights). A group is then cut
  between two of its rows (lines side by side make one row) where the lettering changes block: the rows share no
  alignment (their left edges, right edges and centres all shift by over ``align_break`` line heights: a centred
  block under a left-aligned one, a speaker's block beside another's) or they lie further apart than the block's
  own line spacing (over ``spacing_break`` x the median spacing of its other rows).
* **merging**: a group of lines lying mostly (``inside`` of its box) in a detected balloon is that balloon's
  (the one holding most of it); a balloon and the group it holds are one area, boxed by their union, and a
  balloon holding several groups (blocks the grouping keeps apart: a balloon in two parts, touching balloons
  detected as one) gives each its own area. A group no balloon holds is a new area, scored by the recogniser's
  confidence. A balloon holding no group keeps its box with no text, unless it lies mostly in a lettered area or
  one lies mostly in it (a second detection of the same lettering) or it is weak
  (under ``empty_min_score``) on a page where text was read (a page in a script the reader skips keeps them all).
* **text**: an area's lines in reading order (rows top to bottom, left to right in a row), joined by spaces.
* **kind**: ``sfx`` when, in at most ``sfx_words`` words, its words are onomatopoeia of the lexicon, or a
  letter is stretched (three or more in a row: ``BZZZ``), or its lettering is large (``sfx_height`` x the page's
  median line height) and outside any balloon;
  ``caption`` when the paper behind the text (the median grey of its box, give or take ``paper_tolerance``)
  reaches ``margin`` line heights past it on all four sides and ``corner`` line heights past each corner (a box
  or the page, not an ellipse); ``speech`` when it reaches past the sides only; when it does not (lettering
  drawn on the picture) ``sign``, or ``sfx`` if it exclaims in at most ``sfx_words`` words, or ``speech`` if a
  detected balloon holds the area;
  ``unknown`` when nothing was read (a detected balloon in a script the reader skips).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

import numpy as np
from PIL import Image

from bd2music.onomatopoeia import sound_words
from bd2music.vision.boxes import Balloon, Box, Detection, box_area
from bd2music.vision.detect import Detector
from bd2music.vision.ocr import TextLine, TextReader

KINDS = ("speech", "caption", "sfx", "sign", "unknown")


@dataclass
class LetteringConfig:
    """How lines become areas and how an area's kind is told."""

    height_ratio: float = 1.6  # lines of one area differ in height by less than this factor
    line_gap: float = 0.2  # largest vertical gap between stacked lines, in line heights (their boxes are padded)
    word_gap: float = 0.25  # largest horizontal gap between pieces of one row, in line heights
    align_break: float = 0.6  # rows whose left edges, right edges and centres all shift by more (line heights) part
    spacing_break: float = 1.35  # rows further apart than this x the block's median row spacing part
    inside: float = 0.5  # a group of lines with this share of its box in a detected balloon is the balloon's
    sfx_height: float = 2.0  # lettering this many times the page's median line height (or more) is display type
    sfx_words: int = 3  # a sound effect has at most this many words
    empty_min_score: float = 0.4  # on a page with text read, a detected balloon holding none needs this score
    paper_tolerance: float = 40.0  # grey levels within this of the paper's (the median of the area's box) are paper
    margin: float = 0.2  # the paper must reach this far (line heights) past the lettering on all four sides
    corner: float = 0.5  # a caption's paper also reaches this far diagonally past each corner (a box, not an ellipse)


@dataclass(frozen=True)
class _Area:
    box: Box
    lines: tuple[TextLine, ...]


def _union(boxes) -> Box:
    boxes = np.asarray(list(boxes), dtype=np.float64).reshape(-1, 4)
    return (float(boxes[:, 0].min()), float(boxes[:, 1].min()), float(boxes[:, 2].max()), float(boxes[:, 3].max()))


def _inside(box: Box, other: Box) -> float:
    """The share of ``box``'s area inside ``other``."""
    width = max(0.0, min(box[2], other[2]) - max(box[0], other[0]))
    height = max(0.0, min(box[3], other[3]) - max(box[1], other[1]))
    return width * height / max(box_area(box), 1e-9)


def _linked(a: TextLine, b: TextLine, config: LetteringConfig) -> bool:
    """Whether two lines are parts of one area (see the module docstring)."""
    high, low = max(a.height, b.height), max(1.0, min(a.height, b.height))
    if high / low > config.height_ratio:
        return False
    height = (a.height + b.height) / 2
    vertical_gap = max(a.box[1] - b.box[3], b.box[1] - a.box[3])
    horizontal_gap = max(a.box[0] - b.box[2], b.box[0] - a.box[2])
    centre_shift = abs((a.box[0] + a.box[2]) - (b.box[0] + b.box[2])) / 2
    widest = max(a.box[2] - a.box[0], b.box[2] - b.box[0])
    stacked = vertical_gap <= config.line_gap * height and (horizontal_gap < 0 or centre_shift < 0.25 * widest)
    same_row = vertical_gap < -0.5 * height and horizontal_gap <= config.word_gap * height
    return stacked or same_row


def _owner(box: Box, panels: list[Box]) -> int | None:
    shares = [_inside(box, panel) for panel in panels]
    return int(np.argmax(shares)) if shares and max(shares) > 0 else None


def group_lines(lines: list[TextLine], config: LetteringConfig, panels: list[Box] = ()) -> list[_Area]:
    """Connected groups of linked lines (union-find), each as an area; lines of different ``panels`` (the panel
    holding most of each) are never linked."""
    parent = list(range(len(lines)))
    owners = [_owner(line.box, list(panels)) for line in lines]

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(len(lines)):
        for j in range(i + 1, len(lines)):
            if owners[i] == owners[j] and _linked(lines[i], lines[j], config):
                parent[root(i)] = root(j)
    groups: dict[int, list[TextLine]] = {}
    for i, line in enumerate(lines):
        groups.setdefault(root(i), []).append(line)
    blocks = [block for group in groups.values() for block in split_blocks(group, config)]
    return [_Area(_union(line.box for line in block), tuple(block)) for block in blocks]


def _rows(lines) -> list[list[TextLine]]:
    """The lines in rows, top to bottom (a row: centres within half a line height), each left to right."""
    rows: list[list[TextLine]] = []
    for line in sorted(lines, key=lambda l: (l.box[1] + l.box[3]) / 2):
        centre = (line.box[1] + line.box[3]) / 2
        if rows and abs(centre - (rows[-1][0].box[1] + rows[-1][0].box[3]) / 2) < 0.5 * line.height:
            rows[-1].append(line)
        else:
            rows.append([line])
    return [sorted(row, key=lambda l: l.box[0]) for row in rows]


def split_blocks(lines, config: LetteringConfig) -> list[list[TextLine]]:
    """A group of linked lines cut into blocks between rows that share no alignment or lie further apart than
    the block's own row spacing (see the module docstring)."""
    rows = _rows(lines)
    if len(rows) < 2:
        return [list(lines)]
    boxes = [_union(line.box for line in row) for row in rows]
    heights = [max(line.height for line in row) for row in rows]
    spacing = [((b[1] + b[3]) - (a[1] + a[3])) / 2 / max(ha, hb, 1.0)  # centre to centre, in the taller's heights
               for a, b, ha, hb in zip(boxes, boxes[1:], heights, heights[1:])]
    blocks = [list(rows[0])]
    for k, (a, b) in enumerate(zip(boxes, boxes[1:])):
        height = (heights[k] + heights[k + 1]) / 2
        shift = min(abs(a[0] - b[0]), abs(a[2] - b[2]), abs((a[0] + a[2]) - (b[0] + b[2])) / 2)
        others = spacing[:k] + spacing[k + 1:]
        apart = bool(others) and spacing[k] > config.spacing_break * float(np.median(others))
        if shift > config.align_break * height or apart:
            blocks.append([])
        blocks[-1].extend(rows[k + 1])
    return blocks


def reading_text(lines) -> str:
    """The lines' words in reading order: rows top to bottom (a row: centres within half a line height), each
    left to right."""
    return " ".join(line.text for row in _rows(lines) for line in row)


def _kind(grey: np.ndarray, area: _Area, in_balloon: bool, median_height: float, config: LetteringConfig) -> str:
    """``speech``, ``caption``, ``sfx`` or ``sign`` for an area with text (see the module docstring)."""
    text = reading_text(area.lines)
    words = text.split()
    large = max(line.height for line in area.lines) >= config.sfx_height * median_height
    onomatopoeia = len(sound_words(text)) == len(words) > 0
    stretched = re.search(r"([A-Za-z])\1\1", text) is not None  # BZZZ, huUWOOOO, Grrrr
    if len(words) <= config.sfx_words and (onomatopoeia or stretched or (large and not in_balloon)):
        return "sfx"
    height = float(np.median([line.height for line in area.lines]))
    x0, y0, x1, y1 = (int(round(v)) for v in area.box)
    h, w = grey.shape
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w - 1, x1), min(h - 1, y1)
    if x1 <= x0 or y1 <= y0:
        return "speech" if in_balloon else "sign"
    paper = float(np.median(grey[y0:y1 + 1, x0:x1 + 1]))  # lettering is sparse: the median is the paper
    is_paper = np.abs(grey - paper) < config.paper_tolerance
    reach = max(2, round(config.margin * height))
    cx, cy = (x0 + x1) // 2, (y0 + y1) // 2
    sides = (is_paper[cy, max(0, x0 - reach):x0], is_paper[cy, x1 + 1:x1 + 1 + reach],
             is_paper[max(0, y0 - reach):y0, cx], is_paper[y1 + 1:y1 + 1 + reach, cx])
    if not all(side.all() for side in sides):  # the paper stops at the lettering: it is drawn on the picture
        if in_balloon:
            return "speech"
        return "sfx" if len(words) <= config.sfx_words and "!" in text else "sign"  # signs do not exclaim
    pad = max(2, round(config.corner * height))
    corners = [is_paper[min(h - 1, max(0, y)), min(w - 1, max(0, x))]
               for x, y in ((x0 - pad, y0 - pad), (x1 + pad, y0 - pad), (x0 - pad, y1 + pad), (x1 + pad, y1 + pad))]
    return "caption" if all(corners) else "speech"


def letter_balloons(image: Image.Image, balloons: list[Balloon], lines: list[TextLine], panels: list[Box] = (),
                    config: LetteringConfig | None = None) -> list[Balloon]:
    """Lettered areas: the detected ``balloons`` with the groups of read ``lines`` each holds, and the groups no
    balloon holds, with their text and kind (``panel`` is left for the caller to assign; ``panels`` keep the
    lines of different panels apart)."""
    config = config or LetteringConfig()
    grey = np.asarray(image.convert("L"), dtype=np.float32)
    median_height = float(np.median([line.height for line in lines])) if lines else 0.0
    held: list[list[_Area]] = [[] for _ in balloons]
    areas: list[tuple[_Area, Balloon | None]] = []
    for group in group_lines(lines, config, panels):
        shares = [_inside(group.box, b.box) for b in balloons]
        if shares and max(shares) >= config.inside:
            held[int(np.argmax(shares))].append(group)
        else:
            areas.append((group, None))
    for balloon, groups in zip(balloons, held):
        if len(groups) > 1:
            areas.extend((group, balloon) for group in groups)
        elif groups:
            lines_held = tuple(line for group in groups for line in group.lines)
            areas.append((_Area(_union([balloon.box, *(g.box for g in groups)]), lines_held), balloon))
    lettered = []
    for area, balloon in areas:
        score = balloon.score if balloon else float(np.mean([line.score for line in area.lines]))
        kind = _kind(grey, area, balloon is not None, median_height, config)
        lettered.append(Balloon(area.box, None, score, reading_text(area.lines), kind))
    for balloon, groups in zip(balloons, held):  # balloons holding no text read, unless they overlap a lettered area
        weak = bool(lines) and balloon.score < config.empty_min_score
        twice = any(_inside(balloon.box, b.box) >= config.inside or _inside(b.box, balloon.box) >= config.inside
                    for b in lettered)  # a second detection of lettering another balloon or a group holds
        if not groups and not weak and not twice:
            lettered.append(replace(balloon, text="", kind="unknown"))
    return lettered


@dataclass
class LetteringDetector:
    """A detector whose balloons are the lettered areas (its balloons merged with the text ``reader`` reads):
    what the analysis sees with the text read, as detections (``evaluate-panels --text`` scores it)."""

    detector: Detector
    reader: TextReader
    config: LetteringConfig | None = None

    @property
    def name(self) -> str:
        return f"{self.detector.name}+text"

    def detect(self, image: Image.Image) -> list[Detection]:
        detections = self.detector.detect(image)
        panels = [d for d in detections if d.label == "panel"]
        balloons = [Balloon(d.box, None, d.score) for d in detections if d.label == "balloon"]
        areas = letter_balloons(image, balloons, self.reader.read(image), [p.box for p in panels], self.config)
        return panels + [Detection(area.box, area.score, "balloon") for area in areas]
