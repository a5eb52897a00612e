"""Neural-network blocks shared by several models (no weights, no configs)."""

from bd2music.modules.convnext import ConvNeXtBlock, ConvNeXtStack

__all__ = ["ConvNeXtBlock", "ConvNeXtStack"]
