"""Visual features of a comic page: layout (panels, gutters, balloons) and colour (palette, light, hue, lines).

``compute_features`` measures a page and each of its panels (in reading order) into :class:`PageFeatures`,
which round-trips through JSON (``to_dict`` / ``from_dict``) and flattens into a fixed-order vector
(``vector()``, names in :data:`VECTOR_NAMES`, entries in [0, 1]) for the comic VAE and the mapping model.
Every feature is documented in one line in :data:`FEATURE_DOCS`.

Pixel statistics run on a working copy whose long side is ``FeatureConfig.work_side`` (so edge density does
not depend on the scan resolution); the palette and the black-and-white test use smaller copies.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, fields
from typing import Any

import cv2
import numpy as np
from PIL import Image

from bd2music.vision.boxes import Balloon, Box, Panel, clip_box

HUE_BINS = 12  # 30-degree hue bins, bin 0 centred on red
PALETTE_SIZE = 5  # dominant colours kept in the palette


@dataclass(frozen=True)
class FeatureConfig:
    """Knobs of :func:`compute_features`; the defaults are the ones the documentation and the models assume."""

    work_side: int = 512  # long side of the copy for every pixel statistic
    palette_side: int = 64  # long side of the copy clustered for the palette
    bw_side: int = 128  # long side of the copy for the black-and-white test (averages out JPEG chroma noise)
    canny_low: int = 50  # Canny hysteresis thresholds on 0-255 luma
    canny_high: int = 150
    hue_min_saturation: float = 0.2  # a pixel counts in the hue histogram above this HSV saturation...
    hue_min_value: float = 0.15  # ...and this HSV value
    hue_min_share: float = 0.005  # below this share of qualifying pixels the hue histogram is all zeros
    bw_max_chroma_spread: float = 6.5  # B&W: chroma spread left after removing a luma-dependent tint (0-255)...
    bw_max_colourfulness: float = 40.0  # ...and Hasler-Susstrunk M (a flat strong colour is not B&W)
    align_tol: float = 0.02  # panel edges align within this fraction of the page side
    kmeans_iters: int = 20
    seed: int = 0


DEFAULT_CONFIG = FeatureConfig()

FEATURE_DOCS: dict[str, str] = {
    "width": "page width in pixels",
    "height": "page height in pixels",
    "panel_count": "number of panels (0+)",
    "area_mean": "mean panel area as a fraction of the page area (0-1)",
    "area_std": "standard deviation of panel area fractions (0-0.5)",
    "area_min": "smallest panel area fraction (0-1)",
    "area_max": "largest panel area fraction (0-1)",
    "size_rhythm": "mean |a[i+1]-a[i]| / max(a[i+1], a[i]) of consecutive panel areas in reading order:"
    " 0 steady, 1 alternating tiny/huge (0-1)",
    "aspect_mean": "mean panel width/height (>0, 1 = square)",
    "aspect_std": "standard deviation of panel width/height (0+)",
    "gutter": "median gap from each panel to its nearest panel, as a fraction of page width (0-~0.1; 0 if <2 panels)",
    "regularity": "grid-likeness: mean of edge alignment (share of panel edges within"
    f" {DEFAULT_CONFIG.align_tol:.0%} of the page side of the same edge of another panel) and size uniformity"
    " (1 - min(1, CV of areas)); 1 for one panel, 0 for none (0-1)",
    "balloon_count": "balloons / text regions on the page, or assigned to the panel (0+)",
    "text_coverage": "union of balloon boxes inside the page (or panel) / its area (0-1)",
    "text_in_panels": "union of balloon boxes inside panels / union of panel boxes (0-1; 0 without panels)",
    "brightness": "mean luma (Rec. 601): 0 black, 1 white",
    "contrast": "RMS contrast: standard deviation of luma (0-0.5)",
    "saturation": "mean HSV saturation (0-1)",
    "colourfulness": "Hasler-Susstrunk M on 0-255 RGB: 0 grey, 33 moderate, 59 quite, 82+ highly colourful (0-~180)",
    "colourfulness_norm": "min(colourfulness / 100, 1) (0-1)",
    "warmth": "mean (R - B) / 255: >0 warm (red/orange/yellow), <0 cool (blue/cyan), 0 grey (-1-1)",
    "edge_density": f"share of Canny edge pixels at long side {DEFAULT_CONFIG.work_side} px: line busyness (0-~0.3)",
    "hue_histogram": f"{HUE_BINS} shares of 30-degree hue bins (0 red, 2 yellow, 4 green, 6 cyan, 8 blue, 10 magenta)"
    f" over pixels with S>{DEFAULT_CONFIG.hue_min_saturation} and V>{DEFAULT_CONFIG.hue_min_value};"
    " sum 1, all 0 for grey pages",
    "palette": f"{PALETTE_SIZE} dominant colours (k-means in Lab, seeded) as hex with pixel shares, largest first",
    "is_bw": f"greyscale page, tinted scans included: chroma spread beyond a luma-dependent tint"
    f" < {DEFAULT_CONFIG.bw_max_chroma_spread} and colourfulness < {DEFAULT_CONFIG.bw_max_colourfulness}",
    "panels": "per-panel features in reading order",
    "order": "reading-order index of the panel (0 = first)",
    "box": "panel box (x0, y0, x1, y1) in original pixels, clipped to the page",
    "area": "panel area as a fraction of the page area (0-1)",
    "aspect": "panel width/height (>0, 1 = square)",
    "colour": "colour, light and line statistics of the page or the panel crop",
    "layout": "panel and balloon layout statistics of the page",
}


@dataclass(frozen=True)
class ColourStats:
    """Colour, light and line statistics of a page or a panel crop (see :data:`FEATURE_DOCS`)."""

    brightness: float
    contrast: float
    saturation: float
    colourfulness: float
    colourfulness_norm: float
    warmth: float
    edge_density: float
    hue_histogram: list[float]


@dataclass(frozen=True)
class LayoutStats:
    """Panel and balloon layout statistics of a page (see :data:`FEATURE_DOCS`)."""

    panel_count: int
    area_mean: float
    area_std: float
    area_min: float
    area_max: float
    size_rhythm: float
    aspect_mean: float
    aspect_std: float
    gutter: float
    regularity: float
    balloon_count: int
    text_coverage: float
    text_in_panels: float


@dataclass(frozen=True)
class PaletteColour:
    """One dominant colour: ``hex`` like ``#ff0000`` and its share of the pixels."""

    hex: str
    share: float


@dataclass(frozen=True)
class PanelFeatures:
    """Geometry, text and colour of one panel."""

    order: int
    box: list[float]
    area: float
    aspect: float
    balloon_count: int
    text_coverage: float
    colour: ColourStats

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PanelFeatures:
        """Rebuild from :meth:`PageFeatures.to_dict` output."""
        return cls(**{**data, "colour": ColourStats(**data["colour"])})


# Normalisation of each page scalar into roughly [0, 1] for the vector; the key order is the vector order.
_VECTOR_SCALARS: dict[str, Callable[[float], float]] = {
    "panel_count": lambda n: min(n / 12, 1.0),
    "area_mean": float,
    "area_std": lambda s: min(2 * s, 1.0),
    "area_min": float,
    "area_max": float,
    "size_rhythm": float,
    "aspect_mean": lambda a: a / (1 + a),
    "aspect_std": lambda s: s / (1 + s),
    "gutter": lambda g: min(10 * g, 1.0),
    "regularity": float,
    "balloon_count": lambda n: min(n / 20, 1.0),
    "text_coverage": lambda t: min(2 * t, 1.0),
    "text_in_panels": lambda t: min(2 * t, 1.0),
    "brightness": float,
    "contrast": lambda c: min(2 * c, 1.0),
    "saturation": float,
    "colourfulness_norm": float,
    "warmth": lambda w: min(max(w + 0.5, 0.0), 1.0),
    "edge_density": lambda e: min(4 * e, 1.0),
    "is_bw": float,
}
VECTOR_NAMES: tuple[str, ...] = (
    *_VECTOR_SCALARS,
    *(f"hue_{i}" for i in range(HUE_BINS)),
    *(f"palette_{i}_{part}" for i in range(PALETTE_SIZE) for part in ("r", "g", "b", "share")),
)


@dataclass(frozen=True)
class PageFeatures:
    """Everything measured on one page: layout, colour, palette, B&W flag and per-panel features."""

    width: int
    height: int
    layout: LayoutStats
    colour: ColourStats
    palette: list[PaletteColour]
    is_bw: bool
    panels: list[PanelFeatures]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (ints, floats, bools, strings, lists, dicts)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PageFeatures:
        """Rebuild from :meth:`to_dict` output (e.g. after ``json.loads``)."""
        return cls(
            width=data["width"],
            height=data["height"],
            layout=LayoutStats(**data["layout"]),
            colour=ColourStats(**data["colour"]),
            palette=[PaletteColour(**c) for c in data["palette"]],
            is_bw=data["is_bw"],
            panels=[PanelFeatures.from_dict(p) for p in data["panels"]],
        )

    def scalars(self) -> dict[str, float]:
        """Every page-level scalar feature by name, raw (layout, then colour, then ``is_bw``)."""
        stats = (self.layout, self.colour)
        values = {f.name: getattr(s, f.name) for s in stats for f in fields(s) if f.name != "hue_histogram"}
        return {**values, "is_bw": self.is_bw}

    def normalised_scalars(self) -> dict[str, float]:
        """The scalar part of :meth:`vector` by name, each mapped into roughly [0, 1]."""
        raw = self.scalars()
        return {name: float(scale(raw[name])) for name, scale in _VECTOR_SCALARS.items()}

    def vector(self) -> np.ndarray:
        """Fixed-order float32 vector named by :data:`VECTOR_NAMES` (scalars, hue histogram, RGB+share palette)."""
        palette = np.zeros((PALETTE_SIZE, 4))
        for row, colour in zip(palette, self.palette, strict=False):  # fewer colours: zero rows
            row[:3] = hex_to_rgb(colour.hex)
            row[3] = colour.share
        scalars = np.array(list(self.normalised_scalars().values()))
        return np.concatenate([scalars, np.array(self.colour.hue_histogram), palette.ravel()]).astype(np.float32)


def hex_to_rgb(hex_colour: str) -> tuple[float, float, float]:
    """``#rrggbb`` to an (r, g, b) triple in [0, 1]."""
    r, g, b = (int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5))
    return r, g, b


@dataclass(frozen=True)
class _Pixels:
    """Per-pixel arrays of the working copy; panels are measured on crops of them."""

    rgb: np.ndarray  # float32 HxWx3, 0-255
    luma: np.ndarray  # float32 HxW, 0-1
    hsv: np.ndarray  # float32 HxWx3: hue in degrees, saturation and value in 0-1
    edges: np.ndarray  # bool HxW, Canny edge pixels
    text: np.ndarray  # bool HxW, inside a balloon box

    @classmethod
    def of(cls, image: Image.Image, text: np.ndarray, config: FeatureConfig) -> _Pixels:
        """Measure the per-pixel arrays of an RGB working copy."""
        rgb = np.asarray(image, dtype=np.float32)
        luma = rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32) / 255
        hsv = cv2.cvtColor(rgb / 255, cv2.COLOR_RGB2HSV)
        gray = cv2.GaussianBlur(np.rint(luma * 255).astype(np.uint8), (3, 3), 0)
        edges = cv2.Canny(gray, config.canny_low, config.canny_high) > 0
        return cls(rgb, luma, hsv, edges, text)

    def crop(self, x0: int, y0: int, x1: int, y1: int) -> _Pixels:
        """The same arrays restricted to a rectangle of the working copy."""
        return _Pixels(*(a[y0:y1, x0:x1] for a in (self.rgb, self.luma, self.hsv, self.edges, self.text)))


def _opponent(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Hasler-Susstrunk opponent channels rg = R - G and yb = (R + G) / 2 - B."""
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    return r - g, 0.5 * (r + g) - b


def _colourfulness(rgb: np.ndarray) -> float:
    """Hasler-Susstrunk M of 0-255 RGB pixels."""
    rg, yb = _opponent(rgb.astype(np.float64))
    return float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))


def _hue_histogram(hsv: np.ndarray, config: FeatureConfig) -> list[float]:
    """Shares of pixels per 30-degree hue bin over saturated, non-dark pixels; zeros if too few qualify."""
    mask = (hsv[..., 1] > config.hue_min_saturation) & (hsv[..., 2] > config.hue_min_value)
    if mask.sum() <= config.hue_min_share * mask.size:
        return [0.0] * HUE_BINS
    width = 360 / HUE_BINS
    bins = ((hsv[..., 0][mask] + width / 2) % 360 // width).astype(int)
    counts = np.bincount(bins, minlength=HUE_BINS)[:HUE_BINS]
    return (counts / counts.sum()).tolist()


def _colour_stats(pixels: _Pixels, config: FeatureConfig) -> ColourStats:
    """Light, colour and line statistics of a working copy or a crop of it."""
    colourfulness = _colourfulness(pixels.rgb)
    return ColourStats(
        brightness=float(pixels.luma.mean()),
        contrast=float(pixels.luma.std()),
        saturation=float(pixels.hsv[..., 1].mean()),
        colourfulness=colourfulness,
        colourfulness_norm=min(colourfulness / 100, 1.0),
        warmth=float((pixels.rgb[..., 0] - pixels.rgb[..., 2]).mean() / 255),
        edge_density=float(pixels.edges.mean()),
        hue_histogram=_hue_histogram(pixels.hsv, config),
    )


def measure_colour(image: Image.Image, config: FeatureConfig = DEFAULT_CONFIG) -> ColourStats:
    """The colour, light and line statistics of a whole image, measured as :func:`compute_features` measures a
    page (``PageFeatures.colour``) without its layout, palette or black-and-white test."""
    work = _resize_long_side(image.convert("RGB"), config.work_side)
    return _colour_stats(_Pixels.of(work, np.zeros((work.height, work.width), bool), config), config)


def _squared_distances(points: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """(N, K) squared Euclidean distances between ``points`` (N, D) and ``centres`` (K, D)."""
    return (points**2).sum(1)[:, None] - 2 * points @ centres.T + (centres**2).sum(1)[None]


def _kmeans(points: np.ndarray, k: int, rng: np.random.Generator, iters: int) -> np.ndarray:
    """Cluster labels of ``points`` (N, D) by k-means++ and Lloyd steps; fewer clusters if fewer distinct points."""
    centres = points[[rng.integers(len(points))]]
    while len(centres) < k:
        d2 = np.clip(_squared_distances(points, centres).min(1), 0, None)
        if d2.sum() <= 1e-6 * len(points):
            break
        centres = np.vstack([centres, points[rng.choice(len(points), p=d2 / d2.sum())]])
    for _ in range(iters):
        labels = _squared_distances(points, centres).argmin(1)
        counts = np.bincount(labels, minlength=len(centres))[:, None]
        sums = np.stack([np.bincount(labels, points[:, d], len(centres)) for d in range(points.shape[1])], 1)
        moved = np.where(counts > 0, sums / np.maximum(counts, 1), centres)
        if np.allclose(moved, centres, atol=1e-3):
            break
        centres = moved
    return _squared_distances(points, centres).argmin(1)


def _palette(rgb: np.ndarray, config: FeatureConfig) -> list[PaletteColour]:
    """Dominant colours of 0-255 RGB pixels: k-means in Lab, mean RGB of each cluster, sorted by share."""
    points = rgb.reshape(-1, 3).astype(np.float32)
    lab = cv2.cvtColor(points[None] / 255, cv2.COLOR_RGB2LAB)[0].astype(np.float64)
    labels = _kmeans(lab, PALETTE_SIZE, np.random.default_rng(config.seed), config.kmeans_iters)
    counts = np.bincount(labels)
    means = [np.rint(points[labels == j].mean(0)).astype(int) for j in range(len(counts))]
    colours = [
        PaletteColour("#{:02x}{:02x}{:02x}".format(*mean), float(count / len(labels)))
        for mean, count in zip(means, counts, strict=True)
        if count > 0
    ]
    return sorted(colours, key=lambda c: (-c.share, c.hex))


def _tint_free_chroma_spread(rgb: np.ndarray, bins: int = 32) -> float:
    """Spread of the opponent chroma left after subtracting its mean at each luma level (0 for tinted greyscale)."""
    rgb = rgb.reshape(-1, 3).astype(np.float64)
    level = np.minimum((rgb @ [0.299, 0.587, 0.114] / 256 * bins).astype(int), bins - 1)
    count = np.bincount(level, minlength=bins)
    seen = count > 0
    within = 0.0
    for channel in _opponent(rgb):
        total = np.bincount(level, channel, bins)[seen]
        within += (channel**2).sum() - (total**2 / count[seen]).sum()
    return float(np.sqrt(max(within, 0.0) / len(rgb)))


def is_black_and_white(rgb: np.ndarray, config: FeatureConfig) -> bool:
    """True for greyscale pixels, also when a scan tints them (paper colour, sepia, blue-ish ink)."""
    return (
        _tint_free_chroma_spread(rgb) < config.bw_max_chroma_spread
        and _colourfulness(rgb) < config.bw_max_colourfulness
    )


def _resize_long_side(image: Image.Image, side: int) -> Image.Image:
    """Scale ``image`` (up or down, area-averaging) so its long side is exactly ``side``."""
    scale = side / max(image.size)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.BOX)


def _to_work(box: Box | np.ndarray, scale: float, shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """Original-pixel box to the nearest working-copy rectangle, at least one pixel (adjacent boxes do not overlap)."""
    height, width = shape[:2]
    x0, y0 = min(round(box[0] * scale), width - 1), min(round(box[1] * scale), height - 1)
    return x0, y0, max(round(box[2] * scale), x0 + 1), max(round(box[3] * scale), y0 + 1)


def _box_mask(boxes: Iterable[Box | np.ndarray], scale: float, shape: tuple[int, ...]) -> np.ndarray:
    """Boolean working-copy mask of the union of ``boxes``."""
    mask = np.zeros(shape[:2], dtype=bool)
    for box in boxes:
        x0, y0, x1, y1 = _to_work(box, scale, shape)
        mask[y0:y1, x0:x1] = True
    return mask


def _gutter(boxes: np.ndarray, width: int) -> float:
    """Median over panels of the gap to the nearest other panel, as a fraction of page width."""
    if len(boxes) < 2:
        return 0.0
    dx = np.maximum(boxes[None, :, 0] - boxes[:, None, 2], boxes[:, None, 0] - boxes[None, :, 2])
    dy = np.maximum(boxes[None, :, 1] - boxes[:, None, 3], boxes[:, None, 1] - boxes[None, :, 3])
    gap = np.clip(np.maximum(dx, dy), 0, None)
    np.fill_diagonal(gap, np.inf)
    return float(np.median(gap.min(1)) / width)


def _regularity(boxes: np.ndarray, areas: np.ndarray, width: int, height: int, tol: float) -> float:
    """Mean of edge alignment (share of edges near the same edge of another panel) and size uniformity."""
    if len(boxes) < 2:
        return 1.0
    close = np.abs(boxes[:, None] - boxes[None]) <= tol * np.array([width, height, width, height])
    close[np.arange(len(boxes)), np.arange(len(boxes))] = False
    alignment = close.any(1).mean()
    variation = areas.std() / areas.mean() if areas.mean() > 0 else 1.0
    return float(0.5 * alignment + 0.5 * (1 - min(variation, 1.0)))


def _mean_std_min_max(values: np.ndarray) -> tuple[float, float, float, float]:
    """Summary of ``values``; zeros when empty."""
    if not len(values):
        return 0.0, 0.0, 0.0, 0.0
    return float(values.mean()), float(values.std()), float(values.min()), float(values.max())


def _areas_aspects(boxes: np.ndarray, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Area as a fraction of the page and width/height of each box (N, 4)."""
    sides = np.clip(boxes[:, 2:] - boxes[:, :2], 0, None)
    return sides.prod(1) / (width * height), sides[:, 0] / np.maximum(sides[:, 1], 1e-9)


def _panel_geometry(boxes: np.ndarray, width: int, height: int, config: FeatureConfig) -> dict[str, Any]:
    """Panel count, area, rhythm, aspect, gutter and regularity of clipped ``boxes`` (N, 4) in reading order."""
    areas, aspects = _areas_aspects(boxes, width, height)
    pairs = np.maximum(areas[1:], areas[:-1])
    steps = np.abs(np.diff(areas))[pairs > 0] / pairs[pairs > 0]
    aspect_mean, aspect_std, _, _ = _mean_std_min_max(aspects)
    area_mean, area_std, area_min, area_max = _mean_std_min_max(areas)
    return {
        "panel_count": len(boxes),
        "area_mean": area_mean,
        "area_std": area_std,
        "area_min": area_min,
        "area_max": area_max,
        "size_rhythm": float(steps.mean()) if len(steps) else 0.0,
        "aspect_mean": aspect_mean,
        "aspect_std": aspect_std,
        "gutter": _gutter(boxes, width),
        "regularity": _regularity(boxes, areas, width, height, config.align_tol) if len(boxes) else 0.0,
    }


def compute_features(
    image: Image.Image, panels: list[Panel], balloons: list[Balloon], config: FeatureConfig = DEFAULT_CONFIG
) -> PageFeatures:
    """Measure an RGB page (original size) with its panels and balloons (original pixels) into PageFeatures."""
    width, height = image.size
    work = _resize_long_side(image.convert("RGB"), config.work_side)
    scale, shape = work.width / width, (work.height, work.width)
    ordered = sorted(panels, key=lambda p: p.order)
    boxes = np.array([clip_box(p.box, width, height) for p in ordered], dtype=np.float64).reshape(-1, 4)
    pixels = _Pixels.of(work, _box_mask([b.box for b in balloons], scale, shape), config)
    panel_mask = _box_mask(boxes, scale, shape)
    panel_features = []
    for panel, box, area, aspect in zip(ordered, boxes, *_areas_aspects(boxes, width, height), strict=True):
        crop = pixels.crop(*_to_work(box, scale, shape))
        panel_features.append(
            PanelFeatures(
                order=panel.order,
                box=box.tolist(),
                area=float(area),
                aspect=float(aspect),
                balloon_count=sum(b.panel == panel.order for b in balloons),
                text_coverage=float(crop.text.mean()),
                colour=_colour_stats(crop, config),
            )
        )
    layout = LayoutStats(
        **_panel_geometry(boxes, width, height, config),
        balloon_count=len(balloons),
        text_coverage=float(pixels.text.mean()),
        text_in_panels=float((pixels.text & panel_mask).sum() / panel_mask.sum()) if panel_mask.any() else 0.0,
    )
    return PageFeatures(
        width=width,
        height=height,
        layout=layout,
        colour=_colour_stats(pixels, config),
        palette=_palette(np.asarray(_resize_long_side(work, config.palette_side)), config),
        is_bw=is_black_and_white(np.asarray(_resize_long_side(work, config.bw_side)), config),
        panels=panel_features,
    )
