"""Training-only losses: the optional adversarial part of the vocoder objective.

``SpectrogramDiscriminator``: one small 2-D conv net per STFT resolution on log magnitudes (the multi-resolution
discriminator of UnivNet / Vocos, narrowed for CPU), hinge losses and L1 feature matching. Off by default.
The reconstruction losses are the metrics themselves (``bd2music.evaluation.audio``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from bd2music.evaluation.audio import MAGNITUDE_FLOOR, stft_magnitude

DISCRIMINATOR_RESOLUTIONS = ((1024, 256), (512, 128), (256, 64))


class _ResolutionDiscriminator(nn.Module):
    def __init__(self, n_fft: int, hop: int, channels: int) -> None:
        super().__init__()
        self.n_fft, self.hop = n_fft, hop
        norm = nn.utils.parametrizations.weight_norm
        self.convs = nn.ModuleList(
            [
                norm(nn.Conv2d(1, channels, (3, 9), padding=(1, 4))),
                norm(nn.Conv2d(channels, channels, (3, 9), stride=(1, 2), padding=(1, 4))),
                norm(nn.Conv2d(channels, channels, (3, 9), stride=(1, 2), padding=(1, 4))),
                norm(nn.Conv2d(channels, channels, (3, 3), padding=(1, 1))),
            ]
        )
        self.out = norm(nn.Conv2d(channels, 1, (3, 3), padding=(1, 1)))

    def forward(self, waveform: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        x = stft_magnitude(waveform, self.n_fft, self.hop).clamp_min(MAGNITUDE_FLOOR).log()[:, None].transpose(2, 3)
        features = []
        for conv in self.convs:
            x = F.leaky_relu(conv(x), 0.1)
            features.append(x)
        return self.out(x), features


class SpectrogramDiscriminator(nn.Module):
    """Scores and intermediate features of a waveform batch at several STFT resolutions."""

    def __init__(
        self, resolutions: tuple[tuple[int, int], ...] = DISCRIMINATOR_RESOLUTIONS, channels: int = 32
    ) -> None:
        super().__init__()
        self.discriminators = nn.ModuleList([_ResolutionDiscriminator(n, h, channels) for n, h in resolutions])

    def forward(self, waveform: torch.Tensor) -> list[tuple[torch.Tensor, list[torch.Tensor]]]:
        return [d(waveform) for d in self.discriminators]


def discriminator_loss(real: list, fake: list) -> torch.Tensor:
    """Hinge loss of the discriminator (``fake`` computed on detached waveforms)."""
    return sum(F.relu(1 - r).mean() + F.relu(1 + f).mean() for (r, _), (f, _) in zip(real, fake)) / len(real)


def generator_losses(real: list, fake: list) -> tuple[torch.Tensor, torch.Tensor]:
    """(adversarial hinge loss, L1 feature matching) of the generator."""
    adversarial = sum(F.relu(1 - f).mean() for f, _ in fake) / len(fake)
    matching = sum(
        sum((rf.detach() - ff).abs().mean() for rf, ff in zip(r_features, f_features)) / len(r_features)
        for (_, r_features), (_, f_features) in zip(real, fake)
    ) / len(real)
    return adversarial, matching
