"""Measurements of a stroke: what the classical reading computes its readings from, and the inputs of the
learned reading (``bd2music.models.draw_reader``), one vector per reading.

* centre line: in each column, the coverage-weighted mean row of the stroke's ink; columns without ink (where
  another stroke cuts it) take their neighbours' values. ``contour`` samples it evenly from the stroke's left edge
  to its right edge as heights (0 bottom .. 1 top of the canvas).
* width: twice the median distance from the stroke's skeleton to the nearest pixel off it, less one (the pixel
  itself); ``area_width`` solves the area of a round brush's stroke along the skeleton (a rectangle plus the two
  round ends) for its width.
* colour: the pen's colour found by ``bd2music.draw.strokes``.

The classical reading (``classical``) takes the mean of the centre line, the median width with the ink for the
loudness, and the pen's colour for the brightness, each through ``bd2music.draw.readings``.
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from skimage.morphology import skeletonize

from bd2music.draw import readings
from bd2music.draw.strokes import Stroke

PROFILE_BINS = 16  # samples of the centre line in the height input
QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)
SOLID = 0.3  # coverage above which a pixel counts as inside the stroke for its skeleton and edge distances
FEATURES = {  # reading -> length of its input vector (checked by ``features``)
    "height": PROFILE_BINS + 4,
    "loudness": 8 + 2 * len(QUANTILES),
    "brightness": 12 + 3 * len(QUANTILES),
}


@dataclass
class Measured:
    """A stroke's measurements (lengths and widths in reading px)."""

    centre: np.ndarray  # (columns,) centre-line height (0 bottom .. 1 top) of each column of the stroke's box
    width: float  # median-width estimate, px
    area_width: float  # width that the stroke's area gives for its skeleton's length, px
    length: float  # skeleton length, px
    radii: np.ndarray  # distances from the skeleton to the edge, px
    stroke: Stroke

    @property
    def canvas_height(self) -> int:
        return self.stroke.canvas[1]

    def contour(self, samples: int) -> np.ndarray:
        """(samples,) heights of the centre line evenly from the stroke's left edge to its right edge."""
        columns = np.linspace(0, len(self.centre) - 1, samples)
        return np.interp(columns, np.arange(len(self.centre)), self.centre)


def measure(stroke: Stroke) -> Measured:
    """The measurements of one stroke."""
    alpha = stroke.alpha
    x0, y0, x1, y1 = stroke.box
    canvas_height = stroke.canvas[1]
    mass = alpha.sum(axis=0)
    rows = np.arange(alpha.shape[0]) + y0 + 0.5
    inked = mass > 0
    centre_rows = (alpha * rows[:, None]).sum(axis=0)[inked] / mass[inked]
    columns = np.arange(alpha.shape[1])
    centre = 1 - np.interp(columns, columns[inked], centre_rows) / canvas_height
    solid = alpha > SOLID
    if not solid.any():
        solid = alpha > 0
    distances = ndimage.distance_transform_edt(np.pad(solid, 1))[1:-1, 1:-1]
    skeleton = skeletonize(solid)
    radii = distances[skeleton] if skeleton.any() else np.array([distances.max()])
    length = float(_skeleton_length(skeleton))
    area = float(alpha.sum())
    area_width = (-length + np.sqrt(length**2 + np.pi * area)) / (np.pi / 2)  # area = w L + pi w^2 / 4
    return Measured(centre, float(2 * np.median(radii) - 1), float(area_width), length, radii, stroke)


def _skeleton_length(skeleton: np.ndarray) -> float:
    """Length of a one-pixel skeleton: straight neighbour links 1, diagonal links sqrt 2 (each link once)."""
    if skeleton.sum() <= 1:
        return float(skeleton.sum())
    s = skeleton.astype(np.int32)
    straight = (s[1:, :] & s[:-1, :]).sum() + (s[:, 1:] & s[:, :-1]).sum()
    diagonal = (s[1:, 1:] & s[:-1, :-1]).sum() + (s[1:, :-1] & s[:-1, 1:]).sum()
    return float(straight + np.sqrt(2) * diagonal * 0.5 + 1)


def classical(measured: Measured) -> dict[str, float]:
    """The classical reading: height, loudness and brightness of a measured stroke."""
    stroke = measured.stroke
    return {
        "height": float(np.mean(measured.centre)),
        "loudness": readings.loudness(measured.width / measured.canvas_height, stroke.ink),
        "brightness": readings.brightness(stroke.colour),
    }


def _log(value: float) -> float:
    return float(np.log(max(value, 1e-6)))


def features(measured: Measured, reading: dict[str, float]) -> dict[str, np.ndarray]:
    """The learned reading's inputs: one float32 vector per reading (lengths in ``FEATURES``), the classical
    ``reading`` last in each."""
    stroke = measured.stroke
    x0, y0, x1, y1 = stroke.box
    width, height = stroke.canvas
    alpha = stroke.alpha[stroke.alpha > 0]
    mass_rows = (stroke.alpha.sum(axis=1) * (np.arange(y0, y1) + 0.5)).sum() / stroke.alpha.sum()
    pitch = [*measured.contour(PROFILE_BINS), 1 - mass_rows / height, 1 - y0 / height, 1 - y1 / height,
             reading["height"]]
    loud = [_log(measured.width / height), _log(measured.area_width / height), _log(stroke.ink),
            _log(measured.length / height), _log((x1 - x0) / height), _log((y1 - y0) / height),
            float(alpha.mean()), *np.quantile(alpha, QUANTILES),
            *(np.quantile(measured.radii, QUANTILES) / height * 10),
            reading["loudness"]]
    red, green, blue = stroke.colour
    hue, saturation, value = colorsys.rgb_to_hsv(red, green, blue)
    chroma = max(stroke.colour) - min(stroke.colour)
    weighted = np.quantile(stroke.pixels, QUANTILES, axis=0).T.ravel()  # each channel's quantiles
    colour = [red, green, blue, np.cos(2 * np.pi * hue), np.sin(2 * np.pi * hue), saturation, value, chroma,
              readings.warmth(hue), float(np.mean(stroke.paper)), float(alpha.mean()), *weighted,
              reading["brightness"]]
    vectors = {"height": pitch, "loudness": loud, "brightness": colour}
    out = {name: np.asarray(vector, np.float32) for name, vector in vectors.items()}
    for name, vector in out.items():
        assert len(vector) == FEATURES[name], (name, len(vector))
    return out
