"""Train the mel -> waveform vocoder (``bd2music.models.vocoder``) on the sound clips.

    bd2music train vocoder --out runs/vocoder                       # full run (defaults below)
    bd2music train vocoder --out runs/vocoder --resume              # continue runs/vocoder
    bd2music train vocoder --smoke --out /tmp/vocoder --work /tmp/run   # seconds, tiny model

Each step draws ``batch_size`` excerpts of ``segment_frames`` mel frames from the training clips (clips picked
in proportion to their length, silence-padded when shorter, random gain), computes their log-mels and
resynthesises them. Loss: multi-resolution STFT distance (``evaluation.audio``) + ``mel_weight`` x mel L1
+ ``magnitude_weight`` x L1 of the predicted STFT log-magnitude against the excerpt's, plus an optional
spectrogram GAN (hinge + feature matching; off by default: it doubles the step cost on a CPU). ``init_from``
starts the run from another vocoder's weights (every tensor whose shape matches, e.g. the trunk of a vocoder
with predicted phases under a magnitude-only head):

    bd2music train vocoder --config configs/vocoder/cpu.json --out runs/vocoder   # phases predicted
    bd2music train vocoder --config configs/vocoder/gradient1.json --out runs/vocoder-gradient1  # then 2, 3

Held-out clips are resynthesised every ``eval_every`` steps; the export reports them beside Griffin-Lim.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from bd2music.audio.griffin_lim import GriffinLim
from bd2music.audio.mel import MelSpectrogram
from bd2music.data.sounds import SoundCache
from bd2music.evaluation.audio import evaluate_vocoder, mel_l1, multi_resolution_stft_distance
from bd2music.models.vocoder import Vocoder, VocoderConfig
from bd2music.training.card import export, model_card
from bd2music.training.common import DataConfig, prepare_cache
from bd2music.training.losses import SpectrogramDiscriminator, discriminator_loss, generator_losses
from bd2music.training.solver import Solver, cosine_lr, optimizer_step


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
    magnitude_weight: float = 0.0  # L1 of the predicted STFT log-magnitude (nats, floored at MAGNITUDE_FLOOR)
    init_from: str | None = None  # weights folder (or repo) whose shape-matching tensors start the run
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


MAGNITUDE_FLOOR = 1e-5  # |STFT| floor of the log-magnitude loss (-100 dB re a unit bin)

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
    """(estimate, MR-STFT distance, MR-STFT + mel_weight * mel L1 + magnitude_weight * log-magnitude L1) of
    resynthesising ``reference`` (batch, samples)."""
    spectrum = model.spectrum(mel(reference))
    estimate = model.synthesise(spectrum, length=reference.shape[-1])
    stft = multi_resolution_stft_distance(estimate, reference)["total"]
    loss = stft + config.mel_weight * mel_l1(estimate, reference, config.model.mel)
    if config.magnitude_weight:
        target = mel.spectrogram(reference).abs().clamp_min(MAGNITUDE_FLOOR).log()
        predicted = spectrum.abs().clamp_min(MAGNITUDE_FLOOR).log()
        loss = loss + config.magnitude_weight * (predicted - target).abs().mean()
    return estimate, stft, loss


def heldout_clips(cache: SoundCache, config: VocoderTrainConfig) -> list[np.ndarray]:
    """The first ``eval_seconds`` of ``eval_clips`` held-out clips spread evenly over the list (all categories)."""
    limit, clips = int(config.eval_seconds * cache.mel.sample_rate), cache.clip_indices("heldout")
    picks = sorted({round(x) for x in np.linspace(0, len(clips) - 1, min(config.eval_clips, len(clips)))})
    return [cache.clip_audio(clips[i])[:limit] for i in picks]


def start_from(model: Vocoder, source: Vocoder) -> None:
    """Copy every tensor of ``source`` whose name and shape ``model`` shares (a resumed run overwrites them)."""
    own = model.state_dict()
    shared = {k: v for k, v in source.state_dict().items() if k in own and own[k].shape == v.shape}
    model.load_state_dict(shared, strict=False)


class VocoderSolver(Solver):
    """The vocoder's run: random excerpts of the training clips, resynthesised; an optional spectrogram GAN."""

    name = "vocoder"
    postfix = ("total", "stft")

    def __init__(self, config: VocoderTrainConfig, data_root: Path, out: Path, work: Path, device: str = "cpu"):
        super().__init__(config, data_root, out, work, device)
        self.cache = prepare_cache(self.data_root, config.data, self.work, windows=False, device=device)
        self.train_clips, self.heldout = self.cache.clip_indices("train"), heldout_clips(self.cache, config)
        self.model = Vocoder(config.model).to(self.device)
        if config.init_from:
            start_from(self.model, Vocoder.from_pretrained(config.init_from))
        self.mel = MelSpectrogram(config.model.mel).to(self.device)
        self.optimizer = torch.optim.AdamW(
            self.model.parameters(), config.learning_rate, betas=config.betas, weight_decay=config.weight_decay
        )
        self.schedule = cosine_lr(self.optimizer, config)
        self.discriminator = SpectrogramDiscriminator().to(self.device) if config.gan else None
        self.d_optimizer = (
            torch.optim.AdamW(self.discriminator.parameters(), config.learning_rate, betas=config.betas)
            if self.discriminator is not None
            else None
        )

    def optional_parts(self) -> dict:
        if self.discriminator is None:
            return {}
        return {"discriminator": self.discriminator, "d_optimizer": self.d_optimizer}

    def train_step(self, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        c, discriminator = self.config, self.discriminator
        reference = sample_batch(self.cache, self.train_clips, rng, c).to(self.device)
        estimate, stft, loss = reconstruction_loss(self.model, self.mel, reference, c)
        if discriminator is not None and self.step >= c.gan_start_step:
            d_loss = discriminator_loss(discriminator(reference), discriminator(estimate.detach()))
            optimizer_step(d_loss, discriminator.parameters(), self.d_optimizer)
            g_adv, g_features = generator_losses(discriminator(reference), discriminator(estimate))
            loss = loss + c.adversarial_weight * g_adv + c.feature_weight * g_features
        self.update(loss)
        return {"total": loss, "stft": stft}

    def evaluate(self) -> dict[str, float]:
        self.model.eval()
        metrics = evaluate_vocoder(self.model, self.heldout, self.config.model.mel, self.device_name)
        self.model.train()
        return metrics

    def export(self) -> dict[str, float]:
        """Score Griffin-Lim on the same clips for reference, write the weights folder."""
        c = self.config
        metrics = self.final_metrics()
        baseline = evaluate_vocoder(GriffinLim(c.model.mel, n_iter=32), self.heldout, c.model.mel, self.device_name)
        metrics |= {f"griffin_lim_{k}": v for k, v in baseline.items()}
        mel = c.model.mel
        head = ("STFT magnitude and phase" if c.model.phase == "predicted" else
                "the STFT magnitude, its phase integrated from the magnitude's gradient (`bd2music.audio.phase`)")
        summary = (
            f"Mel -> waveform vocoder for bd2music (Vocos-style: ConvNeXt trunk predicting {head}, "
            f"inverse STFT), {self.parameter_count()}, input: `bd2music.audio.mel` log-mel ({mel.n_mels} bands, "
            f"{mel.sample_rate} Hz, hop {mel.hop_length}). Trained {self.step} steps with the MR-STFT + mel L1 "
            f"objective{' + log-magnitude L1' if c.magnitude_weight else ''}{' and a spectrogram GAN' if c.gan else ''}"
            f"{f', starting from {c.init_from}' if c.init_from else ''}."
        )
        card = model_card("bd2music vocoder", summary, c.model, self.cache, metrics,
                          "bd2music train vocoder --config train_config.json --out runs/vocoder",
                          ["audio", "vocoder", "mel-spectrogram", "bd2music"])
        export(self.model, self.out, c, self.cache, metrics, card)
        return metrics


def train_vocoder(
    config: VocoderTrainConfig, data_root: Path, out: Path, work: Path, device: str = "cpu", resume: bool = False
) -> dict[str, float]:
    """Train, checkpoint to ``work``, export to ``out``; return the final held-out metrics."""
    return VocoderSolver(config, data_root, out, work, device).run(resume)
