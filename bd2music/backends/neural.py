"""Backend ``neural``: the mapper's audio latents decoded by an audio VAE and voiced by the vocoder.

The plan's latents of each segment are first shaped by the latent shaper when its weights are there
(``bd2music.models.latent_shaper``: seeded motion borrowed from real windows, then a guard against decoded
silence; the plan itself is left as it is), decoded into log-mel windows and cross-faded. The VAE that decodes
them is the one the pipeline names ``neural_vae``, else the plan's own; another one needs a keyed shaper, whose
donors are that VAE's windows found by the plan's latents. With ``max_tilt_db`` each decoded segment is tilted
towards the plan's centroid (``bd2music.audio.eq.tilt_gain``); with the plan's ``pulse``
the tempo and onset rate that the descriptor head reads in those latents (the plan's raw readings) shape the
log-mel as a pulse (``bd2music.soundtrack.pulse_gains``) and, with ``texture_db``, give it a spectral texture that
changes at the pulse's onsets (``bd2music.soundtrack.onset_texture``); the vocoder (Griffin-Lim without vocoder weights)
makes the waveform, brought to a peak-safe level (``bd2music.soundtrack.normalise_loudness``). The cue sheet
credits the model, then each segment's donor clips (the recordings whose windows the shaper drew).
"""

from __future__ import annotations

import csv
import json
import warnings
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch

from bd2music.audio.eq import tilt_gain
from bd2music.audio.griffin_lim import GriffinLim
from bd2music.audio.mel import mel_filters
from bd2music.backends import settings_config
from bd2music.backends.base import Cue, Layer, Progress, own_vae, trigger
from bd2music.errors import InputError
from bd2music.models.audio_vae import AudioVAE, TiledLatent
from bd2music.models.latent_shaper import LatentShaper
from bd2music.models.vocoder import Vocoder
from bd2music.plan import Plan, frame_span
from bd2music.soundtrack import check_level, normalise_loudness, onset_textures, overlap_add, pulse_gains


DONOR = "donor: its windows decoded"  # the trigger of a recording whose windows the shaper drew for a segment
OWN_PULSE = ("offbeat_db", "pulse_depth_db")  # pulse settings the neural sound may set over the audio VAE's


@dataclass
class NeuralSettings:
    """The neural sound's own pulse settings (``settings.neural`` in ``weights/pipeline.json``); each None keeps
    the audio VAE's ``config.inference`` value (which the diffusion backend also plays)."""

    offbeat_db: float | None = None  # the lift of each onset between beats (the gradient-phase vocoder renders
    # a 3 dB lift without the transient the onset detector hears: docs/BENCHMARKS.md, issue 23)
    pulse_depth_db: float | None = None  # the pulse's deepest dip below a beat
    texture_db: float = 0.0  # std of the spectral texture drawn at each onset (soundtrack.onset_texture; 0: none)
    max_tilt_db: float = 0.0  # largest boost or cut of the tilt that brings each segment's mean centroid to the
    # plan's (audio.eq.tilt_gain, at the spectrum's ends; 0: no tilt)
    tilt_pivot_hz: float = 1000.0  # the tilt leaves this frequency unchanged

    def __post_init__(self) -> None:
        for name in OWN_PULSE:
            if getattr(self, name) is not None:
                check_level(name, getattr(self, name))
        check_level("texture_db", self.texture_db)
        check_level("max_tilt_db", self.max_tilt_db)
        if not 20.0 <= self.tilt_pivot_hz <= 8000.0:
            raise ValueError("tilt_pivot_hz must be between 20 and 8000 Hz")


@dataclass
class NeuralBackend:
    """(Latent shaper ->) audio VAE decoder -> (pulse) -> vocoder."""

    audio_vae: AudioVAE  # the one that decodes
    vocoder: Vocoder | GriffinLim
    shaper: LatentShaper | None = None  # None: the plan's latents decoded as they are
    settings: NeuralSettings = field(default_factory=NeuralSettings)
    source: str = "weights/audio_vae, weights/vocoder"  # the cue sheet's source
    credits: tuple[tuple[str, str, str, str], ...] = ()  # each donor's clip: file, licence, author, source
    name: ClassVar[str] = "neural"

    @classmethod
    def from_components(cls, components: dict, settings: dict | None = None) -> NeuralBackend:
        """The audio VAE that decodes (``components["neural_vae"]``, a folder, when the pipeline names one, else
        the plan's), the vocoder, the latent shaper (``components["latent_shaper"]``, a folder) and the
        ``NeuralSettings`` in ``settings``."""
        vae, vae_name = own_vae(components, "neural_vae")
        shaper = load_shaper(components.get("latent_shaper"), vae, components["audio_vae"])
        if vae is not components["audio_vae"] and (shaper is None or not shaper.keyed):
            raise InputError(f"the neural sound decodes with {vae_name}, whose latents are not the plan's: it needs "
                             "a keyed latent shaper (bd2music train latent-shaper with plan_vae)")
        return cls(vae, components["vocoder"], shaper, settings_config(NeuralSettings, settings, "neural"),
                   f"weights/{vae_name}, weights/vocoder",
                   donor_credits(components.get("latent_shaper"), shaper) if shaper is not None else ())

    def decode(self, latents: TiledLatent, seed: int, index: int, centroid: float,
               gains: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(log-mel (n_mels, latents.length) of one segment's latents, tilted towards the plan's ``centroid``, and
        each window's donor): shaped (seed and segment ``index``) and guarded, on what will be voiced (the tilted
        log-mel plus its pulse ``gains``), when there is a shaper; no donors without one."""
        def voiced(z: torch.Tensor) -> torch.Tensor:
            return self.tilt(self.audio_vae.decode_long(TiledLatent(z, latents.starts, latents.length)), centroid)

        if self.shaper is None:
            return voiced(latents.latents), None
        lift = 0.0 if gains is None else gains
        moved, donors = self.shaper.move(latents.latents, seed, index)
        return self.shaper.guard(moved, lambda z: voiced(z) + lift)[1] - lift, donors

    def tilt(self, log_mel: torch.Tensor, centroid: float) -> torch.Tensor:
        """A segment's log-mel (n_mels, frames) tilted so that its mean spectral centroid is the plan's ``centroid``
        as nearly as ``max_tilt_db`` allows (each band's magnitude weighed by its width, so that the mel's centroid
        stands for the spectrum's)."""
        if not self.settings.max_tilt_db:
            return log_mel
        centres, widths = self._bands
        magnitude = np.exp(log_mel.double().cpu().numpy() / 2) * widths[:, None]
        gain = tilt_gain(magnitude, centres, centroid, self.settings.max_tilt_db, self.settings.tilt_pivot_hz)
        return log_mel + torch.from_numpy(2 * np.log(gain)).to(log_mel)[:, None]

    @cached_property
    def _bands(self) -> tuple[np.ndarray, np.ndarray]:
        """(centre frequency in Hz, width in FFT bins up to a common factor) of each mel band of the decoding VAE."""
        filters = mel_filters(self.audio_vae.config.mel)
        freqs = np.linspace(0.0, self.audio_vae.config.mel.sample_rate / 2, filters.shape[1])
        return filters @ freqs / filters.sum(axis=1), filters.sum(axis=1) / filters.max(axis=1)

    def pulse(self, segment, fps: float) -> torch.Tensor:
        """Natural-log power gains (segment frames,) of the segment's pulse: the tempo and onset rate the heads
        read in its latents, shaped by the audio VAE's ``config.inference`` and the neural settings."""
        shape = asdict(self.audio_vae.config.inference)  # the pulse's settings, saved with the weights
        for name in OWN_PULSE:  # the neural sound's own
            if getattr(self.settings, name) is not None:
                shape[name] = getattr(self.settings, name)
        return pulse_gains(segment.latents.length, fps, segment.raw["tempo"], segment.raw["onset_rate"],
                           **shape).to(self.audio_vae.latent_mean)

    def log_mel(self, plan: Plan, seed: int | None = None) -> torch.Tensor:
        """The track's natural-log power mel (n_mels, frames): segments decoded, cross-faded, pulsed (``seed``:
        the shaper's, default the plan's)."""
        return self.decode_track(plan, seed)[0]

    @torch.inference_mode()
    def decode_track(self, plan: Plan, seed: int | None = None) -> tuple[torch.Tensor, list[torch.Tensor | None]]:
        """(``log_mel``, each segment's donors as ``decode`` gives them)."""
        mel_config = self.audio_vae.config.mel
        fps = mel_config.frames_per_second
        length = mel_config.num_frames(round(plan.seconds * mel_config.sample_rate))
        seed = plan.seed if seed is None else seed
        gains = [self.pulse(s, fps) for s in plan.segments] if plan.pulse else [None] * len(plan.segments)
        pieces, donors = zip(*(self.decode(s.latents, seed, index, s.centroid, g)
                               for index, (s, g) in enumerate(zip(plan.segments, gains))))
        starts = [frame_span(s.start, s.end, plan.crossfade_s, fps, length)[0] for s in plan.segments]
        fade = round(plan.crossfade_s * fps)
        mel = overlap_add(pieces, starts, length, fade)
        if plan.pulse:
            mel = (mel + overlap_add(gains, starts, length, fade)).clamp_min(mel_config.log_min)
        if self.settings.texture_db:  # drawn at the pulse's onsets: the heads' readings
            textures = onset_textures(mel_config.n_mels, [s.latents.length for s in plan.segments],
                                      [(s.raw["tempo"], s.raw["onset_rate"]) for s in plan.segments], fps,
                                      self.settings.texture_db, seed,
                                      self.audio_vae.config.inference.max_onsets_per_beat)
            mel = (mel + overlap_add(textures, starts, length, fade).to(mel)).clamp_min(mel_config.log_min)
        return mel, list(donors)

    @torch.inference_mode()
    def render(self, plan: Plan, seed: int, progress: Progress | None = None) -> list[Layer]:
        if progress is not None:
            progress(0.0, "decoding the learned sound")
        mel_config = self.audio_vae.config.mel
        samples = round(plan.seconds * mel_config.sample_rate)
        mel, donors = self.decode_track(plan, seed)
        waveform, _ = normalise_loudness(self.vocoder(mel[None], length=samples)[0], mel_config.sample_rate)
        vocoder = "griffin-lim" if isinstance(self.vocoder, GriffinLim) else "trained vocoder"
        cues = [Cue("neural", s.start, s.end, f"audio VAE + {vocoder}", "AGPL-3.0-or-later (model output)",
                    "bd2music", self.source, trigger(s.panel), "learned sound")
                for s in plan.segments]
        cues += self.donor_cues(plan, donors)
        audio = waveform.clamp(-1.0, 1.0).float().cpu().numpy().astype(np.float32)
        return [Layer("neural", audio, mel_config.sample_rate, cues)]

    def donor_cues(self, plan: Plan, donors: list[torch.Tensor | None]) -> list[Cue]:
        """One cue per segment and donor clip (in the order its windows were drawn), when the credits are known."""
        if not self.credits:
            return []
        return [Cue("neural", segment.start, segment.end, file, licence, author, source, DONOR, Path(file).parent.name)
                for segment, drawn in zip(plan.segments, donors) if drawn is not None
                for file, licence, author, source in dict.fromkeys(self.credits[i] for i in drawn.tolist())]


def donor_credits(folder: str | Path, shaper: LatentShaper) -> tuple[tuple[str, str, str, str], ...]:
    """(file, licence, author, source) of each donor's clip, from the shaper folder's ``donors.json`` and
    ``attribution.csv``; empty when the folder has neither (an older fit: the cue sheet then credits the model
    alone). Files that do not match the tables are refused with one line."""
    folder = Path(folder)
    if not (folder / "donors.json").is_file():
        return ()
    try:
        files = json.loads((folder / "donors.json").read_text())
        with open(folder / "attribution.csv", newline="") as table:
            rows = {row["file"]: (row["file"], row["license"], row["author"], row["source"])
                    for row in csv.DictReader(table)}
        credits = tuple(rows[file] for file in files)
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise InputError(f"the latent shaper's donor credits in {folder} cannot be read: {error!r}") from None
    if len(credits) != shaper.config.donors:
        raise InputError(f"the latent shaper's donors.json lists {len(credits)} clips for "
                         f"{shaper.config.donors} donors")
    return credits


def load_shaper(folder: str | Path | None, audio_vae: AudioVAE, plan_vae: AudioVAE | None = None
                ) -> LatentShaper | None:
    """The latent shaper in ``folder`` (checked against the decoding audio VAE's latent shape and, when keyed, its
    keys against the plan's VAE, ``plan_vae``, default the same), or None with a warning when the folder holds none
    (the plan's latents are then decoded unshaped)."""
    if folder is None or not (Path(folder) / "config.json").is_file():
        warnings.warn(f"no latent shaper weights in {folder}; the neural sound decodes the plan's latents as they "
                      "are (bd2music train latent-shaper makes them)", stacklevel=2)
        return None
    shaper = LatentShaper.from_pretrained(folder, device=audio_vae.latent_mean.device)
    if tuple(shaper.config.latent_shape) != tuple(audio_vae.config.latent_shape):
        raise InputError(f"the latent shaper's latents {tuple(shaper.config.latent_shape)} do not fit the audio "
                         f"VAE's {tuple(audio_vae.config.latent_shape)}")
    plan_channels = (plan_vae or audio_vae).config.latent_channels
    if shaper.keyed and shaper.config.key_channels != plan_channels:
        raise InputError(f"the latent shaper's keys have {shaper.config.key_channels} channels, the plan's latents "
                         f"{plan_channels}")
    return shaper
