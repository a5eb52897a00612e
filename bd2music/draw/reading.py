"""Reading a drawing: its strokes (``bd2music.draw.strokes``), each measured (``bd2music.draw.measure``) and
read as a height, a loudness and a brightness (``bd2music.draw.readings``), classically or by the learned
heads (``bd2music.models.draw_reader``); the classical reading is kept beside the learned one.

    reader = DrawingReader.from_pretrained()      # weights/draw; without it only the classical reading
    reading = reader(image, method="learned")     # strokes left to right
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from bd2music.draw.measure import classical, features, measure
from bd2music.draw.readings import READINGS
from bd2music.draw.strokes import Stroke, StrokeConfig, find_strokes
from bd2music.errors import InputError, MissingWeights
from bd2music.models.draw_reader import StrokeReader

METHODS = ("learned", "classical")
CONTOUR_SAMPLES = 64  # samples of each stroke's centre line kept for the melody


@dataclass
class StrokeReading:
    """What one stroke reads as, with where it is and what it was read from."""

    stroke: Stroke = field(repr=False)
    height: float  # 0 bottom .. 1 top of the canvas
    loudness: float  # 0 .. 1
    brightness: float  # 0 dark .. 1 bright
    contour: np.ndarray = field(repr=False)  # (CONTOUR_SAMPLES,) centre-line heights, left to right, shifted to height
    width: float  # pen width / canvas height (the measured median width)
    classical: dict[str, float] = field(default_factory=dict)  # the classical reading's three values

    @property
    def start(self) -> float:
        """Left edge, as a share of the canvas width."""
        return self.stroke.box[0] / self.stroke.canvas[0]

    @property
    def end(self) -> float:
        """Right edge, as a share of the canvas width."""
        return self.stroke.box[2] / self.stroke.canvas[0]

    def to_dict(self) -> dict:
        return self.stroke.to_dict() | {
            "height": round(self.height, 4), "loudness": round(self.loudness, 4),
            "brightness": round(self.brightness, 4), "width": round(self.width, 5),
            "classical": {name: round(value, 4) for name, value in self.classical.items()},
        }


@dataclass
class DrawingReading:
    """A drawing's strokes, left to right, as read by ``method``."""

    strokes: list[StrokeReading]
    method: str  # "learned" or "classical"
    canvas: tuple[int, int]  # the size it was read at (width, height), px

    def to_dict(self) -> dict:
        return {"method": self.method, "strokes": [s.to_dict() for s in self.strokes]}


@dataclass
class DrawingReader:
    """Finds, measures and reads strokes; ``model`` None: only the classical reading."""

    model: StrokeReader | None = None
    config: StrokeConfig = field(default_factory=StrokeConfig)

    @classmethod
    def from_pretrained(cls, path_or_repo: str | Path | None = None, revision: str | None = None) -> DrawingReader:
        """The learned heads from a folder (default ``weights/draw``) or Hub repo; without them, with a warning,
        the classical reading alone."""
        try:
            model = StrokeReader.from_pretrained(path_or_repo, revision)
        except MissingWeights as error:
            warnings.warn(f"{error}; drawings are read classically", stacklevel=2)
            model = None
        return cls(model)

    @property
    def methods(self) -> tuple[str, ...]:
        return METHODS if self.model is not None else ("classical",)

    def check_method(self, method: str) -> str:
        if method not in self.methods:
            raise InputError(f"reading must be one of {', '.join(self.methods)}, got {method!r}")
        return method

    def __call__(self, image: Image.Image, method: str = "learned") -> DrawingReading:
        """The strokes of ``image`` read by ``method``; InputError for a blank drawing or an unknown method."""
        method = self.check_method(method)
        strokes = find_strokes(image, self.config)
        measured = [measure(stroke) for stroke in strokes]
        plain = [classical(m) for m in measured]
        read = [dict(values) for values in plain]
        if method == "learned":
            vectors = [features(m, values) for m, values in zip(measured, plain)]
            batch = {name: torch.from_numpy(np.stack([v[name] for v in vectors])) for name in READINGS}
            learned = self.model.read(batch)
            read = [{name: float(learned[name][i]) for name in READINGS} for i in range(len(strokes))]
        out = []
        for m, values, baseline in zip(measured, read, plain):
            contour = np.clip(m.contour(CONTOUR_SAMPLES) + values["height"] - baseline["height"], 0.0, 1.0)
            out.append(StrokeReading(m.stroke, values["height"], values["loudness"], values["brightness"], contour,
                                     m.width / m.canvas_height, baseline))
        return DrawingReading(out, method, strokes[0].canvas)
