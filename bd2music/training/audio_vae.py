"""Train the audio VAE (``bd2music.models.audio_vae``) with its descriptor and semantic heads.

    bd2music train audio-vae --out runs/audio_vae                        # full run (defaults below)
    bd2music train audio-vae --out runs/audio_vae --resume               # continue runs/audio-vae
    bd2music train audio-vae --smoke --out /tmp/vae --work /tmp/run          # seconds, tiny model
    bd2music train audio-vae --config configs/audio_vae/pitch_decoder.json --out runs/audio_vae_pitch_decoder
                                                  # the decoder of weights/audio_vae_pitch fine-tuned, encoder frozen

Data: the cache's fixed windows (``window_frames`` log-mel frames every ``cache_hop_frames``, the last one
end-aligned, so each clip is seen from several offsets) with every window's summary descriptors. Loss::

    l1_weight * |x - x'| + l2_weight * (x - x')^2       on log-mels standardised per band (training-set stats)
    + contrast_weight * |diff_f(x - x')|                 the error's steps between neighbouring bands: a blurred
                                                         harmonic (a peak filled in) costs more than a level offset
    + time_contrast_weight * |diff_t(x - x')|            the same between neighbouring frames: note edges, onsets
    + beta * min(1, step / beta_warmup_steps) * KL      mean KL per latent element, nats
    + descriptor_weight * MSE(head(z), standardised descriptors)
    + semantic_weight * (1 - cos(head(z), target))      only with targets: CACHE/semantic.safetensors

Semantic targets (a tensor ``embeddings`` of shape (windows, semantic_dim), in the cache's window order) come
from the contrastive audio-text model; without them the semantic head is not trained (and says so).

Fine-tuning: ``init_from`` starts from a weights folder (its model config and training-set statistics are kept);
with ``freeze_encoder`` only the decoder learns, so the encoder's latents, the heads on them and any model trained
on them (the diffusion model) stay valid. ``validation_every`` keeps every Nth training clip out of the updates and
scores those instead of the held-out clips, which then stay for evaluation only.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from tqdm import tqdm

from bd2music.data.sounds import SoundCache
from bd2music.errors import InputError
from bd2music.models.audio_vae import AudioVAE, AudioVAEConfig, transform_descriptors
from bd2music.training.card import export, model_card
from bd2music.training.common import DataConfig, mel_statistics, prepare_cache
from bd2music.training.solver import Solver, cosine_lr


@dataclass
class AudioVAETrainConfig:
    """Everything that decides an audio VAE run (saved as ``train_config.json``)."""

    model: AudioVAEConfig = field(default_factory=AudioVAEConfig)
    data: DataConfig = field(default_factory=DataConfig)
    cache_hop_frames: int = 64  # training windows start every 64 frames (1.02 s): 4x overlapping views of a clip
    steps: int = 15_000
    batch_size: int = 16
    learning_rate: float = 5e-4  # AdamW peak
    weight_decay: float = 1e-4
    warmup_steps: int = 500
    min_lr_ratio: float = 0.05
    grad_clip: float = 1.0
    l1_weight: float = 1.0
    l2_weight: float = 1.0
    contrast_weight: float = 0.0  # L1 of the error's differences between neighbouring mel bands (peaks, harmonics)
    time_contrast_weight: float = 0.0  # L1 of the error's differences between neighbouring frames (note edges)
    music_weight: float = 1.0  # music clips' windows are drawn this many times as often as the others'
    validation_every: int = 0  # every Nth training clip is scored instead of the held-out ones, never trained on
    init_from: str | None = None  # a weights folder to start from: its config.json replaces `model`
    freeze_encoder: bool = False  # with init_from: train the decoder only (encoder, heads, statistics fixed)
    beta: float = 1e-3  # KL weight (mean nats per latent element vs mean error per standardised mel bin)
    beta_warmup_steps: int = 3000  # beta ramps up linearly from 0
    descriptor_weight: float = 0.1
    semantic_weight: float = 0.1  # used only when semantic targets exist
    eval_every: int = 1000
    eval_windows: int = 512  # held-out windows scored (all if fewer)
    checkpoint_every: int = 500
    seed: int = 0
    threads: int = 0  # torch CPU threads (0 = torch's default)


SMOKE = {  # seconds on a CPU: a tiny model on 4 clips, 0.5 s windows
    "model": {
        "window_frames": 32,
        "overlap_frames": 8,
        "channels": [16, 24],
        "blocks_per_stage": 1,
        "latent_channels": 4,
        "semantic_dim": 8,
        "head_dim": 16,
    },
    "data": {"max_clips": 4},
    "cache_hop_frames": 16,
    "steps": 8,
    "batch_size": 4,
    "learning_rate": 2e-3,
    "warmup_steps": 1,
    "beta_warmup_steps": 4,
    "eval_every": 8,
    "eval_windows": 8,
    "checkpoint_every": 4,
}


def statistics(cache: SoundCache, windows: torch.Tensor, targets: torch.Tensor, model: AudioVAE):
    """Per-band log-mel mean/std and transformed descriptor mean/std over the training windows."""
    transformed = transform_descriptors(targets[windows], model.log_mask.cpu())
    return *mel_statistics(cache, windows), transformed.mean(dim=0), transformed.std(dim=0).clamp_min(1e-6)


def semantic_targets(cache: SoundCache, config: AudioVAETrainConfig) -> torch.Tensor | None:
    path = cache.folder / "semantic.safetensors"
    if config.semantic_weight <= 0 or not config.model.semantic_dim or not path.is_file():
        return None
    embeddings = load_file(str(path))["embeddings"].float()
    if embeddings.shape != (len(cache.window_clip), config.model.semantic_dim):
        raise InputError(
            f"{path}: embeddings {tuple(embeddings.shape)}, expected "
            f"({len(cache.window_clip)}, {config.model.semantic_dim})"
        )
    return F.normalize(embeddings, dim=-1)


@torch.inference_mode()
def posterior_means(
    model: AudioVAE, cache: SoundCache, windows: torch.Tensor, device: torch.device, limit: int = 4096
) -> torch.Tensor:
    """Posterior means (windows, *latent_shape) of at most ``limit`` windows spread over ``windows``."""
    if len(windows) > limit:
        windows = windows[torch.linspace(0, len(windows) - 1, limit).round().long().unique()]
    return torch.cat([model.encode(cache.window_mels(chunk).to(device)).mean.cpu() for chunk in windows.split(128)])


def losses(
    model: AudioVAE,
    mels: torch.Tensor,
    descriptors: torch.Tensor,
    semantic: torch.Tensor | None,
    config: AudioVAETrainConfig,
    beta: float,
    sample: bool = True,
) -> dict[str, torch.Tensor]:
    """The loss terms of one batch and their weighted ``total``."""
    out = model(mels, sample=sample)
    error = (out.reconstruction - mels) / model.mel_std[:, None]
    terms = {
        "l1": error.abs().mean(),
        "l2": error.square().mean(),
        "contrast": error.diff(dim=1).abs().mean(),
        "time_contrast": error.diff(dim=2).abs().mean(),
        "kl": out.posterior.kl().mean(),
        "descriptors": F.mse_loss(out.descriptors, model.standardise_descriptors(descriptors)),
    }
    total = config.l1_weight * terms["l1"] + config.l2_weight * terms["l2"] + beta * terms["kl"]
    total = total + config.contrast_weight * terms["contrast"] + config.time_contrast_weight * terms["time_contrast"]
    total = total + config.descriptor_weight * terms["descriptors"]
    if semantic is not None and out.semantic is not None:
        terms["semantic"] = (1 - (out.semantic * semantic).sum(dim=-1)).mean()
        total = total + config.semantic_weight * terms["semantic"]
    terms["mel_l1_nats"] = (out.reconstruction - mels).abs().mean()
    return terms | {"total": total}


@torch.inference_mode()
def evaluate(
    model: AudioVAE,
    cache: SoundCache,
    windows: torch.Tensor,
    targets: torch.Tensor,
    semantic: torch.Tensor | None,
    config: AudioVAETrainConfig,
    device: torch.device,
) -> dict[str, float]:
    """Held-out metrics on posterior means: mel L1 (nats), KL, descriptor MSE and R^2 per descriptor
    (1 - MSE / variance of the standardised targets: 0 = predicting the mean, 1 = exact)."""
    model.eval()
    if len(windows) > config.eval_windows:  # spread over the list, so every category is scored
        windows = windows[torch.linspace(0, len(windows) - 1, config.eval_windows).round().long().unique()]
    sums: dict[str, float] = {}
    predicted = []
    for chunk in windows.split(64):
        mels = cache.window_mels(chunk).to(device)
        terms = losses(
            model,
            mels,
            targets[chunk].to(device),
            None if semantic is None else semantic[chunk].to(device),
            config,
            config.beta,
            sample=False,
        )
        for key, value in terms.items():
            sums[key] = sums.get(key, 0.0) + float(value) * len(chunk) / len(windows)
        predicted.append(model.descriptor_head(model.encode(mels).mean).cpu())
    model.train()
    truth = model.standardise_descriptors(targets[windows].to(device)).cpu()
    residual = (torch.cat(predicted) - truth).square().mean(dim=0)
    r2 = 1 - residual / truth.var(dim=0, unbiased=False).clamp_min(1e-8)
    metrics = {f"heldout_{k}": v for k, v in sums.items() if k != "total"}
    metrics |= {f"r2_{name}": float(v) for name, v in zip(config.model.descriptors, r2)}
    return metrics | {"r2_mean": float(r2.mean())}


def split_windows(cache: SoundCache, validation_every: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(windows trained on, windows scored): the training clips and the held-out ones, or with
    ``validation_every`` the training clips but every Nth of them, and those."""
    if not validation_every:
        return cache.window_indices("train"), cache.window_indices("heldout")
    kept = torch.tensor(cache.clip_indices("train")[validation_every - 1 :: validation_every], dtype=torch.long)
    windows = cache.window_indices("train")
    scored = torch.isin(cache.window_clip[windows], kept)
    return windows[~scored], windows[scored]


def window_probabilities(cache: SoundCache, windows: torch.Tensor, music_weight: float) -> np.ndarray | None:
    """Drawing probabilities of ``windows``, music clips' ``music_weight`` times the others'; None when even."""
    if music_weight == 1.0:
        return None
    music = np.array([clip["category"] == "music" for clip in cache.clips])[cache.window_clip[windows].numpy()]
    weights = np.where(music, music_weight, 1.0)
    return weights / weights.sum()


class AudioVAESolver(Solver):
    """The audio VAE's run: cached windows with their descriptors (and semantic targets where they exist)."""

    name = "audio-vae"
    postfix = ("total", "l1", "kl")

    def __init__(self, config: AudioVAETrainConfig, data_root: Path, out: Path, work: Path, device: str = "cpu"):
        super().__init__(config, data_root, out, work, device)
        if config.freeze_encoder and not config.init_from:
            raise InputError("freeze_encoder needs init_from: a weights folder whose encoder is kept")
        if config.init_from:  # its architecture and statistics; a resumed run then loads its checkpoint over it
            self.model = AudioVAE.from_pretrained(config.init_from, device=self.device)
            config.model = self.model.config
        self.cache = prepare_cache(
            self.data_root, config.data, self.work, device=device, window_frames=config.model.window_frames,
            hop_frames=config.cache_hop_frames, mel=config.model.mel,
        )
        self.train_windows, self.heldout_windows = split_windows(self.cache, config.validation_every)
        self.window_p = window_probabilities(self.cache, self.train_windows, config.music_weight)
        self.targets = self.cache.descriptor_targets(config.model.descriptors)
        self.semantic = semantic_targets(self.cache, config)
        if self.semantic is None:
            tqdm.write("audio-vae: no semantic targets (CACHE/semantic.safetensors): semantic head not trained")
        if not config.init_from:
            self.model = AudioVAE(config.model).to(self.device)
            self.model.set_statistics(*statistics(self.cache, self.train_windows, self.targets, self.model))
        if config.freeze_encoder:
            for part in (self.model.encoder, self.model.descriptor_head, self.model.semantic_head):
                if part is not None:
                    part.requires_grad_(False)
        self.optimizer = torch.optim.AdamW([p for p in self.model.parameters() if p.requires_grad],
                                           config.learning_rate, weight_decay=config.weight_decay)
        self.schedule = cosine_lr(self.optimizer, config)

    def train_step(self, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        c, device = self.config, self.device
        drawn = (rng.integers(0, len(self.train_windows), c.batch_size) if self.window_p is None
                 else rng.choice(len(self.train_windows), c.batch_size, p=self.window_p))
        batch = self.train_windows[torch.from_numpy(drawn)]
        torch.manual_seed(int(rng.integers(2**62)))  # the posterior's noise, drawn as an unbroken run draws it
        beta = c.beta * min(1.0, self.step / max(1, c.beta_warmup_steps))
        semantic = None if self.semantic is None else self.semantic[batch].to(device)
        terms = losses(self.model, self.cache.window_mels(batch).to(device), self.targets[batch].to(device),
                       semantic, c, beta)
        self.update(terms["total"])
        return terms

    def evaluate(self) -> dict[str, float]:
        return evaluate(self.model, self.cache, self.heldout_windows, self.targets, self.semantic, self.config,
                        self.device)

    def export(self) -> dict[str, float]:
        """Fit the sampling prior, time an encode, write the weights folder."""
        model, c = self.model, self.config.model
        if not self.config.freeze_encoder:  # a frozen encoder keeps the prior it came with
            model.set_latent_statistics(posterior_means(model, self.cache, self.train_windows, self.device))
        metrics = self.final_metrics()
        start = time.perf_counter()
        with torch.inference_mode():
            model.encode(self.cache.window_mels(self.heldout_windows[:1]).to(self.device))
        metrics |= {"encode_seconds_per_window": time.perf_counter() - start,
                    "semantic_targets": float(self.semantic is not None)}
        summary = (
            f"Audio VAE for bd2music: a {c.window_frames}-frame log-mel window "
            f"({c.window_frames / c.mel.frames_per_second:.2f} s, `bd2music.audio.mel`) <-> a latent of shape "
            f"{c.latent_shape} (1-D ConvNeXt encoder/decoder), beta = {self.config.beta:g}, with a descriptor head "
            f"({', '.join(c.descriptors)}) and a {c.semantic_dim}-d semantic head "
            f"({'trained' if self.semantic is not None else 'NOT trained: no semantic targets yet'}). "
            f"{self.parameter_count()}, {self.step} steps"
            + (f", the decoder only, from {self.config.init_from}." if self.config.freeze_encoder
               else f", from {self.config.init_from}." if self.config.init_from else ".")
        )
        card = model_card("bd2music audio VAE", summary, c, self.cache, metrics,
                          "bd2music train audio-vae --config train_config.json --out runs/audio_vae",
                          ["audio", "vae", "mel-spectrogram", "bd2music"])
        export(model, self.out, self.config, self.cache, metrics, card)
        if self.config.validation_every:  # the training clips scored instead of the held-out ones
            scored = sorted(set(self.cache.window_clip[self.heldout_windows].tolist()))
            (self.out / "validation.txt").write_text("".join(f"{self.cache.clips[i]['name']}\n" for i in scored))
        return metrics


def train_audio_vae(
    config: AudioVAETrainConfig, data_root: Path, out: Path, work: Path, device: str = "cpu", resume: bool = False
) -> dict[str, float]:
    """Train, checkpoint to ``work``, export to ``out``; return the final held-out metrics."""
    return AudioVAESolver(config, data_root, out, work, device).run(resume)
