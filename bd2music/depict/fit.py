"""Setting the drawing's three knobs so that the page measures what the sound asks, as a mastering stage sets a
track's gain for a target loudness.

:meth:`PageArt.render` takes a gamma on the tones' luma (brightness), a gain on their chroma (colourfulness)
and a stroke density (edge density). The first guesses come from models (the density from the edge density
asked, the gamma from the page's luma, the gain from the chroma's colourfulness). Each round renders the page,
measures it with ``bd2music.vision.features.measure_colour`` and moves every knob: the density by the secant
through the last two measurements (its slope kept above a share of the steepest seen), the gamma by solving
the page's mean luma with the new strokes drawn (what the luma model leaves out, clipping and resampling,
carried over from the measurement), the gain in proportion (colourfulness is linear in the chroma until
colours clip). It stops when all three are within tolerance; the best round is kept.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from bd2music.depict.art import PageArt
from bd2music.depict.mapping import PageTargets
from bd2music.vision.features import measure_colour

MEASURED = ("brightness", "colourfulness", "edge_density")


@dataclass(frozen=True)
class FitConfig:
    """Rounds and tolerances of the fit."""

    rounds: int = 6  # renders at most
    tolerance: tuple[float, float, float] = (0.004, 0.6, 0.002)  # brightness, colourfulness, edge density
    density_per_edge: float = 60.0  # first stroke density (strokes per 10,000 pixels of a panel of weight 1)...
    edge_floor: float = 0.09  # ...per unit of edge density asked above this (what tones and borders give alone)
    edge_slope: float = 0.01  # first guess of the edge density added per unit of stroke density
    gamma_range: tuple[float, float] = (0.05, 12.0)
    gain_range: tuple[float, float] = (0.0, 40.0)
    max_density: float = 60.0
    min_slope_share: float = 0.3  # the density's secant slope is kept above this share of the steepest seen


@dataclass
class Fitted:
    """The page that came closest, its knobs and what it measures."""

    rgb: np.ndarray
    knobs: dict[str, float]  # gamma, gain, density
    measured: dict[str, float]  # brightness, colourfulness, edge_density
    rounds: int


def _solve_gamma(values: np.ndarray, fixed_sum: float, count: int, target: float, bounds: tuple[float, float]) -> float:
    """The gamma for which (fixed_sum + sum(values ** gamma)) / count is ``target`` (the mean luma falls as the
    gamma rises), by bisection in log gamma; the nearer bound when out of reach."""
    low, high = np.log(bounds[0]), np.log(bounds[1])
    for _ in range(30):
        middle = (low + high) / 2
        if (fixed_sum + np.sum(values ** np.exp(middle))) / count > target:
            low = middle
        else:
            high = middle
    return float(np.exp((low + high) / 2))


def colourfulness(chroma: np.ndarray) -> float:
    """Hasler-Süsstrunk M of opponent chroma (..., 2) in 0-255 units (``bd2music.vision.features``)."""
    rg, yb = chroma[..., 0].astype(np.float64), chroma[..., 1].astype(np.float64)
    return float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))


def fit_page(art: PageArt, targets: PageTargets, config: FitConfig = FitConfig()) -> Fitted:
    """Render ``art`` with the knobs that bring its brightness, colourfulness and edge density closest to
    ``targets`` within ``config.rounds`` renders."""
    goal = np.array([targets.brightness, targets.colourfulness, targets.edge_density])
    scale = np.array(config.tolerance)
    stride = 4  # the gamma's luma model runs on every 4th pixel of every 4th row

    def solve_gamma(strokes: np.ndarray, target: float) -> float:
        """The gamma whose page luma (tones and strokes, before clipping) has the mean ``target``."""
        tones = (art.content & ~strokes)[::stride, ::stride]
        luma = art.page_luma(1.0, strokes)[::stride, ::stride]
        return _solve_gamma(luma[tones].astype(np.float64), float(luma[~tones].sum()), luma.size, target,
                            config.gamma_range)

    def model(gamma: float, strokes: np.ndarray) -> float:
        return float(art.page_luma(gamma, strokes)[::stride, ::stride].mean())

    # first guesses: the stroke density from the edge density asked, the gamma from the luma model, the gain
    # from the colourfulness of the chroma at gain 1 (as measured, in 0-255 units)
    density = config.density_per_edge * max(goal[2] - config.edge_floor, 0.0)
    strokes = art.strokes(density)
    gamma = solve_gamma(strokes, goal[0])
    gain = float(np.clip(goal[1] / max(colourfulness(art.chroma[::stride, ::stride] * 255), 0.1), *config.gain_range))
    tried: list[tuple[float, float]] = []  # (density, edge density)
    slope = steepest = config.edge_slope
    best: Fitted | None = None
    best_error = np.inf
    for round_ in range(1, config.rounds + 1):
        rgb = art.render(gamma, gain, density, strokes)
        colour = measure_colour(Image.fromarray(rgb))
        measured = np.array([colour.brightness, colour.colourfulness, colour.edge_density])
        error = float(np.max(np.abs(measured - goal) / scale))
        if error < best_error:
            best_error = error
            best = Fitted(rgb, {"gamma": gamma, "gain": gain, "density": density},
                          dict(zip(MEASURED, measured.tolist())), round_)
        if error <= 1 or round_ == config.rounds:
            break
        # edge density: the secant through the last two measurements, its slope kept above a share of the
        # steepest seen (a gamma step moves the edges too) and the step within a third and three times
        tried.append((density, measured[2]))
        if len(tried) >= 2 and tried[-1][0] != tried[-2][0]:
            secant = (tried[-1][1] - tried[-2][1]) / (tried[-1][0] - tried[-2][0])
            steepest = max(steepest, secant)
            slope = max(secant, config.min_slope_share * steepest)
        offset = measured[0] - model(gamma, strokes)  # what the luma model leaves out: clipping, resampling
        density = float(np.clip(density + (goal[2] - measured[2]) / slope, density / 3, max(3 * density, 1.0)))
        density = min(density, config.max_density)
        strokes = art.strokes(density)
        # brightness: the luma model with the new strokes, plus what it left out last time
        gamma = solve_gamma(strokes, goal[0] - offset)
        # colourfulness: proportional to the gain until colours clip
        gain = float(np.clip(gain * np.clip(goal[1] / max(measured[1], 0.1), 0.2, 5.0), *config.gain_range))
    return best
