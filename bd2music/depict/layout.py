"""The page layout of a depicted sound: tiers of panels in reading order, sized by the sound.

The panel count comes from the clip's tempo (``bd2music.depict.mapping``); each panel shows one time window.
Panels are laid out as tiers (top to bottom) of cells (left to right), cut with the procedural pages' polygon
splitter (``bd2music.data.synthetic_pages.split_polygon``): a tier is as high as the sizes of its cells ask,
a cell as wide as its size asks, so a loud moment gets a big panel. How far the sizes and the gutters' slants
stray from a regular grid is the clip's onset variety (0: a regular grid; 1: sizes as uneven as the windows'
loudness makes them, slanted gutters).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from bd2music.data.synthetic_pages import Polygon, split_polygon


@dataclass(frozen=True)
class LayoutConfig:
    """The page's geometry (``weights/depict/config.json``, key ``layout``)."""

    width: int = 850  # page width in pixels
    height: int = 1200  # page height in pixels (the long side)
    margin: float = 0.045  # page margin, as a share of the width
    gutter: float = 0.025  # gutter between panels, as a share of the width
    max_cells: int = 4  # most panels side by side in one tier
    size_spread: float = 0.8  # a window's size weight is 1 + spread * variety * its standardised loudness...
    size_range: tuple[float, float] = (0.5, 2.0)  # ...clipped to this range
    tier_power: float = 0.7  # a tier's height follows the sum of its cells' weights to this power
    max_slant_deg: float = 5.0  # gutter slant at the highest onset variety


def tier_counts(count: int, rng: np.random.Generator, config: LayoutConfig) -> list[int]:
    """How many panels each tier holds: about sqrt(count) tiers, the extra panels in tiers drawn at random."""
    tiers = max(1, round(math.sqrt(1.1 * count)))
    tiers = min(count, max(-(-count // config.max_cells), tiers + int(rng.choice([-1, 0, 0, 1]))))
    counts = np.full(tiers, count // tiers)
    counts[rng.choice(tiers, count % tiers, replace=False)] += 1
    return counts.tolist()


def size_weights(loudness: list[float], variety: float, config: LayoutConfig) -> np.ndarray:
    """Each window's panel size weight: 1 for all when the onsets are regular (``variety`` 0), else spread by the
    windows' loudness (dB, standardised over the clip)."""
    values = np.asarray(loudness, dtype=np.float64)
    spread = values.std()
    z = (values - values.mean()) / spread if spread > 1e-6 else np.zeros_like(values)
    return np.clip(1 + config.size_spread * variety * z, *config.size_range)


def lay_out(weights: np.ndarray, variety: float, rng: np.random.Generator, config: LayoutConfig) -> list[Polygon]:
    """Panel polygons in reading order (left to right, top to bottom) for panels sized by ``weights``."""
    width, height = config.width, config.height
    margin, gutter = config.margin * width, config.gutter * width
    page: Polygon = [(margin, margin), (width - margin, margin), (width - margin, height - margin),
                     (margin, height - margin)]
    counts = tier_counts(len(weights), rng, config)
    groups = np.split(np.asarray(weights, dtype=np.float64), np.cumsum(counts)[:-1])

    def slants(parts: int) -> list[float]:
        return [math.tan(math.radians(rng.uniform(-1, 1) * config.max_slant_deg * variety))
                if rng.random() < variety else 0.0 for _ in range(parts - 1)]

    tiers = split_polygon(page, "y", [g.sum() ** config.tier_power for g in groups], [gutter] * (len(groups) - 1),
                          slants(len(groups)))
    panels: list[Polygon] = []
    for tier, group in zip(tiers, groups):
        panels += split_polygon(tier, "x", group, [gutter] * (len(group) - 1), slants(len(group)))
    return panels
