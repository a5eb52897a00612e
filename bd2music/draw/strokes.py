"""Strokes found in a drawing: the ink (what differs from the paper), split into pens by colour, then into
connected pieces; ordered left to right (a drawing is read like a one-panel page, so left to right is time).

``find_strokes(image)``, on the drawing shrunk to at most ``max_side`` px:

1. the paper is the median colour of the border; a pixel is ink when one channel differs from it by more than
   ``ink_threshold``; specks under ``min_pixels`` are dropped;
2. in each connected piece of ink, the core pixels (the most strongly inked ``core_share``) give the pen colours:
   bins of a colour cube that hold enough of them, the most strongly inked first, each a new pen unless a pen
   found before explains it as itself laid thinner over the paper; every pixel of the piece goes to the pen that
   explains it best as that pen laid over the paper with some coverage (anti-aliased edges and crayon grain are
   the pen, thinner);
3. each pen's pixels in a piece are one stroke (also where another stroke crosses and cuts it); a stroke's
   ``alpha`` is that coverage (0-1) per pixel;
4. the ``max_strokes`` strokes with the most ink are kept, sorted by their left edge.

A blank drawing (no stroke) is an InputError with one line.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PIL import Image
from scipy import ndimage

from bd2music.errors import InputError
from bd2music.io import downscale

BLANK = "the drawing is blank: draw at least one stroke (or upload a drawing with ink on plain paper)"


@dataclass(frozen=True)
class StrokeConfig:
    """How ink is found and split into strokes."""

    max_side: int = 512  # the drawing is read at most this large (long side, px)
    ink_threshold: float = 0.12  # ink: a channel differs from the paper by more than this (0-1)
    core_share: float = 0.6  # core pixels differ from the paper by at least this share of the piece's strongest
    colour_merge: float = 0.25  # pen colours closer than this (RGB distance, 0-1 channels) are one pen
    colour_bins: int = 8  # bins per channel of the colour cube the pen colours are grouped in
    min_pen_share: float = 0.03  # a colour holding less of a piece's core pixels is not a pen of its own
    min_pixels: int = 12  # specks and fragments smaller than this are not strokes
    max_strokes: int = 24  # the strokes with the most ink are kept


@dataclass
class Stroke:
    """One stroke: where it lies on the canvas (reading size) and how much of the pen covers each of its pixels."""

    box: tuple[int, int, int, int]  # x0, y0, x1, y1 (x1, y1 excluded) in reading px
    alpha: np.ndarray = field(repr=False)  # (y1 - y0, x1 - x0) float32 0-1 coverage, 0 off the stroke
    colour: tuple[float, float, float]  # the pen's RGB (0-1), from the core pixels
    paper: tuple[float, float, float]  # the paper's RGB under it
    pixels: np.ndarray = field(repr=False)  # (n, 3) float32 RGB of its pixels (coverage > 0)
    canvas: tuple[int, int]  # reading size (width, height)

    @property
    def ink(self) -> float:
        """The ink it holds (coverage summed) / canvas area."""
        return float(self.alpha.sum()) / (self.canvas[0] * self.canvas[1])

    def to_dict(self) -> dict:
        width, height = self.canvas
        x0, y0, x1, y1 = self.box
        return {"box": [round(x0 / width, 4), round(y0 / height, 4), round(x1 / width, 4), round(y1 / height, 4)],
                "colour": "#" + "".join(f"{round(c * 255):02x}" for c in self.colour), "ink": round(self.ink, 5)}


def _pen_colours(core: np.ndarray, paper: np.ndarray, config: StrokeConfig) -> np.ndarray:
    """(k, 3) pen colours of a piece from its core pixels' colours (n, 3): bins of the colour cube that hold enough
    pixels, the most strongly inked first; a bin that a pen found before explains as itself laid thinner over the
    paper (within ``colour_merge``) is that pen."""
    bins = np.minimum((core * config.colour_bins).astype(int), config.colour_bins - 1)
    keys = (bins[:, 0] * config.colour_bins + bins[:, 1]) * config.colour_bins + bins[:, 2]
    found, counts = np.unique(keys, return_counts=True)
    enough = found[counts >= max(config.min_pixels, config.min_pen_share * len(core))]
    colours = [np.median(core[keys == key], axis=0) for key in enough]
    pens: list[np.ndarray] = []
    for colour in sorted(colours, key=lambda c: -np.abs(c - paper).max()):
        if not pens or _coverage(colour[None], paper, np.array(pens))[2][0] >= config.colour_merge:
            pens.append(colour)
    if not pens:
        pens = [np.median(core, axis=0)]
    return np.array(pens, np.float32)


def _coverage(pixels: np.ndarray, paper: np.ndarray, pens: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For pixels (n, 3): the pen (index) that explains each best as ``paper + a (pen - paper)``, that ``a`` (0-1)
    and what it leaves unexplained (RGB distance)."""
    direction = pens - paper  # (k, 3)
    amount = np.clip((pixels - paper) @ direction.T / np.maximum((direction**2).sum(axis=1), 1e-6), 0, 1)  # (n, k)
    residual = np.linalg.norm(pixels[:, None, :] - (paper + amount[..., None] * direction[None]), axis=2)
    best = residual.argmin(axis=1)
    rows = np.arange(len(pixels))
    return best, amount[rows, best], residual[rows, best]


def find_strokes(image: Image.Image, config: StrokeConfig = StrokeConfig()) -> list[Stroke]:
    """The strokes of a drawing (RGB), left to right; InputError when there are none."""
    small, _ = downscale(image.convert("RGB"), config.max_side)
    rgb = np.asarray(small, dtype=np.float32) / 255.0
    height, width = rgb.shape[:2]
    border = np.concatenate([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]])
    paper = np.median(border, axis=0)
    difference = np.abs(rgb - paper).max(axis=2)
    ink = difference > config.ink_threshold
    pieces, count = ndimage.label(ink, structure=np.ones((3, 3)))
    strokes: list[Stroke] = []
    for index, where in enumerate(ndimage.find_objects(pieces), start=1):
        inside = pieces[where] == index
        if inside.sum() < config.min_pixels:
            continue
        pixels = rgb[where][inside]
        strength = difference[where][inside]
        core = pixels[strength >= config.core_share * np.percentile(strength, 95)]
        pens = _pen_colours(core, paper, config)
        pen, amount, _ = _coverage(pixels, paper, pens)
        for k, colour in enumerate(pens):  # a pen's pixels in the piece are one stroke, even where another cuts it
            alpha = np.zeros(inside.shape, np.float32)
            alpha[inside] = np.where(pen == k, amount, 0.0)
            if (alpha > 0).sum() < config.min_pixels:
                continue
            rows, columns = np.flatnonzero(alpha.any(axis=1)), np.flatnonzero(alpha.any(axis=0))
            alpha = alpha[rows[0]:rows[-1] + 1, columns[0]:columns[-1] + 1]
            y0, x0 = where[0].start + rows[0], where[1].start + columns[0]
            crop = rgb[y0:y0 + alpha.shape[0], x0:x0 + alpha.shape[1]][alpha > 0]
            strokes.append(Stroke((int(x0), int(y0), int(x0) + alpha.shape[1], int(y0) + alpha.shape[0]), alpha,
                                  tuple(float(c) for c in colour), tuple(float(c) for c in paper), crop,
                                  (width, height)))
    if not strokes:
        raise InputError(BLANK)
    strokes = sorted(strokes, key=lambda s: -s.alpha.sum())[: config.max_strokes]
    return sorted(strokes, key=lambda s: (s.box[0], s.box[1]))
