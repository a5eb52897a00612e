"""Latent shaper: what the neural backend does to the plan's audio latents before the audio VAE decodes them.

The plan's latents (one per window, from the mapper) are the plan's: every backend reads them through the audio
VAE's heads. Rendered as they are, they sound static (the mapper's noise barely moves them, so a track's windows
and two seeds repeat one texture) and on some black-and-white pages silent (the mapper lands where the decoder
gives its log floor). The shaper changes only what the neural backend decodes, in two steps:

* ``move``: every window borrows the motion of a real window. Among the ``neighbours`` real windows (encoder
  means of training clips, stored as donors) whose channel means lie closest to the window's, one is drawn with
  the seed; its frames' deviations from its own mean (``donor_motion``) are added, times ``motion``, and the
  window's mean moves ``excursion`` of the way towards the donor's. Different windows draw different donors, so
  the track evolves; a different seed draws others.
* ``guard``: the decoded segment (as it will be voiced: the backend adds its pulse) is checked for quiet frames
  (more than ``quiet_db`` under the segment's mean power, or near the mel's floor); while more than
  ``max_quiet_share`` of them are, the latents are shifted along the silence direction (mean encoder latent of dense real windows minus that of sparse ones: away from the region the decoder
  renders as silence), by the smallest step that a bisection up to ``max_shift`` finds.

The donors may lie in another audio VAE's latent space than the plan's (``key_channels`` set): each donor then
also keeps its window's channel means in the plan's space (its key), the search compares the plan's windows with
those keys, and ``move`` returns the drawn donors' windows in their own space (mean plus ``motion`` times its
motion), which that VAE decodes: the plan keeps its latents while the sound is voiced from a VAE that keeps pitch.

The tables are fitted on training clips only (``bd2music train latent-shaper``; nothing here imports training
code).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from bd2music.errors import InputError
from bd2music.models.base import PretrainedMixin


@dataclass
class LatentShaperConfig:
    """Tables' sizes and the shaping settings (stored as ``config.json``)."""

    latent_shape: tuple[int, int] = (32, 32)  # the decoding audio VAE's window latent (channels, frames)
    key_channels: int | None = None  # the plan's latent channels when the donors lie in another VAE's space
    donors: int = 16  # real windows whose motion is borrowed (set by the fit)
    neighbours: int = 16  # a window draws its donor among this many nearest real windows
    motion: float = 2.5  # how much of the donor's frame-to-frame motion is added to the window
    motion_smoothing: int = 5  # latent frames of the moving average the motion is smoothed with (1: none)
    excursion: float = 1.0  # share of the way the window's mean moves towards the donor's
    quiet_db: float = 20.0  # a decoded frame this far under the segment's mean power is quiet
    silent_log_mel: float = -13.8  # ... and so is one whose loudest band is under this (ln 1e-6; floor ln 1e-8)
    max_quiet_share: float = 0.05  # the guard acts on segments with more quiet frames than this
    max_shift: float = 3.0  # largest step along the silence direction (its length is the dense-sparse gap)
    bisections: int = 6  # bisection steps of the guard's search

    def __post_init__(self) -> None:
        if not 1 <= self.neighbours <= self.donors:
            raise ValueError(f"neighbours must be between 1 and donors ({self.donors})")
        if self.motion_smoothing < 1:
            raise ValueError("motion_smoothing must be at least 1 latent frame")
        if not 0.0 <= self.max_quiet_share < 1.0:
            raise ValueError("max_quiet_share must be in [0, 1)")


def quiet_share(log_mel: torch.Tensor, quiet_db: float, silent_log_mel: float = float("-inf")) -> float:
    """Share of the frames of a natural-log power mel (n_mels, frames) whose power lies more than ``quiet_db``
    under the mean frame power, or whose loudest band is under ``silent_log_mel``."""
    power = log_mel.exp().sum(dim=0)
    quiet = (power < power.mean() * 10 ** (-quiet_db / 10)) | (log_mel.amax(dim=0) < silent_log_mel)
    return float(quiet.float().mean())


def smoothed(motion: torch.Tensor, frames: int) -> torch.Tensor:
    """``motion`` (windows, channels, latent frames) averaged over ``frames`` neighbouring frames (edges
    repeated): slower changes of timbre, fewer onsets of the donor's own."""
    if frames <= 1:
        return motion
    padded = F.pad(motion, (frames // 2, frames - 1 - frames // 2), mode="replicate")
    return padded.unfold(-1, frames, 1).mean(dim=-1)


class LatentShaper(PretrainedMixin, nn.Module):
    """``move`` (seeded motion borrowed from real windows) and ``guard`` (away from decoded silence); module doc."""

    component = "latent_shaper"
    config_class = LatentShaperConfig

    def __init__(self, config: LatentShaperConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or LatentShaperConfig()
        channels, frames = config.latent_shape
        # fitted on training clips (bd2music.training.latent_shaper) and saved with the weights
        self.register_buffer("donor_means", torch.zeros(config.donors, channels))
        self.register_buffer("donor_motion", torch.zeros(config.donors, channels, frames))
        self.register_buffer("scale", torch.ones(channels))  # per-channel spread of the donors' means
        self.register_buffer("silence_direction", torch.zeros(channels))
        if config.key_channels is not None:  # the donors' channel means in the plan's latent space
            self.register_buffer("donor_keys", torch.zeros(config.donors, config.key_channels))
            self.register_buffer("key_scale", torch.ones(config.key_channels))

    @property
    def keyed(self) -> bool:
        """Whether the donors lie in another latent space than the plan's (searched by their keys)."""
        return self.config.key_channels is not None

    def set_tables(self, donors: torch.Tensor, silence_direction: torch.Tensor,
                   keys: torch.Tensor | None = None) -> None:
        """Donor windows (donors, channels, frames), the silence direction (channels,) and, when keyed, the same
        windows' channel means in the plan's latent space (donors, key_channels)."""
        if (keys is None) == self.keyed:
            raise ValueError("keys are given exactly when the shaper is keyed (key_channels set)")
        means = donors.mean(dim=2)
        self.donor_means.copy_(means)
        self.donor_motion.copy_(donors - means[..., None])
        self.scale.copy_(means.std(dim=0).clamp_min(1e-4))
        self.silence_direction.copy_(silence_direction)
        if keys is not None:
            self.donor_keys.copy_(keys)
            self.key_scale.copy_(keys.std(dim=0).clamp_min(1e-4))

    def _check(self, latents: torch.Tensor) -> None:
        shape = (self.config.key_channels,) if self.keyed else tuple(self.config.latent_shape)  # the plan's windows
        if latents.dim() != 3 or tuple(latents.shape[1:1 + len(shape)]) != shape:
            expected = ", ".join(map(str, shape)) + (", frames" if self.keyed else "")
            raise InputError(f"latent shaper: latents of shape {tuple(latents.shape)}, expected (windows, {expected})")

    def donors(self, latents: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """(windows,) donor indices: for each window one of its ``neighbours`` nearest donors (standardised channel
        means; the donors' keys when keyed), drawn with ``generator``."""
        self._check(latents)
        means = latents.mean(dim=2)
        keys, scale = (self.donor_keys, self.key_scale) if self.keyed else (self.donor_means, self.scale)
        distance = (((means[:, None] - keys[None]) / scale) ** 2).sum(dim=-1)
        nearest = distance.topk(self.config.neighbours, dim=1, largest=False).indices
        draw = torch.randint(self.config.neighbours, (len(latents),), generator=generator).to(nearest.device)
        return nearest[torch.arange(len(latents), device=nearest.device), draw]

    def move(self, latents: torch.Tensor, seed: int, salt: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """(window latents (windows, channels, frames) with their donors' motion and excursion (when keyed: the
        donors' own windows, their motion scaled, in the decoding VAE's space), each window's donor (windows,));
        the same ``seed`` and ``salt`` (a segment's index) give the same result."""
        generator = torch.Generator().manual_seed(int(seed) * 1_000_003 + int(salt))
        picked = self.donors(latents, generator)
        motion = self.config.motion * smoothed(self.donor_motion[picked], self.config.motion_smoothing)
        if self.keyed:
            return self.donor_means[picked][..., None] + motion, picked
        means = latents.mean(dim=2)
        return latents + motion + self.config.excursion * (self.donor_means[picked] - means)[..., None], picked

    def guard(self, latents: torch.Tensor, decode: Callable[[torch.Tensor], torch.Tensor]
              ) -> tuple[torch.Tensor, torch.Tensor]:
        """(latents, their log-mel): ``latents`` (windows, channels, frames) shifted along the silence direction by
        the smallest step that leaves at most ``max_quiet_share`` quiet frames in ``decode(latents)`` (the segment's
        log-mel), ``max_shift`` at most; unshifted when already loud enough."""
        config = self.config
        step = self.silence_direction[:, None]

        def tried(shift: float) -> tuple[torch.Tensor, torch.Tensor, bool]:
            shifted = latents + shift * step
            mel = decode(shifted)
            return shifted, mel, quiet_share(mel, config.quiet_db, config.silent_log_mel) <= config.max_quiet_share

        best = tried(0.0)
        if best[2]:
            return best[0], best[1]
        low, high = 0.0, config.max_shift
        best = tried(high)
        if not best[2]:
            return best[0], best[1]
        for _ in range(config.bisections):
            middle = (low + high) / 2
            candidate = tried(middle)
            if candidate[2]:
                high, best = middle, candidate
            else:
                low = middle
        return best[0], best[1]
