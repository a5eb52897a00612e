"""The bd2music pipeline object: one place that owns the loaded components and runs the stages in order.

Stage so far: page → panel/balloon detection → reading order → visual features. The app and the CLI build
one :class:`Pipeline` and call it; the sound stages join it as their models arrive.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bd2music.errors import InputError
from bd2music.io import PageSource, load_page
from bd2music.vision.analysis import PageAnalysis, analyze_page
from bd2music.vision.classical import ClassicalDetector
from bd2music.vision.detect import DETECTORS, Detector, load_detector


@dataclass
class Pipeline:
    """Components: ``detector`` (trained YOLO, or the classical one when no weights exist) and ``classical``
    (the gutter/contour baseline, always available)."""

    detector: Detector
    classical: ClassicalDetector

    @classmethod
    def from_pretrained(cls, path_or_repo: str | Path | None = None, revision: str | None = None) -> Pipeline:
        """Load every component from a weights folder (default: the repo's ``weights/``) or a Hub repo."""
        return cls(detector=load_detector("yolo", path_or_repo), classical=ClassicalDetector())

    def analyze(self, page: PageSource, rtl: bool = False, detector: str = "yolo") -> PageAnalysis:
        """Panels in reading order, balloons and visual features of one page (any supported image input)."""
        if detector not in DETECTORS:
            raise InputError(f"unknown detector {detector!r}, expected one of {', '.join(DETECTORS)}")
        chosen = self.classical if detector == "classical" else self.detector
        return analyze_page(load_page(page), chosen, rtl=rtl)
