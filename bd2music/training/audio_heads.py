"""Train the semantic head (and fine-tune the descriptor head) of a trained, frozen audio VAE.

    bd2music train audio-heads --out runs/audio_vae_heads                 # weights/audio_vae + weights/audio_text
    bd2music train audio-heads --config heads.json --out OUT                 # {"audio_vae": "runs/export/audio_vae"}

The VAE's encoder and decoder stay as they are: the posterior means of every cached window (the VAE's own
window length, ``cache_hop_frames`` apart) are computed once, and so are the targets, the audio embeddings of the
same windows: from the audio-text model (``bd2music.models.audio_text``, ``embed_audio`` of the window's log-mel)
or, when ``clap`` names a pretrained LAION-CLAP checkpoint, from CLAP (the window's audio). The targets are also
written to ``CACHE/semantic.safetensors``, the file the audio-VAE trainer reads. Then only the heads train::

    (1 - cos(semantic_head(z), target)) + descriptor_weight * MSE(descriptor_head(z), standardised descriptors)

A semantic head whose size differs from the targets' is replaced by a new one (``semantic_dim`` follows).
Held-out metrics: mean cosine agreement between head and target (and that of the best constant, the mean training
target), descriptor R^2 per name, and, with audio-text targets, text-to-audio retrieval with the head's clip
embeddings (as in ``bd2music.training.audio_text``). The whole VAE is written to ``--out`` with its new heads;
the source VAE's ``train_config.json`` and ``metrics.json`` are kept as ``vae_train_config.json`` and merged.
Nothing to resume: the heads train in minutes.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from tqdm import tqdm

from bd2music.data.sounds import SoundCache
from bd2music.errors import InputError
from bd2music.hub import resolve_component
from bd2music.models.audio_text import AudioTextModel, load_clap
from bd2music.models.audio_vae import DEFAULT_DESCRIPTORS, AudioVAE
from bd2music.training.audio_text import clip_embeddings, text_to_audio_recall, window_embeddings
from bd2music.training.card import export, model_card
from bd2music.training.common import DataConfig, prepare_cache
from bd2music.training.solver import Solver, cosine_lr


@dataclass
class AudioHeadsTrainConfig:
    """Everything that decides a heads run (saved as ``train_config.json``)."""

    audio_vae: str | None = None  # the trained VAE's folder (None: the repository's weights/audio_vae)
    audio_text: str | None = None  # the audio-text model's folder (None: weights/audio_text)
    clap: str | None = None  # a LAION-CLAP checkpoint (.pt file, or ClapModel folder / cached Hub id): its targets
    clap_audio_model: str = "HTSAT-tiny"  # audio tower of a laion_clap .pt checkpoint
    data: DataConfig = field(default_factory=DataConfig)
    cache_hop_frames: int = 64  # windows every 1.02 s (as the audio VAE's training)
    train_descriptor_head: bool = False  # fine-tune the descriptor head too (held-out R^2 fell slightly)
    descriptor_weight: float = 1.0
    steps: int = 600  # held-out cosine peaks early, then falls (overfitting)
    batch_size: int = 64
    learning_rate: float = 1e-3  # AdamW peak
    weight_decay: float = 1e-4
    warmup_steps: int = 100
    min_lr_ratio: float = 0.05
    grad_clip: float = 1.0
    eval_every: int = 200
    seed: int = 0
    threads: int = 1  # torch CPU threads (0 = torch's default)


SMOKE = {"data": {"max_clips": 8}, "cache_hop_frames": 16, "train_descriptor_head": True, "steps": 30, "batch_size": 8,
         "warmup_steps": 1, "learning_rate": 3e-3, "eval_every": 30}


@torch.inference_mode()
def posterior_means(vae: AudioVAE, cache: SoundCache, device: torch.device) -> torch.Tensor:
    """The VAE's posterior means of every cached window: (windows, *latent_shape) on the CPU."""
    windows = torch.arange(len(cache.window_clip))
    return torch.cat([vae.encode(cache.window_mels(chunk).to(device)).mean.cpu() for chunk in windows.split(64)])


def window_audio(cache: SoundCache, windows: torch.Tensor) -> np.ndarray:
    """The samples of cached windows (len(windows), window samples), zero-padded past a clip's end."""
    length = cache.window_frames * cache.mel.hop_length
    audio = np.zeros((len(windows), length), dtype=np.float32)
    for row, window in enumerate(windows.tolist()):
        start = int(cache.window_start[window]) * cache.mel.hop_length
        piece = cache.clip_audio(int(cache.window_clip[window]))[start : start + length]
        audio[row, : len(piece)] = piece
    return audio


def clap_targets(config: AudioHeadsTrainConfig, cache: SoundCache, device: str) -> torch.Tensor:
    """CLAP audio embeddings of every cached window (windows, clap dim)."""
    clap = load_clap(config.clap, config.clap_audio_model, device)  # type: ignore[arg-type]
    windows = torch.arange(len(cache.window_clip))
    return torch.cat([clap.embed(window_audio(cache, chunk), cache.mel.sample_rate) for chunk in windows.split(16)])


def with_semantic_dim(vae: AudioVAE, dim: int) -> AudioVAE:
    """``vae`` itself if its semantic head has ``dim`` outputs, else a copy with a new semantic head of ``dim``."""
    if vae.config.semantic_dim == dim:
        return vae
    tqdm.write(f"audio-heads: semantic head {vae.config.semantic_dim} -> {dim} outputs (new head)")
    resized = AudioVAE(replace(vae.config, semantic_dim=dim))
    kept = {k: v for k, v in vae.state_dict().items() if not k.startswith("semantic_head.")}
    missing, _ = resized.load_state_dict(kept, strict=False)
    assert all(name.startswith("semantic_head.") for name in missing)
    return resized.to(vae.mel_mean.device)


@torch.inference_mode()
def evaluate(
    vae: AudioVAE,
    latents: torch.Tensor,
    targets: torch.Tensor,
    descriptors: torch.Tensor,
    windows: torch.Tensor,
    constant: torch.Tensor,
    device: torch.device,
) -> dict[str, float]:
    """Held-out cosine agreement (head vs target; the constant mean target for reference) and descriptor R^2
    (1 - MSE / variance of the standardised targets: 0 = predicting the mean, 1 = exact)."""
    vae.eval()
    z = latents[windows].to(device)
    embedded = vae.embed(z).cpu()  # type: ignore[union-attr]
    truth = vae.standardise_descriptors(descriptors[windows].to(device)).cpu()
    residual = (vae.descriptor_head(z).cpu() - truth).square().mean(dim=0)
    r2 = 1 - residual / truth.var(dim=0, unbiased=False).clamp_min(1e-8)
    vae.train()
    metrics = {
        "heldout_cosine": (embedded * targets[windows]).sum(dim=-1).mean().item(),
        "heldout_cosine_constant": (targets[windows] @ constant).mean().item(),
    }
    metrics |= {f"r2_{name}": float(v) for name, v in zip(vae.config.descriptors, r2)}
    return metrics | {"r2_mean": float(r2.mean())}


class AudioHeadsSolver(Solver):
    """The heads' run on frozen posterior means: no checkpoints (minutes), an evaluation before the first step."""

    name = "audio-heads"
    hidden_metrics = tuple(f"r2_{name}" for name in DEFAULT_DESCRIPTORS)

    def __init__(self, config: AudioHeadsTrainConfig, data_root: Path, out: Path, work: Path, device: str = "cpu"):
        super().__init__(config, data_root, out, work, device)
        self.vae_folder = resolve_component("audio_vae", config.audio_vae)
        vae = AudioVAE.from_pretrained(self.vae_folder, device=self.device)
        self.cache = cache = prepare_cache(
            self.data_root, config.data, self.work, device=device, window_frames=vae.config.window_frames,
            hop_frames=config.cache_hop_frames, mel=vae.config.mel,
        )
        self.train_windows, self.heldout_windows = cache.window_indices("train"), cache.window_indices("heldout")
        self.audio_text = None
        if config.clap:
            self.targets = clap_targets(config, cache, device)
        else:
            self.audio_text = AudioTextModel.from_pretrained(config.audio_text, device=self.device)
            if self.audio_text.config.mel != vae.config.mel:
                raise InputError("the audio-text model and the audio VAE use different mel settings")
            self.targets = window_embeddings(self.audio_text, cache, torch.arange(len(cache.window_clip)), self.device)
        save_file({"embeddings": self.targets.contiguous()}, str(cache.folder / "semantic.safetensors"))
        self.latents = posterior_means(vae, cache, self.device)
        self.descriptors = cache.descriptor_targets(vae.config.descriptors)
        self.constant = F.normalize(self.targets[self.train_windows].mean(dim=0), dim=0)

        self.model = vae = with_semantic_dim(vae, self.targets.shape[1])
        vae.requires_grad_(False)
        heads = [vae.semantic_head] + ([vae.descriptor_head] if config.train_descriptor_head else [])
        self.head_parameters = [p for head in heads for p in head.parameters()]  # type: ignore[union-attr]
        for parameter in self.head_parameters:
            parameter.requires_grad_(True)
        self.optimizer = torch.optim.AdamW(self.head_parameters, config.learning_rate, weight_decay=config.weight_decay)
        self.schedule = cosine_lr(self.optimizer, config)
        self.history.append({"step": 0} | self.evaluate())

    def batch_rng(self) -> np.random.Generator:
        return np.random.default_rng([self.config.seed, self.step + 1])  # its steps were counted from 1

    def train_step(self, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        c, vae, device = self.config, self.model, self.device
        batch = self.train_windows[torch.from_numpy(rng.integers(0, len(self.train_windows), c.batch_size))]
        z = self.latents[batch].to(device)
        loss = (1 - (vae.embed(z) * self.targets[batch].to(device)).sum(dim=-1)).mean()  # type: ignore[operator]
        if c.train_descriptor_head:
            truth = vae.standardise_descriptors(self.descriptors[batch].to(device))
            loss = loss + c.descriptor_weight * F.mse_loss(vae.descriptor_head(z), truth)
        self.update(loss, self.head_parameters)
        return {"total": loss}

    def evaluate(self) -> dict[str, float]:
        return evaluate(self.model, self.latents, self.targets, self.descriptors, self.heldout_windows, self.constant,
                        self.device)

    def export(self) -> dict[str, float]:
        """Retrieval with the head's embeddings, the source VAE's metrics merged, the whole VAE written."""
        c, vae, cache, first = self.config, self.model, self.cache, self.history[0]
        metrics = {k: v for k, v in self.history[-1].items() if k != "step"}
        metrics |= {"heldout_cosine_before": first["heldout_cosine"], "r2_mean_before": first["r2_mean"]}
        if self.audio_text is not None:  # the head's clip embeddings as a retrieval gallery for the audio-text queries
            with torch.inference_mode():
                embedded = vae.embed(self.latents[self.heldout_windows].to(self.device)).cpu()  # type: ignore
            clip_ids, gallery = clip_embeddings(cache, self.heldout_windows, embedded)
            metrics |= text_to_audio_recall(self.audio_text, cache, clip_ids, gallery, prefix="heldout_head_")
        metrics |= {"heads_steps": c.steps, "heads_loss_first_100": self.mean_loss(100),
                    "heads_loss_last_100": self.mean_loss(-100)}
        source_metrics = self.vae_folder / "metrics.json"
        vae_metrics = json.loads(source_metrics.read_text()) if source_metrics.is_file() else {}
        vae_metrics.pop("semantic_targets", None)  # the VAE's own run had none; its head is trained now
        metrics = vae_metrics | metrics
        source = f"CLAP checkpoint {c.clap}" if c.clap else "the audio-text model"
        summary = (
            f"The audio VAE of {self.vae_folder} with its semantic head ({vae.config.semantic_dim}-d) trained on "
            f"frozen posterior means to predict the audio embeddings of {source}"
            + (" and its descriptor head fine-tuned" if c.train_descriptor_head else "")
            + f" ({c.steps} steps); encoder and decoder unchanged. Held-out cosine agreement "
            f"{metrics['heldout_cosine']:.3f} (best constant: {metrics['heldout_cosine_constant']:.3f})."
        )
        card = model_card("bd2music audio VAE (semantic head trained)", summary, vae.config, cache, metrics,
                          "bd2music train audio-heads --config train_config.json --out runs/audio_vae",
                          ["audio", "vae", "mel-spectrogram", "clap", "bd2music"])
        export(vae, self.out, c, cache, metrics, card)
        if (self.vae_folder / "train_config.json").is_file():
            shutil.copyfile(self.vae_folder / "train_config.json", self.out / "vae_train_config.json")
        return metrics


def train_audio_heads(
    config: AudioHeadsTrainConfig, data_root: Path, out: Path, work: Path, device: str = "cpu", resume: bool = False
) -> dict[str, float]:
    """Compute latents and targets, train the heads, export the whole VAE to ``out``; return held-out metrics."""
    return AudioHeadsSolver(config, data_root, out, work, device).run(resume)
