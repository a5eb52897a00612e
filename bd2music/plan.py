"""The plan: what the soundtrack should sound like, segment by segment, read from the learned mapping.

analyse → **plan** → render → master. The comic VAE encodes the page (or each panel crop), the mapper turns that
code, the page condition and seeded noise into one audio-VAE latent per window, and the audio VAE's heads read
in those latents what a listener should hear: tempo, onset rate, spectral centroid, loudness and flatness (the
descriptor head) and a CLAP-style embedding in the audio-text space (the semantic head). The backends render
the plan with real sound; none of them looks at the page.

Calibration (``Calibration``): the heads read generated latents on their own scale, and generated latents fill
a narrower range than real clips. Each target is therefore mapped by its quantile: the rank of the head's value
among the values it gives on the calibration pages (the training comics, a few seeds each) is carried onto the
same quantile of the real clips' measured descriptors, clipped to what a listener hears as a difference
(``LISTENER_RANGES``). Three targets are ramps over their range instead: loudness (LUFS, which the master asks
for), and tempo and onset rate (log-even, ``RAMPS``: real clips' tempos crowd around 120 BPM, where a few BPM are
hard to hear, and most of their onset rates lie above what a listener tells apart). The tables are
saved with the weights (``weights/planner/config.json``, ``bd2music calibrate`` rebuilds them).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from bd2music.errors import InputError
from bd2music.io import fingerprint
from bd2music.master import LUFS_RANGE
from bd2music.models.audio_vae import AudioVAE, TiledLatent, tile_starts
from bd2music.models.comic_vae import ComicVAE, crop_panels
from bd2music.models.mapper import LatentMapper, page_condition, panel_condition
from bd2music.soundtrack import panel_durations
from bd2music.vision.analysis import PageAnalysis
from bd2music.vision.description import describe_page, describe_panel, panel_view
from bd2music.vision.features import HUE_BINS, PageFeatures

WHOLE_PAGE = -1  # SegmentPlan.panel of the one segment of page mode
MOOD = ("brightness", "warmth", "saturation", "colourfulness_norm", "contrast", "edge_density", "is_bw")
TARGETS = {  # plan target -> the audio VAE's descriptor (head output) it is read from
    "tempo": "tempo",
    "onset_rate": "onset_rate",
    "centroid": "spectral_centroid_mean",
    "loudness": "rms_mean",
    "flatness": "spectral_flatness_mean",
}
LISTENER_RANGES = {  # clip of each calibrated target (units: BPM, onsets/s, Hz, LUFS, ratio)
    "tempo": (80.0, 140.0),  # wider, and the beat tracker often hears half or double the tempo
    "onset_rate": (0.3, 6.0),
    "centroid": (300.0, 4500.0),
    "loudness": LUFS_RANGE,  # what the master reaches
    "flatness": (0.0, 1.0),
}
QUANTILES = 21  # knots of each calibration table (every 5 %)
RAMPS = {  # targets mapped by rank onto a ramp over their listener range rather than onto real clips' quantiles
    "tempo": np.geomspace,
    "onset_rate": np.geomspace,
    "loudness": np.linspace,
}
MEASURED = tuple(name for name in TARGETS if name not in RAMPS)  # targets whose tables come from real clips


def range_place(name: str, value: float, log: bool = False) -> float:
    """``value``'s place (0-1) in the listener range of target ``name`` (on a log scale with ``log``)."""
    low, high = LISTENER_RANGES[name]
    if log:
        value, low, high = np.log(max(value, 1e-6)), np.log(low), np.log(high)
    return float(np.clip((value - low) / (high - low), 0.0, 1.0))


def frame_span(start: float, end: float, crossfade_s: float, fps: float, length: int) -> tuple[int, int]:
    """(first, end) frames at ``fps`` of a segment from ``start`` to ``end`` s, widened by half a cross-fade on
    each side, within the track's ``length`` frames (where the planner's latents and the decoded pieces lie)."""
    half = round(crossfade_s * fps / 2)
    return max(0, round(start * fps) - half), min(length, round(end * fps) + half)


def mood(features: PageFeatures) -> dict[str, float]:
    """What a segment looks like, for backends that follow more than the targets (the music's key, mode and
    register): the ``MOOD`` readings of the page or panel view, normalised to about 0-1 as the mapper sees them,
    and ``hue``, the circular mean of the hue histogram as a fraction of the colour wheel (0 red, 1/3 green,
    2/3 blue), -1 when the view has too little colour for a hue."""
    scalars = features.normalised_scalars()
    histogram = np.asarray(features.colour.hue_histogram, dtype=float)
    hue = -1.0
    if histogram.sum() > 0:
        angle = np.angle(np.sum(histogram * np.exp(2j * np.pi * np.arange(HUE_BINS) / HUE_BINS)))
        hue = float(angle / (2 * np.pi) % 1.0)
    return {name: float(scalars[name]) for name in MOOD} | {"hue": hue}


@dataclass
class Calibration:
    """Per target, ``QUANTILES`` knots: the heads' readings on generated latents -> the listener's scale."""

    source: dict[str, list[float]]  # quantiles of the head's value over the calibration pages' latents
    target: dict[str, list[float]]  # the same quantiles of real clips' descriptors (loudness: a LUFS ramp)
    pages: int = 0  # how many calibration pages (x seeds) the source quantiles come from
    clips: int = 0  # how many real clips the target quantiles come from

    def apply(self, name: str, values: np.ndarray | float) -> np.ndarray:
        """``values`` of head output ``TARGETS[name]`` on the listener's scale (piecewise linear in the quantile)."""
        low, high = LISTENER_RANGES[name]
        mapped = np.interp(values, self.source[name], self.target[name])
        return np.clip(mapped, low, high)

    @classmethod
    def identity(cls) -> Calibration:
        """No tables: each target is its range's ramp over the same range (debug pipelines, tests)."""
        ramps = {name: np.linspace(low, high, QUANTILES).tolist() for name, (low, high) in LISTENER_RANGES.items()}
        return cls(ramps, ramps)

    @classmethod
    def fit(cls, generated: dict[str, np.ndarray], real: dict[str, np.ndarray], pages: int) -> Calibration:
        """Tables from head readings on generated latents (keyed by target) and real clips' descriptors (keyed by
        the ``MEASURED`` targets)."""
        q = np.linspace(0.0, 1.0, QUANTILES)
        source = {name: np.quantile(generated[name], q) for name in TARGETS}
        target = {name: np.quantile(np.clip(real[name], *LISTENER_RANGES[name]), q) for name in MEASURED}
        target |= {name: ramp(*LISTENER_RANGES[name], QUANTILES) for name, ramp in RAMPS.items()}
        clips = len(next(iter(real.values()))) if real else 0
        return cls(
            {k: np.maximum.accumulate(v).tolist() for k, v in source.items()},
            {k: v.tolist() for k, v in target.items()},
            pages,
            clips,
        )


@dataclass
class PlannerConfig:
    """Settings of the planner (``weights/planner/config.json``)."""

    crossfade_s: float = 0.5  # overlap between consecutive panel segments
    calibration: Calibration = field(default_factory=Calibration.identity)

    def save(self, folder: str | Path) -> None:
        Path(folder).mkdir(parents=True, exist_ok=True)
        (Path(folder) / "config.json").write_text(json.dumps(asdict(self), indent=1) + "\n")

    @classmethod
    def load(cls, folder: str | Path) -> PlannerConfig:
        path = Path(folder) / "config.json"
        try:
            data = json.loads(path.read_text())
            return cls(crossfade_s=data["crossfade_s"], calibration=Calibration(**data["calibration"]))
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise InputError(f"{path}: not a readable planner config ({error})") from None


@dataclass
class SegmentPlan:
    """What one stretch of the track should sound like (calibrated targets) and what it means."""

    panel: int  # reading-order index of the panel it illustrates, WHOLE_PAGE in page mode
    start: float  # seconds
    end: float
    tempo: float  # BPM
    onset_rate: float  # onsets per second
    centroid: float  # Hz, mean spectral centroid
    loudness: float  # LUFS
    flatness: float  # spectral flatness (0 tonal, 1 noise)
    text: str  # text cue: the scene description (later also the lettering)
    embedding: torch.Tensor = field(repr=False)  # (E,) L2-normalised, audio-text space (the semantic head)
    latents: TiledLatent = field(repr=False)  # the mapper's audio-VAE latents of the segment's windows
    raw: dict[str, float] = field(default_factory=dict)  # the heads' readings before calibration
    mood: dict[str, float] = field(default_factory=dict)  # the segment's visual readings (``mood``)
    lettering: str = ""  # the words read in the segment's panel (bd2music.text_cues), sound effects aside
    effects: list = field(default_factory=list)  # the SoundEffects its lettering asks for (bd2music.text_cues)

    @property
    def duration(self) -> float:
        return self.end - self.start

    @property
    def latent(self) -> torch.Tensor:
        """(latent_channels,) the segment's latents averaged over windows and latent frames."""
        return self.latents.latents.mean(dim=(0, 2))

    def to_dict(self) -> dict:
        numbers = {k: round(float(getattr(self, k)), 3) for k in ("start", "end", *TARGETS)}
        return {"panel": self.panel, **numbers, "text": self.text,
                "raw": {k: round(v, 4) for k, v in self.raw.items()},
                "mood": {k: round(v, 4) for k, v in self.mood.items()},
                "lettering": self.lettering, "effects": [effect.to_dict() for effect in self.effects]}


@dataclass
class Plan:
    """The soundtrack of one page as targets per segment, in reading order; ``to_dict`` is JSON-able."""

    seconds: float
    seed: int
    segments: list[SegmentPlan]
    description: str  # the page's description (text cue of the whole page)
    crossfade_s: float  # overlap between consecutive segments (the backends cross-fade over it)
    pulse: bool = True  # backends without a rhythm of their own impose the segments' tempo and onset rate
    layout: list[tuple[float, float, float]] = field(default_factory=list)  # panels in reading order: centre x,
    # centre y (fractions of the page width and height, 0 = left / top) and area (fraction of the page)
    page_id: str = ""  # the analysed page's pixels' fingerprint (``bd2music.io.fingerprint``), "" for plans made
    # without a page (hand-built ones); backends seed their page-dependent draws with it (``arrange.page_hash``)

    @property
    def loudness(self) -> float:
        """LUFS the master aims at: the segments' targets weighted by duration."""
        return float(sum(s.loudness * s.duration for s in self.segments) / self.seconds)

    def to_dict(self) -> dict:
        return {"seconds": self.seconds, "seed": self.seed, "page_id": self.page_id, "description": self.description,
                "loudness": round(self.loudness, 2), "segments": [s.to_dict() for s in self.segments]}


@dataclass
class Planner:
    """Comic VAE + mapper + the audio VAE's heads + calibration: ``plan(analysis, ...)`` -> ``Plan``."""

    comic_vae: ComicVAE
    mapper: LatentMapper
    audio_vae: AudioVAE
    config: PlannerConfig
    device: torch.device

    @torch.inference_mode()
    def __call__(self, analysis: PageAnalysis, image, seconds: float, seed: int, per_panel: bool) -> Plan:
        """The plan of one analysed page (``image``: the page, for panel crops)."""
        features, panels = analysis.features, analysis.panels
        if per_panel and panels:
            durations = panel_durations(
                [p.area for p in features.panels], [p.text_coverage for p in features.panels], seconds
            )
            bounds = np.concatenate([[0.0], np.cumsum(durations)])
            spans = [(i, float(bounds[i]), float(bounds[i + 1])) for i in range(len(panels))]
            comic = self.comic_vae.encode_images(crop_panels(image, [p.box for p in panels]))
            conditions = torch.stack([panel_condition(features, i) for i in range(len(panels))])
            texts = [describe_panel(features, i) for i in range(len(panels))]
            moods = [mood(panel_view(features, i)) for i in range(len(panels))]
        else:
            spans = [(WHOLE_PAGE, 0.0, float(seconds))]
            comic = self.comic_vae.encode_images([image])
            conditions = page_condition(features)[None]
            texts = [describe_page(features, len(analysis.balloons))]
            moods = [mood(features)]
        tiled = self._generate(comic, conditions, spans, seed)
        segments = [self._segment(panel, start, end, text, latents, view)
                    for (panel, start, end), text, latents, view in zip(spans, texts, tiled, moods)]
        layout = [((p.box[0] + p.box[2]) / 2 / features.width, (p.box[1] + p.box[3]) / 2 / features.height, p.area)
                  for p in features.panels]
        return Plan(float(seconds), seed, segments, describe_page(features, len(analysis.balloons)),
                    self.config.crossfade_s, layout=layout, page_id=fingerprint(image))

    def _generate(self, comic: torch.Tensor, conditions: torch.Tensor, spans, seed: int) -> list[TiledLatent]:
        """One TiledLatent per segment: the mapper's latents for its windows, seeded noise for each window."""
        vae = self.audio_vae.config
        length = vae.mel.num_frames(round(spans[-1][2] * vae.mel.sample_rate))
        fps, crossfade = vae.mel.frames_per_second, self.config.crossfade_s
        frames = [frame_span(start, end, crossfade, fps, length) for _, start, end in spans]
        tiles = [tile_starts(end - start, vae.window_frames, vae.overlap_frames) for start, end in frames]
        owner = torch.tensor([i for i, starts in enumerate(tiles) for _ in starts])
        generator = torch.Generator().manual_seed(seed)
        noise = torch.randn(len(owner), self.mapper.config.noise_dim, generator=generator)
        latents = self.mapper.generate(
            comic.to(self.device)[owner], conditions.to(self.device)[owner], noise.to(self.device)
        )
        return [TiledLatent(chunk, starts, end - start)
                for chunk, starts, (start, end) in zip(latents.split([len(t) for t in tiles]), tiles, frames)]

    def _segment(
        self, panel: int, start: float, end: float, text: str, latents: TiledLatent, view: dict[str, float]
    ) -> SegmentPlan:
        readings = self.audio_vae.predict_descriptors(latents.latents)
        raw = {name: readings[column].mean().item() for name, column in TARGETS.items()}
        calibrated = {name: float(self.config.calibration.apply(name, value)) for name, value in raw.items()}
        embedding = self.audio_vae.embed(latents.latents)
        embedding = torch.zeros(1) if embedding is None else torch.nn.functional.normalize(embedding.mean(0), dim=0)
        return SegmentPlan(panel, start, end, text=text, embedding=embedding.cpu(), latents=latents, raw=raw,
                           mood=view, **calibrated)
