"""The detector interface: anything that turns a page image into panel and balloon detections."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Protocol

from PIL import Image

from bd2music.vision.boxes import Detection

DETECTORS = ("yolo", "classical")


class Detector(Protocol):
    """Finds panels and balloons; boxes come back in the pixels of the image it was given."""

    name: str

    def detect(self, image: Image.Image) -> list[Detection]: ...


def load_detector(kind: str = "yolo", weights: str | Path | None = None, fallback: bool = True,
                  device: str = "cpu") -> Detector:
    """Build a detector by name: ``yolo`` (trained weights, default ``weights/detector``, on ``device``) or
    ``classical`` (always on the CPU).

    With ``fallback``, a weights folder without YOLO weights gives the classical detector and a warning instead of
    an error; a ``weights`` folder that does not exist, or corrupt weights, are an error.
    """
    from bd2music.errors import InputError, MissingWeights

    if kind not in DETECTORS:
        raise InputError(f"unknown detector {kind!r}, expected one of {', '.join(DETECTORS)}")
    if kind == "yolo":
        from bd2music.vision.yolo import YoloDetector

        try:
            return YoloDetector.from_pretrained(weights, device=device)
        except MissingWeights as error:
            if not fallback:
                raise
            warnings.warn(f"{error}; using the classical detector", stacklevel=2)
    from bd2music.vision.classical import ClassicalDetector

    return ClassicalDetector()
