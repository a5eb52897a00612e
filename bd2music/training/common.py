"""What the model trainers share: data selection and cache, seeds, LR schedule, optimiser steps, checkpoints,
export.

A run lives in a work folder: ``cache/`` (``bd2music.data.sounds.build_cache``), ``checkpoint.pt`` (model,
optimiser, step, metrics history; rewritten every ``checkpoint_every`` steps, read back by ``--resume``) and
``heldout.txt``. ``export`` writes the Hub-style weights folder: ``config.json`` + ``model.safetensors``,
``train_config.json``, ``metrics.json``, ``heldout.txt``, ``attribution.csv`` and a model card ``README.md``.
"""

from __future__ import annotations

import csv
import json
import math
import os
import random
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

import numpy as np
import torch
from tqdm import tqdm

from bd2music.data.sounds import SoundCache, SoundItem, build_cache, load_fsd50k, load_sounds
from bd2music.errors import InputError
from bd2music.models.base import config_to_dict, merge_config

T = TypeVar("T")


class Stateful(Protocol):
    """What a checkpoint holds the state of: a module, an optimiser, an LR schedule."""

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state_dict: dict[str, Any], /) -> Any: ...


Part = Stateful | list[Stateful]  # a list (e.g. one LR schedule per optimiser) is saved as a list of states

COPYLEFT = ("CC-BY-SA", "GPL", "GFDL", "/by-sa/")  # licence name or URL parts, checked in this order
ATTRIBUTION = ("CC-BY", "/licenses/by/")
PERMISSIVE = ("CC0", "MIT", "Expat", "publicdomain")


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


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def setup_device(device: str, threads: int) -> torch.device:
    from bd2music.audio.torch_descriptors import check_device

    check_device(device)
    if threads > 0:
        torch.set_num_threads(threads)
    if device.startswith("cuda"):
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    return torch.device(device)


def cosine_schedule(warmup_steps: int, total_steps: int, min_ratio: float):
    """LR multiplier: linear warm-up, then cosine decay to ``min_ratio`` at ``total_steps``."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
        return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return factor


def cosine_lr(optimizer: torch.optim.Optimizer, config: Any) -> torch.optim.lr_scheduler.LambdaLR:
    """The LR schedule of a run: ``cosine_schedule`` with the config's ``warmup_steps``, ``steps``, ``min_lr_ratio``."""
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, cosine_schedule(config.warmup_steps, config.steps, config.min_lr_ratio)
    )


def save_checkpoint(work: Path, state: dict[str, Any]) -> None:
    """Write ``work/checkpoint.pt`` atomically (a crash mid-write keeps the previous one)."""
    work.mkdir(parents=True, exist_ok=True)
    tmp = work / "checkpoint.pt.tmp"
    torch.save(state, tmp)
    os.replace(tmp, work / "checkpoint.pt")


def load_checkpoint(work: Path, config: Any, device: torch.device) -> dict[str, Any] | None:
    """The checkpoint of ``work`` if it was made with the same model config, else an error; None if absent."""
    path = work / "checkpoint.pt"
    if not path.is_file():
        print(f"no checkpoint in {work}: starting from step 0")
        return None
    state = torch.load(path, map_location=device, weights_only=True)
    if state["config"]["model"] != config_to_dict(config)["model"]:
        raise InputError(f"{path} was trained with another model config; use a new --work folder")
    return state


def save_training_state(
    work: Path, config: Any, step: int, history: list[dict[str, float]], losses: list[float], **parts: Part
) -> None:
    """Checkpoint a run: ``step``, eval ``history``, training ``losses``, the config (as a dict) and the
    ``state_dict()`` of each of ``parts`` (model, optimizer, schedule, ...) under its keyword."""
    states = {name: [p.state_dict() for p in part] if isinstance(part, list) else part.state_dict()
              for name, part in parts.items()}
    save_checkpoint(work, {"step": step, **states, "history": history, "losses": losses,
                           "config": config_to_dict(config)})


def restore_training_state(
    work: Path, config: Any, device: torch.device, optional: dict[str, Part] | None = None, **parts: Part
) -> tuple[int, list[dict[str, float]], list[float]]:
    """Load the checkpoint of ``work`` (``save_training_state``) into ``parts``, by keyword; the ``optional``
    parts only where the checkpoint has them (e.g. a discriminator switched on later). Returns its step, eval
    history and training losses, or (0, [], []) when there is no checkpoint."""
    state = load_checkpoint(work, config, device)
    if state is None:
        return 0, [], []
    present = {name: part for name, part in (optional or {}).items() if name in state}
    for name, part in (parts | present).items():
        if isinstance(part, list):
            for item, saved in zip(part, state[name]):
                item.load_state_dict(saved)
        else:
            part.load_state_dict(state[name])
    return state["step"], state["history"], state["losses"]


def optimizer_step(
    loss: torch.Tensor,
    parameters: Iterable[torch.Tensor],
    optimizer: torch.optim.Optimizer,
    schedule: torch.optim.lr_scheduler.LRScheduler,
    grad_clip: float,
) -> None:
    """One update: back-propagate ``loss``, clip the gradient norm of ``parameters`` to ``grad_clip``, step the
    optimiser and its LR schedule."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(parameters, grad_clip)
    optimizer.step()
    schedule.step()


def record(history: list[dict[str, float]], step: int, metrics: dict[str, float], progress: tqdm) -> None:
    """Append the eval ``metrics`` of ``step`` to ``history`` and write them under the ``progress`` bar."""
    history.append({"step": step} | metrics)
    progress.write(f"step {step}: " + ", ".join(f"{k} {v:.4g}" for k, v in metrics.items()))


def licence_family(licence: str) -> str:
    """copyleft (share-alike), attribution or permissive, for the model card."""
    if any(key in licence for key in COPYLEFT):
        return "copyleft"
    if any(key in licence for key in ATTRIBUTION):
        return "attribution"
    if any(key in licence for key in PERMISSIVE):
        return "permissive"
    return "unknown"


def write_attribution(clips: list[dict[str, Any]], path: Path) -> None:
    """One row per training clip (cache records): file, licence, author, source (what CC-BY/GPL notices need)."""
    with open(path, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["file", "license", "author", "source"])
        for clip in clips:
            writer.writerow([clip["name"], clip["license"], clip["author"], clip["source"]])


def model_card(
    title: str,
    summary: str,
    model_config: Any,
    cache: SoundCache,
    metrics: dict[str, float],
    command: str,
    tags: list[str],
) -> str:
    """Markdown model card with Hub front matter: data, inherited licences, metrics, how to retrain."""
    train = [clip for clip in cache.clips if clip["split"] == "train"]
    heldout = [clip for clip in cache.clips if clip["split"] == "heldout"]
    seconds = sum(clip["samples"] for clip in train) / cache.mel.sample_rate
    licences = Counter(clip["license"] for clip in train)
    families = Counter(licence_family(clip["license"]) for clip in train)
    sources = Counter(clip["source"].split(" (")[0] for clip in train)
    copyleft = sorted(name for name in licences if licence_family(name) == "copyleft")
    lines = [
        "---",
        "library_name: bd2music",
        "license: other",
        "license_name: mixed-training-data-see-card",
        "tags:",
        *[f"- {tag}" for tag in tags],
        "---",
        "",
        f"# {title}",
        "",
        summary,
        "",
        "Load with `from_pretrained` (config.json + model.safetensors, strict):",
        "",
        "```python",
        f"from bd2music.models import {type(model_config).__name__.removesuffix('Config')}",
        f'model = {type(model_config).__name__.removesuffix("Config")}.from_pretrained("path/or/owner/repo")',
        "```",
        "",
        "## Training data",
        "",
        f"{len(train)} clips ({seconds / 3600:.2f} h) at {cache.mel.sample_rate} Hz; {len(heldout)} clips held out for "
        "the metrics below (`heldout.txt`, fixed split: see `bd2music.data.sounds`). Sources:",
        "",
        *[f"- {source}: {count} clips" for source, count in sources.most_common()],
        "",
        "## Licences inherited from the training clips",
        "",
        "| licence | clips |",
        "|---|---|",
        *[f"| {name} | {count} |" for name, count in licences.most_common()],
        "",
        f"Families: {', '.join(f'{k} {v}' for k, v in families.most_common())}. Whether trained weights are a "
        "derivative work of their training audio is legally unsettled; these weights are distributed as if they "
        "were. Attribution (CC-BY, CC-BY-SA, MIT/Expat, GPL notices): every training clip's licence, author and "
        "source is listed in `attribution.csv`, which must travel with the weights. "
        + (
            f"Copyleft: {', '.join(copyleft)} clips ask that derivatives be shared under the same terms; "
            "different copyleft licences (GFDL, GPL, CC-BY-SA-3.0) are not compatible with each other, so no "
            "single licence for the weights satisfies all of them. Before publishing, accept that and keep this "
            "notice, or retrain on a subset whose licences agree (e.g. CC0, MIT/Expat and GPL-2+/GPL-3+ clips, "
            "weights under GPL-3.0-or-later). "
            if copyleft
            else "No copyleft clips were used. "
        )
        + "ESC-50 clips are CC0 or CC-BY only (clip authors on freesound.org, cut by K. J. Piczak); FSD50K clips, "
        "when used, exclude CC-BY-NC and Sampling+ unless enabled.",
        "",
        "## Metrics (held-out clips)",
        "",
        "| metric | value |",
        "|---|---|",
        *[f"| {name} | {value:.4g} |" for name, value in metrics.items()],
        "",
        "## Retrain",
        "",
        "```bash",
        command,
        "```",
        "",
        "`train_config.json` holds the full configuration (pass it back with `--config`).",
        "",
        "## Configuration",
        "",
        "```json",
        json.dumps(config_to_dict(model_config), indent=2),
        "```",
        "",
    ]
    return "\n".join(lines)


def export(model: Any, out: Path, train_config: Any, cache: SoundCache, metrics: dict[str, float], card: str) -> Path:
    """Write the weights folder (see the module docstring)."""
    model.save_pretrained(out)
    (out / "train_config.json").write_text(json.dumps(config_to_dict(train_config), indent=2) + "\n")
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    (out / "heldout.txt").write_text((cache.folder / "heldout.txt").read_text())
    write_attribution([clip for clip in cache.clips if clip["split"] == "train"], out / "attribution.csv")
    (out / "README.md").write_text(card)
    return out
