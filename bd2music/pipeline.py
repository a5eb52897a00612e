"""The bd2music pipeline object: one place that owns the loaded components and runs the stages in order.

page → panel/balloon detection → reading order → visual features → comic VAE encoder (the page, or each panel
crop) → latent mapper (comic latent + page/panel condition + seeded noise → one audio latent per audio-VAE window)
→ audio VAE decoder (log-mel windows, cross-faded) → pulse (the tempo and onset rate that the audio VAE's
descriptor head reads in the generated latents, imposed on the log-mel; ``bd2music.soundtrack.pulse_gains``) →
vocoder (Griffin-Lim when no vocoder weights exist) → peak-safe loudness (``bd2music.soundtrack``).

Page mode: every window of the track comes from the page's latent and condition, each with its own noise.
Per-panel mode: one segment per panel in reading order, its duration from the panel's area and text
(``panel_durations``), its windows from the panel crop's latent and ``panel_condition``; segments overlap by
``CROSSFADE_S`` and are cross-faded in the log-mel before one vocoder pass. The same seed gives the same audio.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from bd2music.audio.griffin_lim import GriffinLim
from bd2music.errors import InputError
from bd2music.io import PageSource, load_page
from bd2music.models.audio_vae import AudioVAE, TiledLatent, tile_starts
from bd2music.models.comic_vae import ComicVAE, crop_panels
from bd2music.models.mapper import LatentMapper, page_condition, panel_condition
from bd2music.models.vocoder import Vocoder, load_vocoder
from bd2music.soundtrack import normalise_loudness, overlap_add, panel_durations, pulse_gains
from bd2music.vision.analysis import PageAnalysis, analyze_page
from bd2music.vision.classical import ClassicalDetector
from bd2music.vision.detect import DETECTORS, Detector

SECONDS_RANGE = (1.0, 60.0)
CROSSFADE_S = 0.5  # overlap between consecutive panel segments
WHOLE_PAGE = -1  # Segment.panel of the one segment of page mode
STAGES = ("detection", "features", "comic encoder", "mapper", "audio decoder", "vocoder")
Progress = Callable[[float, str], None]


def check_seconds(seconds: float) -> None:
    """InputError unless ``seconds`` is inside ``SECONDS_RANGE``."""
    if not SECONDS_RANGE[0] <= seconds <= SECONDS_RANGE[1]:
        raise InputError(f"seconds must be between {SECONDS_RANGE[0]:g} and {SECONDS_RANGE[1]:g}, got {seconds:g}")


@dataclass
class Segment:
    """A stretch of the track: the panel it illustrates (reading-order index, ``WHOLE_PAGE`` in page mode)."""

    panel: int
    start: float  # seconds
    end: float
    tempo: float | None = None  # BPM of the segment's pulse (None without the pulse)
    onset_rate: float | None = None  # onsets per second of the segment's pulse


@dataclass
class Result:
    """A generated soundtrack and everything that went into it."""

    analysis: PageAnalysis  # panels in reading order, balloons, features
    mel: np.ndarray  # (n_mels, frames) natural-log power mel of the track, at the track's level
    audio: np.ndarray  # float32 mono in [-1, 1]
    sample_rate: int
    segments: list[Segment]
    settings: dict  # seconds, seed, per_panel, rtl, detector, device, vocoder, weights
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage (not part of to_dict)

    @property
    def duration(self) -> float:
        return len(self.audio) / self.sample_rate

    def to_dict(self) -> dict:
        """The page analysis plus segments, settings, sample rate and duration (JSON-able)."""
        segments = [
            {"panel": s.panel, "start": round(s.start, 4), "end": round(s.end, 4)}
            | ({"tempo": round(s.tempo, 2), "onset_rate": round(s.onset_rate, 3)} if s.tempo is not None else {})
            for s in self.segments
        ]
        return self.analysis.to_dict() | {
            "segments": segments,
            "settings": self.settings,
            "sample_rate": self.sample_rate,
            "duration": round(self.duration, 4),
        }


class _StageClock:
    """Calls ``progress(fraction, stage)`` as each stage starts and records how long each one took."""

    def __init__(self, progress: Progress | None, device: torch.device) -> None:
        self.progress, self.device = progress, device
        self.timings: dict[str, float] = {}
        self.current: tuple[str, float] | None = None

    def start(self, stage: str | None) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
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
    """Loaded components on ``device``; ``vocoder`` is the trained one or the Griffin-Lim fallback."""

    detector: Detector
    classical: ClassicalDetector
    comic_vae: ComicVAE
    mapper: LatentMapper
    audio_vae: AudioVAE
    vocoder: Vocoder | GriffinLim
    device: torch.device
    weights: str = "weights/"  # where the components came from (recorded in each Result's settings)

    @classmethod
    def from_pretrained(
        cls, path_or_repo: str | Path | None = None, revision: str | None = None, device: str | None = None
    ) -> Pipeline:
        """Load every component from a folder of component folders (default: the repo's ``weights/``) or a Hub
        repo at ``revision``, on ``device`` (default: CUDA when available). Without detector weights the
        classical detector is used, without vocoder weights Griffin-Lim (each with a warning)."""
        from bd2music.vision.yolo import YoloDetector

        device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        try:
            detector: Detector = YoloDetector.from_pretrained(path_or_repo, revision, device=device)
        except InputError as error:
            warnings.warn(f"{error}; using the classical detector", stacklevel=2)
            detector = ClassicalDetector()
        return cls(
            detector=detector,
            classical=ClassicalDetector(),
            comic_vae=ComicVAE.from_pretrained(path_or_repo, revision, device=device),
            mapper=LatentMapper.from_pretrained(path_or_repo, revision, device=device),
            audio_vae=AudioVAE.from_pretrained(path_or_repo, revision, device=device),
            vocoder=load_vocoder("neural", path_or_repo, revision, device=device),
            device=device,
            weights=str(path_or_repo or "weights/") + (f"@{revision}" if revision else ""),
        )

    def _detector(self, name: str) -> Detector:
        if name not in DETECTORS:
            raise InputError(f"unknown detector {name!r}, expected one of {', '.join(DETECTORS)}")
        return self.classical if name == "classical" else self.detector

    def analyze(self, page: PageSource, rtl: bool = False, detector: str = "yolo") -> PageAnalysis:
        """Panels in reading order, balloons and visual features of one page (any supported image input)."""
        return analyze_page(load_page(page), self._detector(detector), rtl=rtl)

    @torch.inference_mode()
    def __call__(
        self,
        page: PageSource,
        seconds: float = 10.0,
        seed: int = 0,
        per_panel: bool = False,
        rtl: bool = False,
        detector: str = "yolo",
        progress: Progress | None = None,
        pulse: bool = True,
    ) -> Result:
        """A ``seconds`` long soundtrack of ``page`` (one segment per panel with ``per_panel``); see the module doc."""
        check_seconds(seconds)
        chosen = self._detector(detector)
        loaded = load_page(page)
        clock = _StageClock(progress, self.device)
        clock.start("detection")
        analysis = analyze_page(loaded, _ReportingDetector(chosen, clock), rtl=rtl)

        clock.start("comic encoder")
        features, panels = analysis.features, analysis.panels
        if per_panel and panels:
            durations = panel_durations(
                [p.area for p in features.panels], [p.text_coverage for p in features.panels], seconds
            )
            bounds = np.concatenate([[0.0], np.cumsum(durations)])
            segments = [Segment(i, float(bounds[i]), float(bounds[i + 1])) for i in range(len(panels))]
            latents = self.comic_vae.encode_images(crop_panels(loaded.image, [p.box for p in panels]))
            conditions = torch.stack([panel_condition(features, i) for i in range(len(panels))])
        else:
            segments = [Segment(WHOLE_PAGE, 0.0, float(seconds))]
            latents = self.comic_vae.encode_images([loaded.image])
            conditions = page_condition(features)[None]

        clock.start("mapper")
        mel_config, window = self.audio_vae.config.mel, self.audio_vae.config.window_frames
        samples = round(seconds * mel_config.sample_rate)
        length = mel_config.num_frames(samples)
        spans = self._segment_frames(segments, length)
        tiles = [tile_starts(end - start, window, self.audio_vae.config.overlap_frames) for start, end in spans]
        owner = torch.tensor([i for i, starts in enumerate(tiles) for _ in starts])
        noise = torch.randn(len(owner), self.mapper.config.noise_dim, generator=torch.Generator().manual_seed(seed))
        audio_latents = self.mapper.generate(
            latents.to(self.device)[owner], conditions.to(self.device)[owner], noise.to(self.device)
        )

        clock.start("audio decoder")
        pieces = [
            self.audio_vae.decode_long(TiledLatent(segment_latents, starts, end - start))
            for segment_latents, starts, (start, end) in zip(
                audio_latents.split([len(starts) for starts in tiles]), tiles, spans
            )
        ]
        fade = round(CROSSFADE_S * mel_config.frames_per_second)
        starts = [start for start, _ in spans]
        mel = overlap_add(pieces, starts, length, fade)
        if pulse:
            rhythm = self.audio_vae.predict_descriptors(audio_latents)
            for index, segment in enumerate(segments):
                segment.tempo = rhythm["tempo"][owner == index].mean().item()
                segment.onset_rate = rhythm["onset_rate"][owner == index].mean().item()
            gains = [
                pulse_gains(end - start, mel_config.frames_per_second, segment.tempo, segment.onset_rate)
                for segment, (start, end) in zip(segments, spans)
            ]
            mel = (mel + overlap_add(gains, starts, length, fade).to(mel)).clamp_min(mel_config.log_min)

        clock.start("vocoder")
        waveform, gain = normalise_loudness(self.vocoder(mel[None], length=samples)[0], mel_config.sample_rate)
        mel = (mel + 2 * np.log(max(gain, 1e-12))).clamp_min(mel_config.log_min)
        clock.start(None)
        settings = {
            "seconds": seconds,
            "seed": seed,
            "per_panel": per_panel,
            "rtl": rtl,
            "detector": analysis.detector,
            "pulse": pulse,
            "device": str(self.device),
            "vocoder": "griffin-lim" if isinstance(self.vocoder, GriffinLim) else "trained",
            "weights": self.weights,
        }
        return Result(
            analysis,
            mel.float().cpu().numpy(),
            waveform.clamp(-1.0, 1.0).float().cpu().numpy(),
            mel_config.sample_rate,
            segments,
            settings,
            clock.timings,
        )

    def _segment_frames(self, segments: list[Segment], length: int) -> list[tuple[int, int]]:
        """(first, end) mel frames of each segment, widened by half a cross-fade on each inner side."""
        fps = self.audio_vae.config.mel.frames_per_second
        half = round(CROSSFADE_S * fps / 2)
        return [
            (max(0, round(s.start * fps) - half), min(length, round(s.end * fps) + half)) for s in segments
        ]

