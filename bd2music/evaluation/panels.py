"""Panel and balloon detection metrics: greedy one-to-one IoU matching, precision, recall and F1.

Annotated folders hold one JSON per page (``image``, ``width``, ``height``, ``panels`` [[x0, y0, x1, y1], ...]
and optionally ``balloons``), the format of ``shared/data/eval_pages``. Empty denominators follow one rule:
finding nothing where there is nothing to find scores 1, anything else scores 0.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from bd2music.errors import InputError
from bd2music.io import load_page
from bd2music.vision.boxes import Box, Detection, iou_matrix
from bd2music.vision.detect import Detector

IOU_THRESHOLD = 0.5


@dataclass(frozen=True)
class Counts:
    """True positives, false positives and false negatives of one page or a whole set (micro average)."""

    tp: int = 0
    fp: int = 0
    fn: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn)

    @property
    def precision(self) -> float:
        """TP / (TP + FP)."""
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else float(self.fn == 0)

    @property
    def recall(self) -> float:
        """TP / (TP + FN)."""
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else float(self.fp == 0)

    @property
    def f1(self) -> float:
        """Harmonic mean of precision and recall."""
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def to_dict(self) -> dict[str, float]:
        """Counts plus precision, recall and F1."""
        rates = {"precision": self.precision, "recall": self.recall, "f1": self.f1}
        return {**asdict(self), **{name: round(value, 4) for name, value in rates.items()}}


@dataclass(frozen=True)
class AnnotatedPage:
    """One ground-truth page; ``panels`` or ``balloons`` is None where the page has no such annotation."""

    image: Path
    width: int
    height: int
    panels: list[Box] | None
    balloons: list[Box] | None

    @property
    def name(self) -> str:
        """The page's file stem."""
        return self.image.stem


@dataclass(frozen=True)
class PageResult:
    """Counts of one detector on one page."""

    name: str
    panels: Counts | None
    balloons: Counts | None
    seconds: float


@dataclass
class DetectorReport:
    """Per-page and overall (micro-averaged) results of one detector on an annotated folder."""

    detector: str
    pages: list[PageResult] = field(default_factory=list)

    @property
    def panels(self) -> Counts | None:
        """Panel counts summed over the pages with panel annotations (None if there are none)."""
        return _summed([page.panels for page in self.pages])

    @property
    def balloons(self) -> Counts | None:
        """Balloon counts summed over the pages with balloon annotations (None if there are none)."""
        return _summed([page.balloons for page in self.pages])

    @property
    def seconds_per_page(self) -> float:
        """Mean detection time per page."""
        return sum(page.seconds for page in self.pages) / max(len(self.pages), 1)

    def to_dict(self) -> dict:
        """JSON-ready dictionary: overall metrics first, then one entry per page."""

        def counts(value: Counts | None) -> dict[str, float] | None:
            return None if value is None else value.to_dict()

        overall = {"panels": counts(self.panels), "balloons": counts(self.balloons)}
        pages = [
            {"name": p.name, "panels": counts(p.panels), "balloons": counts(p.balloons), "seconds": round(p.seconds, 4)}
            for p in self.pages
        ]
        return {"detector": self.detector, "pages_evaluated": len(self.pages),
                "seconds_per_page": round(self.seconds_per_page, 4), "overall": overall, "pages": pages}


def _summed(counts: list[Counts | None]) -> Counts | None:
    annotated = [c for c in counts if c is not None]
    return sum(annotated, Counts()) if annotated else None


def match_boxes(pred: Sequence[Box], truth: Sequence[Box], threshold: float = IOU_THRESHOLD) -> list[tuple[int, int]]:
    """Greedy one-to-one matching, highest IoU first: ``(pred_index, truth_index)`` pairs with IoU >= threshold."""
    if not pred or not truth:
        return []
    iou = iou_matrix(np.asarray(pred), np.asarray(truth))
    rows, cols = np.nonzero(iou >= threshold)
    order = np.argsort(-iou[rows, cols], kind="stable")
    used_pred: set[int] = set()
    used_truth: set[int] = set()
    pairs = []
    for i, j in zip(rows[order].tolist(), cols[order].tolist(), strict=True):
        if i not in used_pred and j not in used_truth:
            used_pred.add(i)
            used_truth.add(j)
            pairs.append((i, j))
    return pairs


def count_matches(pred: Sequence[Box], truth: Sequence[Box], threshold: float = IOU_THRESHOLD) -> Counts:
    """TP/FP/FN of predictions against ground truth (duplicates of a matched box are false positives)."""
    tp = len(match_boxes(pred, truth, threshold))
    return Counts(tp, len(pred) - tp, len(truth) - tp)


def evaluate_page(detections: Sequence[Detection], page: AnnotatedPage, seconds: float = 0.0) -> PageResult:
    """Score one page's detections (in the page's original pixels) against its annotation."""

    def boxes(label: str) -> list[Box]:
        return [d.box for d in detections if d.label == label]

    def counts(label: str, truth: list[Box] | None) -> Counts | None:
        return None if truth is None else count_matches(boxes(label), truth)

    return PageResult(page.name, counts("panel", page.panels), counts("balloon", page.balloons), seconds)


def evaluate_detector(detector: Detector, pages: Sequence[AnnotatedPage], max_side: int,
                      progress: bool = True) -> DetectorReport:
    """Run a detector on each page as the pipeline does (downscaled to ``max_side``) and score it.

    ``seconds`` per page counts the downscaling and the detection, not the decoding of the file.
    """
    from tqdm import tqdm

    report = DetectorReport(detector.name)
    for annotated in tqdm(pages, desc=detector.name, unit="page", disable=not progress):
        page = load_page(annotated.image)
        start = time.perf_counter()
        small, scale = page.downscaled(max_side)
        detections = detector.detect(small)
        seconds = time.perf_counter() - start
        to_truth = (scale * annotated.width / page.width, scale * annotated.height / page.height)
        mapped = [Detection(_scaled(d.box, to_truth), d.score, d.label) for d in detections]
        report.pages.append(evaluate_page(mapped, annotated, seconds))
    return report


def _scaled(box: Box, factors: tuple[float, float]) -> Box:
    fx, fy = factors
    return (box[0] * fx, box[1] * fy, box[2] * fx, box[3] * fy)


def _box(values: Sequence[float]) -> Box:
    x0, y0, x1, y1 = map(float, values)
    return (x0, y0, x1, y1)


def _image_path(folder: Path, json_path: Path, image: str | None) -> Path:
    name = image or json_path.with_suffix(".jpg").name
    for candidate in (folder / name, folder.parent / name):  # comics/labels/*.json name images in comics/
        if candidate.is_file():
            return candidate
    raise InputError(f"{json_path.name}: image {name} not found next to it or in its parent folder")


def load_annotations(folder: str | Path) -> list[AnnotatedPage]:
    """Read every ``*.json`` page annotation of a folder, sorted by file name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: not a folder")
    pages = []
    for json_path in sorted(folder.glob("*.json")):
        try:
            data = json.loads(json_path.read_text())
            panels, balloons = ([_box(box) for box in data[key]] if key in data else None
                                for key in ("panels", "balloons"))
            size = int(data["width"]), int(data["height"])
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
            raise InputError(f"{json_path.name}: not a panel annotation ({error})") from None
        pages.append(AnnotatedPage(_image_path(folder, json_path, data.get("image")), *size, panels, balloons))
    if not pages:
        raise InputError(f"{folder}: no *.json annotations")
    return pages
