"""Drawing -> sound: ``DrawPipeline`` reads a drawing, plans it, renders it with the chosen sound and masters it.

    pipe = DrawPipeline.from_pretrained()            # weights/: draw (reader, bank pitches), instruments, bank
    result = pipe("drawing.png", sound="sampler", method="learned", seconds=8.0)
    result.audio                                    # (2, samples) float32 at 44.1 kHz

Steps (``__call__``): ``check_inputs`` -> load the drawing (``bd2music.io.load_page``: bad files are one line)
-> read (``bd2music.draw.reading``) -> ``plan`` (``bd2music.draw.plan``) -> ``render`` (``bd2music.draw.render``)
-> ``master`` (``bd2music.master``, at the plan's loudness). The sounds' assets load on first use.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from bd2music.backends.base import Layer
from bd2music.draw.bank_pitch import TABLE
from bd2music.draw.plan import DrawPlan, DrawPlanConfig, check_seconds, note_name, plan_drawing
from bd2music.draw.reading import DrawingReader, DrawingReading
from bd2music.draw.render import SOUNDS, loaded
from bd2music.errors import InputError, usable
from bd2music.hub import WEIGHTS_DIR
from bd2music.io import PageSource, load_page
from bd2music.master import MasterConfig, Mastered, master
from bd2music.music.score import Score
from bd2music.vision.boxes import Panel
from bd2music.vision.overlay import draw_overlay

SOUND_WORDS = {"sampler": "the music sampler: notes at the drawn pitches, an instrument by colour",
               "bank": "the sound bank: the nearest real clip by pitch, loudness and brightness, retuned"}


@dataclass
class DrawResult:
    """A drawing's sound and everything that went into it."""

    image: Image.Image  # the drawing as loaded (RGB)
    reading: DrawingReading
    plan: DrawPlan
    mastered: Mastered
    layer: Layer
    settings: dict  # sound, reading method, seconds, weights
    timings: dict[str, float] = field(default_factory=dict)  # seconds per step (not in to_dict)

    @property
    def audio(self) -> np.ndarray:
        return self.mastered.audio

    @property
    def sample_rate(self) -> int:
        return self.mastered.sample_rate

    @property
    def cues(self) -> list[dict]:
        return [cue.to_dict() for cue in self.layer.cues]

    @property
    def score(self) -> Score | None:
        return self.layer.score

    def overlay(self) -> Image.Image:
        """The drawing with each stroke's box, numbered left to right."""
        scale = self.image.width / self.reading.canvas[0]
        boxes = [Panel(tuple(v * scale for v in s.stroke.box), i, 1.0) for i, s in enumerate(self.reading.strokes)]
        return draw_overlay(self.image, boxes, [], kinds=False)

    def rows(self) -> list[list]:
        """One row per stroke: number, seconds, notes, the three readings, colour, what plays it."""
        plays = [cue.clip.removeprefix("instrument: ") for cue in self.layer.cues]
        return [[event.stroke + 1, f"{event.start:.2f}-{event.end:.2f}",
                 " ".join(dict.fromkeys(note_name(p) for _, _, p in event.notes)), round(stroke.height, 3),
                 round(stroke.loudness, 3), round(stroke.brightness, 3), event.colour, player]
                for event, stroke, player in zip(self.plan.events, self.reading.strokes, plays)]

    def to_dict(self) -> dict:
        return {"reading": self.reading.to_dict(), "plan": self.plan.to_dict(), "cues": self.cues,
                "settings": self.settings, "sample_rate": self.sample_rate,
                "loudness_lufs": round(self.mastered.lufs, 2), "true_peak_dbtp": round(self.mastered.true_peak_db, 2),
                "duration": round(self.audio.shape[-1] / self.sample_rate, 4)}


@dataclass
class DrawPipeline:
    """The reader and the folders the sounds load from (``components``: instruments, bank, pitches)."""

    reader: DrawingReader
    components: dict
    plan_config: DrawPlanConfig = field(default_factory=DrawPlanConfig)
    master_config: MasterConfig = field(default_factory=MasterConfig)
    weights: str = "weights/"
    sounds: dict = field(default_factory=dict)  # name -> built sound

    @classmethod
    def from_pretrained(cls, folder: str | Path | None = None, bank: str | Path | None = None) -> DrawPipeline:
        """From a weights folder (default ``weights/``): ``draw/`` (the learned reader; without it the classical
        reading alone), ``instruments/``, ``bank/`` (or ``bank``) and ``draw/bank_pitches.json``."""
        root = Path(folder) if folder is not None else WEIGHTS_DIR
        components = {"instruments": root / "instruments", "bank": Path(bank) if bank else root / "bank",
                      "pitches": root / "draw" / TABLE}
        return cls(DrawingReader.from_pretrained(root / "draw" if (root / "draw").is_dir() else root), components,
                   weights=str(folder or "weights/"))

    def sound(self, name: str):
        """The sound ``name``, built on first use (InputError when its assets are missing)."""
        if name not in SOUNDS:
            raise InputError(f"unknown sound {name!r}, expected one of {', '.join(SOUNDS)}")
        if name not in self.sounds:
            self.sounds[name] = loaded(name, self.components)
        return self.sounds[name]

    def usable_sounds(self) -> tuple[list[str], list[str]]:
        """(the sounds whose assets load, one line for each that does not)."""
        return usable(SOUNDS, self.sound, "drawing sound")

    def check_inputs(self, sound: str, method: str, seconds: float) -> None:
        check_seconds(seconds)
        self.reader.check_method(method)
        self.sound(sound)

    def plan(self, reading: DrawingReading, seconds: float) -> DrawPlan:
        return plan_drawing(reading, seconds, self.plan_config)

    def render(self, plan: DrawPlan, sound: str) -> Layer:
        return self.sound(sound).render(plan)

    def __call__(self, drawing: PageSource, sound: str = "sampler", method: str = "learned",
                 seconds: float = 8.0) -> DrawResult:
        """The sound of ``drawing`` (a path, bytes, PIL image or array) rendered by ``sound``, read by ``method``."""
        self.check_inputs(sound, method, seconds)
        timings, clock = {}, time.perf_counter()

        def tick(step: str) -> None:
            nonlocal clock
            now = time.perf_counter()
            timings[step], clock = now - clock, now

        image = load_page(drawing, _name(drawing)).image
        reading = self.reader(image, method)
        tick("read")
        plan = self.plan(reading, seconds)
        tick("plan")
        layer = self.render(plan, sound)
        tick("render")
        mastered = master([layer], self.master_config, target_lufs=plan.lufs)
        tick("master")
        settings = {"sound": sound, "reading": reading.method, "seconds": float(seconds), "weights": self.weights}
        return DrawResult(image, reading, plan, mastered, layer, settings, timings)


def _name(drawing: PageSource) -> str:
    return Path(drawing).name if isinstance(drawing, (str, Path)) else "drawing"
