"""The mapper's objective (the loss terms are described in ``bd2music.training.mapper``): rank and distribution
losses, the optimal-assignment targets, the two training-only discriminators and identity projections, and
``Objective``, which holds them with the frozen heads and computes every term of a step's ``Batch``."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment
from torch import nn

from bd2music.models.audio_vae import AudioVAE
from bd2music.models.mapper import LatentMapper, MapperConfig
from bd2music.training.mapper.config import MapperTrainConfig
from bd2music.training.mapper.semantic import Semantic


def hard_ranks(values: torch.Tensor) -> torch.Tensor:
    """Ranks (0-based, ties averaged) of a (B,) tensor."""
    greater = (values[:, None] > values[None, :]).float().sum(dim=1)
    equal = (values[:, None] == values[None, :]).float().sum(dim=1)
    return greater + 0.5 * (equal - 1)


def soft_ranks(values: torch.Tensor, temperature: float) -> torch.Tensor:
    """Differentiable ranks of a (B,) tensor: sums of sigmoids of pairwise differences (in units of its std)."""
    scale = values.detach().std().clamp_min(1e-6) * temperature
    return torch.sigmoid((values[:, None] - values[None, :]) / scale).sum(dim=1)


def pearson(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    a, b = a - a.mean(), b - b.mean()
    return (a * b).sum() / (a.norm() * b.norm()).clamp_min(1e-8)


def structural_loss(features: torch.Tensor, predicted: torch.Tensor, temperature: float) -> torch.Tensor:
    """Mean over pairs (columns) of 1 - Spearman correlation between features (B, P) and predictions (B, P)."""
    terms = [1 - pearson(hard_ranks(f), soft_ranks(p, temperature)) for f, p in zip(features.T, predicted.T)]
    return torch.stack(terms).mean()


def moments_loss(fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """Squared differences of the per-element batch mean and std of standardised latents."""
    return (fake.mean(0) - real.mean(0)).square().mean() + (fake.std(0) - real.std(0)).square().mean()


def sliced_wasserstein(fake: torch.Tensor, real: torch.Tensor, directions: int, generator: torch.Generator):
    """Mean squared difference of the sorted projections of ``fake`` (B, ...) and ``real`` (R, ...) on random unit
    directions (``real``'s quantiles interpolated at ``fake``'s B levels): a sliced 2-Wasserstein distance."""
    projection = F.normalize(torch.randn(fake[0].numel(), directions, generator=generator), dim=0).to(fake)
    fake_sorted = (fake.flatten(1) @ projection).sort(dim=0).values
    real_sorted = (real.flatten(1) @ projection).sort(dim=0).values
    levels = torch.linspace(0, len(real) - 1, len(fake), device=fake.device)
    low = levels.floor().long().clamp(max=len(real) - 2)
    target = torch.lerp(real_sorted[low], real_sorted[low + 1], (levels - low)[:, None])
    return (fake_sorted - target).square().mean()


def matching_targets(fake: torch.Tensor, real: torch.Tensor, feature_q: torch.Tensor, descriptor_q: torch.Tensor,
                     structure_cost: float) -> torch.Tensor:
    """For each generated latent the index of its real latent in the optimal assignment (see the module doc)."""
    latent_cost = torch.cdist(fake.detach().flatten(1), real.flatten(1)).square() / fake[0].numel()
    cost = latent_cost + structure_cost * torch.cdist(feature_q, descriptor_q).square() / feature_q.shape[1]
    rows, columns = linear_sum_assignment(cost.cpu().numpy())
    return torch.as_tensor(columns[np.argsort(rows)], device=fake.device)


def lsgan(scores: torch.Tensor, target: float) -> torch.Tensor:
    return (scores - target).square().mean()


class AudioDiscriminator(nn.Module):
    """Audio latents (B, channels, frames) -> realness score: temporal convs, then a linear layer over all frames."""

    def __init__(self, shape: tuple[int, int], hidden: int) -> None:
        super().__init__()
        channels, frames = shape
        self.net = nn.Sequential(
            nn.Conv1d(channels, hidden, 3, padding=1), nn.LeakyReLU(0.2),
            nn.Conv1d(hidden, hidden, 3, padding=1), nn.LeakyReLU(0.2), nn.Flatten(), nn.Linear(hidden * frames, 1),
        )

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        return self.net(latent).squeeze(-1)


def comic_discriminator(dim: int, hidden: int) -> nn.Module:
    """Comic latents (B, Dc) -> realness score."""
    return nn.Sequential(nn.Linear(dim, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, hidden), nn.LeakyReLU(0.2),
                         nn.Linear(hidden, 1), nn.Flatten(0))


class Projections(nn.Module):
    """Learned identity projections: P (audio latent -> comic size) and Q (comic latent -> audio shape)."""

    def __init__(self, config: MapperConfig) -> None:
        super().__init__()
        self.shape = tuple(config.audio_latent_shape)
        self.to_comic = nn.Linear(math.prod(self.shape), config.comic_latent_dim)
        self.to_audio = nn.Linear(config.comic_latent_dim, math.prod(self.shape))

    def comic(self, audio: torch.Tensor) -> torch.Tensor:
        return self.to_comic(audio.flatten(1))

    def audio(self, comic: torch.Tensor) -> torch.Tensor:
        return self.to_audio(comic).view(-1, *self.shape)


@dataclass
class Batch:
    """One step's data: comic items and a pool of real windows (standardised latents) with their quantiles."""

    comic: torch.Tensor  # raw comic latents (B, Dc)
    condition: torch.Tensor  # (B, C)
    noise: torch.Tensor  # (B, noise_dim)
    texts: torch.Tensor | None  # description embeddings (B, D)
    real: torch.Tensor  # standardised audio latents (R, channels, frames)
    descriptor_q: torch.Tensor  # quantiles of the real windows' descriptors over ``pairs`` (R, P)
    directions: torch.Generator  # draws the sliced Wasserstein loss's projections


@dataclass
class Objective:
    """The mapper, its training-only networks, the frozen heads and the loss settings."""

    config: MapperTrainConfig
    mapper: LatentMapper
    projections: Projections
    audio_disc: AudioDiscriminator
    comic_disc: nn.Module
    audio_vae: AudioVAE
    semantic: Semantic | None
    feature_columns: list[int]  # condition columns of the pairs' features
    descriptor_columns: list[int]  # descriptor head columns of the pairs' descriptors

    def audio_condition(self, condition: torch.Tensor, descriptor_q: torch.Tensor) -> torch.Tensor:
        """Page conditions whose pair features are set to the values at the windows' descriptor quantiles."""
        knots = self.mapper.condition_knots[self.feature_columns]  # (P, K)
        position = descriptor_q.T * (knots.shape[1] - 1)  # (P, B)
        low = position.floor().long().clamp(max=knots.shape[1] - 2)
        values = torch.lerp(knots.gather(1, low), knots.gather(1, low + 1), (position - low).clamp(0, 1))
        condition = condition.clone()
        condition[:, self.feature_columns] = values.T
        return condition

    def generator_losses(self, batch: Batch) -> dict[str, torch.Tensor]:
        """Every switched-on loss term of G, F and the projections, and their weighted ``total``."""
        c, m = self.config, self.mapper
        size = len(batch.comic)
        fake = m.generate_standardised(batch.comic, batch.condition, batch.noise)
        comic = m.standardise_comic(batch.comic)
        real = batch.real[:size]
        real_condition = self.audio_condition(batch.condition, batch.descriptor_q[:size])
        zeros = torch.zeros_like(batch.noise)
        real_quantiles = m.condition_quantiles(real_condition)
        terms: dict[str, torch.Tensor] = {}
        if c.adversarial_weight > 0:
            fake_comic = m.invert_standardised(real)
            terms["adversarial"] = lsgan(self.audio_disc(fake), 1.0) + lsgan(self.comic_disc(fake_comic), 1.0)
        if c.cycle_weight > 0:
            back = m.generator(m.invert_standardised(real), real_condition, real_quantiles, zeros)
            terms["cycle"] = (m.invert_standardised(fake) - comic).abs().mean() + (back - real).abs().mean()
        if c.identity_weight > 0:
            audio_id = m.generator(self.projections.comic(real), real_condition, real_quantiles, zeros)
            comic_id = m.invert_standardised(self.projections.audio(comic))
            terms["identity"] = (audio_id - real).abs().mean() + (comic_id - comic).abs().mean()
        unstandardised = fake * m.audio_std[:, None] + m.audio_mean[:, None]
        if c.structural_weight > 0:
            predicted = self.audio_vae.descriptor_head(unstandardised)[:, self.descriptor_columns]
            terms["structural"] = structural_loss(batch.condition[:, self.feature_columns], predicted,
                                                  c.rank_temperature)
        if self.semantic is not None and batch.texts is not None:
            terms["semantic"] = (1 - (self.semantic.embed(unstandardised) * batch.texts).sum(-1)).mean()
        if c.moments_weight > 0:
            terms["moments"] = moments_loss(fake, batch.real)
        if c.sliced_weight > 0:
            terms["sliced"] = sliced_wasserstein(fake, batch.real, c.sliced_directions, batch.directions)
        if c.matching_weight > 0:
            feature_q = m.condition_quantiles(batch.condition)[:, self.feature_columns]
            targets = matching_targets(fake, batch.real, feature_q, batch.descriptor_q, c.matching_structure_cost)
            terms["matching"] = (fake - batch.real[targets]).square().mean()
        total = sum(getattr(c, f"{name}_weight") * value for name, value in terms.items())
        return terms | {"total": total}

    def discriminator_loss(self, batch: Batch) -> torch.Tensor:
        """LSGAN loss of both discriminators (real -> 1, generated -> 0)."""
        m = self.mapper
        with torch.no_grad():
            fake = m.generate_standardised(batch.comic, batch.condition, batch.noise)
            fake_comic = m.invert_standardised(batch.real[: len(batch.comic)])
        audio = lsgan(self.audio_disc(batch.real[: len(fake)]), 1.0) + lsgan(self.audio_disc(fake), 0.0)
        comic = lsgan(self.comic_disc(m.standardise_comic(batch.comic)), 1.0) + lsgan(self.comic_disc(fake_comic), 0.0)
        return audio + comic
