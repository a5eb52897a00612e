"""Boxes and detections shared by every vision stage. Boxes are ``(x0, y0, x1, y1)`` in original-image pixels."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

Box = tuple[float, float, float, float]
CLASSES = ("panel", "balloon")  # detector class ids 0 and 1


@dataclass(frozen=True)
class Detection:
    """One detected region: ``label`` is a name from :data:`CLASSES`, ``score`` a confidence in [0, 1]."""

    box: Box
    score: float
    label: str


@dataclass(frozen=True)
class Panel:
    """A panel with its position ``order`` in reading order (0 = read first)."""

    box: Box
    order: int
    score: float


@dataclass(frozen=True)
class Balloon:
    """A lettered area (balloon, caption, sign, sound effect); ``panel`` is the reading-order index of its panel,
    or None. ``text`` (its words in reading order) and ``kind`` (``bd2music.vision.lettering.KINDS``) are filled
    when the lettering was read."""

    box: Box
    panel: int | None
    score: float
    text: str = ""
    kind: str = "unknown"


def box_area(box: Box) -> float:
    """Area of a box (0 for degenerate boxes)."""
    return max(0.0, box[2] - box[0]) * max(0.0, box[3] - box[1])


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise intersection-over-union of boxes ``a`` (N, 4) and ``b`` (M, 4) as an (N, M) array."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    x0 = np.maximum(a[:, None, 0], b[None, :, 0])
    y0 = np.maximum(a[:, None, 1], b[None, :, 1])
    x1 = np.minimum(a[:, None, 2], b[None, :, 2])
    y1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area_a = np.clip(a[:, 2] - a[:, 0], 0, None) * np.clip(a[:, 3] - a[:, 1], 0, None)
    area_b = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def scale_box(box: Box, factor: float) -> Box:
    """Multiply every coordinate by ``factor`` (e.g. from a downscaled image back to original pixels)."""
    return (box[0] * factor, box[1] * factor, box[2] * factor, box[3] * factor)


def clip_box(box: Box, width: int, height: int) -> Box:
    """Clip a box to the image rectangle."""
    return (
        min(max(box[0], 0.0), width),
        min(max(box[1], 0.0), height),
        min(max(box[2], 0.0), width),
        min(max(box[3], 0.0), height),
    )
