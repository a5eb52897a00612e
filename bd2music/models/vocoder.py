"""Mel -> waveform vocoder in the style of Vocos (Siuzdak 2023): ConvNeXt blocks at the mel frame rate predict
each frame's STFT log-magnitude and phase, and ``torch.istft`` turns them into samples.

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
from bd2music.errors import InputError
from bd2music.models.base import PretrainedMixin
from bd2music.modules.convnext import ConvNeXtStack


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
        self.head = nn.Linear(config.dim, mel.n_fft + 2)  # log-magnitude and phase of n_fft // 2 + 1 bins
        self.register_buffer("window", torch.hann_window(mel.n_fft, periodic=True), persistent=False)

    @property
    def sample_rate(self) -> int:
        return self.config.mel.sample_rate

    def spectrum(self, log_mel: torch.Tensor) -> torch.Tensor:
        """Predicted complex STFT (batch, n_fft // 2 + 1, frames)."""
        x = self.embed((log_mel - self.config.mel_offset) / self.config.mel_scale)
        x = self.trunk(self.norm(x.transpose(1, 2)).transpose(1, 2))
        log_magnitude, phase = self.head(x.transpose(1, 2)).transpose(1, 2).float().chunk(2, dim=1)
        magnitude = log_magnitude.clamp(max=self.config.max_log_magnitude).exp()
        return torch.complex(magnitude * torch.cos(phase), magnitude * torch.sin(phase))

    def forward(self, log_mel: torch.Tensor, length: int | None = None) -> torch.Tensor:
        """Waveform (batch, samples) from log-mel (batch, n_mels, frames); a 2-D input gives a 1-D output."""
        unbatched = log_mel.ndim == 2
        log_mel = log_mel[None] if unbatched else log_mel
        mel = self.config.mel
        length = length if length is not None else (log_mel.shape[-1] - 1) * mel.hop_length
        waveform = torch.istft(
            self.spectrum(log_mel), mel.n_fft, mel.hop_length, window=self.window, center=True, length=length
        )
        return waveform[0] if unbatched else waveform


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
        except InputError as error:
            warnings.warn(f"{error}; using Griffin-Lim", stacklevel=2)
    return GriffinLim().to(device)
