"""Reading order of panels and the panel each balloon belongs to.

Panels are ordered by a recursive X-Y cut on their boxes: split into tiers along horizontal gaps (top to
bottom), a tier without one into columns along vertical gaps (left to right, or right to left for manga),
and recurse. Boxes are shrunk by a fraction of their size before looking for gaps, so slightly misaligned
or overlapping panels still fall into the right tier. Groups with no gap at all are read greedily,
row by row.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from bd2music.vision.boxes import Box

OVERLAP_TOLERANCE = 0.2  # a box may reach this fraction of its size (at most of the median) into the next tier
SAME_ROW = 0.5  # in the fallback, boxes sharing this much of the smaller height (width) share a row (column)
INSET = 0.7  # a box with this much of its area inside another is an inset, read by x


def _groups(boxes: np.ndarray, indices: list[int], axis: int) -> list[list[int]]:
    """Split boxes into groups separated by gaps along ``axis`` (0: x, 1: y), in increasing coordinate."""
    low, high = boxes[indices, axis], boxes[indices, axis + 2]
    size = high - low
    margin = OVERLAP_TOLERANCE * np.minimum(size, np.median(size))  # insets stay inside big panels
    order = np.argsort(low + margin, kind="stable")
    groups: list[list[int]] = []
    reach = -np.inf
    for k in order.tolist():
        start, end = low[k] + margin[k], high[k] - margin[k]
        if start >= reach:
            groups.append([])
            reach = end
        groups[-1].append(indices[k])
        reach = max(reach, end)
    return groups


def _precedence(boxes: np.ndarray, rtl: bool) -> np.ndarray:
    """Matrix whose entry [j, i] says box j is read before box i: beside it in a row or inset in it, by x;
    otherwise by y."""
    x0, y0, x1, y1 = boxes.T
    w, h = x1 - x0, y1 - y0
    width = np.minimum(x1[:, None], x1) - np.maximum(x0[:, None], x0)
    height = np.minimum(y1[:, None], y1) - np.maximum(y0[:, None], y0)
    same_row = height >= SAME_ROW * np.minimum(h[:, None], h)
    same_column = width >= SAME_ROW * np.minimum(w[:, None], w)
    inset = np.clip(width, 0, None) * np.clip(height, 0, None) >= INSET * np.minimum((w * h)[:, None], w * h)
    by_x = x1[:, None] > x1 if rtl else x0[:, None] < x0
    by_y = (y0[:, None] < y0) | ((y0[:, None] == y0) & (y1[:, None] < y1))
    return np.where(same_row & (inset | ~same_column), by_x, by_y)


def _greedy(boxes: np.ndarray, indices: list[int], rtl: bool) -> list[int]:
    """Fallback for boxes with no gap between them: repeatedly read the box that the fewest others precede."""
    before = _precedence(boxes[indices], rtl)
    remaining = list(range(len(indices)))
    ordered: list[int] = []
    while remaining:
        waiting = before[np.ix_(remaining, remaining)].sum(axis=0)
        ordered.append(indices[remaining.pop(int(np.argmin(waiting)))])
    return ordered


def _order(boxes: np.ndarray, indices: list[int], rtl: bool) -> list[int]:
    """Recursive X-Y cut: tiers, else columns, else the greedy fallback."""
    if len(indices) <= 1:
        return list(indices)
    tiers = _groups(boxes, indices, axis=1)
    if len(tiers) > 1:
        return [i for tier in tiers for i in _order(boxes, tier, rtl)]
    columns = _groups(boxes, indices, axis=0)
    if len(columns) > 1:
        return [i for column in (columns[::-1] if rtl else columns) for i in _order(boxes, column, rtl)]
    return _greedy(boxes, indices, rtl)


def reading_order(boxes: Sequence[Box], rtl: bool = False) -> list[int]:
    """Indices of ``boxes`` in reading order: tiers top to bottom, panels left to right (right to left if rtl)."""
    array = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return _order(array, list(range(len(array))), rtl)


def assign_balloons(balloons: Sequence[Box], panels_in_order: Sequence[Box]) -> list[int | None]:
    """For each balloon, the reading-order index of the panel holding most of it (None if it touches none)."""
    if not panels_in_order:
        return [None] * len(balloons)
    panels = np.asarray(panels_in_order, dtype=np.float64).reshape(-1, 4)
    assigned: list[int | None] = []
    for x0, y0, x1, y1 in balloons:
        width = np.clip(np.minimum(panels[:, 2], x1) - np.maximum(panels[:, 0], x0), 0, None)
        height = np.clip(np.minimum(panels[:, 3], y1) - np.maximum(panels[:, 1], y0), 0, None)
        overlap = width * height
        assigned.append(int(overlap.argmax()) if overlap.max() > 0 else None)
    return assigned
