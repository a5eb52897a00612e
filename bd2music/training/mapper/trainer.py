"""The mapper's run on the shared training loop: frozen components, data, networks and two optimisers."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from bd2music.errors import InputError
from bd2music.models.audio_vae import AudioVAE
from bd2music.models.comic_vae import ComicVAE
from bd2music.models.mapper import CONDITION_NAMES, LatentMapper
from bd2music.training.card import export, model_card
from bd2music.training.mapper.card import comic_card, summary
from bd2music.training.mapper.config import MapperTrainConfig
from bd2music.training.mapper.data import (
    audio_latents,
    comic_items,
    comic_pages,
    empirical_quantiles,
    sound_cache,
    window_fill,
)
from bd2music.training.mapper.losses import AudioDiscriminator, Batch, Objective, Projections, comic_discriminator
from bd2music.training.mapper.metrics import evaluate
from bd2music.training.mapper.semantic import semantic_setup
from bd2music.training.solver import Part, Solver, cosine_lr, optimizer_step


def load_components(config: MapperTrainConfig, device: torch.device) -> tuple[ComicVAE, AudioVAE]:
    comic_vae = ComicVAE.from_pretrained(config.comic_vae, device=device).requires_grad_(False)
    audio_vae = AudioVAE.from_pretrained(config.audio_vae, device=device).requires_grad_(False)
    names = audio_vae.config.descriptors
    for feature, descriptor in config.pairs:
        if feature not in CONDITION_NAMES:
            raise InputError(f"pairs: {feature!r} is not a condition ({', '.join(CONDITION_NAMES)})")
        if descriptor not in names:
            raise InputError(f"pairs: the audio VAE does not predict {descriptor!r} ({', '.join(names)})")
    return comic_vae, audio_vae


class MapperSolver(Solver):
    """G, F and the projections against two discriminators; each step a batch of comic items and a pool of real
    windows (see ``bd2music.training.mapper``)."""

    name = "mapper"
    postfix = ("total", "structural", "matching")
    hidden_metrics = ("p_",)

    def __init__(self, config: MapperTrainConfig, data_root: Path, out: Path, work: Path, device: str = "cpu"):
        super().__init__(config, data_root, out, work, device)
        comic_vae, audio_vae = load_components(config, self.device)
        config.model = replace(config.model, comic_latent_dim=comic_vae.config.latent_dim,
                               audio_latent_shape=tuple(audio_vae.config.latent_shape))
        self.pages = comic_pages(config, self.data_root / "comics", self.work)
        self.items = items = comic_items(config, self.pages, comic_vae, self.work)
        self.cache = cache = sound_cache(config, self.data_root, self.work, audio_vae, device)
        self.latents = latents = audio_latents(config, cache, audio_vae, self.work)
        self.train_items, self.heldout_items = items.indices("train"), items.indices("heldout")
        self.train_windows, self.heldout_windows = cache.window_indices("train"), cache.window_indices("heldout")
        if not len(self.train_items) or not len(self.heldout_items) or not len(self.train_windows):
            raise InputError("mapper: need training and held-out comic items and training sound windows")
        descriptors = cache.descriptor_targets([d for _, d in config.pairs])
        self.descriptor_q = empirical_quantiles(descriptors, descriptors[self.train_windows])
        self.semantic = semantic_setup(config, cache, latents, audio_vae, items, self.work, self.device)

        self.model = mapper = LatentMapper(config.model)
        mapper.set_statistics(items.conditions[self.train_items], items.latents[self.train_items],
                              latents[self.train_windows])
        if config.min_window_fill > 0:  # statistics and quantiles stay those of all windows; targets are filtered
            kept = window_fill(cache, self.train_windows, config.fill_db) >= config.min_window_fill
            tqdm.write(f"mapper: {int(kept.sum())} of {len(self.train_windows)} training windows are full enough as "
                       "targets")
            self.train_windows = self.train_windows[kept]
        self.untrained = LatentMapper(config.model)  # the baseline of the metrics: same statistics, initial weights
        self.untrained.load_state_dict({**self.untrained.state_dict(), **{
            k: v for k, v in mapper.state_dict().items() if not k.startswith(("generator.", "inverse."))}})
        hidden = config.discriminator_hidden
        self.objective = Objective(
            config, mapper.to(self.device), Projections(config.model).to(self.device),
            AudioDiscriminator(config.model.audio_latent_shape, hidden).to(self.device),
            comic_discriminator(config.model.comic_latent_dim, 2 * hidden).to(self.device),
            audio_vae, self.semantic,
            [CONDITION_NAMES.index(f) for f, _ in config.pairs],
            [audio_vae.config.descriptors.index(d) for _, d in config.pairs],
        )
        self.untrained.to(self.device).eval()
        self.generator_params = [*mapper.parameters(), *self.objective.projections.parameters()]
        self.discriminator_params = [*self.objective.audio_disc.parameters(), *self.objective.comic_disc.parameters()]
        self.optimizer = torch.optim.AdamW(self.generator_params, config.learning_rate, betas=(0.5, 0.99),
                                           weight_decay=config.weight_decay)
        self.disc_optimizer = torch.optim.AdamW(self.discriminator_params, config.discriminator_learning_rate,
                                                betas=(0.5, 0.99), weight_decay=config.weight_decay)
        self.schedules = [cosine_lr(o, config) for o in (self.optimizer, self.disc_optimizer)]
        self.real_latents = latents.to(self.device)

    def parts(self) -> dict[str, Part]:
        o = self.objective
        return {"mapper": self.model, "projections": o.projections, "audio_disc": o.audio_disc,
                "comic_disc": o.comic_disc, "optimizer": self.optimizer, "disc_optimizer": self.disc_optimizer,
                "schedules": self.schedules}

    def batch(self, rng: np.random.Generator) -> Batch:
        """The step's comic items, noise and pool of real windows (standardised latents, descriptor quantiles)."""
        c, device, items = self.config, self.device, self.items
        chosen = self.train_items[torch.from_numpy(rng.integers(0, len(self.train_items), c.batch_size))]
        pool_size = min(c.pool_size, len(self.train_windows))
        pool = self.train_windows[torch.from_numpy(rng.choice(len(self.train_windows), pool_size, replace=False))]
        noise = torch.from_numpy(rng.standard_normal((c.batch_size, c.model.noise_dim), dtype=np.float32))
        return Batch(
            items.latents[chosen].to(device), items.conditions[chosen].to(device), noise.to(device),
            None if self.semantic is None else self.semantic.texts[chosen].to(device),
            self.model.standardise_audio(self.real_latents[pool.to(device)]), self.descriptor_q[pool].to(device),
            torch.Generator().manual_seed(int(rng.integers(2**31))),
        )

    def train_step(self, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        batch = self.batch(rng)
        if self.config.adversarial_weight > 0:
            optimizer_step(self.objective.discriminator_loss(batch), self.discriminator_params, self.disc_optimizer)
        terms = self.objective.generator_losses(batch)
        optimizer_step(terms["total"], self.generator_params, self.optimizer, self.schedules, self.config.grad_clip)
        return terms

    def evaluate(self) -> dict[str, float]:
        self.model.eval()
        metrics = evaluate(self.objective, self.untrained, self.items, self.heldout_items,
                           self.latents[self.heldout_windows])
        self.model.train()
        return metrics

    def export(self) -> dict[str, float]:
        config, used = self.config, self.semantic is not None
        metrics = self.final_metrics() | {"semantic_loss_used": float(used), "train_items": len(self.train_items),
                                          "heldout_items": len(self.heldout_items)}
        card = model_card(
            "bd2music latent mapper", summary(config, self.parameter_count(), used, self.step), config.model,
            self.cache, metrics, "bd2music train mapper --config train_config.json --out runs/mapper",
            ["latent-cyclegan", "bd2music"],
        ).replace("import Mapper", "import LatentMapper").replace("= Mapper.", "= LatentMapper.")
        export(self.model, self.out, config, self.cache, metrics, card + comic_card(self.pages))
        return metrics


def train_mapper(
    config: MapperTrainConfig, data_root: Path, out: Path, work: Path, device: str = "cpu", resume: bool = False
) -> dict[str, float]:
    """Train, checkpoint to ``work``, export to ``out``; return the held-out metrics."""
    return MapperSolver(config, data_root, out, work, device).run(resume)
