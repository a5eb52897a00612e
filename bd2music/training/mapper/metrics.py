"""Held-out metrics of a mapper, on the audio VAE's descriptor head (no audio is decoded): Spearman rho and p of
each structural pair, diversity ratio, Frechet distance for the trained mapper and an untrained one."""

from __future__ import annotations

import math

import numpy as np
import scipy.stats
import torch

from bd2music.models.mapper import LatentMapper
from bd2music.training.mapper.data import ComicItems
from bd2music.training.mapper.losses import Objective


def frechet_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """Frechet distance between Gaussians fitted to the rows of ``a`` and ``b`` (flattened). The trace of
    sqrt(cov_a cov_b) is the nuclear norm of A B^T / sqrt((n_a - 1)(n_b - 1)) for the centred rows A, B: exact
    and cheap when there are fewer samples than dimensions."""
    a, b = a.flatten(1).double(), b.flatten(1).double()
    centred_a, centred_b = a - a.mean(0), b - b.mean(0)
    variance = centred_a.square().sum() / (len(a) - 1) + centred_b.square().sum() / (len(b) - 1)
    cross = torch.linalg.svdvals(centred_a @ centred_b.T).sum() / math.sqrt((len(a) - 1) * (len(b) - 1))
    return float((a.mean(0) - b.mean(0)).square().sum() + variance - 2 * cross)


def spearman(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Spearman rho and its p-value; 0 and 1 when either side is constant."""
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return 0.0, 1.0
    rho, p = scipy.stats.spearmanr(x, y)
    return float(rho), float(p)


def mean_pairwise_distance(latents: torch.Tensor) -> float:
    return float(torch.pdist(latents.flatten(1).double()).mean())


@torch.inference_mode()
def generated_latents(mapper: LatentMapper, items: ComicItems, indices: torch.Tensor, draws: int, seed: int):
    """Audio latents of ``items[indices]``, ``draws`` noise draws each (draw-major), with a seeded generator."""
    device = mapper.audio_mean.device
    noise = torch.randn(draws * len(indices), mapper.config.noise_dim, generator=torch.Generator().manual_seed(seed))
    comic, condition = items.latents[indices].repeat(draws, 1), items.conditions[indices].repeat(draws, 1)
    return mapper.generate(comic.to(device), condition.to(device), noise.to(device)).cpu()


@torch.inference_mode()
def evaluate(objective: Objective, untrained: LatentMapper, items: ComicItems, heldout: torch.Tensor,
             real: torch.Tensor) -> dict[str, float]:
    """Held-out metrics (see the module doc); ``real`` are the held-out windows' latents."""
    c = objective.config
    generated = generated_latents(objective.mapper, items, heldout, c.eval_noise_draws, c.seed)
    first = generated[: len(heldout)].to(objective.mapper.audio_mean.device)
    predicted = objective.audio_vae.predict_descriptors(first)
    metrics: dict[str, float] = {}
    for (feature, descriptor), column in zip(c.pairs, objective.feature_columns):
        rho, p = spearman(items.conditions[heldout, column].numpy(), predicted[descriptor].cpu().numpy())
        metrics[f"rho_{feature}_{descriptor}"], metrics[f"p_{feature}_{descriptor}"] = rho, p
    if objective.semantic is not None:
        embedded = objective.semantic.embed(first)
        metrics["semantic_cosine"] = float((embedded * objective.semantic.texts[heldout].to(embedded)).sum(-1).mean())
        if objective.semantic.head_cosine is not None:
            metrics["semantic_head_heldout_cosine"] = objective.semantic.head_cosine
    baseline = generated_latents(untrained, items, heldout, c.eval_noise_draws, c.seed)
    metrics["diversity_ratio"] = mean_pairwise_distance(generated) / mean_pairwise_distance(real)
    metrics["frechet"] = frechet_distance(generated, real)
    metrics["frechet_untrained"] = frechet_distance(baseline, real)
    metrics["frechet_ratio"] = metrics["frechet"] / metrics["frechet_untrained"]
    return metrics
