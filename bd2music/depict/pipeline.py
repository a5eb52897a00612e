"""Sound -> comic page: the reverse direction of bd2music, through the latent CycleGAN's inverse F.

    depict = DepictPipeline.from_pretrained()          # audio VAE, mapper, comic VAE, weights/depict settings
    page = depict("clip.wav", seed=0)                  # a Depiction: page.image (PIL), page.to_dict()

``__call__`` runs five steps: **read** the clip (descriptors, then ``bd2music.depict.readings``), **plan** the
page (targets from the readings, ``bd2music.depict.mapping``; windows and layout, ``bd2music.depict.layout``),
**imagine** each window (the audio VAE encodes the clip's log-mel; the window's latent frames, looped to
the length F reads, are mapped by F to a comic latent, plus seeded noise, which the comic VAE decodes), **draw** the panels (``bd2music.depict.art``) and
**fit** the drawing's knobs to the targets (``bd2music.depict.fit``). The same clip and seed give the same page.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from bd2music.audio.descriptors import ClipDescriptors, compute_descriptors
from bd2music.audio.load import AudioSource, load_audio
from bd2music.audio.mel import mel_spectrogram
from bd2music.data.synthetic_pages import Polygon, polygon_box
from bd2music.depict.art import PageArt, draw_panel, halftone, key_palette
from bd2music.depict.fit import Fitted, FitConfig, fit_page
from bd2music.depict.layout import lay_out, size_weights
from bd2music.depict.mapping import DepictConfig, PageTargets
from bd2music.depict.readings import Readings, WindowReadings, read_clip, read_windows
from bd2music.errors import InputError
from bd2music.hub import WEIGHTS_DIR
from bd2music.models.audio_vae import AudioVAE
from bd2music.models.comic_vae import ComicVAE
from bd2music.models.mapper import LatentMapper

COMPONENT = "depict"  # the settings' folder beside the model folders
HUE_NAMES = ("red", "orange", "yellow", "chartreuse", "green", "spring green", "cyan", "azure", "blue", "violet",
             "magenta", "rose")  # every 30 degrees from red


@dataclass
class Depiction:
    """A depicted sound: the page and everything read and decided on the way."""

    image: Image.Image
    readings: Readings  # the clip's readings and its windows'
    targets: PageTargets  # what the page was asked to measure
    fitted: Fitted  # the drawing's knobs and what the page measures
    panels: list[Polygon]  # in reading order, one per window
    descriptors: ClipDescriptors = field(repr=False)  # for the descriptor figure
    seed: int = 0
    timings: dict[str, float] = field(default_factory=dict)  # seconds per step (not part of to_dict)

    def table(self) -> list[list]:
        """One row per link: the reading, its value, the page's feature, what it was asked to be -> measures."""
        r, t, m = self.readings, self.targets, self.fitted.measured
        hue = key_palette(r.tonic, r.mode, 0).hue
        return [
            ["tempo", f"{r.tempo:.0f} BPM", "panels", f"{t.panels} → {len(self.panels)}"],
            ["spectral centroid", f"{r.centroid:.0f} Hz", "brightness", f"{t.brightness:.3f} → {m['brightness']:.3f}"],
            ["loudness", f"{r.loudness:.1f} dBFS", "colourfulness",
             f"{t.colourfulness:.1f} → {m['colourfulness']:.1f}"],
            ["onset rate", f"{r.onset_rate:.2f} /s", "edge density",
             f"{t.edge_density:.3f} → {m['edge_density']:.3f}"],
            ["onset variety", f"{r.onset_variety:.2f}", "irregular panels", f"{t.irregularity:.2f}"],
            ["key", f"{r.key} ({r.key_strength:.2f})", "hue", f"{HUE_NAMES[round(hue * 12) % 12]} ({hue * 360:.0f}°)"],
        ]

    def describe(self) -> str:
        """One plain sentence on the page."""
        r = self.readings
        seconds = r.duration / max(len(self.panels), 1)
        return (f"**{len(self.panels)} panels**, one per {seconds:.2f} s of the {r.duration:.1f} s clip, in the "
                f"colours of **{r.key}**{' (a silent clip)' if r.silent else ''}")

    def to_dict(self) -> dict:
        """The JSON written beside the page: readings, targets, measured features, knobs, panels and windows."""
        return {
            "clip": self.readings.name,
            "seed": self.seed,
            "width": self.image.width,
            "height": self.image.height,
            "readings": self.readings.to_dict(),
            "targets": self.targets.to_dict(),
            "measured": {k: round(v, 4) for k, v in self.fitted.measured.items()},
            "knobs": {k: round(v, 4) for k, v in self.fitted.knobs.items()},
            "panels": [{"box": [int(round(v)) for v in polygon_box(polygon)], "start": round(w.start, 4),
                        "end": round(w.end, 4)} for polygon, w in zip(self.panels, self.readings.windows)],
        }


@dataclass
class DepictPipeline:
    """Components: the audio VAE (log-mel window -> audio latent), the mapper (its inverse F: audio latent ->
    comic latent), the comic VAE (comic latent -> 64 x 64 picture) and the settings (``DepictConfig``)."""

    audio_vae: AudioVAE
    mapper: LatentMapper
    comic_vae: ComicVAE
    config: DepictConfig = field(default_factory=DepictConfig)
    fit_config: FitConfig = field(default_factory=FitConfig)

    @classmethod
    def from_pretrained(cls, path_or_repo: str | Path | None = None, revision: str | None = None,
                        device: str | None = None) -> DepictPipeline:
        """The three models from a weights folder (default ``weights/``) or Hub repo, and the settings of its
        ``depict/`` folder (the code's defaults when it has none)."""
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        models = [model.from_pretrained(path_or_repo, revision, device=device)
                  for model in (AudioVAE, LatentMapper, ComicVAE)]
        folder = Path(path_or_repo) if path_or_repo is not None and Path(path_or_repo).exists() else WEIGHTS_DIR
        return cls(*models, config=load_config(folder))

    @classmethod
    def from_pipeline(cls, pipeline, folder: str | Path = WEIGHTS_DIR) -> DepictPipeline:
        """The models a loaded :class:`bd2music.pipeline.Pipeline` holds, and the settings in ``folder/depict``."""
        return cls(pipeline.audio_vae, pipeline.mapper, pipeline.planner.comic_vae, config=load_config(Path(folder)))

    @property
    def device(self) -> torch.device:
        return next(self.comic_vae.parameters()).device

    def check_inputs(self, seed: int) -> None:
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**32:
            raise InputError(f"seed must be a whole number between 0 and 2**32 - 1, got {seed!r}")

    def read(self, clip: AudioSource, name: str | None) -> ClipDescriptors:
        """The clip's descriptors (InputError for a file that is not usable audio)."""
        [result] = compute_descriptors([load_audio(clip, name, sample_rate=self.audio_vae.sample_rate)])
        return result

    def plan(self, descriptors: ClipDescriptors, rng: np.random.Generator) -> tuple[Readings, PageTargets, list]:
        """Readings, targets and the panel polygons (one per window, reading order)."""
        readings = read_clip(descriptors)
        targets = self.config.targets(readings)
        windows = read_windows(descriptors, targets.panels)
        weights = size_weights([w.loudness for w in windows], targets.irregularity, self.config.layout)
        panels = lay_out(weights, targets.irregularity, rng, self.config.layout)
        if len(panels) != len(windows):  # a sliver dropped by the splitter: fewer, longer windows
            windows = read_windows(descriptors, len(panels))
        return replace(readings, windows=windows), targets, panels

    @torch.inference_mode()
    def imagine(self, descriptors: ClipDescriptors, windows: list[WindowReadings], seed: int) -> np.ndarray:
        """(windows, S, S, 3) pictures in [0, 1]: the comic VAE's decode of F(audio latent) of each window (the
        clip's latent frames in the window, looped to the length F reads, plus seeded noise)."""
        vae = self.audio_vae.config
        log_mel = mel_spectrogram(torch.from_numpy(descriptors.frames["waveform"]).to(self.device))
        tiled = self.audio_vae.encode_long(log_mel)
        looped = []
        for window in windows:
            first, last = window.frames
            starts = np.array(tiled.starts)  # the tile holding most of the window
            inside = np.minimum(starts + vae.window_frames, last) - np.maximum(starts, first)
            tile = int(np.argmax(inside))
            low = (first - starts[tile]) // vae.downsampling
            high = max(-(-(last - starts[tile]) // vae.downsampling), low + 1)
            frames = tiled.latents[tile][:, max(low, 0) : min(high, vae.latent_shape[1])]
            looped.append(frames.repeat(1, -(-vae.latent_shape[1] // frames.shape[-1]))[:, : vae.latent_shape[1]])
        comic = self.mapper.invert(torch.stack(looped))
        noise = torch.randn(comic.shape, generator=torch.Generator().manual_seed(seed)).to(comic)
        latents = comic + self.config.latent_noise * self.mapper.comic_std * noise
        return self.comic_vae.decode(latents).permute(0, 2, 3, 1).float().cpu().numpy()

    def draw(self, readings: Readings, targets: PageTargets, panels: list[Polygon], pictures: np.ndarray,
             rng: np.random.Generator) -> PageArt:
        """The panels' art: tones from the pictures, colours from the key, strokes from the windows' onsets."""
        style, layout = self.config.style, self.config.layout
        palette = key_palette(readings.tonic, readings.mode, readings.key_strength)
        onsets = np.array([w.onsets for w in readings.windows], dtype=np.float64) + 1
        stroke_weights = np.clip(onsets / onsets.mean(), 0.25, 3.0)
        screen = halftone(layout.height, layout.width, style.halftone_period, int(rng.integers(style.halftone_period)))
        art = []
        for polygon, picture, window, weight in zip(panels, pictures, readings.windows, stroke_weights):
            brighter = np.log2(max(window.centroid, 1.0) / max(readings.centroid, 1.0))
            louder = np.clip(10 ** ((window.loudness - readings.loudness) / 40), 0.6, 1.5)
            stroke_style = "speed" if rng.random() < targets.quantiles["onset_rate"] else "hatching"
            art.append(draw_panel(polygon, picture, palette, style.shift * float(np.tanh(brighter)), float(louder),
                                  stroke_style, float(weight), rng, style, screen))
        return PageArt((layout.width, layout.height), art, style, targets.brightness < style.light_ink_below)

    def __call__(self, clip: AudioSource, seed: int = 0, name: str | None = None) -> Depiction:
        """The comic page of ``clip`` (a path, file bytes or ``(samples, rate)``; ``name`` for messages)."""
        self.check_inputs(seed)
        clock = [time.perf_counter()]
        timings: dict[str, float] = {}

        def lap(step: str) -> None:
            clock.append(time.perf_counter())
            timings[step] = clock[-1] - clock[-2]

        # 1. read
        descriptors = self.read(clip, name)
        lap("read")
        # 2. plan
        rng = np.random.default_rng(seed)
        readings, targets, panels = self.plan(descriptors, rng)
        lap("plan")
        # 3. imagine
        pictures = self.imagine(descriptors, readings.windows, seed)
        lap("imagine")
        # 4. draw
        art = self.draw(readings, targets, panels, pictures, rng)
        lap("draw")
        # 5. fit
        fitted = fit_page(art, targets, self.fit_config)
        lap("fit")
        return Depiction(Image.fromarray(fitted.rgb), readings, targets, fitted, panels, descriptors, seed, timings)


def load_config(folder: Path) -> DepictConfig:
    """The settings in ``folder/depict`` (the code's defaults when the folder has none)."""
    if not (folder / COMPONENT / "config.json").is_file():
        return DepictConfig()
    return DepictConfig.load(folder / COMPONENT)
