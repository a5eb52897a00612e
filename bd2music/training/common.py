"""What the trainers share besides the loop (``bd2music.training.solver``) and the export
(``bd2music.training.card``): which sound clips a run uses, their cache, mel statistics, and run configs read
from defaults, a smoke preset and a JSON file.

A run lives in a work folder: ``cache/`` (``bd2music.data.sounds.build_cache``), ``checkpoint.pt`` (see the
solver) and the trainer's own data caches.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import torch

from bd2music.data.sounds import SoundCache, SoundItem, build_cache, load_fsd50k, load_sounds
from bd2music.errors import InputError
from bd2music.models.base import merge_config

T = TypeVar("T")


@dataclass
class DataConfig:
    """Which clips a run trains on (the split is fixed: ``bd2music.data.sounds``)."""

    sounds: bool = True  # the shared clips in DATA/sounds (manifest.csv)
    fsd50k: str | None = None  # an FSD50K folder to add (its own train/val split; eval clips unused)
    max_clips: int = 0  # keep only this many clips, evenly spread over the list (0 = all; for smoke runs)
    cache: str | None = None  # cache folder (default WORK/cache)


def select_items(data_root: Path, config: DataConfig) -> list[SoundItem]:
    """The clips of the run, train and held-out, in a fixed order."""
    items: list[SoundItem] = []
    if config.sounds:
        sounds = data_root / "sounds" if (data_root / "sounds" / "manifest.csv").is_file() else data_root
        items += load_sounds(sounds)
    if config.fsd50k:
        items += [item for item in load_fsd50k(config.fsd50k) if item.split != "eval"]
    if not items:
        raise InputError("no training clips: enable data.sounds or give data.fsd50k")
    if config.max_clips and config.max_clips < len(items):  # smoke runs: a few clips of each side of the split
        heldout = [item for item in items if item.split == "heldout"]
        train = [item for item in items if item.split == "train"]
        n_heldout = min(len(heldout), max(1, config.max_clips // 4))
        items = _spread(train, config.max_clips - n_heldout) + _spread(heldout, n_heldout)
    return items


def _spread(items: list[T], count: int) -> list[T]:
    """``count`` items evenly spread over ``items`` (first and last included)."""
    if count >= len(items):
        return items
    return [items[round(i * (len(items) - 1) / max(1, count - 1))] for i in range(count)] if count else []


def prepare_cache(data_root: Path, config: DataConfig, work: Path, device: str, **settings: Any) -> SoundCache:
    """Select the run's clips and build (or reuse) their cache; ``settings`` go to ``build_cache``."""
    items = select_items(data_root, config)
    folder = Path(config.cache) if config.cache else work / "cache"
    build_cache(items, folder, device=device, **settings)
    return SoundCache(folder)


def mel_statistics(cache: SoundCache, windows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-band log-mel mean and std over ``windows`` of the cache."""
    total = torch.zeros(cache.mel.n_mels, dtype=torch.float64)
    square = torch.zeros_like(total)
    for chunk in windows.split(256):
        mels = cache.window_mels(chunk).double()
        total += mels.sum(dim=(0, 2))
        square += mels.square().sum(dim=(0, 2))
    count = len(windows) * cache.window_frames
    mean = total / count
    return mean.float(), (square / count - mean.square()).clamp_min(1e-4).sqrt().float()


def load_config(cls: type[T], path: Path | None, smoke: dict[str, Any] | None = None) -> T:
    """Defaults of ``cls``, then the ``smoke`` preset if given, then the JSON file at ``path``."""
    config = cls()
    if smoke:
        config = merge_config(config, smoke, "smoke preset")
    if path is not None:
        try:
            overrides = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise InputError(f"cannot read config {path}: {error}") from None
        config = merge_config(config, overrides, str(path))
    return config
