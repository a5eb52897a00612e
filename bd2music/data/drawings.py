"""Procedural drawings with exact labels, for training and testing the readings of ``bd2music.draw``.

A drawing is a canvas (white, or tinted paper with a little grain) with 1 to a few strokes of a round brush, as a
sketch canvas draws them: lines (sloped, a little unsteady), waves, arcs and dabs, in any colour or in grey and
black, the width varying with the pen's pressure, some with a crayon's texture; strokes may cross. Brushes are
stamped at ``supersample`` times the resolution and averaged down (anti-aliased edges), and some drawings are
saved as JPEG. Each stroke carries its labels as ``bd2music.draw.readings`` defines them (height, loudness,
brightness) and the measurements they come from (the pen's mean width, the ink it left), and its coverage of
the canvas. Every drawing is a pure function of ``(seed, index)``.
"""

from __future__ import annotations

import colorsys
import io
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw
from scipy.ndimage import gaussian_filter

from bd2music.draw.readings import WIDTH_RANGE, brightness, loudness

KINDS = ("line", "wave", "arc", "dab")


@dataclass(frozen=True)
class DrawingConfig:
    """The spread of the random drawings."""

    width: tuple[int, int] = (320, 900)  # canvas width, px
    aspect: tuple[float, float] = (0.45, 1.1)  # canvas height / width
    strokes: tuple[int, int] = (1, 6)  # strokes per drawing (both ends included)
    kinds: tuple[float, ...] = (0.4, 0.25, 0.2, 0.15)  # how often each of KINDS is drawn
    pen_width: tuple[float, float] = WIDTH_RANGE  # pen width / canvas height, drawn log-uniform
    pressure: float = 0.3  # the width varies by up to this share along a stroke (smoothly)
    grey: float = 0.15  # share of grey or black pens
    saturation: tuple[float, float] = (0.35, 1.0)  # HSV saturation of the coloured pens
    value: tuple[float, float] = (0.45, 1.0)  # HSV value of the coloured pens
    texture: float = 0.3  # share of strokes with a crayon's texture
    texture_depth: tuple[float, float] = (0.2, 0.6)  # how much of the ink the texture takes away, at most
    paper: float = 0.4  # share of drawings on tinted paper (else white)
    jpeg: float = 0.3  # share of drawings saved as JPEG
    jpeg_quality: tuple[int, int] = (50, 95)
    supersample: int = 3  # brushes are stamped at this many times the resolution


@dataclass(frozen=True)
class DrawnStroke:
    """One stroke of a generated drawing and its labels."""

    kind: str  # one of KINDS
    colour: tuple[float, float, float]  # the pen's RGB, 0-1
    coverage: np.ndarray = field(repr=False)  # (H, W) float32 0-1: the ink it put on the canvas (before later strokes)
    height: float  # label: mean centre-line height, 0 bottom .. 1 top
    width: float  # the pen's mean width / canvas height
    ink: float  # the ink it left (coverage summed) / canvas area
    loudness: float  # label, from width and ink
    brightness: float  # label, from the colour


@dataclass(frozen=True)
class SyntheticDrawing:
    """A generated drawing (RGB) and its strokes in the order they were drawn."""

    image: Image.Image
    strokes: list[DrawnStroke]


def _centre_line(kind: str, rng: np.random.Generator, width: int, height: int, margin: float) -> np.ndarray:
    """(n, 2) points (x, y) in px, one per column (a function of x), of a stroke of ``kind`` kept ``margin`` px
    inside the canvas."""
    span = rng.uniform(0.005, 0.03) if kind == "dab" else rng.uniform(0.08, 0.75)
    length = max(1.0, span * width)
    x0 = rng.uniform(margin, max(margin + 1, width - margin - length))
    x = np.linspace(x0, min(width - margin, x0 + length), max(2, int(length) + 1))
    u = (x - x[0]) / max(x[-1] - x[0], 1.0)  # 0..1 along the stroke
    if kind == "line":
        slope = rng.uniform(-0.25, 0.25)
        shape = slope * (u - 0.5) * length + 0.004 * height * np.sin(2 * np.pi * rng.uniform(1, 3) * u)
    elif kind == "wave":
        shape = rng.uniform(0.02, 0.12) * height * np.sin(2 * np.pi * (rng.uniform(0.5, 3.5) * u + rng.uniform()))
    elif kind == "arc":
        shape = rng.uniform(-0.15, 0.15) * height * (4 * (u - 0.5) ** 2 - 1 / 3)
    else:
        shape = np.zeros_like(u)
    reach = np.abs(shape).max() + margin
    centre = rng.uniform(reach, max(reach + 1, height - reach))
    return np.stack([x, np.clip(centre + shape, margin, height - margin)], axis=1)


def _stamp(points: np.ndarray, radii: np.ndarray, size: tuple[int, int], supersample: int) -> np.ndarray:
    """(H, W) float32 coverage of a round brush of ``radii`` (px) stamped along ``points`` (anti-aliased)."""
    width, height = size
    s = supersample
    reach = float(radii.max()) + 2
    left, top = max(0, int(points[:, 0].min() - reach)), max(0, int(points[:, 1].min() - reach))
    right, bottom = min(width, int(points[:, 0].max() + reach) + 1), min(height, int(points[:, 1].max() + reach) + 1)
    mask = Image.new("L", ((right - left) * s, (bottom - top) * s), 0)
    draw = ImageDraw.Draw(mask)
    steps = np.hypot(*np.diff(points, axis=0).T)
    along = np.concatenate([[0.0], np.cumsum(steps)])  # arc length of each point
    at, position = [], 0.0
    while position <= along[-1]:  # stamps every quarter radius along the arc
        at.append(position)
        position += max(0.25, np.interp(position, along, radii) / 4)
    at = np.array(at or [0.0])
    xs, ys, rs = (np.interp(at, along, values) for values in (points[:, 0], points[:, 1], radii))
    for x, y, r in zip((xs - left) * s, (ys - top) * s, rs * s):
        draw.ellipse((x - r, y - r, x + r, y + r), fill=255)
    small = np.asarray(mask.reduce(s), dtype=np.float32) / 255.0
    coverage = np.zeros((height, width), np.float32)
    coverage[top:bottom, left:right] = small[: bottom - top, : right - left]
    return coverage


def _pen_colour(config: DrawingConfig, rng: np.random.Generator) -> tuple[float, float, float]:
    if rng.uniform() < config.grey:
        grey = rng.uniform(0.0, 0.6)
        return (grey, grey, grey)
    return colorsys.hsv_to_rgb(rng.uniform(), rng.uniform(*config.saturation), rng.uniform(*config.value))


def _paper(config: DrawingConfig, rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    """(H, W, 3) float32 canvas: white, or tinted paper with a little grain."""
    width, height = size
    if rng.uniform() >= config.paper:
        return np.ones((height, width, 3), np.float32)
    tint = np.array(colorsys.hsv_to_rgb(rng.uniform(), rng.uniform(0.03, 0.12), rng.uniform(0.9, 1.0)), np.float32)
    grain = gaussian_filter(rng.normal(0, 0.012, (height, width)), 0.7).astype(np.float32)
    return np.clip(tint + grain[..., None], 0, 1)


def _texture(config: DrawingConfig, rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    """(H, W) float32 share of the ink that a crayon leaves (1 everywhere for a smooth pen)."""
    width, height = size
    if rng.uniform() >= config.texture:
        return np.ones((height, width), np.float32)
    grain = gaussian_filter(rng.uniform(size=(height, width)), 0.8)
    grain = (grain - grain.min()) / max(float(np.ptp(grain)), 1e-6)
    return (1 - rng.uniform(*config.texture_depth) * grain).astype(np.float32)


def paint(canvas: np.ndarray, strokes: list[DrawnStroke]) -> Image.Image:
    """The strokes laid on ``canvas`` (H, W, 3) in order, as an RGB image."""
    out = canvas.copy()
    for stroke in strokes:
        alpha = stroke.coverage[..., None]
        out = out * (1 - alpha) + np.asarray(stroke.colour, np.float32) * alpha
    return Image.fromarray(np.round(np.clip(out, 0, 1) * 255).astype(np.uint8), "RGB")


def make_stroke(points: np.ndarray, radii: np.ndarray, colour: tuple[float, float, float], kind: str,
                size: tuple[int, int], texture: np.ndarray | None = None, supersample: int = 3) -> DrawnStroke:
    """A stroke of a round brush of ``radii`` (px, one per point) along ``points`` (one per column), labelled."""
    coverage = _stamp(points, radii, size, supersample)
    if texture is not None:
        coverage *= texture
    height = size[1]
    mean_height = float(np.mean(1 - points[:, 1] / height))
    width = float(np.mean(2 * radii)) / height
    ink = float(coverage.sum()) / (size[0] * size[1])
    return DrawnStroke(kind, tuple(float(c) for c in colour), coverage, mean_height, width, ink,
                       loudness(width, ink), brightness(colour))


def random_drawing(seed: int, index: int, config: DrawingConfig = DrawingConfig()) -> SyntheticDrawing:
    """Drawing ``index`` of the series ``seed``."""
    rng = np.random.default_rng([seed, index])
    width = int(rng.integers(config.width[0], config.width[1] + 1))
    size = (width, max(64, int(width * rng.uniform(*config.aspect))))
    strokes = []
    for _ in range(int(rng.integers(config.strokes[0], config.strokes[1] + 1))):
        kind = KINDS[rng.choice(len(KINDS), p=np.asarray(config.kinds) / sum(config.kinds))]
        pen = np.exp(rng.uniform(*np.log(config.pen_width))) * size[1]
        line = _centre_line(kind, rng, *size, margin=pen * (1 + config.pressure) / 2 + 2)
        phase, speed = rng.uniform(0, 2 * np.pi), rng.uniform(0.5, 3)
        pressure = 1 + config.pressure * np.sin(phase + speed * np.linspace(0, 2 * np.pi, len(line)))
        strokes.append(make_stroke(line, pen / 2 * pressure, _pen_colour(config, rng), kind, size,
                                   _texture(config, rng, size), config.supersample))
    image = paint(_paper(config, rng, size), strokes)
    if rng.uniform() < config.jpeg:
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=int(rng.integers(*config.jpeg_quality)))
        image = Image.open(buffer).convert("RGB")
    return SyntheticDrawing(image, strokes)


def line_drawing(height: float, width: float, colour: tuple[float, float, float], size: tuple[int, int] = (640, 400),
                 span: tuple[float, float] = (0.1, 0.9)) -> SyntheticDrawing:
    """One steady horizontal stroke on white: at ``height`` (0 bottom .. 1 top), ``width`` wide (share of the
    canvas height), in ``colour`` (RGB 0-1), across ``span`` of the canvas (the targets' test drawings)."""
    x = np.arange(round(span[0] * size[0]), round(span[1] * size[0]) + 1, dtype=float)
    points = np.stack([x, np.full_like(x, (1 - height) * size[1])], axis=1)
    stroke = make_stroke(points, np.full(len(x), width * size[1] / 2), colour, "line", size)
    return SyntheticDrawing(paint(np.ones((size[1], size[0], 3), np.float32), [stroke]), [stroke])
