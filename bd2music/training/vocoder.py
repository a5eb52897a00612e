"""Train the mel -> waveform vocoder (``bd2music.models.vocoder``) on the sound clips.

    bd2music train vocoder --out weights/vocoder                       # full run (defaults below)
    bd2music train vocoder --out weights/vocoder --resume              # continue runs/vocoder
    bd2music train vocoder --smoke --out /tmp/vocoder --work /tmp/run   # seconds, tiny model

Each step draws ``batch_size`` excerpts of ``segment_frames`` mel frames from the training clips (clips picked
in proportion to their length, silence-padded when shorter, random gain), computes their log-mels and
resynthesises them. Loss: multi-resolution STFT distance (``evaluation.audio``) + ``mel_weight`` x mel L1, plus
an optional spectrogram GAN (hinge + feature matching; off by default: it doubles the step cost on a CPU).
Held-out clips are resynthesised every ``eval_every`` steps; the export reports them beside Griffin-Lim.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from bd2music.audio.griffin_lim import GriffinLim
from bd2music.audio.mel import MelSpectrogram
from bd2music.data.sounds import SoundCache
from bd2music.evaluation.audio import evaluate_vocoder, mel_l1, multi_resolution_stft_distance
from bd2music.models.vocoder import Vocoder, VocoderConfig
from bd2music.training.common import (
    DataConfig,
    cosine_lr,
    export,
    model_card,
    optimizer_step,
    prepare_cache,
    restore_training_state,
    save_training_state,
    seed_everything,
    setup_device,
)
from bd2music.training.losses import SpectrogramDiscriminator, discriminator_loss, generator_losses


@dataclass
class VocoderTrainConfig:
    """Everything that decides a vocoder run (saved as ``train_config.json``)."""

    model: VocoderConfig = field(default_factory=VocoderConfig)
    data: DataConfig = field(default_factory=DataConfig)
    steps: int = 40_000
    batch_size: int = 8
    segment_frames: int = 32  # excerpt length in mel frames (32 -> 8192 samples, 0.51 s)
    learning_rate: float = 5e-4  # AdamW peak
    betas: tuple[float, float] = (0.8, 0.99)
    weight_decay: float = 0.0
    warmup_steps: int = 500
    min_lr_ratio: float = 0.05  # cosine decay down to this fraction of the peak
    grad_clip: float = 10.0
    mel_weight: float = 1.0  # mel L1 (nats) beside the MR-STFT distance (weight 1)
    random_gain_db: float = 6.0  # excerpts are scaled by a gain drawn uniformly in [-random_gain_db, 0] dB
    gan: bool = False  # add the spectrogram discriminator (about 2x slower per step)
    gan_start_step: int = 0
    adversarial_weight: float = 1.0
    feature_weight: float = 2.0
    eval_every: int = 2000
    eval_clips: int = 24  # held-out clips resynthesised for the metrics
    eval_seconds: float = 4.0  # first seconds of each of them
    checkpoint_every: int = 500
    seed: int = 0
    threads: int = 0  # torch CPU threads (0 = torch's default)


SMOKE = {  # seconds on a CPU: a tiny model on 4 clips
    "model": {"dim": 32, "num_layers": 1},
    "data": {"max_clips": 4},
    "steps": 8,
    "batch_size": 2,
    "segment_frames": 32,
    "learning_rate": 2e-3,
    "warmup_steps": 1,
    "eval_every": 8,
    "eval_clips": 1,
    "eval_seconds": 1.0,
    "checkpoint_every": 4,
}


def sample_batch(
    cache: SoundCache, clips: list[int], rng: np.random.Generator, config: VocoderTrainConfig
) -> torch.Tensor:
    """(batch, samples) excerpts: clips drawn in proportion to length, random offset, zero-padded, random gain."""
    samples = config.segment_frames * cache.mel.hop_length
    lengths = np.array([max(cache.clips[i]["samples"], samples) for i in clips], dtype=np.float64)
    picks = rng.choice(len(clips), size=config.batch_size, p=lengths / lengths.sum())
    batch = np.zeros((config.batch_size, samples), dtype=np.float32)
    for row, pick in enumerate(picks):
        audio = cache.clip_audio(clips[pick])
        start = rng.integers(0, max(1, len(audio) - samples + 1))
        piece = audio[start : start + samples]
        batch[row, : len(piece)] = piece
    gains = 10 ** (-rng.uniform(0, config.random_gain_db, size=(config.batch_size, 1)) / 20)
    return torch.from_numpy(batch * gains.astype(np.float32))


def reconstruction_loss(
    model: Vocoder, mel: MelSpectrogram, reference: torch.Tensor, config: VocoderTrainConfig
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(estimate, MR-STFT distance, MR-STFT + mel_weight * mel L1) of resynthesising ``reference`` (batch, samples)."""
    estimate = model(mel(reference), length=reference.shape[-1])
    stft = multi_resolution_stft_distance(estimate, reference)["total"]
    return estimate, stft, stft + config.mel_weight * mel_l1(estimate, reference, config.model.mel)


def heldout_clips(cache: SoundCache, config: VocoderTrainConfig) -> list[np.ndarray]:
    """The first ``eval_seconds`` of ``eval_clips`` held-out clips spread evenly over the list (all categories)."""
    limit, clips = int(config.eval_seconds * cache.mel.sample_rate), cache.clip_indices("heldout")
    picks = sorted({round(x) for x in np.linspace(0, len(clips) - 1, min(config.eval_clips, len(clips)))})
    return [cache.clip_audio(clips[i])[:limit] for i in picks]


def train_vocoder(
    config: VocoderTrainConfig, data_root: Path, out: Path, work: Path, device: str = "cpu", resume: bool = False
) -> dict[str, float]:
    """Train, checkpoint to ``work``, export to ``out``; return the final held-out metrics."""
    torch_device = setup_device(device, config.threads)
    seed_everything(config.seed)
    cache = prepare_cache(data_root, config.data, work, windows=False, device=device)
    train_clips, heldout = cache.clip_indices("train"), heldout_clips(cache, config)
    model = Vocoder(config.model).to(torch_device)
    mel = MelSpectrogram(config.model.mel).to(torch_device)
    optimizer = torch.optim.AdamW(
        model.parameters(), config.learning_rate, betas=config.betas, weight_decay=config.weight_decay
    )
    schedule = cosine_lr(optimizer, config)
    discriminator = SpectrogramDiscriminator().to(torch_device) if config.gan else None
    d_optimizer = (
        torch.optim.AdamW(discriminator.parameters(), config.learning_rate, betas=config.betas)
        if discriminator is not None
        else None
    )
    parts = {"model": model, "optimizer": optimizer, "schedule": schedule}
    gan_parts = {} if discriminator is None else {"discriminator": discriminator, "d_optimizer": d_optimizer}
    step, history, losses = (
        restore_training_state(work, config, torch_device, optional=gan_parts, **parts) if resume else (0, [], [])
    )

    def evaluate() -> dict[str, float]:
        model.eval()
        metrics = evaluate_vocoder(model, heldout, config.model.mel, device)
        model.train()
        history.append({"step": step} | metrics)
        return metrics

    model.train()
    progress = tqdm(total=config.steps, initial=step, desc="vocoder", unit="step")
    while step < config.steps:
        rng = np.random.default_rng([config.seed, step])  # the batch of a step never depends on a resume
        reference = sample_batch(cache, train_clips, rng, config).to(torch_device)
        estimate, stft, loss = reconstruction_loss(model, mel, reference, config)
        adversarial = discriminator is not None and step >= config.gan_start_step
        if adversarial:
            d_optimizer.zero_grad(set_to_none=True)
            d_loss = discriminator_loss(discriminator(reference), discriminator(estimate.detach()))
            d_loss.backward()
            d_optimizer.step()
            g_adv, g_features = generator_losses(discriminator(reference), discriminator(estimate))
            loss = loss + config.adversarial_weight * g_adv + config.feature_weight * g_features
        optimizer_step(loss, model.parameters(), optimizer, schedule, config.grad_clip)
        step += 1
        losses.append(loss.item())
        progress.update()
        progress.set_postfix(loss=f"{loss.item():.3f}", stft=f"{stft.item():.3f}")
        if step % config.eval_every == 0 or step == config.steps:
            progress.write(f"step {step}: " + ", ".join(f"{k} {v:.4g}" for k, v in evaluate().items()))
        if step % config.checkpoint_every == 0 or step == config.steps:
            save_training_state(work, config, step, history, losses, **parts, **gan_parts)
    progress.close()

    model.eval()
    metrics = history[-1] if history and history[-1]["step"] == step else {"step": step} | evaluate()
    metrics = {k: v for k, v in metrics.items() if k != "step"}
    baseline = evaluate_vocoder(GriffinLim(config.model.mel, n_iter=32), heldout, config.model.mel, device)
    metrics |= {f"griffin_lim_{k}": v for k, v in baseline.items()}
    metrics |= {
        "steps": step,
        "train_loss_last_100": float(np.mean(losses[-100:])),
    }
    summary = (
        f"Mel -> waveform vocoder for bd2music (Vocos-style: ConvNeXt trunk predicting STFT magnitude and phase, "
        f"inverse STFT), {sum(p.numel() for p in model.parameters()) / 1e6:.2f} M parameters, "
        f"input: `bd2music.audio.mel` log-mel ({config.model.mel.n_mels} bands, {config.model.mel.sample_rate} Hz, "
        f"hop {config.model.mel.hop_length}). Trained {step} steps with the MR-STFT + mel L1 objective"
        f"{' and a spectrogram GAN' if config.gan else ''}."
    )
    card = model_card(
        "bd2music vocoder",
        summary,
        config.model,
        cache,
        metrics,
        "bd2music train vocoder --config train_config.json --out weights/vocoder",
        ["audio", "vocoder", "mel-spectrogram", "bd2music"],
    )
    export(model, out, config, cache, metrics, card)
    return metrics
