"""Latent mapper: the generator of a latent CycleGAN, comic latent (+ page features, + noise) -> audio latent.

Two small networks are shipped:

* ``generator`` G: (comic-VAE latent, condition, noise) -> one audio-VAE window latent ``audio_latent_shape``.
  A residual MLP. Its input is the comic latent standardised with training-set statistics, the condition twice
  (the raw values of :func:`page_condition` mapped to [-1, 1], and their quantiles among the training pages,
  see below) and ``noise_dim`` Gaussian numbers drawn by the caller (the variety of the output). It predicts
  the latent standardised per channel; ``generate`` puts back the audio latents' per-channel mean and std.
* ``inverse`` F: audio latent -> comic latent, two temporal convolutions with mean + max pooling (the audio
  VAE's ``PooledHead``); used by the cycle losses while training and by ``invert``.

The condition is the vector of page scalars named by :data:`CONDITION_NAMES` (``PageFeatures.normalised_scalars``
values). Their ranges differ a lot between pages: black-and-white manga pages all have a colourfulness near 0,
yet their small differences must still move the sound. So each condition value is also mapped through the
empirical CDF of the training items (``quantile_knots`` knots per name, stored buffers, piecewise linear): the
generator sees where a page stands among pages, which is what a rank-based structural link needs.

The losses (adversarial in both latent spaces, cycle, identity, structural, semantic, moment and matching
terms) and the two discriminators live in ``bd2music.training.mapper``; nothing here imports training code.
Per-panel conditions (:func:`panel_condition`) keep the page's layout values and take the panel's own colour,
light, line, balloon and text statistics.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from bd2music.errors import InputError
from bd2music.models.audio_vae import PooledHead
from bd2music.models.base import PretrainedMixin
from bd2music.vision.description import panel_view
from bd2music.vision.features import PageFeatures

CONDITION_NAMES: tuple[str, ...] = (
    "brightness",
    "contrast",
    "saturation",
    "colourfulness_norm",
    "warmth",
    "edge_density",
    "is_bw",
    "panel_count",
    "area_mean",
    "size_rhythm",
    "regularity",
    "balloon_count",
    "text_coverage",
)

STRUCTURAL_PAIRS: tuple[tuple[str, str], ...] = (  # page feature (CONDITION_NAMES) -> audio descriptor it drives
    ("brightness", "spectral_centroid_mean"),  # brighter page -> brighter timbre
    ("colourfulness_norm", "rms_mean"),  # more colourful -> louder
    ("edge_density", "onset_rate"),  # busier line work -> more onsets
    ("panel_count", "tempo"),  # more panels (a quicker cut rhythm) -> faster tempo
)


def page_condition(features: PageFeatures) -> torch.Tensor:
    """The page's :data:`CONDITION_NAMES` values (normalised scalars, ~[0, 1]) as a float tensor."""
    scalars = features.normalised_scalars()
    return torch.tensor([scalars[name] for name in CONDITION_NAMES], dtype=torch.float32)


def panel_condition(features: PageFeatures, panel_index: int) -> torch.Tensor:
    """The condition of one panel: the page's layout values with the panel's colour, balloons and text."""
    return page_condition(panel_view(features, panel_index))


@dataclass
class MapperConfig:
    """Architecture of the latent mapper (stored as ``config.json``)."""

    comic_latent_dim: int = 64  # the comic VAE's latent_dim
    audio_latent_shape: tuple[int, int] = (32, 32)  # the audio VAE's latent_shape (channels, frames)
    condition_dim: int = len(CONDITION_NAMES)
    noise_dim: int = 16
    hidden: int = 256  # width of the generator's residual MLP
    blocks: int = 2  # residual blocks of the generator
    inverse_hidden: int = 128  # width of the inverse's convolutions
    quantile_knots: int = 33  # resolution of the condition CDFs

    def __post_init__(self) -> None:
        if self.condition_dim != len(CONDITION_NAMES):
            raise ValueError(f"condition_dim must be {len(CONDITION_NAMES)} (CONDITION_NAMES)")
        if self.quantile_knots < 2:
            raise ValueError("quantile_knots must be at least 2")


class ResidualBlock(nn.Module):
    """x + MLP(LayerNorm(x)) with a 2x wider hidden layer."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.LayerNorm(width), nn.Linear(width, 2 * width), nn.GELU(), nn.Linear(2 * width, width)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.net(x)


class Generator(nn.Module):
    """Residual MLP: (standardised comic latent, condition in [-1, 1], quantiles in [-1, 1], noise) -> standardised
    audio latent (batch, channels, frames)."""

    def __init__(self, config: MapperConfig) -> None:
        super().__init__()
        inputs = config.comic_latent_dim + 2 * config.condition_dim + config.noise_dim
        self.shape = tuple(config.audio_latent_shape)
        self.net = nn.Sequential(
            nn.Linear(inputs, config.hidden),
            *[ResidualBlock(config.hidden) for _ in range(config.blocks)],
            nn.LayerNorm(config.hidden),
            nn.Linear(config.hidden, math.prod(self.shape)),
        )

    def forward(self, comic: torch.Tensor, condition: torch.Tensor, quantiles: torch.Tensor, noise: torch.Tensor):
        x = torch.cat([comic, 2 * condition - 1, 2 * quantiles - 1, noise], dim=-1)
        return self.net(x).view(-1, *self.shape)


def quantile_transform(values: torch.Tensor, knots: torch.Tensor) -> torch.Tensor:
    """Empirical CDF of each column of ``values`` (batch, D) from sorted ``knots`` (D, K), piecewise linear, [0, 1]."""
    count = knots.shape[1]
    columns = values.T.contiguous()
    upper = torch.searchsorted(knots, columns).clamp(1, count - 1)
    low, high = knots.gather(1, upper - 1), knots.gather(1, upper)
    fraction = ((columns - low) / (high - low).clamp_min(1e-9)).clamp(0, 1)
    return ((upper - 1 + fraction) / (count - 1)).T


class LatentMapper(PretrainedMixin, nn.Module):
    """G (``generate``): comic latent + condition + noise -> audio latent; F (``invert``): back; see the module doc."""

    component = "mapper"
    config_class = MapperConfig

    def __init__(self, config: MapperConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or MapperConfig()
        channels = config.audio_latent_shape[0]
        self.generator = Generator(config)
        self.inverse = PooledHead(channels, config.inverse_hidden, config.comic_latent_dim)
        # training-set statistics, set by the trainer (set_statistics) and saved with the weights
        knots = torch.linspace(0, 1, config.quantile_knots).expand(config.condition_dim, -1).contiguous()
        self.register_buffer("condition_knots", knots)
        self.register_buffer("comic_mean", torch.zeros(config.comic_latent_dim))
        self.register_buffer("comic_std", torch.ones(config.comic_latent_dim))
        self.register_buffer("audio_mean", torch.zeros(channels))
        self.register_buffer("audio_std", torch.ones(channels))

    def set_statistics(self, conditions: torch.Tensor, comic: torch.Tensor, audio: torch.Tensor) -> None:
        """Store the condition CDF knots, comic latent mean/std and per-channel audio latent mean/std of the
        training items (conditions (N, C), comic latents (N, Dc)) and windows (audio latents (M, channels, frames))."""
        levels = torch.linspace(0, 1, self.config.quantile_knots)
        self.condition_knots.copy_(torch.quantile(conditions.float(), levels, dim=0).T)
        self.comic_mean.copy_(comic.mean(dim=0))
        self.comic_std.copy_(comic.std(dim=0).clamp_min(1e-4))
        self.audio_mean.copy_(audio.mean(dim=(0, 2)))
        self.audio_std.copy_(audio.std(dim=(0, 2)).clamp_min(1e-4))

    def condition_quantiles(self, condition: torch.Tensor) -> torch.Tensor:
        """Where each condition value stands among the training items: (batch, C) in [0, 1]."""
        return quantile_transform(condition, self.condition_knots)

    def standardise_audio(self, latent: torch.Tensor) -> torch.Tensor:
        return (latent - self.audio_mean[:, None]) / self.audio_std[:, None]

    def standardise_comic(self, latent: torch.Tensor) -> torch.Tensor:
        return (latent - self.comic_mean) / self.comic_std

    def generate_standardised(self, comic_latent: torch.Tensor, condition: torch.Tensor, noise: torch.Tensor):
        """G's output before the audio statistics are put back (what the training losses compare)."""
        batch = comic_latent.shape[0]
        expected = {"comic_latent": self.config.comic_latent_dim, "condition": self.config.condition_dim,
                    "noise": self.config.noise_dim}
        for (name, size), tensor in zip(expected.items(), (comic_latent, condition, noise)):
            if tensor.shape != (batch, size):
                raise InputError(f"mapper: {name} has shape {tuple(tensor.shape)}, expected ({batch}, {size})")
        comic = self.standardise_comic(comic_latent)
        return self.generator(comic, condition, self.condition_quantiles(condition), noise)

    def generate(self, comic_latent: torch.Tensor, condition: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """Audio latents (batch, *audio_latent_shape) for comic latents (batch, Dc), conditions (batch, C) and noise
        (batch, noise_dim)."""
        standardised = self.generate_standardised(comic_latent, condition, noise)
        return standardised * self.audio_std[:, None] + self.audio_mean[:, None]

    def invert_standardised(self, standardised_audio: torch.Tensor) -> torch.Tensor:
        """F on a standardised audio latent -> standardised comic latent."""
        return self.inverse(standardised_audio)

    def invert(self, audio_latent: torch.Tensor) -> torch.Tensor:
        """Comic latents (batch, Dc) for audio latents (batch, *audio_latent_shape)."""
        if tuple(audio_latent.shape[1:]) != tuple(self.config.audio_latent_shape):
            raise InputError(
                f"mapper: audio latent shape {tuple(audio_latent.shape[1:])}, expected {self.config.audio_latent_shape}"
            )
        return self.invert_standardised(self.standardise_audio(audio_latent)) * self.comic_std + self.comic_mean
