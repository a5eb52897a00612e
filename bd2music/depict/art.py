"""Comic art from the comic VAE's 64 x 64 decodes: each panel's picture, stylised, and the page put together.

A decode is blurry and nearly grey, so it gives a panel its shapes only: the picture is cut out of its
letterbox, upsampled to the panel, stretched to full contrast, smoothed and **posterised** into flat tones
(``StyleConfig.levels``). Each tone gets a colour of the sound's palette (hue from the key, the shadows in a
second hue), the second darkest tone a **halftone** of dots, the borders between tones **ink** lines, and each
panel **line work** (speed lines or hatching) whose stroke count follows the onsets heard in its
window. Panels get black **borders** on paper-white **gutters**.

Colours are held as luma and two opponent chroma channels, red-green and yellow-blue (Hasler and Süsstrunk's,
the ones ``bd2music.vision.features`` measures colourfulness on): the page's brightness is the mean luma, its
colourfulness scales with the chroma, and :meth:`PageArt.render` turns three knobs (a gamma on the tones'
luma, a gain on their chroma, the stroke density) into the RGB page. ``bd2music.depict.pipeline`` sets the
knobs so that the page measures what the sound asks.
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass

import cv2
import numpy as np

from bd2music.data.synthetic_pages import Polygon, polygon_box

# luma, red-green, yellow-blue of RGB in [0, 1] (Rec. 601 luma; Hasler-Süsstrunk opponents); its inverse
TO_OPPONENT = np.array([[0.299, 0.587, 0.114], [1.0, -1.0, 0.0], [0.5, 0.5, -1.0]], dtype=np.float32)
FROM_OPPONENT = np.linalg.inv(TO_OPPONENT).astype(np.float32)
STROKE_STYLES = ("speed", "hatching")  # long horizontal streaks read as panel borders: none


@dataclass(frozen=True)
class StyleConfig:
    """How the panels are drawn (``weights/depict/config.json``, key ``style``); lengths in page pixels."""

    levels: tuple[float, ...] = (0.12, 0.4, 0.66, 0.9)  # luma of the posterised tones, darkest first
    cuts: tuple[float, ...] = (0.3, 0.55, 0.8)  # where the stretched picture's tone changes level
    chroma: tuple[float, ...] = (0.10, 0.16, 0.14, 0.07)  # opponent chroma of each tone at gain 1
    letterbox: float = 0.9  # decode rows and columns lighter than this (0-1) around the picture are its letterbox
    smooth: float = 0.025  # blur of the upsampled picture, as a share of the panel's short side
    shift: float = 0.08  # a panel's tones move by up to this luma with its window's centroid (against the clip's)
    halftone_period: int = 12  # the halftone repeats every this many pixels (dots 8.5 px apart)
    halftone_depth: float = 0.5  # a dot darkens its tone's luma by this share
    ink: float = 0.03  # luma of the ink (tone borders, panel borders, strokes on light panels)
    light_ink: float = 0.95  # luma of the strokes on a dark page...
    light_ink_below: float = 0.45  # ...one asked to be darker than this
    paper: float = 0.97  # luma of the gutters
    contour_px: int = 2  # width of the tone borders
    border_px: int = 6  # width of the panel borders
    stroke_px: int = 1  # width of the strokes (thin: the edges they make darken or lighten the page least)
    max_strokes: int = 1500  # strokes prepared per panel (the density draws a share of them)


@dataclass(frozen=True)
class Palette:
    """The page's colours: the key's hue, the shadows' hue (fractions of the colour circle, 0 red) and the
    relative chroma of the key's hue (a clear key saturates more than noise)."""

    hue: float
    shadow_hue: float
    strength: float


def key_palette(tonic: int, mode: str, key_strength: float) -> Palette:
    """The inverse of the music backend's key choice (``bd2music.music.intent``, Scriabin's colour keyboard): a
    tonic ``7 * fifths`` semitones above C has the hue ``fifths / 12`` (red C, orange G, yellow D, green A...).
    Major keys shade their shadows a fifth on (an analogous hue), minor keys with the split complement."""
    hue = (7 * tonic % 12) / 12
    shadow = hue + (1 / 12 if mode == "major" else 5 / 12)
    return Palette(hue, shadow % 1.0, float(np.clip(0.6 + key_strength, 0.6, 1.4)))


def chroma_direction(hue: float) -> np.ndarray:
    """The unit (red-green, yellow-blue) direction of a hue."""
    rgb = np.array(colorsys.hsv_to_rgb(hue, 1.0, 1.0), dtype=np.float32)
    direction = (TO_OPPONENT @ rgb)[1:]
    return direction / np.linalg.norm(direction)


def picture_tone(decoded: np.ndarray, width: int, height: int, config: StyleConfig) -> np.ndarray:
    """(height, width) tone in [0, 1] of a decode (S, S, 3) in [0, 1]: out of its letterbox, upsampled, stretched
    to full contrast and smoothed; a flat decode gives a left-to-right ramp."""
    luma = decoded @ TO_OPPONENT[0]
    rows, columns = np.flatnonzero(luma.mean(axis=1) < config.letterbox), np.flatnonzero(luma.mean(axis=0) < config.letterbox)
    if len(rows) >= 8 and len(columns) >= 8:
        luma = luma[rows[0] : rows[-1] + 1, columns[0] : columns[-1] + 1]
    side_h, side_w = luma.shape  # cut to the panel's shape (centred), so that the picture is not stretched
    if width * side_h > height * side_w:
        keep = max(4, round(side_w * height / width))
        luma = luma[(side_h - keep) // 2 : (side_h - keep) // 2 + keep]
    else:
        keep = max(4, round(side_h * width / height))
        luma = luma[:, (side_w - keep) // 2 : (side_w - keep) // 2 + keep]
    tone = cv2.resize(luma, (width, height), interpolation=cv2.INTER_CUBIC)
    low, high = np.percentile(tone, [3, 97])
    if high - low < 0.03:
        return np.broadcast_to(np.linspace(0, 1, width, dtype=np.float32), (height, width)).copy()
    tone = np.clip((tone - low) / (high - low), 0, 1)
    sigma = max(1.0, config.smooth * min(width, height))
    return cv2.GaussianBlur(tone, (0, 0), sigma)


def halftone(height: int, width: int, period: int, phase: int) -> np.ndarray:
    """(height, width) boolean dot screen at 45 degrees repeating every ``period`` pixels along both axes (the
    dots are ``period / sqrt(2)`` apart), half the area in dots, shifted by ``phase`` pixels."""
    y, x = np.mgrid[0:period, 0:period].astype(np.float32)
    cell = np.cos(2 * np.pi * (x + y) / period) + np.cos(2 * np.pi * (x - y) / period) > 1.0
    tiled = np.tile(cell, (-(-height // period) + 1, -(-width // period) + 1))
    return tiled[phase % period : phase % period + height, phase % period : phase % period + width]


def prepare_strokes(style: str, width: int, height: int, rng: np.random.Generator, count: int) -> np.ndarray:
    """(count, 4) stroke segments (x0, y0, x1, y1) inside a ``width`` x ``height`` panel, in drawing order."""
    diagonal = float(np.hypot(width, height))
    if style == "speed":  # lines from outside the panel towards a focus, stopping short of it
        focus = np.array([rng.uniform(0.3, 0.7) * width, rng.uniform(0.3, 0.7) * height])
        angle = rng.uniform(0, 2 * np.pi, count)
        inner = rng.uniform(0.15, 0.45, count) * min(width, height)
        unit = np.stack([np.cos(angle), np.sin(angle)], axis=1)
        return np.hstack([focus + unit * diagonal, focus + unit * inner[:, None]])
    # hatching: short parallel strokes
    angle = rng.choice([np.pi / 4, 3 * np.pi / 4])
    half = rng.uniform(0.03, 0.08, count)[:, None] * min(width, height)
    centre = rng.uniform(0, 1, (count, 2)) * [width, height]
    unit = np.array([np.cos(angle), np.sin(angle)])
    return np.hstack([centre - half * unit, centre + half * unit])


@dataclass
class PanelArt:
    """One panel: where it is, its tones and what is inked on it."""

    polygon: Polygon
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 of its page crop
    mask: np.ndarray  # (h, w) bool: inside the polygon
    luma: np.ndarray  # (h, w) tone luma before the page's gamma
    chroma: np.ndarray  # (h, w, 2) opponent chroma before the page's gain
    contours: np.ndarray  # (h, w) bool: ink between tones
    strokes: np.ndarray  # (max_strokes, 4) in the crop's pixels
    stroke_weight: float  # strokes per unit density and pixel of area, relative to the page's panels


def draw_panel(polygon: Polygon, decoded: np.ndarray, palette: Palette, luma_shift: float, chroma_scale: float,
               stroke_style: str, stroke_weight: float, rng: np.random.Generator, config: StyleConfig,
               screen: np.ndarray) -> PanelArt:
    """The art of one panel from its decode; ``luma_shift`` and ``chroma_scale`` follow its window's sound;
    ``screen``: the page's halftone dots (:func:`halftone`)."""
    page_size = screen.shape[::-1]
    x0, y0, x1, y1 = polygon_box(polygon)
    box = (max(0, int(np.floor(x0))), max(0, int(np.floor(y0))),
           min(page_size[0], int(np.ceil(x1))), min(page_size[1], int(np.ceil(y1))))
    width, height = box[2] - box[0], box[3] - box[1]
    mask = np.zeros((height, width), np.uint8)
    corners = np.round(np.array(polygon) - [box[0], box[1]]).astype(np.int32)
    cv2.fillPoly(mask, [corners], 1)
    level = np.digitize(picture_tone(decoded, width, height, config), config.cuts)
    levels = np.clip(np.array(config.levels, np.float32) + luma_shift, 0.02, 0.98)
    luma = levels[level]
    dots = screen[box[1] : box[3], box[0] : box[2]] & (level == 1)
    luma = np.where(dots, luma * (1 - config.halftone_depth), luma)
    hues = [palette.shadow_hue] + [palette.hue] * (len(config.levels) - 1)
    colours = np.stack([chroma_direction(h) * c for h, c in zip(hues, config.chroma)]) * palette.strength
    chroma = colours[level] * chroma_scale
    kernel = np.ones((config.contour_px, config.contour_px), np.uint8)
    contours = cv2.morphologyEx(level.astype(np.uint8), cv2.MORPH_GRADIENT, kernel) > 0
    strokes = prepare_strokes(stroke_style, width, height, rng, config.max_strokes)
    return PanelArt(polygon, box, mask.astype(bool), luma.astype(np.float32), chroma.astype(np.float32), contours,
                    strokes, stroke_weight)


@dataclass
class PageArt:
    """The drawn panels on a page of ``size`` (width, height); :meth:`render` makes the RGB page."""

    size: tuple[int, int]
    panels: list[PanelArt]
    config: StyleConfig
    light_strokes: bool = False  # strokes in light ink (a dark page), else in ink

    def __post_init__(self) -> None:
        width, height = self.size
        content = np.zeros((height, width), bool)  # panel pixels that carry tones (not ink)
        luma = np.full((height, width), self.config.paper, np.float32)
        chroma = np.zeros((height, width, 2), np.float32)
        ink = np.zeros((height, width), np.uint8)  # tone borders and panel borders
        for panel in self.panels:
            x0, y0, x1, y1 = panel.box
            inside = panel.mask
            content[y0:y1, x0:x1] |= inside
            luma[y0:y1, x0:x1][inside] = panel.luma[inside]
            chroma[y0:y1, x0:x1][inside] = panel.chroma[inside]
            ink[y0:y1, x0:x1] |= inside & panel.contours
        for panel in self.panels:
            cv2.polylines(ink, [np.round(np.array(panel.polygon)).astype(np.int32)], True, 1, self.config.border_px)
        ink = ink > 0
        content &= ~ink
        luma[ink] = self.config.ink
        chroma[ink] = 0
        self.content = content
        self.luma = luma  # tones before the gamma, paper, ink
        self.tones = luma[content]  # the tones' luma, in the order of content's pixels
        self.chroma = chroma  # opponent chroma at gain 1
        self.chroma_rgb = chroma @ FROM_OPPONENT[:, 1:].T  # the chroma's part of the RGB at gain 1
        self.area = np.array([panel.mask.sum() for panel in self.panels], dtype=np.float64)

    def stroke_counts(self, density: float) -> list[int]:
        """Strokes drawn in each panel at ``density`` (strokes per 10,000 pixels of a panel of weight 1)."""
        return [int(min(len(p.strokes), round(density * p.stroke_weight * area / 1e4)))
                for p, area in zip(self.panels, self.area)]

    def strokes(self, density: float) -> np.ndarray:
        """(height, width) bool: the pixels the strokes cover at ``density``."""
        drawn = np.zeros(self.luma.shape, bool)
        for panel, count in zip(self.panels, self.stroke_counts(density)):
            if count == 0:
                continue
            x0, y0, x1, y1 = panel.box
            canvas = np.zeros(panel.mask.shape, np.uint8)
            for segment in np.round(panel.strokes[:count]).astype(np.int32):
                cv2.line(canvas, segment[:2].tolist(), segment[2:].tolist(), 1, self.config.stroke_px)
            drawn[y0:y1, x0:x1] |= (canvas > 0) & panel.mask
        return drawn

    @property
    def stroke_luma(self) -> float:
        return self.config.light_ink if self.light_strokes else self.config.ink

    def page_luma(self, gamma: float, strokes: np.ndarray) -> np.ndarray:
        """The page's luma: the tones raised to ``gamma``, the ``strokes`` drawn over them."""
        luma = self.luma.copy()
        luma[self.content] = self.tones ** np.float32(gamma)
        luma[strokes] = self.stroke_luma
        return luma

    def render(self, gamma: float, gain: float, density: float, strokes: np.ndarray | None = None) -> np.ndarray:
        """(height, width, 3) uint8 RGB page: tones to the power ``gamma``, chroma times ``gain``, strokes at
        ``density`` (``strokes``: those already drawn at it)."""
        strokes = self.strokes(density) if strokes is None else strokes
        rgb = self.chroma_rgb * np.float32(gain)
        rgb[strokes] = 0
        rgb += self.page_luma(gamma, strokes)[..., None]
        return np.clip(rgb * 255 + 0.5, 0, 255).astype(np.uint8)
