"""The bd2music pipeline: one object that owns the loaded components and runs analyse → plan → render → master.

* analyse: panel/balloon detection, reading order, visual features (``bd2music.vision``).
* plan: comic VAE → latent mapper → the audio VAE's heads, calibrated (``bd2music.plan``): per segment (the page,
  or each panel in reading order) tempo, onset rate, spectral centroid, loudness, flatness, a semantic embedding
  and a text cue.
* render: the chosen sound's backends (``bd2music.backends``), each giving layers with the cues of what it used.
* master: mix, ducking, effects, loudness and true peak (``bd2music.master``), 44.1 kHz stereo.

``weights/pipeline.json`` (like diffusers' ``model_index.json``) names the component folders, the sounds (a
sound is a list of backends, layered: the first leads, the others are beds the master ducks under it) and the
default sound. The same seed gives the same audio.
"""

from __future__ import annotations

import functools
import json
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from bd2music.audio.mel import track_mel
from bd2music.backends import Layer, backend_class, bed_of, check_name, settings_config
from bd2music.draw.bank_pitch import TABLE as BANK_PITCHES
from bd2music.errors import InputError, MissingWeights, usable
from bd2music.inputs import check_seed
from bd2music.inputs import prompt as check_prompt
from bd2music.hub import PIPELINE_INDEX, WEIGHTS_DIR
from bd2music.io import PageSource, load_page
from bd2music.master import MasterConfig, Mastered, master
from bd2music.models.audio_text import AudioTextModel
from bd2music.models.audio_vae import AudioVAE
from bd2music.models.comic_vae import ComicVAE
from bd2music.models.mapper import LatentMapper
from bd2music.models.vocoder import load_vocoder
from bd2music.music.score import Score
from bd2music.plan import WHOLE_PAGE, Plan, Planner, PlannerConfig, SegmentPlan
from bd2music.text_cues import apply_lettering
from bd2music.text_to_audio import TEXT_LUFS, TextToAudioResult
from bd2music.vision.analysis import PageAnalysis, analyze_page
from bd2music.vision.classical import ClassicalDetector
from bd2music.vision.detect import DETECTORS, Detector
from bd2music.vision.ocr import TextReader

SECONDS_RANGE = (1.0, 60.0)
STAGES = ("detection", "features", "plan", "render", "master")
OPTIONAL = (  # components passed on as folders only when weights/pipeline.json names them
    "diffusion_vae",  # the diffusion model's own audio VAE
    "neural_vae",  # the audio VAE the neural sound decodes with (a keyed latent shaper finds its windows)
    "prompt_index",  # the training clips' embeddings (text to sound)
)
Progress = Callable[[float, str], None]

__all__ = ["STAGES", "WHOLE_PAGE", "Pipeline", "Result", "TextToAudioResult", "check_seconds"]


def check_seconds(seconds: float) -> None:
    """InputError unless ``seconds`` is inside ``SECONDS_RANGE``."""
    if not SECONDS_RANGE[0] <= seconds <= SECONDS_RANGE[1]:
        raise InputError(f"seconds must be between {SECONDS_RANGE[0]:g} and {SECONDS_RANGE[1]:g}, got {seconds:g}")


@dataclass
class PipelineIndex:
    """``weights/pipeline.json``: component folders by name, sounds (name -> backends, layered), the default, and
    the settings each backend and the master are built with (their config dataclasses' fields; missing ones keep
    the code's defaults)."""

    components: dict[str, str]
    sounds: dict[str, list[str]]
    default: str
    settings: dict[str, dict] = field(default_factory=dict)  # backend name (or "master") -> its config's fields

    @classmethod
    def load(cls, folder: Path) -> PipelineIndex:
        path = folder / PIPELINE_INDEX
        if not path.is_file():  # an older weights folder: every component in its usual subfolder
            path = WEIGHTS_DIR / PIPELINE_INDEX
        try:
            index = cls(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError) as error:
            raise InputError(f"{path}: not a readable pipeline index ({error})") from None
        for name, backends in index.sounds.items():
            for backend in backends:
                check_name(backend)
        check_name(index.default, index.sounds)
        return index


@dataclass
class Result:
    """A generated soundtrack and everything that went into it."""

    analysis: PageAnalysis  # panels in reading order, balloons, features
    plan: Plan  # what the backends were asked to render
    mastered: Mastered  # the mix (44.1 kHz stereo), its loudness, stems
    layers: list[Layer]  # the backends' layers, before mastering (their cues say what sounds when)
    settings: dict  # seconds, seed, per_panel, rtl, detector, sound, device, weights
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage (not part of to_dict)

    @property
    def audio(self) -> np.ndarray:
        return self.mastered.audio

    @functools.cached_property
    def mel(self) -> np.ndarray:
        """(n_mels, frames) natural-log power mel of the mix (mono, resampled to ``MEL``'s rate), for display:
        made when first asked for, not for every track."""
        return track_mel(self.audio, self.sample_rate)

    @property
    def sample_rate(self) -> int:
        return self.mastered.sample_rate

    @property
    def segments(self) -> list[SegmentPlan]:
        return self.plan.segments

    @property
    def duration(self) -> float:
        return self.audio.shape[-1] / self.sample_rate

    @property
    def score(self) -> Score | None:
        """The notes the music layer played (None without one)."""
        return next((layer.score for layer in self.layers if layer.score is not None), None)

    @property
    def cues(self) -> list[dict]:
        return sorted((cue.to_dict() for layer in self.layers for cue in layer.cues), key=lambda c: c["start"])

    def to_dict(self) -> dict:
        """The page analysis plus plan, segments, layers, cues, settings, loudness and duration (JSON-able)."""
        segments = [{"panel": s.panel, "start": round(s.start, 4), "end": round(s.end, 4)} for s in self.segments]
        return self.analysis.to_dict() | {
            "plan": self.plan.to_dict(),
            "segments": segments,
            "layers": [layer.name for layer in self.layers],
            "cues": self.cues,
            **({"music": self.score.to_dict()} if self.score is not None else {}),
            "settings": self.settings,
            "sample_rate": self.sample_rate,
            "loudness_lufs": round(self.mastered.lufs, 2),
            "true_peak_dbtp": round(self.mastered.true_peak_db, 2),
            "duration": round(self.duration, 4),
        }


class _StageClock:
    """Calls ``progress(fraction, stage)`` as each stage starts and records how long each one took."""

    def __init__(self, progress: Progress | None) -> None:
        self.progress = progress
        self.timings: dict[str, float] = {}
        self.current: tuple[str, float] | None = None

    def start(self, stage: str | None) -> None:
        now = time.perf_counter()
        if self.current is not None:
            self.timings[self.current[0]] = now - self.current[1]
        self.current = None if stage is None else (stage, now)
        if stage is not None and self.progress is not None:
            self.progress(STAGES.index(stage) / len(STAGES), stage)


@dataclass
class _ReportingDetector:
    """A detector that starts the clock's ``features`` stage once it has detected (analyze_page runs both)."""

    detector: Detector
    clock: _StageClock

    @property
    def name(self) -> str:
        return self.detector.name

    def detect(self, image):
        detections = self.detector.detect(image)
        self.clock.start("features")
        return detections


@dataclass
class Pipeline:
    """Loaded components on ``device``: detectors, the planner (comic VAE, mapper, audio VAE heads, calibration),
    the components the backends draw on (``components``: audio VAE, vocoder, audio-text model, bank folder),
    the sounds of ``weights/pipeline.json``. Backends are built on first use."""

    detector: Detector
    classical: ClassicalDetector
    planner: Planner
    components: dict
    index: PipelineIndex
    device: torch.device
    weights: str = "weights/"  # where the components came from (recorded in each Result's settings)
    backends: dict = field(default_factory=dict)  # name -> built backend
    reader: TextReader = field(default_factory=TextReader)  # reads the lettering (its models load on first use)

    @classmethod
    def from_pretrained(
        cls, path_or_repo: str | Path | None = None, revision: str | None = None, device: str | None = None,
        bank: str | Path | None = None,
    ) -> Pipeline:
        """Load every component from a folder of component folders (default: the repo's ``weights/``) or a Hub
        repo at ``revision``, on ``device`` (default: CUDA when available); ``bank`` replaces the shipped sound
        bank. Without detector weights the classical detector is used, without vocoder weights Griffin-Lim,
        without a planner folder uncalibrated targets (each with a warning)."""
        from bd2music.vision.yolo import YoloDetector

        device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        folder = Path(path_or_repo) if path_or_repo is not None and Path(path_or_repo).exists() else WEIGHTS_DIR
        index = PipelineIndex.load(folder)
        try:
            detector: Detector = YoloDetector.from_pretrained(path_or_repo, revision, device=device)
        except MissingWeights as error:  # corrupt weights are an error, not a reason to fall back
            warnings.warn(f"{error}; using the classical detector", stacklevel=2)
            detector = ClassicalDetector()
        try:
            planner_config = PlannerConfig.load(folder / index.components["planner"])
        except InputError as error:
            warnings.warn(f"{error}; plan targets are not calibrated", stacklevel=2)
            planner_config = PlannerConfig()
        audio_vae = AudioVAE.from_pretrained(path_or_repo, revision, device=device)
        planner = Planner(ComicVAE.from_pretrained(path_or_repo, revision, device=device),
                          LatentMapper.from_pretrained(path_or_repo, revision, device=device),
                          audio_vae, planner_config, device)
        components = {
            "audio_vae": audio_vae,
            "vocoder": load_vocoder("neural", path_or_repo, revision, device=device),
            "audio_text": AudioTextModel.from_pretrained(path_or_repo, revision, device=device),
            "bank": Path(bank) if bank is not None else folder / index.components["bank"],
            "instruments": folder / index.components.get("instruments", "instruments"),
            "pieces": folder / index.components.get("pieces", "pieces"),
            "pitches": folder / "draw" / BANK_PITCHES,  # the bank clips' pitches (found sounds of the music)
            "diffusion": folder / index.components.get("diffusion", "diffusion"),
            **{name: folder / index.components[name] for name in OPTIONAL if name in index.components},
            "latent_shaper": folder / index.components.get("latent_shaper", "latent_shaper"),
        }
        return cls(detector, ClassicalDetector(), planner, components, index, device,
                   weights=str(path_or_repo or "weights/") + (f"@{revision}" if revision else ""))

    @property
    def mapper(self) -> LatentMapper:
        return self.planner.mapper

    @mapper.setter
    def mapper(self, mapper: LatentMapper) -> None:  # evaluations swap in another mapper (an ablation)
        self.planner.mapper = mapper

    @property
    def audio_vae(self) -> AudioVAE:
        return self.planner.audio_vae

    @property
    def master_config(self) -> MasterConfig:
        return settings_config(MasterConfig, self.index.settings.get("master"), "master")

    @property
    def sounds(self) -> list[str]:
        return list(self.index.sounds)

    def backend(self, name: str):
        """The backend registered as ``name``, built from the components on first use."""
        if name not in self.backends:
            self.backends[name] = backend_class(name).from_components(self.components, self.index.settings.get(name))
        return self.backends[name]

    def _detector(self, name: str) -> Detector:
        if name not in DETECTORS:
            raise InputError(f"unknown detector {name!r}, expected one of {', '.join(DETECTORS)}")
        return self.classical if name == "classical" else self.detector

    def analyze(self, page: PageSource, rtl: bool = False, detector: str = "yolo", text: bool = True) -> PageAnalysis:
        """Panels in reading order, balloons (with their lettering read unless ``text`` is False) and visual
        features of one page (any supported image input)."""
        return analyze_page(load_page(page), self._detector(detector), rtl=rtl, reader=self.reader if text else None)

    def check_inputs(self, seconds: float, seed: int, sound: str | None, detector: str) -> str:
        """The sound's name (the default for None); InputError for any argument out of range."""
        check_seconds(seconds)
        check_seed(seed)
        self._detector(detector)
        sound = check_name(self.index.default if sound is None else sound, self.index.sounds)
        self._build(sound)  # a missing or broken asset (the bank) says so here, once
        return sound

    def _build(self, sound: str) -> list:
        """The backends of ``sound``, built on first use."""
        return [self.backend(name) for name in self.index.sounds[sound]]

    def usable_sounds(self) -> tuple[list[str], list[str]]:
        """(the sounds whose backends build, one line for each that does not): the app offers only the first."""
        return usable(self.index.sounds, self._build, "sound")

    @torch.inference_mode()
    def __call__(
        self,
        page: PageSource,
        seconds: float = 10.0,
        seed: int = 0,
        per_panel: bool = False,
        rtl: bool = False,
        detector: str = "yolo",
        sound: str | None = None,
        progress: Progress | None = None,
        pulse: bool = True,
        stems: bool = False,
        text: bool = True,
    ) -> Result:
        """A ``seconds`` long soundtrack of ``page`` (one segment per panel with ``per_panel``) in ``sound``
        (default: the index's); ``pulse`` lets backends without a rhythm of their own impose the plan's; ``text``
        reads the lettering, whose words shape the plan (``bd2music.text_cues``)."""
        sound = self.check_inputs(seconds, seed, sound, detector)
        loaded = load_page(page)
        clock = _StageClock(progress)
        # 1. analyse
        clock.start("detection")
        analysis = analyze_page(loaded, _ReportingDetector(self._detector(detector), clock), rtl=rtl,
                                reader=self.reader if text else None)
        # 2. plan
        clock.start("plan")
        plan = self.planner(analysis, loaded.image, seconds, seed, per_panel)
        plan.pulse = pulse
        if analysis.lettering:
            apply_lettering(plan, analysis.balloons, self.components["audio_text"])
        # 3. render
        clock.start("render")
        layers = []
        for lead, backend in enumerate(self._build(sound)):  # the first backend leads, the others are beds
            if lead == 0:
                layers += backend.render(plan, seed)
            else:
                layers += [replace(layer, role="bed") for layer in bed_of(backend).render(plan, seed)]
        # 4. master
        clock.start("master")
        mastered = master(layers, self.master_config, target_lufs=plan.loudness, stems=stems)
        clock.start(None)
        settings = {"seconds": seconds, "seed": seed, "per_panel": per_panel, "rtl": rtl,
                    "detector": analysis.detector, "sound": sound, "pulse": pulse, "text": text,
                    "device": str(self.device),
                    "weights": self.weights}
        return Result(analysis, plan, mastered, layers, settings, clock.timings)

    @torch.inference_mode()
    def text_to_audio(self, prompt: str, seconds: float = 10.0, seed: int = 0, steps: int | None = None,
                      progress: Progress | None = None) -> TextToAudioResult:
        """``seconds`` of the sound ``prompt`` describes, sampled by the ``diffusion`` backend (``steps``
        denoising steps, default: its settings') and mastered to ``TEXT_LUFS``. The same seed gives the same audio."""
        prompt = check_prompt(prompt)
        check_seconds(seconds)
        check_seed(seed)
        backend = self.backend("diffusion")
        clock = _StageClock(progress)
        clock.start("render")
        layer = backend.text_to_audio(prompt, seconds, seed, steps)
        clock.start("master")
        mastered = master([layer], self.master_config, target_lufs=TEXT_LUFS)
        clock.start(None)
        inference = backend.model.config.inference
        settings = {"seconds": seconds, "seed": seed, "steps": steps or backend.settings.steps or inference.steps,
                    "guidance": backend.settings.guidance or inference.guidance,
                    "scheduler": backend.settings.scheduler or inference.scheduler,
                    "prompt_clips": backend.prompt_clips,
                    "vocoder": backend.settings.vocoder, "device": str(self.device), "weights": self.weights}
        return TextToAudioResult(prompt, mastered, [layer], settings, clock.timings)
