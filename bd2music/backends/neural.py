"""Backend ``neural``: the mapper's audio latents decoded by the audio VAE and voiced by the vocoder.

The plan's latents of each segment are decoded into log-mel windows and cross-faded; with the plan's ``pulse``
the tempo and onset rate that the descriptor head reads in those latents (the plan's raw readings) shape the
log-mel as a pulse (``bd2music.soundtrack.pulse_gains``); the vocoder (Griffin-Lim without vocoder weights)
makes the waveform, brought to a peak-safe level (``bd2music.soundtrack.normalise_loudness``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import ClassVar

import numpy as np
import torch

from bd2music.audio.griffin_lim import GriffinLim
from bd2music.backends.base import Cue, Layer, Progress, trigger
from bd2music.errors import InputError
from bd2music.models.audio_vae import AudioVAE
from bd2music.models.vocoder import Vocoder
from bd2music.plan import Plan, frame_span
from bd2music.soundtrack import normalise_loudness, overlap_add, pulse_gains


@dataclass
class NeuralBackend:
    """Audio VAE decoder -> (pulse) -> vocoder."""

    audio_vae: AudioVAE
    vocoder: Vocoder | GriffinLim
    name: ClassVar[str] = "neural"

    @classmethod
    def from_components(cls, components: dict, settings: dict | None = None) -> NeuralBackend:
        """Its settings live with the audio VAE (``config.inference``); none are taken here."""
        if settings:
            raise InputError(f"neural settings: none are taken here (the audio VAE's config.inference has them), "
                             f"got {', '.join(sorted(settings))}")
        return cls(components["audio_vae"], components["vocoder"])

    @torch.inference_mode()
    def log_mel(self, plan: Plan) -> torch.Tensor:
        """The track's natural-log power mel (n_mels, frames): segments decoded, cross-faded, pulsed."""
        mel_config = self.audio_vae.config.mel
        fps = mel_config.frames_per_second
        length = mel_config.num_frames(round(plan.seconds * mel_config.sample_rate))
        pieces = [self.audio_vae.decode_long(s.latents) for s in plan.segments]
        starts = [frame_span(s.start, s.end, plan.crossfade_s, fps, length)[0] for s in plan.segments]
        fade = round(plan.crossfade_s * fps)
        mel = overlap_add(pieces, starts, length, fade)
        if plan.pulse:
            shape = asdict(self.audio_vae.config.inference)  # the pulse's settings, saved with the weights
            gains = [pulse_gains(p.shape[-1], fps, s.raw["tempo"], s.raw["onset_rate"], **shape).to(mel)
                     for p, s in zip(pieces, plan.segments)]
            mel = (mel + overlap_add(gains, starts, length, fade)).clamp_min(mel_config.log_min)
        return mel

    @torch.inference_mode()
    def render(self, plan: Plan, seed: int, progress: Progress | None = None) -> list[Layer]:
        if progress is not None:
            progress(0.0, "decoding the learned sound")
        mel_config = self.audio_vae.config.mel
        samples = round(plan.seconds * mel_config.sample_rate)
        mel = self.log_mel(plan)
        waveform, _ = normalise_loudness(self.vocoder(mel[None], length=samples)[0], mel_config.sample_rate)
        vocoder = "griffin-lim" if isinstance(self.vocoder, GriffinLim) else "trained vocoder"
        cues = [Cue("neural", s.start, s.end, f"audio VAE + {vocoder}", "AGPL-3.0-or-later (model output)",
                    "bd2music", "weights/audio_vae, weights/vocoder", trigger(s.panel), "learned sound")
                for s in plan.segments]
        audio = waveform.clamp(-1.0, 1.0).float().cpu().numpy().astype(np.float32)
        return [Layer("neural", audio, mel_config.sample_rate, cues)]
