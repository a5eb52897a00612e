"""The semantic loss's embedder and text targets: the audio VAE's own semantic head when it was trained, else a
latent -> audio-text embedding head fitted here on the real windows (cached embeddings in the work folder)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn
from tqdm import tqdm

from bd2music.data.sounds import SoundCache
from bd2music.models.audio_vae import AudioVAE, PooledHead
from bd2music.training.audio_text import window_embeddings
from bd2music.training.mapper.config import MapperTrainConfig
from bd2music.training.mapper.data import ComicItems, file_digest
from bd2music.training.solver import optimizer_step


@dataclass
class Semantic:
    """``embed(latent) -> (B, D)`` unit vectors and the items' description embeddings (N, D)."""

    embed: nn.Module
    texts: torch.Tensor
    head_cosine: float | None = None  # held-out cosine of a head fitted here (None: the audio VAE's own head)


class VAESemanticHead(nn.Module):
    """The audio VAE's own semantic head (``AudioVAE.embed``)."""

    def __init__(self, audio_vae: AudioVAE) -> None:
        super().__init__()
        self.audio_vae = audio_vae

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        return self.audio_vae.embed(latent)


class FittedSemanticHead(nn.Module):
    """A latent -> unit embedding head (``PooledHead``) fitted to an audio-text model's embeddings."""

    def __init__(self, channels: int, hidden: int, dim: int) -> None:
        super().__init__()
        self.head = PooledHead(channels, hidden, dim)

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.head(latent), dim=-1)


def vae_semantic_trained(folder: str | Path) -> bool:
    """Whether the audio VAE's metrics say its semantic head was trained (with it, or by ``train audio-heads``)."""
    file = Path(folder) / "metrics.json"
    metrics = json.loads(file.read_text()) if file.is_file() else {}
    return bool(metrics.get("semantic_targets", 0)) or "heldout_cosine" in metrics


def semantic_setup(
    config: MapperTrainConfig, cache: SoundCache, latents: torch.Tensor, audio_vae: AudioVAE, items: ComicItems,
    work: Path, device: torch.device,
) -> Semantic | None:
    """The semantic loss's embedder and text targets, or None (with a note) when it cannot run."""
    if config.semantic_weight <= 0:
        return None
    folder = Path(config.audio_text)
    if not (folder / "model.safetensors").is_file():
        tqdm.write(f"mapper: no audio-text model in {folder}: semantic loss switched off")
        return None
    from bd2music.models.audio_text import AudioTextModel

    audio_text = AudioTextModel.from_pretrained(folder, device=device)
    unique = sorted(set(items.descriptions))
    with torch.inference_mode():
        embedded = audio_text.embed_text(unique)
    texts = embedded[torch.tensor([unique.index(text) for text in items.descriptions])]
    dim = audio_text.config.embed_dim
    if audio_vae.semantic_head is not None and audio_vae.config.semantic_dim == dim and vae_semantic_trained(
        config.audio_vae
    ):
        return Semantic(VAESemanticHead(audio_vae), texts)
    tqdm.write("mapper: the audio VAE has no trained semantic head: fitting a latent -> audio-text head")
    targets = cached_window_embeddings(config, cache, audio_text, work)
    head = FittedSemanticHead(latents.shape[1], audio_vae.config.head_dim, dim).to(device)
    cosine = fit_semantic_head(head, latents, targets, cache, config, device)
    tqdm.write(f"mapper: semantic head fitted, held-out cosine {cosine:.3f}")
    return Semantic(head.requires_grad_(False).eval(), texts, cosine)


@torch.inference_mode()
def cached_window_embeddings(config: MapperTrainConfig, cache: SoundCache, audio_text, work: Path) -> torch.Tensor:
    """Audio-text embeddings of every cache window, cached per audio-text model in ``work``."""
    cache_file = work / f"window_embeddings-{file_digest(config.audio_text)}-{len(cache.window_clip)}.safetensors"
    if cache_file.is_file():
        return load_file(str(cache_file))["embeddings"]
    windows = torch.arange(len(cache.window_clip))
    embeddings = window_embeddings(audio_text, cache, windows, audio_text.logit_scale.device)
    save_file({"embeddings": embeddings.contiguous()}, str(cache_file))
    return embeddings


def fit_semantic_head(head: FittedSemanticHead, latents: torch.Tensor, targets: torch.Tensor, cache: SoundCache,
                      config: MapperTrainConfig, device: torch.device) -> float:
    """Cosine regression of the training windows' embeddings from their latents (a few hundred plain steps
    inside the mapper's setup, before its run); returns the held-out cosine."""
    train, heldout = cache.window_indices("train"), cache.window_indices("heldout")
    optimizer = torch.optim.AdamW(head.parameters(), 2e-3, weight_decay=1e-4)
    for step in tqdm(range(config.semantic_head_steps), desc="semantic head", unit="step"):
        rng = np.random.default_rng([config.seed, step, 7])
        batch = train[torch.from_numpy(rng.integers(0, len(train), 128))]
        loss = (1 - (head(latents[batch].to(device)) * targets[batch].to(device)).sum(-1)).mean()
        optimizer_step(loss, head.parameters(), optimizer)
    with torch.inference_mode():
        return float((head(latents[heldout].to(device)) * targets[heldout].to(device)).sum(-1).mean())
