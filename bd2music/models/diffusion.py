"""Latent diffusion over the audio VAE's window latents (AudioLDM's way, small): a DiT denoiser conditioned on an
audio-text embedding and descriptor targets, sampled with a ``diffusers`` scheduler and classifier-free guidance.

The data: one audio-VAE window latent, ``(latent_channels, latent_frames)`` per 4.1 s ((64, 64) with the shipped
``audio_vae_pitch``, (32, 32) with the plan's audio VAE), standardised per channel with training-set statistics
(stored buffers ``latent_mean`` / ``latent_std``, the LDM scale factor).
The denoiser: a DiT (Peebles & Xie 2023) over the latent frames as tokens, a learned position per frame, adaLN-Zero
blocks modulated by one condition vector, the sum of

* the diffusion time (sinusoidal, then an MLP);
* the audio-text embedding (``bd2music.models.audio_text``: the window's ``embed_audio`` while training, a prompt's
  ``embed_text`` or a plan segment's semantic embedding at inference, the shared space), through an MLP;
* the descriptor targets ``config.descriptors`` (names of ``bd2music.audio.summary_columns``, modelled as
  ``ln(x + LOG_EPS)``, standardised with stored training-set statistics and clipped to +-``DESCRIPTOR_CLIP``),
  through an MLP.

Either condition can be absent: a learned null vector stands in for it (training drops each at random), and
classifier-free guidance moves the prediction away from the all-null one by ``guidance``. The network predicts
``config.prediction_type`` (v by default) for a ``beta_schedule`` of ``train_timesteps`` steps; sampling uses
diffusers' ``DPMSolverMultistepScheduler`` (DPM-Solver++) or ``DDIMScheduler`` with ``trailing`` timesteps, so
that few steps reach the end of the schedule.

Longer audio (``sample``): ``windows`` window latents that overlap by ``overlap_frames`` latent frames are denoised
together (MultiDiffusion, Bar-Tal et al. 2023): at every step each window is predicted and the predictions are
averaged where windows overlap, so neighbouring windows agree; the audio VAE decodes them at starts
``window_stride`` mel frames apart and cross-fades them (``AudioVAE.decode_long``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from bd2music.errors import InputError
from bd2music.models.base import PretrainedMixin

LOG_EPS = 1e-3  # descriptors are modelled as ln(x + LOG_EPS) (all are positive and heavy-tailed)
DESCRIPTOR_CLIP = 4.0  # standardised descriptor conditions are clipped to +-this
SCHEDULERS = ("dpm++", "ddim")
STEPS_RANGE = (1, 200)  # denoising steps a caller may ask for


@dataclass
class LatentDiffusionInference:
    """How the model samples by default (saved in ``config.json``; not part of the architecture)."""

    scheduler: str = "dpm++"  # "dpm++" (DPMSolverMultistepScheduler, 2nd order) or "ddim"
    steps: int = 20  # denoising steps
    guidance: float = 3.0  # classifier-free guidance scale (1 = none)

    def __post_init__(self) -> None:
        check_sampling(self.scheduler, self.steps, self.guidance)


@dataclass
class LatentDiffusionConfig:
    """Architecture of the denoiser and its diffusion process (stored as ``config.json``)."""

    latent_channels: int = 32  # the audio VAE's latent channels ...
    latent_frames: int = 32  # ... and latent frames of one window
    downsampling: int = 8  # mel frames per latent frame (the audio VAE's)
    overlap_frames: int = 8  # latent frames shared by neighbouring windows when sampling long audio
    embed_dim: int = 128  # audio-text embedding size (the condition)
    descriptors: tuple[str, ...] = ("tempo", "onset_rate", "spectral_centroid_mean", "spectral_flatness_mean")
    width: int = 128  # token width of the DiT (sized to train in under an hour on 2 CPU cores)
    depth: int = 4  # DiT blocks
    heads: int = 4  # attention heads
    mlp_ratio: float = 4.0  # MLP width = mlp_ratio * width
    train_timesteps: int = 1000  # diffusion steps of the training schedule
    beta_schedule: str = "squaredcos_cap_v2"  # diffusers' name of the noise schedule (cosine)
    prediction_type: str = "v_prediction"  # what the network predicts: "v_prediction" or "epsilon"
    inference: LatentDiffusionInference = field(default_factory=LatentDiffusionInference)

    @property
    def latent_shape(self) -> tuple[int, int]:
        return self.latent_channels, self.latent_frames

    @property
    def window_stride(self) -> int:
        """Mel frames between the starts of neighbouring windows of a long sample."""
        return (self.latent_frames - self.overlap_frames) * self.downsampling

    def windows_for(self, mel_frames: int) -> int:
        """How many overlapping windows cover ``mel_frames`` (the last one may run past the end)."""
        window = self.latent_frames * self.downsampling
        return 1 + max(0, math.ceil((mel_frames - window) / self.window_stride))

    def __post_init__(self) -> None:
        if self.width % self.heads:
            raise ValueError(f"width {self.width} is not a multiple of heads {self.heads}")
        if not 0 <= self.overlap_frames < self.latent_frames:
            raise ValueError("overlap_frames must be between 0 and latent_frames - 1")
        if self.prediction_type not in ("v_prediction", "epsilon"):
            raise ValueError(f"prediction_type must be v_prediction or epsilon, got {self.prediction_type!r}")


def check_sampling(scheduler: str, steps: int, guidance: float) -> None:
    """InputError unless the sampling settings are usable."""
    if scheduler not in SCHEDULERS:
        raise InputError(f"unknown scheduler {scheduler!r}, expected one of {', '.join(SCHEDULERS)}")
    if isinstance(steps, bool) or not isinstance(steps, int) or not STEPS_RANGE[0] <= steps <= STEPS_RANGE[1]:
        raise InputError(f"steps must be a whole number between {STEPS_RANGE[0]} and {STEPS_RANGE[1]}, got {steps!r}")
    if not 1.0 <= guidance <= 20.0:
        raise InputError(f"guidance must be between 1 and 20, got {guidance:g}")


def make_scheduler(config: LatentDiffusionConfig, name: str):
    """A fresh diffusers scheduler ``name`` (``SCHEDULERS``) for the model's training schedule."""
    from diffusers import DDIMScheduler, DPMSolverMultistepScheduler  # imported on first use: a slow import

    common = dict(num_train_timesteps=config.train_timesteps, beta_schedule=config.beta_schedule,
                  prediction_type=config.prediction_type, timestep_spacing="trailing")
    if name == "ddim":
        return DDIMScheduler(**common, clip_sample=False, set_alpha_to_one=False)
    if name == "dpm++":
        return DPMSolverMultistepScheduler(**common, algorithm_type="dpmsolver++", solver_order=2)
    raise InputError(f"unknown scheduler {name!r}, expected one of {', '.join(SCHEDULERS)}")


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10_000.0) -> torch.Tensor:
    """Sinusoidal embeddings (batch, dim) of diffusion times (batch,)."""
    half = dim // 2
    frequencies = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    angles = t.float()[:, None] * frequencies[None]
    return torch.cat([angles.cos(), angles.sin()], dim=-1)


def _mlp(in_features: int, width: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(in_features, width), nn.SiLU(), nn.Linear(width, width))


def _modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return x * (1 + scale[:, None]) + shift[:, None]


class DiTBlock(nn.Module):
    """Self-attention and an MLP over the frames, each with adaLN-Zero modulation by the condition vector."""

    def __init__(self, width: int, heads: int, mlp_ratio: float) -> None:
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        self.norm2 = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        hidden = int(width * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(width, hidden), nn.GELU(approximate="tanh"), nn.Linear(hidden, width))
        self.modulation = nn.Sequential(nn.SiLU(), nn.Linear(width, 6 * width))
        nn.init.zeros_(self.modulation[1].weight)  # adaLN-Zero: each block starts as the identity
        nn.init.zeros_(self.modulation[1].bias)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        shift1, scale1, gate1, shift2, scale2, gate2 = self.modulation(c).chunk(6, dim=-1)
        batch, frames, width = x.shape
        q, k, v = self.qkv(_modulate(self.norm1(x), shift1, scale1)).view(batch, frames, 3, self.heads, -1).unbind(2)
        attended = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
        x = x + gate1[:, None] * self.proj(attended.transpose(1, 2).reshape(batch, frames, width))
        return x + gate2[:, None] * self.mlp(_modulate(self.norm2(x), shift2, scale2))


class LatentDiffusion(PretrainedMixin, nn.Module):
    """The denoiser (``forward``) and its sampler (``sample``); see the module docstring."""

    component = "diffusion"
    config_class = LatentDiffusionConfig

    def __init__(self, config: LatentDiffusionConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or LatentDiffusionConfig()
        width = config.width
        self.proj_in = nn.Linear(config.latent_channels, width)
        self.position = nn.Parameter(torch.randn(1, config.latent_frames, width) * 0.02)
        self.time_mlp = _mlp(width, width)
        self.embedding_mlp = _mlp(config.embed_dim, width)
        self.descriptor_mlp = _mlp(len(config.descriptors), width)
        self.null_embedding = nn.Parameter(torch.zeros(width))  # the condition when no embedding is given
        self.null_descriptors = nn.Parameter(torch.zeros(width))  # ... and when no descriptor targets are
        self.blocks = nn.ModuleList(DiTBlock(width, config.heads, config.mlp_ratio) for _ in range(config.depth))
        self.norm_out = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        self.modulation_out = nn.Sequential(nn.SiLU(), nn.Linear(width, 2 * width))
        self.proj_out = nn.Linear(width, config.latent_channels)
        for layer in (self.modulation_out[1], self.proj_out):  # the output starts at zero
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)
        # training-set statistics, set by the trainer (set_statistics) and saved with the weights
        self.register_buffer("latent_mean", torch.zeros(config.latent_channels))
        self.register_buffer("latent_std", torch.ones(config.latent_channels))
        self.register_buffer("descriptor_mean", torch.zeros(len(config.descriptors)))
        self.register_buffer("descriptor_std", torch.ones(len(config.descriptors)))

    # -- statistics and conditions ------------------------------------------------------------------------------
    def set_statistics(self, latents: torch.Tensor, descriptors: torch.Tensor) -> None:
        """Store per-channel latent mean/std of (windows, channels, frames) and descriptor mean/std (windows, D)."""
        per_channel = latents.transpose(0, 1).flatten(1)
        transformed = (descriptors.clamp_min(0) + LOG_EPS).log()
        for name, value in (("latent_mean", per_channel.mean(dim=1)), ("latent_std", per_channel.std(dim=1)),
                            ("descriptor_mean", transformed.mean(dim=0)),
                            ("descriptor_std", transformed.std(dim=0).clamp_min(1e-3))):
            getattr(self, name).copy_(value)

    def standardise(self, latents: torch.Tensor) -> torch.Tensor:
        """Audio-VAE latents (batch, C, F) -> the diffusion's data space."""
        return (latents - self.latent_mean[:, None]) / self.latent_std[:, None]

    def unstandardise(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.latent_std[:, None] + self.latent_mean[:, None]

    def standardise_descriptors(self, values: torch.Tensor) -> torch.Tensor:
        """Descriptor values in their units (batch, D) -> the model's clipped standardised inputs."""
        transformed = (values.clamp_min(0) + LOG_EPS).log()
        return ((transformed - self.descriptor_mean) / self.descriptor_std).clamp(-DESCRIPTOR_CLIP, DESCRIPTOR_CLIP)

    def condition(
        self, embedding: torch.Tensor | None, descriptors: torch.Tensor | None,
        keep_embedding: torch.Tensor | None = None, keep_descriptors: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The condition part of the modulation vector (batch, width): embeddings (batch, embed_dim) and
        descriptor values in their units (batch, D); None, or False in a ``keep_*`` mask (batch,), stands for
        absent (the learned null vector). At least one of the tensors or masks sets the batch size."""
        shapes = [t.shape[0] for t in (embedding, descriptors, keep_embedding, keep_descriptors) if t is not None]
        if not shapes:
            raise ValueError("condition needs a batch size: give a tensor or a mask")
        batch, null_e, null_d = shapes[0], self.null_embedding, self.null_descriptors
        if embedding is None:
            e = null_e.expand(batch, -1)
        else:
            e = self.embedding_mlp(F.normalize(embedding.to(null_e), dim=-1))
            if keep_embedding is not None:
                e = torch.where(keep_embedding[:, None], e, null_e)
        if descriptors is None:
            d = null_d.expand(batch, -1)
        else:
            d = self.descriptor_mlp(self.standardise_descriptors(descriptors.to(null_d)))
            if keep_descriptors is not None:
                d = torch.where(keep_descriptors[:, None], d, null_d)
        return e + d

    # -- the denoiser -------------------------------------------------------------------------------------------
    def forward(self, x: torch.Tensor, t: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        """The prediction (batch, C, F) for noisy standardised latents ``x`` (batch, C, F) at times ``t`` (batch,)
        under ``condition`` (batch, width) from ``condition()``."""
        c = self.time_mlp(timestep_embedding(t, self.config.width)) + condition
        h = self.proj_in(x.transpose(1, 2)) + self.position
        for block in self.blocks:
            h = block(h, c)
        shift, scale = self.modulation_out(c).chunk(2, dim=-1)
        return self.proj_out(_modulate(self.norm_out(h), shift, scale)).transpose(1, 2)

    # -- sampling -----------------------------------------------------------------------------------------------
    @torch.inference_mode()
    def sample(
        self,
        windows: int,
        embedding: torch.Tensor | None = None,
        descriptors: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
        steps: int | None = None,
        guidance: float | None = None,
        scheduler: str | None = None,
        init: torch.Tensor | None = None,
        strength: float = 1.0,
    ) -> torch.Tensor:
        """``windows`` overlapping window latents (windows, C, F) in the audio VAE's space, for one condition:
        an embedding (embed_dim,) and/or descriptor values in their units (D,); None: unconditional. ``steps``,
        ``guidance`` and ``scheduler`` default to ``config.inference``; the noise comes from ``generator`` (CPU).
        With ``init`` (window latents like the output's), sampling starts from them noised to the time of the
        last ``strength`` share of the steps (SDEdit, Meng et al. 2022: what ``init`` holds survives as
        ``strength`` falls from 1, pure noise, towards 0)."""
        defaults = self.config.inference
        steps = defaults.steps if steps is None else steps
        guidance = defaults.guidance if guidance is None else guidance
        scheduler_name = scheduler or defaults.scheduler
        check_sampling(scheduler_name, steps, guidance)
        if windows < 1:
            raise InputError(f"windows must be at least 1, got {windows}")
        if not 0.0 < strength <= 1.0:
            raise InputError(f"strength must be in (0, 1], got {strength:g}")
        if init is not None and init.shape != (windows, *self.config.latent_shape):
            raise InputError(f"init must hold {windows} window latents {self.config.latent_shape}, "
                             f"got {tuple(init.shape)}")
        config, device = self.config, self.latent_mean.device
        frames, stride = config.latent_frames, config.latent_frames - config.overlap_frames
        total = frames + (windows - 1) * stride
        cond = self.condition(None if embedding is None else embedding.reshape(1, -1),
                              None if descriptors is None else descriptors.reshape(1, -1),
                              keep_embedding=torch.ones(1, dtype=torch.bool, device=device))
        guided = guidance != 1.0 and (embedding is not None or descriptors is not None)
        if guided:
            cond = torch.cat([cond, self.condition(None, None, keep_embedding=torch.ones(1, device=device))])
        cond = cond.repeat_interleave(windows, dim=0)
        starts = [i * stride for i in range(windows)]
        cover = torch.zeros(total, device=device)
        for start in starts:
            cover[start : start + frames] += 1

        def merge(tiles: torch.Tensor) -> torch.Tensor:  # window tiles -> (1, C, total), averaged where they overlap
            merged = torch.zeros(1, config.latent_channels, total, device=device)
            for tile, start in zip(tiles, starts):
                merged[..., start : start + frames] += tile
            return merged / cover

        schedule = make_scheduler(config, scheduler_name)
        schedule.set_timesteps(steps, device=device)
        noise = torch.randn(1, config.latent_channels, total, generator=generator).to(device)
        timesteps = schedule.timesteps
        if init is None:
            x = noise * schedule.init_noise_sigma
        else:
            begin = min(round(steps * (1.0 - strength)), steps - 1)
            timesteps = timesteps[begin:]
            schedule.set_begin_index(begin)
            x = schedule.add_noise(merge(self.standardise(init.to(device))), noise, timesteps[:1])
        for t in timesteps:
            model_input = schedule.scale_model_input(x, t)
            tiles = torch.cat([model_input[..., s : s + frames] for s in starts])
            tiles = tiles.repeat(2, 1, 1) if guided else tiles
            prediction = self(tiles, t.expand(len(tiles)).to(device), cond)
            if guided:
                conditional, unconditional = prediction.chunk(2)
                prediction = unconditional + guidance * (conditional - unconditional)
            x = schedule.step(merge(prediction), t, x).prev_sample
        return self.unstandardise(torch.stack([x[0, :, s : s + frames] for s in starts]))
