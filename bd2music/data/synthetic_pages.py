"""Procedural comic pages with exact panel and balloon-text boxes, for detector training.

Layouts are cut recursively from the page (tiers, then panels, sometimes nested tiers), with uneven and
slanted gutters (down to a shared border line, as in gutterless manga), frameless and full-bleed panels, insets,
splash pages and figures breaking out of their frames over the border. Panels are filled with crops of
real pages (inside their human panel boxes where known) or with drawn shapes; balloons, thought clouds and
captions carry lettering (horizontal or vertical, like manga) whose tight box is the ``balloon`` label, as in
the OpenMantra annotations; optionally a share of balloons is lettered like western colour comics (mixed case,
bold, thin or no outline, dark balloons with light letters). Pages then get paper texture, screentone, noise,
blur and JPEG artefacts.
Every page is a pure function of ``(seed, index)``.
"""

from __future__ import annotations

import functools
import io
import json
import math
import string
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from bd2music.io import load_page
from bd2music.vision.boxes import Box, box_area, clip_box

Polygon = list[tuple[float, float]]
LETTERS = string.ascii_uppercase + "!?.,'"
# English letter frequencies (a-z, in %), so that western lettering has the usual share of round, tall and deep letters
ENGLISH_LETTER_SHARES = np.array([8.2, 1.5, 2.8, 4.3, 12.7, 2.2, 2.0, 6.1, 7.0, 0.15, 0.77, 4.0, 2.4, 6.7, 7.5, 1.9,
                                  0.095, 6.0, 6.3, 9.1, 2.8, 0.98, 2.4, 0.15, 2.0, 0.074]) / 100.0
ENGLISH_LETTER_SHARES /= ENGLISH_LETTER_SHARES.sum()
# Typefaces for western lettering: the TrueType fonts matplotlib ships (regular, bold, slanted; sans, serif, mono)
LETTERING_FONTS = ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSans-Oblique.ttf", "DejaVuSans-BoldOblique.ttf",
                   "DejaVuSansMono-Oblique.ttf", "DejaVuSerif.ttf", "DejaVuSerif-Italic.ttf",
                   "DejaVuSerif-BoldItalic.ttf", "STIXGeneral.ttf", "STIXGeneralItalic.ttf", "cmss10.ttf", "cmti10.ttf")


@functools.cache
def lettering_font(name: str | None, size: int) -> ImageFont.FreeTypeFont:
    """One of :data:`LETTERING_FONTS` (from matplotlib's own files, nothing downloaded), or Pillow's default."""
    if name is None:
        return ImageFont.load_default(size=size)
    return ImageFont.truetype(str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / name), size)


@dataclass(frozen=True)
class SyntheticPage:
    """A drawn page and its exact labels (boxes in the image's pixels)."""

    image: Image.Image
    panels: list[Box]
    balloons: list[Box]


@dataclass(frozen=True)
class BalloonStyle:
    """How a balloon is drawn: outline width (0: none), fill and ink colours, letter case and weight."""

    outline: int = 2
    fill: tuple[int, int, int] = (255, 255, 255)
    ink: tuple[int, int, int] = (15, 15, 15)
    mixed_case: bool = False
    bold: bool = False
    letter_size: tuple[float, float] = (0.018, 0.03)  # range of the letter height, as a share of the page's long side
    lines: tuple[int, int] = (1, 5)  # range of the number of lines (upper bound excluded), as the balloon allows
    words: int = 6  # words drawn per line before it is cut to the balloon's width
    font: str | None = None  # one of LETTERING_FONTS, None for Pillow's default
    english_letters: bool = False  # letters drawn with English frequencies (else uniformly)

    @property
    def dark(self) -> bool:
        """Light letters on a dark balloon."""
        return sum(self.fill) < sum(self.ink)


UPPERCASE_STYLE = BalloonStyle()  # black-outlined white balloons, capitals (the generator's first style)


@dataclass(frozen=True)
class ContentSource:
    """A real page (downsized), the regions of it that are clean panel content and its known text boxes."""

    image: Image.Image
    regions: list[Box]
    texts: list[Box]


def load_content_sources(comics_dir: Path, max_side: int = 640, labelled_only: bool = False,
                         label_dirs: Sequence[Path] = ()) -> list[ContentSource]:
    """Load the real pages of ``comics_dir``; labelled pages give their panel boxes as clean content regions.

    Labels are ``comics_dir/labels/<page>.json``, then ``<page>.json`` in each of ``label_dirs``.
    ``labelled_only`` leaves out the pages without labels, whose lettering would be drawn in unlabelled."""
    sources = []
    for path in sorted(comics_dir.glob("*.jpg")):
        label_file = next((file for folder in (comics_dir / "labels", *label_dirs)
                           if (file := folder / f"{path.stem}.json").is_file()), None)
        if labelled_only and label_file is None:
            continue
        image, scale = load_page(path).downscaled(max_side)
        if label_file is not None:
            labels = json.loads(label_file.read_text())
            regions = [tuple(v / scale for v in box) for box in labels["panels"]]
            regions = [(x0 + 3, y0 + 3, x1 - 3, y1 - 3) for x0, y0, x1, y1 in regions if x1 - x0 > 40 and y1 - y0 > 40]
            texts = [tuple(v / scale for v in box) for box in labels.get("balloons", [])]
        else:  # unlabelled page: any region may hold unlabelled text or borders, so it is used less often
            regions, texts = [(0.0, 0.0, float(image.width), float(image.height))], []
        if regions:
            sources.append(ContentSource(image, regions, texts))
    return sources


def clip_polygon(polygon: Polygon, a: float, b: float, c: float) -> Polygon:
    """Keep the part of a convex polygon where ``a*x + b*y + c >= 0`` (Sutherland-Hodgman, one edge)."""
    kept: Polygon = []
    for i, p in enumerate(polygon):
        q = polygon[(i + 1) % len(polygon)]
        sp, sq = a * p[0] + b * p[1] + c, a * q[0] + b * q[1] + c
        if sp >= 0:
            kept.append(p)
        if (sp >= 0) != (sq >= 0):
            t = sp / (sp - sq)
            kept.append((p[0] + t * (q[0] - p[0]), p[1] + t * (q[1] - p[1])))
    return kept


def inside_polygon(polygon: Polygon, point: tuple[float, float]) -> bool:
    """Whether ``point`` lies inside a convex polygon given in either winding order."""
    signs = set()
    for i, p in enumerate(polygon):
        q = polygon[(i + 1) % len(polygon)]
        cross = (q[0] - p[0]) * (point[1] - p[1]) - (q[1] - p[1]) * (point[0] - p[0])
        if abs(cross) > 1e-9:
            signs.add(cross > 0)
    return len(signs) <= 1


def overlaps(a: Box, b: Box) -> bool:
    """Whether two boxes share some area."""
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def polygon_box(polygon: Polygon) -> Box:
    """Axis-aligned bounding box of a polygon."""
    xs, ys = [p[0] for p in polygon], [p[1] for p in polygon]
    return (min(xs), min(ys), max(xs), max(ys))


def split_polygon(polygon: Polygon, axis: str, weights: Sequence[float], gutters: Sequence[float],
                  slants: Sequence[float]) -> list[Polygon]:
    """Cut a convex polygon along ``axis`` (``"y"``: into tiers, ``"x"``: into cells) into parts sized by
    ``weights``; the cut between parts ``i`` and ``i + 1`` is a gutter ``gutters[i]`` wide whose line has the
    slope ``slants[i]`` (0: straight). Parts left with fewer than three corners are dropped."""
    x0, y0, x1, y1 = polygon_box(polygon)
    cuts = np.cumsum(weights)[:-1] / np.sum(weights)
    pieces, rest = [], polygon
    for cut, g, slant in zip(cuts, gutters, slants):
        if axis == "y":  # line y = yc + slant * (x - xm); keep above / below
            yc, xm = y0 + cut * (y1 - y0), (x0 + x1) / 2
            c = yc - slant * xm
            before = clip_polygon(rest, slant, -1.0, c - g / 2)
            rest = clip_polygon(rest, -slant, 1.0, -(c + g / 2))
        else:  # line x = xc + slant * (y - ym)
            xc, ym = x0 + cut * (x1 - x0), (y0 + y1) / 2
            c = xc - slant * ym
            before = clip_polygon(rest, -1.0, slant, c - g / 2)
            rest = clip_polygon(rest, 1.0, -slant, -(c + g / 2))
        if len(before) >= 3:
            pieces.append(before)
    if len(rest) >= 3:
        pieces.append(rest)
    return pieces


class PageGenerator:
    """Draws page ``index`` of a reproducible stream of synthetic comic pages."""

    def __init__(self, sources: list[ContentSource], seed: int = 0, long_side: int = 800,
                 western_balloons: float = 0.0) -> None:
        """``western_balloons``: share of balloons lettered like western colour comics (mixed case, bold, thin
        or no outline, dark balloons with light letters); 0 draws exactly the pages of earlier versions."""
        self.sources = sources
        self.seed = seed
        self.long_side = long_side
        self.western_balloons = western_balloons

    def __call__(self, index: int) -> SyntheticPage:
        rng = np.random.default_rng([self.seed, index])
        return _PageDrawing(rng, self.sources, self.long_side, self.western_balloons).draw()


class _PageDrawing:
    """The state of one page being drawn (random generator, canvas, labels)."""

    def __init__(self, rng: np.random.Generator, sources: list[ContentSource], long_side: int,
                 western_balloons: float = 0.0) -> None:
        self.rng = rng
        self.sources = sources
        self.western_balloons = western_balloons
        kind = rng.choice(["page", "webtoon", "strip"], p=[0.8, 0.1, 0.1])
        if kind == "page":
            height = long_side
            width = int(height * rng.uniform(0.62, 0.78))
        elif kind == "webtoon":
            height = long_side
            width = int(height * rng.uniform(0.33, 0.5))
        else:
            width = long_side
            height = int(width * rng.uniform(0.28, 0.5))
        self.kind = kind
        self.size = (width, height)
        self.colour = kind != "page" or rng.random() < 0.5
        self.black_page = rng.random() < 0.06
        paper = (20, 20, 20) if self.black_page else tuple(int(v) for v in rng.integers(232, 256, 3))
        self.canvas = Image.new("RGB", self.size, paper)
        self.draw_ctx = ImageDraw.Draw(self.canvas)
        self.panels: list[Box] = []
        self.balloons: list[Box] = []
        self.real_texts: list[Box] = []  # lettering that came with real panel crops, until something covers it

    def cover(self, box: Box) -> None:
        """Forget real lettering that ``box`` is drawn over."""
        self.real_texts = [t for t in self.real_texts if not overlaps(t, box)]

    # ----- layout -------------------------------------------------------------------------------------
    def layout(self) -> list[Polygon]:
        """Cut the page into panel polygons: tiers, then panels, sometimes nested tiers."""
        rng, (w, h) = self.rng, self.size
        margin = [0.0 if rng.random() < 0.12 else w * rng.uniform(0.025, 0.08) for _ in range(4)]
        page: Polygon = [(margin[0], margin[1]), (w - margin[2], margin[1]), (w - margin[2], h - margin[3]),
                         (margin[0], h - margin[3])]
        gutter = w * (rng.uniform(0.0, 0.006) if rng.random() < 0.25 else rng.uniform(0.008, 0.045))
        if self.kind == "strip":
            return self.split(page, "x", int(rng.integers(2, 5)), gutter)
        if self.kind == "webtoon":
            return self.split(page, "y", int(rng.integers(1, 4)), gutter * 4)
        if rng.random() < 0.06:
            return [page]  # splash page
        if rng.random() < 0.15:  # columns first (vertical manga layouts)
            columns = self.split(page, "x", 2, gutter)
            return [cell for column in columns for cell in self.split(column, "y", int(rng.integers(1, 4)), gutter)]
        tiers = self.split(page, "y", int(rng.choice([1, 2, 3, 3, 4, 4, 5])), gutter)
        cells: list[Polygon] = []
        for tier in tiers:
            for cell in self.split(tier, "x", int(rng.choice([1, 1, 2, 2, 2, 3, 3, 4])), gutter):
                nested = rng.random() < 0.15 and polygon_box(cell)[3] - polygon_box(cell)[1] > 0.2 * h
                cells.extend(self.split(cell, "y", int(rng.integers(2, 4)), gutter) if nested else [cell])
        return cells

    def split(self, polygon: Polygon, axis: str, parts: int, gutter: float) -> list[Polygon]:
        """Cut a convex polygon into ``parts`` along ``axis`` with uneven sizes and sometimes slanted gutters."""
        if parts <= 1:
            return [polygon]
        rng = self.rng
        weights = rng.uniform(0.6, 1.6, parts)
        gutters, slants = [], []
        for _ in range(parts - 1):
            gutters.append(gutter * rng.uniform(0.6, 1.5))
            slants.append(math.tan(math.radians(rng.uniform(-7, 7))) if rng.random() < 0.2 else 0.0)
        return split_polygon(polygon, axis, weights, gutters, slants)

    # ----- panels -------------------------------------------------------------------------------------
    def fill(self, polygon: Polygon) -> None:
        """Fill a panel polygon with real-page content or drawn shapes."""
        rng = self.rng
        x0, y0, x1, y1 = (int(round(v)) for v in polygon_box(polygon))
        pw, ph = max(x1 - x0, 8), max(y1 - y0, 8)
        tile, texts = self.real_crop(pw, ph) if self.sources and rng.random() < 0.75 else (self.drawn_content(pw, ph), [])
        self.cover(polygon_box(polygon))
        for tx0, ty0, tx1, ty1 in texts:
            box = (tx0 + x0, ty0 + y0, tx1 + x0, ty1 + y0)
            if inside_polygon(polygon, ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)):
                self.real_texts.append(box)
        mask = Image.new("L", self.size, 0)
        ImageDraw.Draw(mask).polygon(polygon, fill=255)
        layer = Image.new("RGB", self.size)
        layer.paste(tile, (x0, y0))
        self.canvas.paste(layer, (0, 0), mask)

    def real_crop(self, width: int, height: int) -> tuple[Image.Image, list[Box]]:
        """A crop of a real panel resized to ``width`` x ``height``, and the known text boxes wholly inside it."""
        rng = self.rng
        labelled = [s for s in self.sources if s.texts]
        pool = labelled if labelled and rng.random() < 0.8 else self.sources
        source = pool[int(rng.integers(len(pool)))]
        rx0, ry0, rx1, ry1 = source.regions[int(rng.integers(len(source.regions)))]
        rw, rh = rx1 - rx0, ry1 - ry0
        aspect = width / height
        cw = min(rw, rh * aspect) * (rng.uniform(0.7, 1.0) if source.texts else rng.uniform(0.2, 0.5))
        ch = cw / aspect
        cx, cy = rx0 + rng.uniform(0, rw - cw), ry0 + rng.uniform(0, rh - ch)
        crop = source.image.crop((int(cx), int(cy), int(cx) + int(cw) + 1, int(cy) + int(ch) + 1))
        sx, sy = width / crop.width, height / crop.height
        texts = []
        for box in source.texts:  # text mostly inside the crop is labelled, clipped to the crop
            clipped = clip_box((box[0] - int(cx), box[1] - int(cy), box[2] - int(cx), box[3] - int(cy)), crop.width, crop.height)
            if box_area(clipped) >= 0.5 * box_area(box):
                texts.append((clipped[0] * sx, clipped[1] * sy, clipped[2] * sx, clipped[3] * sy))
        return crop.resize((width, height), Image.Resampling.BILINEAR), texts

    def drawn_content(self, width: int, height: int) -> Image.Image:
        """Shapes, speed lines or hatching on a flat or gradient background."""
        rng = self.rng
        base = np.array(rng.integers(120, 256, 3), dtype=np.float32)
        ramp = np.linspace(0, rng.uniform(-80, 80), height, dtype=np.float32)[:, None, None]
        tile = Image.fromarray(np.clip(base + ramp + np.zeros((height, width, 3), np.float32), 0, 255).astype(np.uint8))
        draw = ImageDraw.Draw(tile)
        for _ in range(int(rng.integers(2, 12))):
            colour = tuple(int(v) for v in rng.integers(0, 256, 3))
            x, y = rng.uniform(0, width), rng.uniform(0, height)
            r = rng.uniform(0.05, 0.4) * min(width, height)
            shape = rng.integers(4)
            if shape == 0:
                draw.ellipse((x - r, y - r, x + r, y + r * rng.uniform(0.5, 1.5)), fill=colour, outline=(0, 0, 0))
            elif shape == 1:
                draw.rectangle((x - r, y - r / 2, x + r, y + r), fill=colour, outline=(0, 0, 0), width=2)
            elif shape == 2:  # speed lines from a centre
                for angle in np.linspace(0, 2 * np.pi, int(rng.integers(12, 40)), endpoint=False):
                    draw.line((x, y, x + 3 * r * np.cos(angle), y + 3 * r * np.sin(angle)), fill=(0, 0, 0), width=1)
            else:  # hatching
                step = int(rng.integers(3, 9))
                for offset in range(-height, width, step):
                    draw.line((offset, 0, offset + height * 0.5, height * 0.5), fill=(40, 40, 40), width=1)
        return tile

    def frame(self, polygon: Polygon, width: int) -> None:
        """Draw a panel border."""
        colour = (235, 235, 235) if self.black_page else (0, 0, 0)
        self.draw_ctx.line(polygon + [polygon[0]], fill=colour, width=width, joint="curve")

    def inset(self, box: Box) -> Polygon | None:
        """A small rectangular panel laid over a corner of a larger one."""
        rng = self.rng
        x0, y0, x1, y1 = box
        w, h = (x1 - x0) * rng.uniform(0.25, 0.4), (y1 - y0) * rng.uniform(0.25, 0.4)
        if min(w, h) < 40:
            return None
        ix = x0 + rng.choice([0.05, 0.95]) * (x1 - x0 - w)
        iy = y0 + rng.choice([0.05, 0.95]) * (y1 - y0 - h)
        return [(ix, iy), (ix + w, iy), (ix + w, iy + h), (ix, iy + h)]

    def breakout(self, box: Box) -> None:
        """Fill an elliptic blob over one edge of panel ``box`` like a panel (``fill``: real-page content with its
        lettering labelled, or drawn shapes), like a figure leaving its frame.

        Panel labels keep the frame's box, as human annotators draw them.
        """
        rng = self.rng
        x0, y0, x1, y1 = box
        bw, bh = (x1 - x0) * rng.uniform(0.2, 0.45), (y1 - y0) * rng.uniform(0.25, 0.6)
        if min(bw, bh) < 24:
            return
        side = int(rng.integers(4))
        cx = x0 + rng.uniform(0.2, 0.8) * (x1 - x0) if side < 2 else (x0, x1)[side - 2]
        cy = (y0, y1)[side] if side < 2 else y0 + rng.uniform(0.2, 0.8) * (y1 - y0)
        angles = np.linspace(0, 2 * math.pi, 32, endpoint=False)
        blob = [(cx + bw / 2 * math.cos(a), cy + bh / 2 * math.sin(a)) for a in angles]
        self.fill(blob)
        if rng.random() < 0.5:
            self.frame(blob, 2)

    # ----- balloons -----------------------------------------------------------------------------------
    def lettering(self, cx: float, cy: float, max_w: float, max_h: float, vertical: bool,
                  style: BalloonStyle = UPPERCASE_STYLE) -> Box | None:
        """Draw lines (or manga-style columns) of letters centred at (cx, cy); return their tight box."""
        rng = self.rng
        size = int(np.clip(rng.uniform(*style.letter_size) * max(self.size), 8, 30))
        font = lettering_font(style.font, size)
        layer_box: list[float] = [math.inf, math.inf, -math.inf, -math.inf]
        if vertical:
            columns = max(1, min(int(max_w // (size * 1.3)), int(rng.integers(1, 5))))
            rows = max(1, min(int(max_h // (size * 1.05)), int(rng.integers(3, 12))))
            lines = ["".join(rng.choice(list(LETTERS), rows)) for _ in range(columns)]
            x = cx + (columns - 1) * size * 0.65
            for line in lines:
                y = cy - len(line) * size * 0.525
                for ch in line[: int(rng.integers(max(1, len(line) // 2), len(line) + 1))]:
                    self._text((x, y), ch, font, layer_box, style)
                    y += size * 1.05
                x -= size * 1.3
        else:
            chars = max(3, int(max_w // (size * 0.62)))
            n_lines = max(1, min(int(max_h // (size * 1.25)), int(rng.integers(*style.lines))))
            y = cy - n_lines * size * 0.62
            for _ in range(n_lines):
                words = " ".join(self._word(style) for _ in range(style.words))
                line = words[: int(rng.integers(max(2, chars // 2), chars + 1))].strip() or "HA"
                self._text((cx - font.getlength(line) / 2, y), line, font, layer_box, style)
                y += size * 1.25
        return tuple(layer_box) if layer_box[0] < layer_box[2] else None

    def _word(self, style: BalloonStyle) -> str:
        """A random word in capitals, or (mixed case) in lower case, sometimes capitalised or punctuated."""
        rng = self.rng
        if not style.english_letters:
            return "".join(rng.choice(list(LETTERS[:26]), int(rng.integers(1, 8))))
        word = "".join(rng.choice(list(string.ascii_lowercase), int(rng.integers(1, 9)), p=ENGLISH_LETTER_SHARES))
        if not style.mixed_case:
            word = word.upper()
        elif rng.random() < 0.25:
            word = word.capitalize()
        return word + (str(rng.choice(list("!?.,"))) if rng.random() < 0.2 else "")

    def _text(self, xy: tuple[float, float], text: str, font: ImageFont.ImageFont, box: list[float],
              style: BalloonStyle) -> None:
        stroke = 1 if style.bold else 0
        bbox = self.draw_ctx.textbbox(xy, text, font=font, stroke_width=stroke)
        if bbox[2] > bbox[0]:
            self.draw_ctx.text(xy, text, font=font, fill=style.ink, stroke_width=stroke, stroke_fill=style.ink)
            box[:] = [min(box[0], bbox[0]), min(box[1], bbox[1]), max(box[2], bbox[2]), max(box[3], bbox[3])]

    def western_style(self) -> BalloonStyle:
        """A balloon as western colour comics letter them: light or (1 in 8) dark, thin or no outline."""
        rng = self.rng
        dark = rng.random() < 0.125
        fill = tuple(int(v) for v in (rng.integers(0, 40, 3) if dark else rng.integers(232, 256, 3)))
        ink = tuple(int(v) for v in (rng.integers(225, 256, 3) if dark else rng.integers(0, 60, 3)))
        font = rng.choice([None, *LETTERING_FONTS])
        return BalloonStyle(outline=int(rng.choice([0, 0, 1, 2, 3])), fill=fill, ink=ink,
                            mixed_case=rng.random() < 0.7, bold=rng.random() < 0.25,
                            letter_size=(0.011, 0.02), lines=(2, 6), words=12,
                            font=None if font is None else str(font), english_letters=True)

    def balloon(self, panel: Box) -> None:
        """A speech balloon, thought cloud or caption box with lettering inside ``panel``."""
        rng = self.rng
        x0, y0, x1, y1 = panel
        pw, ph = x1 - x0, y1 - y0
        vertical = rng.random() < 0.45
        style = UPPERCASE_STYLE
        if self.western_balloons and rng.random() < self.western_balloons:
            style = self.western_style()
            bw, bh = pw * rng.uniform(0.3, 0.6), ph * rng.uniform(0.18, 0.4)  # a few full lines of dialogue
            vertical = False
        else:
            bw = pw * rng.uniform(0.2, 0.45) if not vertical else pw * rng.uniform(0.12, 0.3)
            bh = ph * rng.uniform(0.15, 0.35) if not vertical else ph * rng.uniform(0.25, 0.5)
        if min(bw, bh) < 30:
            return
        cx, cy = rng.uniform(x0 + bw / 2 - 0.1 * bw, x1 - bw / 2 + 0.1 * bw), rng.uniform(y0 + bh / 2, y1 - bh / 2)
        outline = (0, 0, 0) if style.outline else None
        width, fill = style.outline, style.fill
        kind = rng.choice(["speech", "thought", "caption"], p=[0.7, 0.1, 0.2])
        shape = (cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2)
        reach = (shape[0] - bw * 0.3, shape[1] - bh * 0.3, shape[2] + bw * 0.3, shape[3] + bh * 0.3)
        if any(overlaps(b, reach) for b in self.balloons):
            return  # never letter over an earlier balloon: its label would lose its text
        self.cover(reach)
        if kind == "caption":
            if not style.dark and self.colour and rng.random() < 0.5:
                fill = (255, 250, 205)  # pale yellow caption
            self.draw_ctx.rectangle(shape, fill=fill, outline=outline, width=width)
        else:
            tail_angle = rng.uniform(0, 2 * np.pi)
            tip = (cx + np.cos(tail_angle) * bw * 0.8, cy + np.sin(tail_angle) * bh * 0.9)
            base = [(cx + np.cos(tail_angle + d) * bw * 0.3, cy + np.sin(tail_angle + d) * bh * 0.3) for d in (-0.3, 0.3)]
            self.draw_ctx.polygon([base[0], tip, base[1]], fill=fill, outline=outline, width=width)
            if kind == "thought":
                for _ in range(10):
                    a = rng.uniform(0, 2 * np.pi)
                    px, py = cx + np.cos(a) * bw * 0.42, cy + np.sin(a) * bh * 0.42
                    r = min(bw, bh) * 0.2
                    self.draw_ctx.ellipse((px - r, py - r, px + r, py + r), fill=fill, outline=outline, width=width)
            if rng.random() < 0.5:
                self.draw_ctx.ellipse(shape, fill=fill, outline=outline, width=width)
            else:
                self.draw_ctx.rounded_rectangle(shape, radius=min(bw, bh) * 0.3, fill=fill, outline=outline,
                                                width=width)
        text_box = self.lettering(cx, cy, bw * 0.7, bh * 0.7, vertical and kind != "caption", style)
        if text_box is not None:
            self.balloons.append(text_box)

    # ----- page ---------------------------------------------------------------------------------------
    def draw(self) -> SyntheticPage:
        """Lay out, fill, frame and letter the page, then age it like a scan or a web image."""
        rng = self.rng
        cells = self.layout()
        framed = rng.random() > 0.08
        border = int(rng.integers(1, 6))
        for cell in cells:
            self.fill(cell)
            if framed and rng.random() > 0.1:
                self.frame(cell, border)
            self.panels.append(polygon_box(cell))
        if len(cells) <= 3 and rng.random() < 0.4:
            inset = self.inset(self.panels[int(rng.integers(len(self.panels)))])
            if inset is not None:
                self.fill(inset)
                self.frame(inset, max(border, 3))
                self.panels.append(polygon_box(inset))
        if len(self.panels) > 1 and rng.random() < 0.3:
            for _ in range(int(rng.integers(1, 3))):
                self.breakout(self.panels[int(rng.integers(len(self.panels)))])
        for panel in list(self.panels):
            for _ in range(int(rng.choice([0, 1, 1, 1, 2, 2, 3]))):
                self.balloon(panel)
        return SyntheticPage(self.finish(), self.panels, self.balloons + self.real_texts)

    def finish(self) -> Image.Image:
        """Paper texture, screentone, B&W or colour, noise, blur and JPEG round trip."""
        rng = self.rng
        image = self.canvas
        if not self.colour:
            image = image.convert("L").convert("RGB")
        pixels = np.asarray(image, dtype=np.float32)
        h, w = pixels.shape[:2]
        low = rng.normal(0, 1, (max(2, h // 64), max(2, w // 64))).astype(np.float32)
        texture = np.asarray(Image.fromarray(low).resize((w, h), Image.Resampling.BICUBIC))
        pixels = pixels + texture[..., None] * rng.uniform(0, 6) + rng.normal(0, rng.uniform(0, 6), pixels.shape)
        if not self.colour and rng.random() < 0.3:  # screentone dots over mid greys
            yy, xx = np.mgrid[0:h, 0:w]
            dots = ((np.sin(xx * 0.9) * np.sin(yy * 0.9)) > 0.3) * 60.0
            mid = (pixels.mean(axis=2, keepdims=True) > 90) & (pixels.mean(axis=2, keepdims=True) < 200)
            pixels = pixels - mid * dots[..., None]
        image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
        if rng.random() < 0.3:
            image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.0)))
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=int(rng.integers(35, 95)))
        return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")
