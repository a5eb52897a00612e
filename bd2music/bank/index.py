"""Load a sound bank and query it: ``SoundBank.load(path)``, ``bank.rank(...)``, ``bank.audio(i, rate)``.

A bank folder (written by :func:`bd2music.bank.build.build_bank`) holds the clips (FLAC), ``manifest.csv``
(one row per clip: ``file, category, label, source, source_path, license, author, duration_s, kind``),
``index.safetensors`` (one row per manifest row, same order) and ``config.json`` (how it was built).

Index tensors:

* ``latents`` (N, 2C): the audio VAE's posterior means over every latent frame of the clip (all windows,
  padding excluded), as the per-channel mean and std over those frames, standardised with the VAE's fitted
  prior (``latent_mean`` / ``latent_std``, stored beside them): ``[(mean - mu) / sigma, std / sigma]``.
  :meth:`SoundBank.pool_latent` maps any window latents (a mapper's output) to the same space.
* ``embeddings`` (N, E): the audio-text model's unit embedding of the clip's whole log-mel.
* ``descriptors`` (N, K), in their units, named by ``descriptor_names`` (the audio VAE's descriptor-head
  names, so the heads' predictions query the bank directly, then ``loudness_lufs`` and ``duration``, then the
  ``bd2music.bank.play.PLAYED`` descriptors of the clip as a scene plays it over a segment, in banks built since
  they were added: ``played_onset_rate``, ``played_tempo``, ``played_centroid``).

Ranking (:meth:`SoundBank.rank`) adds, for each query part given, its weighted term (:class:`RankWeights`):
``latent * cos(latents) + embedding * cos(embeddings) - descriptors * d``, where ``d`` is the root mean square
over the queried descriptors of the difference in bank standard deviations (``log_descriptors`` compared as
``ln(x + 1e-6)``). Cosines lie in [-1, 1] and ``d`` is about 1 between two random clips, so the default weights
let the two learned spaces lead and the measured descriptors break ties and veto far-off clips.
"""

from __future__ import annotations

import csv
import json
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soxr
import torch
import torch.nn.functional as F
from safetensors import SafetensorError
from safetensors.torch import load_file

from bd2music.audio.load import load_audio
from bd2music.errors import InputError
from bd2music.hub import BANK_FILES, WEIGHTS_DIR

DEFAULT_BANK = WEIGHTS_DIR / "bank"
MANIFEST_COLUMNS = ("file", "category", "label", "source", "source_path", "license", "author", "duration_s", "kind")
KINDS = ("bed", "event")  # bed: steady, loopable background; event: short or transient
CONFIG_KEYS = ("descriptor_names", "log_descriptors", "sample_rate")  # what a query needs from config.json
INDEX_TENSORS = ("latents", "embeddings", "descriptors", "latent_mean", "latent_std")
LOG_EPS = 1e-6  # log_descriptors are compared as ln(x + LOG_EPS)
RESAMPLED_CACHE = 64  # resampled clips kept (a bank-rate copy of every clip used is kept anyway)
_LOADED: dict[Path, tuple[tuple, "SoundBank"]] = {}  # folder -> (its files' mtimes and sizes, the bank)
_LOADED_LOCK = threading.Lock()


@dataclass(frozen=True)
class ClipInfo:
    """One clip of a bank: its id (path relative to the bank), what it is, and whose it is."""

    id: str
    category: str
    label: str
    kind: str  # "bed" or "event"
    license: str
    author: str
    source: str
    duration: float  # seconds


@dataclass(frozen=True)
class RankWeights:
    """Weight of each term of :meth:`SoundBank.rank`'s score (see the module docstring)."""

    latent: float = 1.0  # x cosine similarity of pooled audio-VAE latents
    embedding: float = 1.0  # x cosine similarity in the audio-text space
    descriptors: float = 0.5  # x RMS standardised descriptor distance (subtracted)


class SoundBank:
    """Clips with their index; build one with ``bd2music bank build``, load it with :meth:`load`."""

    def __init__(self, root: Path, clips: list[ClipInfo], tensors: dict[str, torch.Tensor], config: dict) -> None:
        self.root, self.clips, self.config = root, clips, config  # config: its config.json
        self.sample_rate: int = config["sample_rate"]
        self.descriptor_names: list[str] = config["descriptor_names"]
        self.latents, self.embeddings = tensors["latents"], F.normalize(tensors["embeddings"], dim=-1)
        self.descriptors = tensors["descriptors"]
        self.latent_mean, self.latent_std = tensors["latent_mean"], tensors["latent_std"]
        self._log_mask = torch.tensor([name in config["log_descriptors"] for name in self.descriptor_names])
        transformed = self._transform(self.descriptors)
        self._descriptor_mean = transformed.mean(dim=0)
        spread = transformed.std(dim=0, unbiased=False)
        self._descriptor_std = torch.where(spread > 1e-6, spread, 1.0)  # a constant descriptor: units as they are
        self._standardised = (transformed - self._descriptor_mean) / self._descriptor_std
        self._latent_units = F.normalize(self.latents, dim=-1)
        self._decoded: dict[int, np.ndarray] = {}  # bank-rate samples, every clip decoded at most once
        self._resampled: OrderedDict[tuple[int, int], np.ndarray] = OrderedDict()  # the last RESAMPLED_CACHE
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.clips)

    @classmethod
    def load(cls, path: str | Path | None = None) -> SoundBank:
        """The bank in ``path`` (default: the shipped ``weights/bank``); one-line :class:`InputError` if it is
        missing, incomplete or its files disagree."""
        root = Path(path) if path is not None else DEFAULT_BANK
        if missing := [name for name in BANK_FILES if not (root / name).is_file()]:
            raise InputError(f"no sound bank in {root} (missing {', '.join(missing)}; build one: bd2music bank build)")
        stamp = tuple((stat.st_mtime_ns, stat.st_size) for stat in ((root / name).stat() for name in BANK_FILES))
        with _LOADED_LOCK:  # the backends of one process (scene, music) share one bank and its decoded clips
            loaded = _LOADED.get(root.resolve())
            if loaded is None or loaded[0] != stamp:
                loaded = _LOADED[root.resolve()] = (stamp, cls._read(root))
        return loaded[1]

    @classmethod
    def _read(cls, root: Path) -> SoundBank:
        try:
            with open(root / "manifest.csv", newline="") as manifest:
                rows = list(csv.DictReader(manifest))
            clips = [
                ClipInfo(row["file"], row["category"], row["label"], row["kind"], row["license"], row["author"],
                         row["source"], float(row["duration_s"]))
                for row in rows
            ]
            tensors = load_file(str(root / "index.safetensors"))
            config = json.loads((root / "config.json").read_text())
            shapes = {name: tuple(tensors[name].shape) for name in INDEX_TENSORS}
            if missing := [key for key in CONFIG_KEYS if key not in config]:
                raise KeyError(", ".join(missing))
        except (OSError, KeyError, ValueError, TypeError, SafetensorError) as error:
            detail = " ".join(str(error).split())[:200]
            raise InputError(f"sound bank {root} is corrupt ({type(error).__name__}: {detail})") from None
        rows_ok = all(shapes[name][0] == len(clips) for name in ("latents", "embeddings", "descriptors"))
        if not rows_ok or shapes["descriptors"][1:] != (len(config["descriptor_names"]),):
            raise InputError(f"sound bank {root} is corrupt: index shapes {shapes} vs {len(clips)} manifest rows")
        return cls(root, clips, {name: tensors[name].float() for name in INDEX_TENSORS}, config)

    # -- queries --------------------------------------------------------------------------------------------------
    def mask(self, category: str | None = None, kind: str | None = None, label: str | None = None) -> torch.Tensor:
        """Boolean (N,) of the clips of ``category``, ``kind`` and ``label`` (None: any); all False if the bank
        has none."""
        return torch.tensor(
            [(category is None or c.category == category) and (kind is None or c.kind == kind)
             and (label is None or c.label == label) for c in self.clips],
            dtype=torch.bool,
        ).reshape(len(self.clips))

    def pool_latent(self, latent: torch.Tensor) -> torch.Tensor:
        """Window latents (channels, frames) or (windows, channels, frames) -> the index's (2 * channels,) vector."""
        frames = torch.as_tensor(latent, dtype=torch.float32)
        frames = frames.reshape(-1, *frames.shape[-2:]).transpose(0, 1).flatten(1)  # (channels, all frames)
        return pool_frames(frames, self.latent_mean, self.latent_std)

    def standardise(self, descriptors: dict[str, float] | torch.Tensor) -> torch.Tensor:
        """Descriptors (a name -> value dict, or (K,) values, NaN = not asked) in bank standard deviations."""
        if isinstance(descriptors, dict):
            if unknown := set(descriptors) - set(self.descriptor_names):
                raise InputError(f"unknown descriptors {sorted(unknown)} (known: {', '.join(self.descriptor_names)})")
            descriptors = torch.tensor([descriptors.get(name, float("nan")) for name in self.descriptor_names])
        values = torch.as_tensor(descriptors, dtype=torch.float32).reshape(len(self.descriptor_names))
        return (self._transform(values) - self._descriptor_mean) / self._descriptor_std

    def scores(
        self,
        latent: torch.Tensor | None = None,
        embedding: torch.Tensor | None = None,
        descriptors: dict[str, float] | torch.Tensor | None = None,
        weights: RankWeights = RankWeights(),
    ) -> torch.Tensor:
        """The (N,) score of every clip for a query (higher is closer; see the module docstring)."""
        score = torch.zeros(len(self.clips))
        if latent is not None:
            latent = torch.as_tensor(latent, dtype=torch.float32)
            query = latent if latent.shape == self.latents.shape[1:] else self.pool_latent(latent)
            score += weights.latent * (self._latent_units @ F.normalize(query, dim=0))
        if embedding is not None:
            query = F.normalize(torch.as_tensor(embedding, dtype=torch.float32).flatten(), dim=0)
            score += weights.embedding * (self.embeddings @ query)
        if descriptors is not None:
            query = self.standardise(descriptors)
            asked = ~query.isnan()
            if asked.any():
                distance = (self._standardised[:, asked] - query[asked]).square().mean(dim=1).sqrt()
                score -= weights.descriptors * distance
        return score

    def rank(
        self,
        latent: torch.Tensor | None = None,
        embedding: torch.Tensor | None = None,
        descriptors: dict[str, float] | torch.Tensor | None = None,
        weights: RankWeights = RankWeights(),
        mask: torch.Tensor | None = None,
        bonus: torch.Tensor | None = None,
    ) -> list[int]:
        """Indices of the clips allowed by ``mask`` (default: all), best first, for a query made of any of:
        ``latent`` (pooled (2C,) or window latents), ``embedding`` (E,) and ``descriptors`` (dict or (K,)), with
        ``bonus`` (N,), if given, added to every clip's score."""
        score = self.scores(latent, embedding, descriptors, weights)
        if bonus is not None:
            score = score + torch.as_tensor(bonus, dtype=torch.float32)
        order = torch.argsort(score, descending=True, stable=True)
        if mask is not None:
            order = order[torch.as_tensor(mask, dtype=torch.bool)[order]]
        return order.tolist()

    def neighbours(self, index: int, mask: torch.Tensor | None = None) -> list[int]:
        """Clips allowed by ``mask`` (default: all) other than ``index``, nearest to clip ``index`` first (the sum
        of their cosine similarities in the audio-VAE and audio-text spaces, as :meth:`rank` weighs them)."""
        return [i for i in self.rank(self.latents[index], self.embeddings[index], mask=mask) if i != index]

    def quantile(self, name: str, q: float, mask: torch.Tensor | None = None) -> float:
        """The ``q`` quantile (0-1) of descriptor ``name`` over the clips allowed by ``mask`` (default: all)."""
        values = self.descriptors[:, self.descriptor_names.index(name)]
        if mask is not None and bool(torch.as_tensor(mask).any()):
            values = values[torch.as_tensor(mask, dtype=torch.bool)]
        return float(torch.quantile(values, float(np.clip(q, 0.0, 1.0))))

    # -- audio ----------------------------------------------------------------------------------------------------
    def audio(self, index: int, sample_rate: int | None = None) -> np.ndarray:
        """Float32 mono samples (read-only) of clip ``index`` at ``sample_rate`` (default: the bank's), decoded
        once and resampled with soxr; raises :class:`InputError` if the clip's file is gone or broken."""
        with self._lock:  # the app may render two pages at once
            samples = self._decoded.get(index)
            if samples is None:
                samples = load_audio(self.root / self.clips[index].id, sample_rate=self.sample_rate).samples
                samples.flags.writeable = False
                self._decoded[index] = samples
            rate = sample_rate or self.sample_rate
            if rate == self.sample_rate:
                return samples
            resampled = self._resampled.get((index, rate))
            if resampled is None:
                resampled = soxr.resample(samples, self.sample_rate, rate).astype(np.float32)
                resampled.flags.writeable = False
                self._resampled[(index, rate)] = resampled
                if len(self._resampled) > RESAMPLED_CACHE:
                    self._resampled.popitem(last=False)
            return resampled

    def _transform(self, values: torch.Tensor) -> torch.Tensor:
        return torch.where(self._log_mask, (values.clamp_min(0) + LOG_EPS).log(), values)


def pool_frames(frames: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """Latent frames (channels, frames) -> standardised ``[frame mean, frame std]`` (2 * channels,)."""
    spread = frames.std(dim=1, unbiased=False)
    return torch.cat([(frames.mean(dim=1) - mean) / std, spread / std])
