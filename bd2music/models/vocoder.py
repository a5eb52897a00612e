"""Mel -> waveform vocoder in the style of Vocos (Siuzdak 2023): ConvNeXt blocks at the mel frame rate predict
each frame's STFT log-magnitude (and phase), and ``torch.istft`` turns them into samples.

Where the phase comes from is the config's ``phase``: "predicted" (Vocos: the head's second half, per frame) or
"gradient" (the head predicts the magnitude only; ``bd2music.audio.phase`` integrates its phase gradient across
frames and bins). Phases predicted frame by frame need not continue each other, and a vocoder trained that way
can settle on a comb at every multiple of its frame rate (62.5 Hz here) in magnitude and phase together;
integrated phases continue by construction.

Nothing upsamples in the network: it runs at 62.5 frames/s and the inverse FFT does the rest, so the default
1.6 M parameter model (sized to train in a few hours on 2 CPU cores) runs far faster than real time on a CPU.
The STFT it predicts has the mel's own framing (``n_fft``, ``hop_length``, centred, periodic Hann), so ``F``
mel frames give ``(F - 1) * hop_length`` samples by default, or exactly ``length`` samples when asked (a clip
of ``n`` samples has ``1 + n // hop`` frames).

    vocoder = Vocoder.from_pretrained()                 # weights/vocoder
    waveform = vocoder(mel_spectrogram(clip), length=len(clip))
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from bd2music.audio.griffin_lim import GriffinLim, griffin_lim, mel_to_power
from bd2music.audio.mel import MEL, MelConfig
from bd2music.audio.phase import phase_from_magnitude
from bd2music.errors import InputError, MissingWeights
from bd2music.models.base import PretrainedMixin
from bd2music.modules.convnext import ConvNeXtStack


PHASES = ("predicted", "gradient")


@dataclass
class VocoderConfig:
    """Architecture of the vocoder (stored as ``config.json``)."""

    mel: MelConfig = MEL  # input representation; also the output STFT framing
    dim: int = 192  # channels of the ConvNeXt trunk (Vocos: 512)
    num_layers: int = 6  # ConvNeXt blocks (Vocos: 8)
    expansion: int = 3  # MLP width = expansion * dim
    kernel_size: int = 7  # depthwise conv, in frames (7 frames = 112 ms receptive field per block)
    max_log_magnitude: float = math.log(1e3)  # predicted |STFT| is clipped at 1000 (a full-scale sine is ~256)
    mel_offset: float = -6.0  # input standardisation: (log_mel - offset) / scale, ~zero mean, unit variance
    mel_scale: float = 4.0
    phase: str = "predicted"  # "predicted" by the head, or "gradient": integrated from the predicted magnitude
    phase_jitter: float = 0.0  # "gradient": random phase advance of noise-like peaks, x pi per frame (0..1)
    mel_iterations: int = 0  # "gradient": least-squares updates of the magnitude towards the input mel (inference)
    refine_iterations: int = 0  # fast Griffin-Lim iterations after the phases (inference only; 0: none)

    def __post_init__(self) -> None:
        if self.phase not in PHASES:
            raise ValueError(f"phase must be one of {', '.join(PHASES)}, got {self.phase!r}")
        if not 0.0 <= self.phase_jitter <= 1.0:
            raise ValueError("phase_jitter must be between 0 and 1")
        for name in ("mel_iterations", "refine_iterations"):
            if not 0 <= getattr(self, name) <= 512:
                raise ValueError(f"{name} must be between 0 and 512")


class Vocoder(PretrainedMixin, nn.Module):
    """log-mel (batch, n_mels, frames) -> waveform (batch, samples)."""

    component = "vocoder"
    config_class = VocoderConfig

    def __init__(self, config: VocoderConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or VocoderConfig()
        mel = config.mel
        self.embed = nn.Conv1d(mel.n_mels, config.dim, config.kernel_size, padding=config.kernel_size // 2)
        self.norm = nn.LayerNorm(config.dim, eps=1e-6)
        self.trunk = ConvNeXtStack(config.dim, config.num_layers, config.expansion, config.kernel_size)
        bins = mel.n_fft // 2 + 1
        self.head = nn.Linear(config.dim, 2 * bins if config.phase == "predicted" else bins)  # log-magnitude, phase
        self.register_buffer("window", torch.hann_window(mel.n_fft, periodic=True), persistent=False)

    @property
    def sample_rate(self) -> int:
        return self.config.mel.sample_rate

    def spectrum(self, log_mel: torch.Tensor, mel_iterations: int = 0) -> torch.Tensor:
        """Predicted complex STFT (batch, n_fft // 2 + 1, frames); with "gradient" phases and ``mel_iterations``,
        its power is first brought closer to the input mel (``griffin_lim.mel_to_power``'s updates)."""
        x = self.embed((log_mel - self.config.mel_offset) / self.config.mel_scale)
        x = self.trunk(self.norm(x.transpose(1, 2)).transpose(1, 2))
        head = self.head(x.transpose(1, 2)).transpose(1, 2).float()
        ceiling = self.config.max_log_magnitude
        if self.config.phase == "predicted":
            log_magnitude, phase = head.chunk(2, dim=1)
            return torch.polar(log_magnitude.clamp(max=ceiling).exp(), phase)
        log_magnitude = head.clamp(max=ceiling)
        if mel_iterations:
            power = mel_to_power(log_mel, self.config.mel, mel_iterations, power=(2 * log_magnitude).exp())
            log_magnitude = (power.clamp_min(1e-30).log() / 2).clamp(max=ceiling)
        with torch.no_grad():  # phases follow the magnitude; gradients reach the magnitude only
            generator = torch.default_generator if self.training else None  # inference: seeded, reproducible
            phase = phase_from_magnitude(log_magnitude, self.config.mel, self.config.phase_jitter, generator)
        return torch.polar(log_magnitude.exp(), phase)

    def forward(self, log_mel: torch.Tensor, length: int | None = None) -> torch.Tensor:
        """Waveform (batch, samples) from log-mel (batch, n_mels, frames); a 2-D input gives a 1-D output."""
        unbatched = log_mel.ndim == 2
        log_mel = log_mel[None] if unbatched else log_mel
        spectrum = self.spectrum(log_mel, self.config.mel_iterations)
        if self.config.refine_iterations:
            magnitude = spectrum.abs()
            waveform = griffin_lim(magnitude, self.config.mel, self.config.refine_iterations, length=length,
                                   angles=spectrum / (magnitude + 1e-16))
        else:
            waveform = self.synthesise(spectrum, length)
        return waveform[0] if unbatched else waveform

    def synthesise(self, spectrum: torch.Tensor, length: int | None = None) -> torch.Tensor:
        """Waveform (batch, samples) of a complex STFT (batch, bins, frames): ``length`` or ``(frames - 1) * hop``."""
        mel = self.config.mel
        length = length if length is not None else (spectrum.shape[-1] - 1) * mel.hop_length
        return torch.istft(spectrum, mel.n_fft, mel.hop_length, window=self.window, center=True, length=length)


class WarmGriffinLim(nn.Module):
    """Fast Griffin-Lim on the mel's least-squares magnitude (``bd2music.audio.griffin_lim``), its phases
    started from the trained vocoder's instead of at random: fewer iterations than Griffin-Lim alone, without the
    vocoder's frame-rate comb. Called as the vocoder is: ``vocoder(log_mel, length=None)``."""

    def __init__(self, vocoder: Vocoder, n_iter: int = 32) -> None:
        super().__init__()
        self.vocoder, self.n_iter = vocoder, n_iter

    def forward(self, log_mel: torch.Tensor, length: int | None = None) -> torch.Tensor:
        mel = self.vocoder.config.mel
        spectrum = self.vocoder.spectrum(log_mel if log_mel.ndim == 3 else log_mel[None])
        angles = spectrum / (spectrum.abs() + 1e-16)
        magnitude = mel_to_power(log_mel, mel).sqrt()
        return griffin_lim(magnitude, mel, n_iter=self.n_iter, length=length, angles=angles)


VOCODERS = ("neural", "griffin-lim")


def load_vocoder(
    kind: str = "neural",
    path_or_repo: str | Path | None = None,
    revision: str | None = None,
    device: str | torch.device = "cpu",
) -> nn.Module:
    """The project's mel -> waveform model: the trained ``Vocoder`` ("neural") or the ``GriffinLim`` baseline.

    Both are called as ``vocoder(log_mel, length=None)``. "neural" falls back to Griffin-Lim, with a warning,
    when no vocoder weights can be found.
    """
    if kind not in VOCODERS:
        raise InputError(f"unknown vocoder {kind!r}, expected one of {', '.join(VOCODERS)}")
    if kind == "neural":
        try:
            return Vocoder.from_pretrained(path_or_repo, revision, device=device)
        except MissingWeights as error:  # corrupt weights are an error, not a reason to fall back
            warnings.warn(f"{error}; using Griffin-Lim", stacklevel=2)
    return GriffinLim().to(device)
