"""Comic VAE: a comic image (a whole page or one panel) <-> a 64-d latent vector, for the latent mapper.

Choices (the consumer is the MLP CycleGAN of ``bd2music.models.mapper``):

* **β-VAE with a vector latent**, not a hierarchical VAE: the mapper's generator and inverse are MLPs, so one flat
  ``latent_dim`` vector per image is what they need; a hierarchy of feature maps would have to be flattened or
  pooled anyway, and its extra capacity buys detail (line art, lettering) that a soundtrack cannot follow.
* **Pages and panel crops, one model**: the pipeline encodes the whole page (page mode) or each panel (per-panel
  mode), so both kinds are trained together; a panel crop and a page share their visual statistics (ink, palette,
  screentone) but differ in layout, which the latent then also carries.
* **Input**: RGB letterboxed on white into ``image_size`` square pixels (64 by default): what colour, contrast,
  density of ink and coarse composition an image has survives at that size, fine text does not (and should not
  drive the music). Pixels in [0, 1].
* **β**: the trainer (``bd2music.training.comic_vae``) weighs the mean KL per latent element (nats) against the
  mean L1 per pixel; ``beta`` = 1e-3 on those means is a standard ELBO with a Laplace likelihood of scale ~0.2 —
  a mildly regularised, smooth latent near N(0, I) that the CycleGAN's discriminators can match, while the
  posterior means still reconstruct the page's look (see the model card for the held-out error).

Architecture (kept lean: it trains on one CPU thread): ``len(channels)`` stride-2 stages (4x4 conv + GroupNorm +
SiLU), a linear layer to the posterior's mean and log-variance; the decoder mirrors it with 4x4 stride-2
transposed convs (the last one half as wide), a 3x3 conv and a sigmoid. 2.2 M parameters by default.
Panel crops are cut with :func:`crop_panels` (each box padded by 2 % of its side).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image
from torch import nn

from bd2music.errors import InputError
from bd2music.models.audio_vae import DiagonalGaussian
from bd2music.models.base import PretrainedMixin
from bd2music.vision.boxes import Box

PANEL_PAD = 0.02  # crop_panels pads each box by this fraction of its width / height


@dataclass
class ComicVAEConfig:
    """Architecture of the comic VAE (stored as ``config.json``)."""

    image_size: int = 64  # square input and output side, pixels
    channels: tuple[int, ...] = (32, 64, 128, 256)  # width per stage; each stage halves the side
    latent_dim: int = 64

    @property
    def bottom_size(self) -> int:
        """Side of the last feature map."""
        return self.image_size // 2 ** len(self.channels)

    def __post_init__(self) -> None:
        if self.image_size % 2 ** len(self.channels):
            raise ValueError(f"image_size {self.image_size} is not a multiple of {2 ** len(self.channels)}")


def letterbox(image: Image.Image, size: int) -> Image.Image:
    """``image`` fitted into a ``size`` x ``size`` white square, aspect ratio kept, centred."""
    image = image.convert("RGB")
    scale = size / max(image.size)
    width, height = max(1, round(image.width * scale)), max(1, round(image.height * scale))
    square = Image.new("RGB", (size, size), (255, 255, 255))
    square.paste(image.resize((width, height), Image.Resampling.BOX if scale < 1 else Image.Resampling.BICUBIC),
                 ((size - width) // 2, (size - height) // 2))
    return square


def crop_panels(image: Image.Image, boxes: list[Box]) -> list[Image.Image]:
    """The panels ``boxes`` (x0, y0, x1, y1 in the image's pixels) cut from ``image``, each padded by 2 % of its
    side and clipped to the image; a box with nothing inside the image is an InputError."""
    crops = []
    for x0, y0, x1, y1 in boxes:
        pad_x, pad_y = PANEL_PAD * (x1 - x0), PANEL_PAD * (y1 - y0)
        left, top = max(0, round(x0 - pad_x)), max(0, round(y0 - pad_y))
        right, bottom = min(image.width, round(x1 + pad_x)), min(image.height, round(y1 + pad_y))
        if right <= left or bottom <= top:
            raise InputError(f"panel box {(x0, y0, x1, y1)} lies outside the {image.width}x{image.height} image")
        crops.append(image.crop((left, top, right, bottom)))
    return crops


def stage(conv: nn.Module, out_channels: int) -> nn.Sequential:
    """``conv`` then GroupNorm (up to 8 groups) and SiLU."""
    return nn.Sequential(conv, nn.GroupNorm(math.gcd(8, out_channels), out_channels), nn.SiLU())


def down_stage(in_channels: int, out_channels: int) -> nn.Sequential:
    """Halve the side: 4x4 stride-2 conv, GroupNorm, SiLU."""
    return stage(nn.Conv2d(in_channels, out_channels, 4, 2, 1), out_channels)


def up_stage(in_channels: int, out_channels: int) -> nn.Sequential:
    """Double the side: 4x4 stride-2 transposed conv, GroupNorm, SiLU."""
    return stage(nn.ConvTranspose2d(in_channels, out_channels, 4, 2, 1), out_channels)


@dataclass
class ComicVAEOutput:
    """What ``ComicVAE.forward`` returns."""

    reconstruction: torch.Tensor  # (batch, 3, S, S) in [0, 1]
    posterior: DiagonalGaussian
    latent: torch.Tensor  # the z that was decoded


class ComicVAE(PretrainedMixin, nn.Module):
    """Comic image (batch, 3, S, S) in [0, 1] <-> latent (batch, latent_dim); see the module doc."""

    component = "comic_vae"
    config_class = ComicVAEConfig

    def __init__(self, config: ComicVAEConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or ComicVAEConfig()
        widths = (3, *config.channels)
        self.encoder = nn.Sequential(*[down_stage(a, b) for a, b in zip(widths[:-1], widths[1:])], nn.Flatten())
        features = config.channels[-1] * config.bottom_size**2
        self.to_posterior = nn.Linear(features, 2 * config.latent_dim)
        self.from_latent = nn.Linear(config.latent_dim, features)
        rev = config.channels[::-1]
        outputs = (*rev[1:], max(1, rev[-1] // 2))  # the full-resolution stage is half as wide (CPU cost)
        self.decoder = nn.Sequential(
            *[up_stage(a, b) for a, b in zip(rev, outputs)],
            nn.Conv2d(outputs[-1], 3, 3, padding=1),
            nn.Sigmoid(),
        )

    def preprocess(self, image: Image.Image) -> torch.Tensor:
        """(3, S, S) float in [0, 1]: ``image`` letterboxed on white into the model's square."""
        square = letterbox(image, self.config.image_size)
        return torch.from_numpy(np.asarray(square, dtype=np.float32) / 255.0).permute(2, 0, 1).contiguous()

    def encode(self, images: torch.Tensor) -> DiagonalGaussian:
        """Posterior of images (batch, 3, S, S) in [0, 1]; ``.mean`` is (batch, latent_dim)."""
        mean, logvar = self.to_posterior(self.encoder(images * 2 - 1)).chunk(2, dim=1)
        return DiagonalGaussian(mean, logvar.clamp(-30.0, 20.0))

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        """Images (batch, 3, S, S) in [0, 1] from latents (batch, latent_dim)."""
        side, width = self.config.bottom_size, self.config.channels[-1]
        return self.decoder(self.from_latent(latent).view(-1, width, side, side))

    def forward(self, images: torch.Tensor, sample: bool = True) -> ComicVAEOutput:
        posterior = self.encode(images)
        latent = posterior.sample() if sample else posterior.mean
        return ComicVAEOutput(self.decode(latent), posterior, latent)

    @torch.no_grad()
    def encode_images(self, images: list[Image.Image]) -> torch.Tensor:
        """Posterior means (batch, latent_dim) of PIL images (pages or panel crops)."""
        if not images:
            return torch.zeros(0, self.config.latent_dim)
        parameter = next(self.parameters())
        batch = torch.stack([self.preprocess(image) for image in images]).to(parameter)
        return self.encode(batch).mean
