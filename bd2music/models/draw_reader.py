"""The learned reading of a drawing's strokes: three small residual MLPs, one per reading (height, loudness,
brightness; ``bd2music.draw.readings``), each on its own vector of a stroke's measurements
(``bd2music.draw.measure.features``, whose last entry is the classical reading).

Each head standardises its input with the training set's mean and std (stored buffers) and adds what its MLP
predicts to the classical reading; its last layer starts at zero, so an untrained head is the classical
reading, and training learns what the classical reading gets wrong on generated drawings (anti-aliased and
textured strokes read too thin, pen colours washed out by paper and compression). The result is clipped to 0-1.
Trained by ``bd2music train draw`` (``bd2music.training.draw``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from bd2music.models.base import PretrainedMixin

READINGS = ("height", "loudness", "brightness")


@dataclass
class StrokeReaderConfig:
    """Sizes of the three heads."""

    inputs: dict[str, int] = field(default_factory=lambda: {"height": 20, "loudness": 18, "brightness": 27})
    hidden: int = 48  # width of each head's two hidden layers


class ResidualHead(nn.Module):
    """Standardised input -> MLP -> a correction added to the input's last entry (the classical reading)."""

    def __init__(self, inputs: int, hidden: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(inputs))
        self.register_buffer("std", torch.ones(inputs))
        self.net = nn.Sequential(nn.Linear(inputs, hidden), nn.GELU(), nn.Linear(hidden, hidden), nn.GELU(),
                                 nn.Linear(hidden, 1))
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(n, inputs) -> (n,) readings (not clipped)."""
        return x[:, -1] + self.net((x - self.mean) / self.std).squeeze(-1)


class StrokeReader(nn.Module, PretrainedMixin):
    """The three heads; ``read`` maps each reading's feature vectors to readings in 0-1."""

    component = "draw"
    config_class = StrokeReaderConfig

    def __init__(self, config: StrokeReaderConfig) -> None:
        super().__init__()
        self.config = config
        self.heads = nn.ModuleDict({name: ResidualHead(config.inputs[name], config.hidden) for name in READINGS})

    def forward(self, features: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {name: head(features[name]) for name, head in self.heads.items()}

    @torch.inference_mode()
    def read(self, features: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """(n, inputs) per reading -> (n,) readings clipped to 0-1."""
        return {name: value.clamp(0.0, 1.0) for name, value in self(features).items()}
