"""What the three readings of a drawing mean: the one definition that the drawing generator labels with, the
classical reading measures and the learned reading is trained on.

* **height** (-> pitch): where the stroke sits, 0 at the canvas's bottom edge, 1 at its top; the mean over the
  stroke's columns of its centre line (a sloped or wavy stroke sits at its middle; its shape is the melody).
* **loudness** (-> volume): 0 (quietest) to 1, from the pen's width and the amount of ink, both as shares of the
  canvas (so that the same drawing at another size reads the same), log-even inside ``WIDTH_RANGE`` and
  ``INK_RANGE``, weighted ``WIDTH_WEIGHT`` : 1 - ``WIDTH_WEIGHT``.
* **brightness** (-> timbre): 0 (dark) to 1 (bright), from the pen's colour: its ``warmth`` (red 1, yellow 0.75,
  green 0.5, cyan 0.25, blue 0, and back through purple and magenta to red) where the colour is saturated,
  ``NEUTRAL_BRIGHTNESS`` where it is grey or black; a colour's saturation here is its chroma (max - min of RGB),
  so dark and pale colours count as less saturated.
"""

from __future__ import annotations

import colorsys
from collections.abc import Sequence

import numpy as np

READINGS = ("height", "loudness", "brightness")
WIDTH_RANGE = (0.004, 0.08)  # pen width / canvas height: loudness 0 .. 1 (about 2 to 40 px on a 500 px canvas)
INK_RANGE = (3e-4, 0.05)  # ink area / canvas area: loudness 0 .. 1
WIDTH_WEIGHT = 0.75  # share of the pen width in the loudness (the rest: the amount of ink)
NEUTRAL_BRIGHTNESS = 0.4  # the brightness of an uncoloured (grey, black) pen
WARM_HUES = (0.0, 1 / 6, 1 / 3, 1 / 2, 2 / 3, 5 / 6, 1.0)  # red, yellow, green, cyan, blue, magenta, red
WARMTH = (1.0, 0.75, 0.5, 0.25, 0.0, 0.5, 1.0)  # the warmth of each of those hues (linear in between)


def _log_share(value: float, low: float, high: float) -> float:
    """Where ``value`` lies between ``low`` (0) and ``high`` (1) on a log scale, clipped to 0..1."""
    return float(np.clip(np.log(max(value, 1e-12) / low) / np.log(high / low), 0.0, 1.0))


def loudness(width: float, ink: float) -> float:
    """The loudness of a stroke ``width`` (pen width / canvas height) wide with ``ink`` (its area / the canvas's)."""
    return WIDTH_WEIGHT * _log_share(width, *WIDTH_RANGE) + (1 - WIDTH_WEIGHT) * _log_share(ink, *INK_RANGE)


def warmth(hue: float) -> float:
    """The warmth of a hue (0-1 around the colour wheel, 0 red): 1 red .. 0 blue, linear between the hues of
    ``WARM_HUES``."""
    return float(np.interp(hue % 1.0, WARM_HUES, WARMTH))


def brightness(rgb: Sequence[float]) -> float:
    """The brightness reading of a pen colour (RGB, 0-1)."""
    red, green, blue = (float(np.clip(c, 0.0, 1.0)) for c in rgb)
    chroma = max(red, green, blue) - min(red, green, blue)
    hue = colorsys.rgb_to_hsv(red, green, blue)[0]
    return chroma * warmth(hue) + (1 - chroma) * NEUTRAL_BRIGHTNESS
