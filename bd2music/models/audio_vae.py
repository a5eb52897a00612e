"""Audio VAE: a fixed-length log-mel window <-> a small latent, with a descriptor head and a semantic head.

Input: a window of ``window_frames`` = 256 log-mel frames (4.096 s, ``bd2music.audio.mel.MEL``), standardised
per mel band with statistics of the training set (stored buffers). The encoder is a 1-D ConvNeXt network over
time (mel bands are the input channels) that halves the frame rate between stages: with the default
``channels`` (4 stages) the latent is ``(latent_channels, window_frames / 8)`` = (32, 32), i.e. 7.8 latent
frames/s and 1024 numbers per window, 16x fewer than the mel. Posterior: a diagonal Gaussian; the prior N(0, I).
The training objective (``bd2music.training.audio_vae``) weighs the mean KL per latent element by
``beta`` = 1e-3 against the mean L1 per mel bin of the standardised log-mel (a mildly regularised latent,
closer to an autoencoder than to a sampling VAE: the mapping models work on the posterior means).

Sampling: at this beta the posterior means do not fill N(0, I), and decoding N(0, I) draws gives clips much too
loud (measured in ``docs/BENCHMARKS.md``, "Prior samples"). ``sample_prior`` draws from the Gaussian fitted to
the training set's posterior means instead (per latent channel, stored buffers ``latent_mean`` / ``latent_std``,
set by the trainer; 0 and 1, i.e. N(0, I), until set).

Heads, both on the latent (``z`` while training, the posterior mean at inference):

* descriptor head: the window's per-clip summary descriptors named as in ``bd2music.audio.summary_columns``
  (``config.descriptors``), predicted standardised; ``predict_descriptors`` returns them in their units
  (``log_descriptors`` are modelled as ``ln(x + 1e-6)``, being positive and heavy-tailed).
* semantic head: an L2-normalised embedding of ``semantic_dim`` (a CLAP-style audio embedding), or none when
  ``semantic_dim`` is 0.

Longer audio is cut into windows every ``window_frames - overlap_frames`` frames (the last window is aligned on
the end, a shorter clip is padded with silence), and decoded windows are cross-faded with linear ramps over
``overlap_frames`` (``encode_long`` / ``decode_long``), giving back exactly the input's number of frames.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from bd2music.audio.mel import MEL, MelConfig
from bd2music.models.base import PretrainedMixin
from bd2music.modules.convnext import ConvNeXtStack
from bd2music.soundtrack import DECAY_SHARE, MAX_ONSETS_PER_BEAT, OFFBEAT_DB, PULSE_DEPTH_DB, overlap_add

DEFAULT_DESCRIPTORS = (
    "onset_rate",
    "tempo",
    "rms_mean",
    "rms_std",
    "spectral_centroid_mean",
    "spectral_bandwidth_mean",
    "spectral_rolloff_mean",
    "spectral_flatness_mean",
    "zero_crossing_rate_mean",
    "onset_strength_mean",
)
LOG_EPS = 1e-6  # log_descriptors are modelled as ln(x + LOG_EPS)


def transform_descriptors(values: torch.Tensor, log_mask: torch.Tensor) -> torch.Tensor:
    """Descriptor values (batch, D) with the ``log_mask`` columns as ``ln(x + LOG_EPS)`` (before standardising)."""
    return torch.where(log_mask, (values.clamp_min(0) + LOG_EPS).log(), values)


@dataclass
class AudioVAEInference:
    """How generated latents are rendered, saved in ``config.json`` beside the architecture (a config without it
    loads these defaults, the values the shipped weights were tuned with; a checkpoint resumes whatever they are).

    The decoder renders rhythm poorly, so the neural path imposes on the decoded log-mel a pulse at the tempo and
    onset rate that the descriptor head reads in the latents (``bd2music.soundtrack.pulse_gains``; how these
    values were chosen: ``docs/BENCHMARKS.md``)."""

    pulse_depth_db: float = PULSE_DEPTH_DB  # deepest dip of the pulse envelope below a beat
    offbeat_db: float = OFFBEAT_DB  # the lift of each onset between beats
    decay_share: float = DECAY_SHARE  # decay time constant / the gap it decays over (a beat's, an onset's)
    max_onsets_per_beat: int = MAX_ONSETS_PER_BEAT


@dataclass
class AudioVAEConfig:
    """Architecture of the audio VAE and its heads (stored as ``config.json``)."""

    mel: MelConfig = MEL  # input/output representation
    window_frames: int = 256  # fixed input length in mel frames (4.096 s)
    overlap_frames: int = 64  # cross-fade between tiles of longer audio (1.024 s)
    channels: tuple[int, ...] = (64, 96, 128, 192)  # width per stage; time halves between stages
    blocks_per_stage: int = 2  # ConvNeXt blocks per stage, in the encoder and in the decoder
    latent_channels: int = 32  # latent features per latent frame
    descriptors: tuple[str, ...] = DEFAULT_DESCRIPTORS  # summary columns the descriptor head predicts
    log_descriptors: tuple[str, ...] = ("rms_mean", "rms_std", "spectral_flatness_mean")
    semantic_dim: int = 512  # CLAP-style embedding size; 0 = no semantic head
    head_dim: int = 256  # hidden width of both heads
    inference: AudioVAEInference = field(default_factory=AudioVAEInference)  # rendering settings, not architecture

    @property
    def downsampling(self) -> int:
        return 2 ** (len(self.channels) - 1)

    @property
    def latent_shape(self) -> tuple[int, int]:
        """(channels, frames) of one window's latent."""
        return self.latent_channels, self.window_frames // self.downsampling

    def __post_init__(self) -> None:
        if self.window_frames % self.downsampling:
            raise ValueError(f"window_frames {self.window_frames} is not a multiple of {self.downsampling}")
        if not 0 < self.overlap_frames < self.window_frames:
            raise ValueError("overlap_frames must be between 0 and window_frames")
        if unknown := set(self.log_descriptors) - set(self.descriptors):
            raise ValueError(f"log_descriptors not in descriptors: {sorted(unknown)}")


@dataclass
class DiagonalGaussian:
    """Posterior q(z | mel): ``mean`` and ``logvar`` (batch, latent_channels, latent_frames)."""

    mean: torch.Tensor
    logvar: torch.Tensor

    def sample(self) -> torch.Tensor:
        return self.mean + torch.randn_like(self.mean) * (0.5 * self.logvar).exp()

    def kl(self) -> torch.Tensor:
        """KL(q || N(0, I)) per sample, in nats, averaged over latent elements: (batch,)."""
        return 0.5 * (self.mean.square() + self.logvar.exp() - 1.0 - self.logvar).flatten(1).mean(dim=1)


@dataclass
class AudioVAEOutput:
    """What ``AudioVAE.forward`` returns."""

    reconstruction: torch.Tensor  # log-mel (batch, n_mels, window_frames)
    posterior: DiagonalGaussian
    latent: torch.Tensor  # the z that was decoded
    descriptors: torch.Tensor  # standardised descriptor predictions (batch, len(config.descriptors))
    semantic: torch.Tensor | None  # L2-normalised embeddings (batch, semantic_dim), None without the head


@dataclass
class TiledLatent:
    """The latents of a long log-mel: one window per row, the first frame of each, and the total frames."""

    latents: torch.Tensor  # (tiles, latent_channels, latent_frames)
    starts: list[int]
    length: int


def tile_starts(length: int, window: int, overlap: int) -> list[int]:
    """First frame of each window covering ``length`` frames: every ``window - overlap``, the last end-aligned."""
    if length <= window:
        return [0]
    return list(range(0, length - window, window - overlap)) + [length - window]


class PooledHead(nn.Module):
    """Two temporal convs, mean + max pooling over latent frames, one linear output."""

    def __init__(self, in_channels: int, hidden: int, out_features: int) -> None:
        super().__init__()
        self.convs = nn.Sequential(
            nn.Conv1d(in_channels, hidden, 3, padding=1), nn.GELU(), nn.Conv1d(hidden, hidden, 3, padding=1), nn.GELU()
        )
        self.out = nn.Linear(2 * hidden, out_features)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.convs(z)
        return self.out(torch.cat([h.mean(dim=-1), h.amax(dim=-1)], dim=-1))


class AudioVAE(PretrainedMixin, nn.Module):
    """log-mel window (batch, n_mels, window_frames) <-> latent (batch, *config.latent_shape); see the module doc."""

    component = "audio_vae"
    config_class = AudioVAEConfig

    def __init__(self, config: AudioVAEConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or AudioVAEConfig()
        n_mels, channels, blocks = config.mel.n_mels, config.channels, config.blocks_per_stage
        encoder: list[nn.Module] = [nn.Conv1d(n_mels, channels[0], 7, padding=3)]
        for stage, width in enumerate(channels):
            encoder.append(ConvNeXtStack(width, blocks))
            if stage + 1 < len(channels):
                encoder.append(nn.Conv1d(width, channels[stage + 1], 4, stride=2, padding=1))
        encoder.append(nn.Conv1d(channels[-1], 2 * config.latent_channels, 1))
        self.encoder = nn.Sequential(*encoder)
        decoder: list[nn.Module] = [nn.Conv1d(config.latent_channels, channels[-1], 7, padding=3)]
        for stage in reversed(range(len(channels))):
            decoder.append(ConvNeXtStack(channels[stage], blocks))
            if stage > 0:
                decoder += [
                    nn.Upsample(scale_factor=2, mode="nearest"),
                    nn.Conv1d(channels[stage], channels[stage - 1], 3, padding=1),
                ]
        decoder.append(nn.Conv1d(channels[0], n_mels, 7, padding=3))
        self.decoder = nn.Sequential(*decoder)
        self.descriptor_head = PooledHead(config.latent_channels, config.head_dim, len(config.descriptors))
        self.semantic_head = (
            PooledHead(config.latent_channels, config.head_dim, config.semantic_dim) if config.semantic_dim else None
        )
        # training-set statistics, set by the trainer (set_statistics) and saved with the weights
        self.register_buffer("mel_mean", torch.full((n_mels,), -6.0))
        self.register_buffer("mel_std", torch.full((n_mels,), 4.0))
        self.register_buffer("descriptor_mean", torch.zeros(len(config.descriptors)))
        self.register_buffer("descriptor_std", torch.ones(len(config.descriptors)))
        self.register_buffer("latent_mean", torch.zeros(config.latent_channels))
        self.register_buffer("latent_std", torch.ones(config.latent_channels))
        self.register_buffer(
            "log_mask", torch.tensor([name in config.log_descriptors for name in config.descriptors]), persistent=False
        )

    @property
    def sample_rate(self) -> int:
        return self.config.mel.sample_rate

    # -- statistics ---------------------------------------------------------------------------------------------
    def set_statistics(
        self, mel_mean: torch.Tensor, mel_std: torch.Tensor, descriptor_mean: torch.Tensor, descriptor_std: torch.Tensor
    ) -> None:
        """Store training-set statistics: per-band log-mel mean/std and transformed-descriptor mean/std."""
        for name, value in (
            ("mel_mean", mel_mean),
            ("mel_std", mel_std),
            ("descriptor_mean", descriptor_mean),
            ("descriptor_std", descriptor_std),
        ):
            getattr(self, name).copy_(torch.as_tensor(value, dtype=torch.float32))

    def set_latent_statistics(self, latents: torch.Tensor) -> None:
        """Fit the sampling prior: per-channel mean and std of posterior means (windows, channels, frames)."""
        per_channel = latents.transpose(0, 1).flatten(1)
        self.latent_mean.copy_(per_channel.mean(dim=1))
        self.latent_std.copy_(per_channel.std(dim=1))

    def sample_prior(self, count: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``count`` window latents (count, *latent_shape) from the fitted prior (see the module docstring)."""
        noise = torch.randn(count, *self.config.latent_shape, generator=generator).to(self.latent_mean)
        return noise * self.latent_std[:, None] + self.latent_mean[:, None]

    def standardise_descriptors(self, values: torch.Tensor) -> torch.Tensor:
        """Descriptor values in their units (batch, D) -> the head's standardised targets."""
        return (transform_descriptors(values, self.log_mask) - self.descriptor_mean) / self.descriptor_std

    def unstandardise_descriptors(self, standardised: torch.Tensor) -> torch.Tensor:
        values = standardised * self.descriptor_std + self.descriptor_mean
        return torch.where(self.log_mask, values.exp() - LOG_EPS, values)

    # -- one window -----------------------------------------------------------------------------------------------
    def encode(self, log_mel: torch.Tensor) -> DiagonalGaussian:
        """Posterior of log-mel windows (batch, n_mels, window_frames)."""
        x = (log_mel - self.mel_mean[:, None]) / self.mel_std[:, None]
        mean, logvar = self.encoder(x).chunk(2, dim=1)
        return DiagonalGaussian(mean, logvar.clamp(-30.0, 20.0))

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        """Log-mel windows (batch, n_mels, window_frames) from latents (batch, *latent_shape)."""
        return self.decoder(latent) * self.mel_std[:, None] + self.mel_mean[:, None]

    def predict_descriptors(self, latent: torch.Tensor) -> dict[str, torch.Tensor]:
        """Descriptors (in their units, one (batch,) tensor per name) from latents."""
        values = self.unstandardise_descriptors(self.descriptor_head(latent))
        return {name: values[:, i] for i, name in enumerate(self.config.descriptors)}

    def embed(self, latent: torch.Tensor) -> torch.Tensor | None:
        """Semantic embeddings (batch, semantic_dim), L2-normalised, or None without a semantic head."""
        return None if self.semantic_head is None else F.normalize(self.semantic_head(latent), dim=-1)

    def forward(self, log_mel: torch.Tensor, sample: bool = True) -> AudioVAEOutput:
        posterior = self.encode(log_mel)
        latent = posterior.sample() if sample else posterior.mean
        return AudioVAEOutput(self.decode(latent), posterior, latent, self.descriptor_head(latent), self.embed(latent))

    # -- any length -----------------------------------------------------------------------------------------------
    def encode_long(self, log_mel: torch.Tensor, batch_size: int = 16) -> TiledLatent:
        """Posterior means of the overlapping windows of one log-mel (n_mels, frames) of any length."""
        window, length = self.config.window_frames, log_mel.shape[-1]
        starts = tile_starts(length, window, self.config.overlap_frames)
        padded = F.pad(log_mel, (0, max(0, window - length)), value=self.config.mel.log_min)
        tiles = torch.stack([padded[:, start : start + window] for start in starts])
        latents = torch.cat([self.encode(chunk).mean for chunk in tiles.split(batch_size)])
        return TiledLatent(latents, starts, length)

    def decode_long(self, tiled: TiledLatent, batch_size: int = 16) -> torch.Tensor:
        """Log-mel (n_mels, tiled.length): windows decoded and cross-faded."""
        window = self.config.window_frames
        decoded = torch.cat([self.decode(chunk) for chunk in tiled.latents.split(batch_size)])
        total = max(tiled.length, window)
        return overlap_add(list(decoded), tiled.starts, total, self.config.overlap_frames)[:, : tiled.length]

    def reconstruct(self, log_mel: torch.Tensor) -> torch.Tensor:
        """Encode (posterior means) and decode a log-mel (n_mels, frames) of any length."""
        return self.decode_long(self.encode_long(log_mel))
