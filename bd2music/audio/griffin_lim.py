"""Griffin-Lim baseline vocoder: log-mel -> linear power (non-negative least squares) -> waveform (fast Griffin-Lim).

No training, no weights: the reference that a trained vocoder has to beat, and a fallback. Batched torch on CPU
or CUDA. Steps:

1. ``mel_to_power``: the linear power spectrogram ``S >= 0`` minimising ``||M S - P||^2`` for mel filters ``M``
   and mel power ``P``, by Lee-Seung multiplicative updates (they keep ``S`` non-negative), started from the
   normalised back-projection ``M^T P / M^T M 1``. Same problem as ``librosa.feature.inverse.mel_to_stft``.
2. ``griffin_lim``: phases for the magnitude ``sqrt(S)`` by fast Griffin-Lim (Perraudin et al. 2013, momentum
   0.99), with the mel's own STFT framing, cut to the requested number of samples.
"""

from __future__ import annotations

import torch

from bd2music.audio.mel import MEL, MelConfig, mel_filters

NNLS_EPS = 1e-12  # keeps the multiplicative update's denominator positive


def mel_to_power(
    log_mel: torch.Tensor, config: MelConfig = MEL, n_iter: int = 50, power: torch.Tensor | None = None
) -> torch.Tensor:
    """Linear power spectrogram (..., n_fft // 2 + 1, frames) whose mel is closest to ``exp(log_mel)``; the
    updates start from ``power`` when given (e.g. a vocoder's estimate, whose fine structure they keep)."""
    filters = torch.from_numpy(mel_filters(config)).to(log_mel.device)
    mel = log_mel.float().exp()
    if config.power != 2:
        mel = mel.pow(2.0 / config.power)
    target = filters.T @ mel  # M^T P
    if power is None:
        power = target / (filters.T @ filters.sum(dim=1, keepdim=True) + NNLS_EPS)
    for _ in range(n_iter):
        power = power * target / (filters.T @ (filters @ power) + NNLS_EPS)  # M^T M S, through the 64 bands
    return power


def griffin_lim(
    magnitude: torch.Tensor,
    config: MelConfig = MEL,
    n_iter: int = 64,
    momentum: float = 0.99,
    length: int | None = None,
    seed: int = 0,
    angles: torch.Tensor | None = None,
) -> torch.Tensor:
    """Waveform (..., samples) whose STFT magnitude approaches ``magnitude`` (..., bins, frames).

    ``length`` defaults to ``(frames - 1) * hop_length`` samples; phases start from ``angles`` (unit complex
    numbers of the magnitude's shape, e.g. a vocoder's phases) or random (seeded).
    """
    shape = magnitude.shape
    magnitude = magnitude.reshape(-1, *shape[-2:]).float()
    window = torch.hann_window(config.n_fft, periodic=True, device=magnitude.device)
    length = length if length is not None else (shape[-1] - 1) * config.hop_length
    if angles is None:
        generator = torch.Generator().manual_seed(seed)
        angles = torch.polar(torch.ones_like(magnitude), 2 * torch.pi * torch.rand(magnitude.shape, generator=generator))
    angles = angles.reshape(magnitude.shape).to(magnitude.device)
    stft = dict(n_fft=config.n_fft, hop_length=config.hop_length, window=window, center=True)
    previous = torch.zeros_like(angles)
    for _ in range(n_iter):
        waveform = torch.istft(magnitude * angles, length=length, **stft)
        rebuilt = torch.stft(waveform, pad_mode="constant", return_complex=True, **stft)
        angles = rebuilt - previous * (momentum / (1 + momentum))
        angles = angles / (angles.abs() + 1e-16)
        previous = rebuilt
    waveform = torch.istft(magnitude * angles, length=length, **stft)
    return waveform.reshape(*shape[:-2], length)


def mel_to_waveform(
    log_mel: torch.Tensor, config: MelConfig = MEL, n_iter: int = 64, length: int | None = None
) -> torch.Tensor:
    """Griffin-Lim vocoder: log-mel (..., n_mels, frames) -> waveform (..., samples)."""
    return griffin_lim(mel_to_power(log_mel, config).sqrt(), config, n_iter=n_iter, length=length)


class GriffinLim(torch.nn.Module):
    """The baseline as a module with the trained vocoder's call signature: ``vocoder(log_mel, length=None)``."""

    def __init__(self, config: MelConfig = MEL, n_iter: int = 64) -> None:
        super().__init__()
        self.mel_config, self.n_iter = config, n_iter

    def forward(self, log_mel: torch.Tensor, length: int | None = None) -> torch.Tensor:
        return mel_to_waveform(log_mel, self.mel_config, self.n_iter, length)
