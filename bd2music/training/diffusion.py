"""Train the latent diffusion model (``bd2music.models.diffusion``) on the audio VAE's latents of the sound clips.

    bd2music train diffusion --out runs/diffusion                     # full run (defaults below), resumable:
    bd2music train diffusion --out runs/diffusion --resume            # continue runs/diffusion's checkpoint
    bd2music train diffusion --smoke --out /tmp/diffusion --work /tmp/run   # seconds, tiny model on 8 clips

Once per work folder (``WORK/latents/``, kept while the clips, the audio VAE, the audio-text model and the window
settings stay the same), every training and held-out clip is cut into windows of the audio VAE's length every
``hop_frames`` mel frames (a clip shorter than a window is looped to fill it, so that no window is mostly
silence), and each window gets its latent (the VAE's posterior mean), its audio-text embedding (``embed_audio`` of
its log-mel), and its descriptors (``config.model.descriptors``, measured on its audio); every training clip's
captions (``bd2music.training.audio_text.clip_texts``) get their ``embed_text`` embeddings.

Each step draws ``batch_size`` training windows, a diffusion time and noise for each, and regresses the model's
prediction (v by default) with MSE. The embedding condition is the window's audio embedding, or, for a share
``text_share`` of the windows, one of its clip's caption embeddings (prompts at inference are text), and for a
share ``category_share`` of those, a caption that names only the clip's category (``category_templates``); each
condition is dropped (the null vector) with its own probability, so that classifier-free guidance and
text-only prompts work. An exponential moving average of the weights is kept and exported. Held-out: the
denoising loss at fixed times and noise, with and without the conditions (their gap is what the conditions tell).
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from bd2music.audio.descriptors import compute_descriptors
from bd2music.audio.load import Clip
from bd2music.audio.mel import MelSpectrogram
from bd2music.data.sounds import SoundCache
from bd2music.errors import InputError
from bd2music.hub import file_sha256, resolve_component
from bd2music.models.audio_text import AudioTextModel
from bd2music.models.audio_vae import AudioVAE, tile_starts
from bd2music.models.diffusion import LatentDiffusion, LatentDiffusionConfig
from bd2music.training.audio_text import clip_texts
from bd2music.training.card import export, model_card
from bd2music.training.common import DataConfig, prepare_cache
from bd2music.training.solver import Solver, cosine_lr

EVAL_TIMES = (50, 200, 400, 600, 800, 950)  # diffusion times of the held-out loss (of 1000)


@dataclass
class DiffusionTrainConfig:
    """Everything that decides a diffusion run (saved as ``train_config.json``)."""

    model: LatentDiffusionConfig = field(default_factory=LatentDiffusionConfig)
    data: DataConfig = field(default_factory=DataConfig)
    audio_vae: str | None = None  # the audio VAE's folder (None: weights/audio_vae)
    audio_text: str | None = None  # the audio-text model's folder (None: weights/audio_text)
    hop_frames: int = 32  # cached windows every 0.5 s of a clip
    text_share: float = 0.25  # windows conditioned on a caption's embed_text instead of their embed_audio
    category_templates: tuple[str, ...] = ()  # captions naming only the clip's category ("{category}", ...) ...
    category_share: float = 0.0  # ... given to this share of the captioned windows instead of a label caption
    drop_embedding: float = 0.15  # probability that a window's embedding condition is dropped
    drop_descriptors: float = 0.3  # ... and, independently, its descriptor condition
    steps: int = 4000
    batch_size: int = 32
    learning_rate: float = 4e-4  # AdamW peak
    weight_decay: float = 0.01
    warmup_steps: int = 200
    min_lr_ratio: float = 0.1
    grad_clip: float = 1.0
    ema_decay: float = 0.999  # of the exported weights (an exponential moving average)
    eval_every: int = 1000
    eval_windows: int = 256  # held-out windows of the loss (evenly spread)
    checkpoint_every: int = 250
    seed: int = 0
    threads: int = 1  # torch CPU threads (0 = torch's default; on 2 shared cores 1 ran faster than 2)


SMOKE = {  # seconds on a CPU: a tiny denoiser on 8 clips
    "model": {"width": 32, "depth": 1, "heads": 2},
    "data": {"max_clips": 8},
    "hop_frames": 128,
    "steps": 8,
    "batch_size": 8,
    "warmup_steps": 1,
    "learning_rate": 3e-3,
    "ema_decay": 0.5,
    "eval_every": 8,
    "eval_windows": 8,
    "checkpoint_every": 4,
}


def clip_windows(audio: np.ndarray, window_samples: int, hop_samples: int, hop_length: int) -> np.ndarray:
    """(windows, window_samples): a clip looped to one window when shorter, else its windows every
    ``hop_samples`` (the last one aligned on the end, as ``tile_starts`` places them)."""
    if len(audio) <= window_samples:
        return np.resize(audio, window_samples)[None]
    frames, window = 1 + len(audio) // hop_length, window_samples // hop_length
    starts = tile_starts(frames, window, window - hop_samples // hop_length)
    segments = np.zeros((len(starts), window_samples), dtype=np.float32)
    for row, start in enumerate(starts):
        piece = audio[start * hop_length : start * hop_length + window_samples]
        segments[row, : len(piece)] = piece
    return segments


@torch.inference_mode()
def build_latents(
    cache: SoundCache, vae: AudioVAE, audio_text: AudioTextModel, descriptors: tuple[str, ...], hop_frames: int,
    folder: Path, settings: dict,
) -> dict[str, torch.Tensor]:
    """The windows' latents, embeddings, descriptors and clips, and the training clips' caption embeddings:
    read from ``folder`` when made with the same ``settings``, else computed and written there."""
    tensors_file, settings_file = folder / "latents.safetensors", folder / "settings.json"
    if settings_file.is_file() and json.loads(settings_file.read_text()) == settings and tensors_file.is_file():
        return load_file(str(tensors_file))
    mel, window = vae.config.mel, vae.config.window_frames
    spectrogram, device = MelSpectrogram(mel).to(vae.mel_mean.device), vae.mel_mean.device
    latents, embeddings, values, owners = [], [], [], []
    for index in tqdm(range(len(cache.clips)), desc="diffusion latents", unit="clip"):
        segments = clip_windows(cache.clip_audio(index), window * mel.hop_length, hop_frames * mel.hop_length,
                                mel.hop_length)
        mels = spectrogram(torch.from_numpy(segments).to(device))[..., :window]
        latents.append(vae.encode(mels).mean.cpu())
        embeddings.append(audio_text.embed_audio(mels).cpu())
        clips = [Clip(segment, mel.sample_rate, f"{index}@{row}", False) for row, segment in enumerate(segments)]
        results = compute_descriptors(clips, "torch", str(device), batch_size=16)
        values.append(torch.tensor([[r.summary[name] for name in descriptors] for r in results], dtype=torch.float32))
        owners.append(torch.full((len(segments),), index, dtype=torch.int64))
    train = cache.clip_indices("train")
    texts = [text for index in train for text in clip_texts(cache.clips[index])]
    captions = audio_text.embed_text(texts).cpu().reshape(len(train), -1, audio_text.config.embed_dim)
    caption_index = torch.full((len(cache.clips),), -1, dtype=torch.int64)
    caption_index[train] = torch.arange(len(train))
    tensors = {"latents": torch.cat(latents), "embeddings": torch.cat(embeddings), "descriptors": torch.cat(values),
               "clip": torch.cat(owners), "captions": captions.contiguous(), "caption_index": caption_index}
    folder.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(tensors_file))
    settings_file.write_text(json.dumps(settings, indent=1) + "\n")
    return tensors


@torch.inference_mode()
def category_captions(cache: SoundCache, audio_text: AudioTextModel, templates: tuple[str, ...]) -> dict:
    """``embed_text`` of ``templates`` filled with each category ((categories, templates, embed_dim)) and every
    clip's category row: captions that name what kind of sound a clip is, not what it is; none without templates."""
    if not templates:
        return {}
    if any("{category}" not in template for template in templates):
        raise InputError(f"every category template must hold {{category}}: {templates}")
    names = sorted({clip["category"] for clip in cache.clips})
    texts = [template.format(category=name) for name in names for template in templates]
    embedded = audio_text.embed_text(texts).cpu().reshape(len(names), len(templates), -1)
    return {"category_captions": embedded,
            "clip_category": torch.tensor([names.index(clip["category"]) for clip in cache.clips])}


class DiffusionSolver(Solver):
    """The diffusion run: latents once, then denoising steps on them; the EMA weights are exported."""

    name = "diffusion"
    postfix = ("total",)

    def __init__(self, config: DiffusionTrainConfig, data_root: Path, out: Path, work: Path, device: str = "cpu"):
        super().__init__(config, data_root, out, work, device)
        vae_folder = resolve_component("audio_vae", config.audio_vae)
        text_folder = resolve_component("audio_text", config.audio_text)
        vae = AudioVAE.from_pretrained(vae_folder, device=self.device)
        audio_text = AudioTextModel.from_pretrained(text_folder, device=self.device)
        model_config = config.model
        if (model_config.latent_shape != vae.config.latent_shape or model_config.downsampling
                != vae.config.downsampling or model_config.embed_dim != audio_text.config.embed_dim):
            raise InputError(f"model: latents {model_config.latent_shape} / {model_config.downsampling}x, embeddings "
                             f"{model_config.embed_dim}; the audio VAE has {vae.config.latent_shape} / "
                             f"{vae.config.downsampling}x, the audio-text model {audio_text.config.embed_dim}")
        self.cache = cache = prepare_cache(self.data_root, config.data, self.work, device, windows=False,
                                           mel=vae.config.mel)
        settings = {"audio_vae": file_sha256(vae_folder / "model.safetensors"),
                    "audio_text": file_sha256(text_folder / "model.safetensors"),
                    "descriptors": list(model_config.descriptors), "hop_frames": config.hop_frames,
                    "clips": [clip["name"] for clip in cache.clips], "splits": [clip["split"] for clip in cache.clips]}
        data = build_latents(cache, vae, audio_text, model_config.descriptors, config.hop_frames,
                             self.work / "latents", settings)
        if config.category_share > 0 and not config.category_templates or not 0 <= config.category_share <= 1:
            raise InputError("category_share must be in [0, 1], and above 0 only with category_templates")
        self.data = data | category_captions(cache, audio_text, config.category_templates)
        split = torch.tensor([clip["split"] == "train" for clip in cache.clips])[data["clip"]]
        self.train_windows = torch.nonzero(split).flatten()
        heldout = torch.nonzero(~split).flatten()
        spread = torch.linspace(0, len(heldout) - 1, min(config.eval_windows, len(heldout))).round().long()
        self.eval_windows = heldout[spread] if len(heldout) else heldout
        tqdm.write(f"diffusion: {len(self.train_windows)} training windows, {len(heldout)} held out")

        self.model = LatentDiffusion(model_config).to(self.device)
        self.model.set_statistics(data["latents"][self.train_windows].to(self.device),
                                  data["descriptors"][self.train_windows].to(self.device))
        self.ema = torch.optim.swa_utils.AveragedModel(
            self.model, multi_avg_fn=torch.optim.swa_utils.get_ema_multi_avg_fn(config.ema_decay))
        self.optimizer = torch.optim.AdamW(self.model.parameters(), config.learning_rate,
                                           weight_decay=config.weight_decay)
        self.schedule = cosine_lr(self.optimizer, config)
        from diffusers import DDPMScheduler

        self.noise_schedule = DDPMScheduler(num_train_timesteps=model_config.train_timesteps,
                                            beta_schedule=model_config.beta_schedule,
                                            prediction_type=model_config.prediction_type)

    def parts(self) -> dict:
        return super().parts() | {"ema": self.ema}

    def loss(self, model: LatentDiffusion, windows: torch.Tensor, times: torch.Tensor, noise: torch.Tensor,
             embeddings: torch.Tensor | None, keep_embedding: torch.Tensor | None,
             keep_descriptors: torch.Tensor | None) -> torch.Tensor:
        """Mean squared error of the model's prediction for ``windows`` noised with ``noise`` at ``times``."""
        device = self.device
        x0 = model.standardise(self.data["latents"][windows].to(device))
        noise, times = noise.to(device), times.to(device)
        noisy = self.noise_schedule.add_noise(x0, noise, times)
        target = (self.noise_schedule.get_velocity(x0, noise, times)
                  if model.config.prediction_type == "v_prediction" else noise)
        descriptors = self.data["descriptors"][windows].to(device)
        condition = model.condition(embeddings, descriptors, keep_embedding, keep_descriptors)
        return F.mse_loss(model(noisy, times, condition), target)

    def train_step(self, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        c, data = self.config, self.data
        batch = self.train_windows[torch.from_numpy(rng.integers(0, len(self.train_windows), c.batch_size))]
        embeddings = data["embeddings"][batch].clone()
        captioned = torch.from_numpy(rng.random(c.batch_size) < c.text_share)
        if captioned.any():
            owners = data["caption_index"][data["clip"][batch[captioned]]]
            templates = torch.from_numpy(rng.integers(0, data["captions"].shape[1], int(captioned.sum())))
            embeddings[captioned] = data["captions"][owners, templates]
            if c.category_share > 0:  # (drawn only then: runs without category captions keep their batches)
                named = captioned.clone()
                named[captioned] = torch.from_numpy(rng.random(int(captioned.sum())) < c.category_share)
                categories = data["clip_category"][data["clip"][batch[named]]]
                choice = torch.from_numpy(rng.integers(0, data["category_captions"].shape[1], int(named.sum())))
                embeddings[named] = data["category_captions"][categories, choice]
        times = torch.from_numpy(rng.integers(0, c.model.train_timesteps, c.batch_size))
        noise = torch.from_numpy(rng.standard_normal((c.batch_size, *c.model.latent_shape), dtype=np.float32))
        keep_embedding = torch.from_numpy(rng.random(c.batch_size) >= c.drop_embedding).to(self.device)
        keep_descriptors = torch.from_numpy(rng.random(c.batch_size) >= c.drop_descriptors).to(self.device)
        loss = self.loss(self.model, batch, times, noise, embeddings.to(self.device), keep_embedding, keep_descriptors)
        self.update(loss)
        self.ema.update_parameters(self.model)
        return {"total": loss}

    @torch.inference_mode()
    def evaluate(self) -> dict[str, float]:
        """Held-out loss at ``EVAL_TIMES`` with fixed noise: conditioned (raw and EMA weights) and unconditioned."""
        windows = self.eval_windows
        if not len(windows):
            return {}
        generator = torch.Generator().manual_seed(0)
        noise = torch.randn(len(EVAL_TIMES), len(windows), *self.config.model.latent_shape, generator=generator)
        ema = self.ema.module
        self.model.eval()
        ema.eval()
        totals = {"heldout_loss": 0.0, "heldout_loss_ema": 0.0, "heldout_loss_unconditioned": 0.0}
        embeddings = self.data["embeddings"][windows].to(self.device)
        none = torch.zeros(len(windows), dtype=torch.bool, device=self.device)
        for time, each in zip(EVAL_TIMES, noise):
            times = torch.full((len(windows),), time)
            totals["heldout_loss"] += self.loss(self.model, windows, times, each, embeddings, None, None).item()
            totals["heldout_loss_ema"] += self.loss(ema, windows, times, each, embeddings, None, None).item()
            totals["heldout_loss_unconditioned"] += self.loss(ema, windows, times, each, embeddings, none, none).item()
        self.model.train()
        return {name: value / len(EVAL_TIMES) for name, value in totals.items()}

    def export(self) -> dict[str, float]:
        c, model = self.config, copy.deepcopy(self.ema.module).eval()
        metrics = self.final_metrics() | {"training_windows": len(self.train_windows)}
        summary = (
            f"A latent diffusion model (DiT, {self.parameter_count()}) over the audio VAE's window latents "
            f"{model.config.latent_shape}, conditioned on the audio-text embedding and the descriptors "
            f"{', '.join(model.config.descriptors)}, with classifier-free guidance; {c.steps} steps of "
            f"{c.batch_size} windows, exponential moving average {c.ema_decay} exported. Sampling: "
            f"{model.config.inference.scheduler}, {model.config.inference.steps} steps, guidance "
            f"{model.config.inference.guidance:g}."
        )
        card = model_card("bd2music latent diffusion", summary, model.config, self.cache, metrics,
                          "bd2music train diffusion --config train_config.json --out runs/diffusion",
                          ["audio", "latent-diffusion", "text-to-audio", "dit", "bd2music"])
        export(model, self.out, c, self.cache, metrics, card)
        return metrics


def train_diffusion(
    config: DiffusionTrainConfig, data_root: Path, out: Path, work: Path, device: str = "cpu", resume: bool = False
) -> dict[str, float]:
    """Cache the latents, train (resuming with ``resume``), export the EMA weights to ``out``; return metrics."""
    return DiffusionSolver(config, data_root, out, work, device).run(resume)
