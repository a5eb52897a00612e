"""1-D ConvNeXt blocks over time (Liu et al. 2022; as in Vocos, Siuzdak 2023), for (batch, channels, frames)."""

from __future__ import annotations

import torch
from torch import nn


class ConvNeXtBlock(nn.Module):
    """Depthwise conv -> LayerNorm -> pointwise MLP (GELU) -> layer scale, with a residual connection."""

    def __init__(self, dim: int, intermediate_dim: int, kernel_size: int = 7, layer_scale: float = 1e-2) -> None:
        super().__init__()
        self.dwconv = nn.Conv1d(dim, dim, kernel_size, padding=kernel_size // 2, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, intermediate_dim)
        self.act = nn.GELU()
        self.pwconv2 = nn.Linear(intermediate_dim, dim)
        self.gamma = nn.Parameter(torch.full((dim,), layer_scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.dwconv(x).transpose(1, 2)  # (batch, frames, dim)
        y = self.pwconv2(self.act(self.pwconv1(self.norm(y))))
        return x + (self.gamma * y).transpose(1, 2)


class ConvNeXtStack(nn.Module):
    """``num_blocks`` ConvNeXt blocks then a LayerNorm over channels; layer scale 1 / num_blocks."""

    def __init__(self, dim: int, num_blocks: int, expansion: int = 3, kernel_size: int = 7) -> None:
        super().__init__()
        scale = 1.0 / max(1, num_blocks)
        self.blocks = nn.Sequential(
            *[ConvNeXtBlock(dim, expansion * dim, kernel_size, scale) for _ in range(num_blocks)]
        )
        self.norm = nn.LayerNorm(dim, eps=1e-6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.blocks(x).transpose(1, 2)).transpose(1, 2)
