"""The one mel representation of bd2music's audio models (VAE input and output, vocoder input), in torch.

``MEL = MelConfig()`` is used everywhere; models store it in their ``config.json`` and refuse another one.
Choices (defaults, at 16 kHz):

* ``sample_rate`` 16 kHz: the rate of the shared clips and of the analysis toolkit (``ANALYSIS_SAMPLE_RATE``);
  sound effects and game music keep their character below 8 kHz, and every model costs half of what 32 kHz would.
* ``n_fft`` 1024 (64 ms, periodic Hann), ``hop_length`` 256 (16 ms, 62.5 frames/s), ``n_mels`` 64, Slaney mel
  scale and area norm from 0 Hz to Nyquist: exactly the toolkit's ``FrameConfig`` framing and mel filter bank
  (its constants are reused, not copied), so frame ``t`` of a model's mel is frame ``t`` of the descriptors
  and ``mel_db`` is ``10 log10`` of the same mel power. 64 ms resolves the pitch of low voices and bass
  (15.6 Hz bins); 16 ms frames keep clicks and footsteps sharp enough and make every model cheap on a CPU.
* power spectrogram (``power`` 2), natural log with a floor of 1e-8 (-80 dB): a full-scale sine peaks at
  about +30 dB, 16-bit quantisation noise sits near -87 dB, so the floor keeps ~110 dB of range, hides the
  dither/noise floor of quiet recordings and does not depend on the clip (unlike ``mel_db``'s ``top_db``,
  which is relative to each clip's maximum and so drops loudness). Values run from ln(1e-8) = -18.42 up to ~+7.
* ``center=True`` with zero padding (librosa's default): a clip of ``n`` samples gives ``1 + n // hop_length``
  frames, and ``torch.istft(..., length=n)`` gets back exactly ``n`` samples.

``MelSpectrogram`` matches ``librosa.feature.melspectrogram`` (float32, checked on real clips in the tests).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import librosa
import numpy as np
import soxr
import torch
from torch import nn

from bd2music.audio.descriptors import FrameConfig
from bd2music.audio.load import ANALYSIS_SAMPLE_RATE

_FRAMES = FrameConfig()


@dataclass(frozen=True)
class MelConfig:
    """Mel spectrogram parameters shared by every audio model (see the module docstring for the reasons)."""

    sample_rate: int = ANALYSIS_SAMPLE_RATE  # Hz
    n_fft: int = _FRAMES.n_fft  # STFT size = window length (periodic Hann)
    hop_length: int = _FRAMES.hop_length  # samples between frames
    n_mels: int = _FRAMES.n_mels  # mel bands (Slaney scale, area-normalised filters)
    fmin: float = 0.0  # Hz, lowest filter edge
    fmax: float = ANALYSIS_SAMPLE_RATE / 2  # Hz, highest filter edge (Nyquist)
    power: float = 2.0  # 2: power spectrogram, 1: magnitude
    log_floor: float = 1e-8  # log(max(mel, log_floor)); -80 dB

    @property
    def log_min(self) -> float:
        """The log-mel value of silence."""
        return math.log(self.log_floor)

    @property
    def frames_per_second(self) -> float:
        return self.sample_rate / self.hop_length

    def num_frames(self, num_samples: int) -> int:
        """Frames of a clip of ``num_samples`` samples (centred frames)."""
        return 1 + num_samples // self.hop_length


MEL = MelConfig()


@functools.lru_cache(maxsize=8)
def mel_filters(config: MelConfig = MEL) -> np.ndarray:
    """(n_mels, n_fft // 2 + 1) float32 Slaney mel filter bank, librosa's."""
    return librosa.filters.mel(
        sr=config.sample_rate, n_fft=config.n_fft, n_mels=config.n_mels, fmin=config.fmin, fmax=config.fmax
    ).astype(np.float32)


class MelSpectrogram(nn.Module):
    """Waveform (..., samples) -> log-mel (..., n_mels, frames); ``power_mel`` gives the mel before the log.

    Any leading batch shape; runs where the module is (``.to("cuda")``). The filters are non-persistent buffers,
    so the module adds nothing to a model's state dict.
    """

    def __init__(self, config: MelConfig = MEL) -> None:
        super().__init__()
        self.config = config
        self.register_buffer("window", torch.hann_window(config.n_fft, periodic=True), persistent=False)
        self.register_buffer("filters", torch.from_numpy(mel_filters(config)), persistent=False)

    def spectrogram(self, waveform: torch.Tensor) -> torch.Tensor:
        """Complex STFT (..., bins, frames) with this config's framing."""
        shape = waveform.shape
        spectrum = torch.stft(
            waveform.reshape(-1, shape[-1]).float(),
            self.config.n_fft,
            self.config.hop_length,
            window=self.window,
            center=True,
            pad_mode="constant",
            return_complex=True,
        )
        return spectrum.reshape(*shape[:-1], *spectrum.shape[-2:])

    def power_mel(self, waveform: torch.Tensor) -> torch.Tensor:
        """Mel spectrogram (..., n_mels, frames) of |STFT| ** power."""
        magnitude = self.spectrogram(waveform).abs()
        return self.filters @ (magnitude.square() if self.config.power == 2 else magnitude.pow(self.config.power))

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        return self.power_mel(waveform).clamp_min(self.config.log_floor).log()


@functools.lru_cache(maxsize=8)
def _module(config: MelConfig, device: str) -> MelSpectrogram:
    with torch.inference_mode(False):  # the cached buffers must also serve autograd (training) later
        return MelSpectrogram(config).to(device)


def mel_spectrogram(waveform: torch.Tensor | np.ndarray, config: MelConfig = MEL) -> torch.Tensor:
    """Log-mel (..., n_mels, frames) of a waveform (..., samples), on the waveform's device."""
    waveform = torch.as_tensor(waveform)
    return _module(config, str(waveform.device))(waveform)


def track_mel(audio: np.ndarray, sample_rate: int, config: MelConfig = MEL) -> np.ndarray:
    """(n_mels, frames) log-mel of a track (channels, samples) at ``sample_rate``: mono, resampled to the mel's
    rate (for display)."""
    mono = np.atleast_2d(audio).mean(axis=0)
    resampled = soxr.resample(mono, sample_rate, config.sample_rate).astype(np.float32)
    return mel_spectrogram(torch.from_numpy(resampled), config).numpy()
