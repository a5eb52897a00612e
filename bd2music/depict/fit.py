"""Setting the drawing's three knobs so that the page measures what the sound asks, as a mastering stage sets a
track's gain for a target loudness.

:meth:`PageArt.render` takes a gamma on the tones' luma (brightness), a gain on their chroma (colourfulness)
and a stroke density (edge density). Each round renders the page, measures it with
``bd2music.vision.features.measure_colour`` and moves every knob: the gamma by solving the page's mean luma
for it (the strokes' and the clipping's share carried over from the measurement), the gain in proportion
(colourfulness is linear in the chroma until colours clip), the density by the secant through the last two
measurements. The best round is kept.
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
    density: float = 2.0  # first stroke density (strokes per 10,000 pixels of a panel of weight 1)
    edge_slope: float = 0.01  # first guess of the edge density added per unit of stroke density
    gamma_range: tuple[float, float] = (0.08, 12.0)
    gain_range: tuple[float, float] = (0.0, 40.0)
    max_density: float = 60.0


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
    stride = 4  # the gamma's luma model runs on every 4th content pixel of every 4th row
    content = art.luma[::stride, ::stride][art.content[::stride, ::stride]].astype(np.float64)
    count = art.content[::stride, ::stride].size
    # first guesses: the luma model alone, the colourfulness of the chroma at gain 1 (as measured, in 0-255 units)
    gamma = _solve_gamma(content, float(art.tone_luma(1.0)[::stride, ::stride].sum() - content.sum()), count,
                         goal[0], config.gamma_range)
    gain = float(np.clip(goal[1] / max(colourfulness(art.chroma[::stride, ::stride] * 255), 0.1), *config.gain_range))
    density = config.density
    tried: list[tuple[float, float]] = []  # (density, edge density)
    best: Fitted | None = None
    best_error = np.inf
    for round_ in range(1, config.rounds + 1):
        rgb = art.render(gamma, gain, density)
        colour = measure_colour(Image.fromarray(rgb))
        measured = np.array([colour.brightness, colour.colourfulness, colour.edge_density])
        error = float(np.max(np.abs(measured - goal) / scale))
        if error < best_error:
            best_error = error
            best = Fitted(rgb, {"gamma": gamma, "gain": gain, "density": density},
                          dict(zip(MEASURED, measured.tolist())), round_)
        if error <= 1:
            break
        # brightness: the luma model at this gamma, plus what the model leaves out (strokes, clipping)
        luma = art.tone_luma(gamma)[::stride, ::stride]
        fixed = float(luma.sum() - np.sum(content ** gamma))
        offset = measured[0] - luma.mean()
        gamma = _solve_gamma(content, fixed, count, goal[0] - offset, config.gamma_range)
        # colourfulness: proportional to the gain until colours clip
        gain = float(np.clip(gain * np.clip(goal[1] / max(measured[1], 0.1), 0.2, 5.0), *config.gain_range))
        # edge density: the secant through the last two measurements (a first guess of the slope at the start)
        tried.append((density, measured[2]))
        slope = config.edge_slope
        if len(tried) >= 2 and tried[-1][0] != tried[-2][0]:
            slope = max((tried[-1][1] - tried[-2][1]) / (tried[-1][0] - tried[-2][0]), 1e-4)
        density = float(np.clip(density + (goal[2] - measured[2]) / slope, 0.0, config.max_density))
    return best
