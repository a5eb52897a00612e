"""Curation: which clips of a large folder go into a bank shipped under a size budget.

``curate(items, config)`` keeps, per category, a share of the byte budget (sizes are the clips' FLAC encoding at
the bank's rate, measured, not guessed). Within a category the clips are taken in a diverse order: round-robin
over sources, within each source round-robin over labels, within a label in a seeded hash order; a clip that
would overflow its category's share is passed over for smaller ones. Never kept: clips of ``exclude_splits``
(the held-out real clips the evaluation measures realism against), unreadable, silent, too short, too quiet or
clipped ones. The shipped bank's settings are ``configs/bank/shipped.json``.
"""

from __future__ import annotations

import hashlib
import io
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import soundfile as sf

from bd2music.audio.load import Clip, load_audio
from bd2music.data.sounds import SoundItem
from bd2music.errors import InputError


@dataclass
class CurationConfig:
    """What a curated bank keeps (a JSON file of these keys, e.g. ``configs/bank/shipped.json``)."""

    budget_mb: float = 37.0  # audio kept, in MB (1e6 bytes) of FLAC; the index and cards need about 1 MB more
    shares: dict[str, float] = field(default_factory=lambda: {"ambience": 0.4, "foley": 0.2, "machine": 0.15,
                                                               "animal": 0.1, "human": 0.1, "music": 0.05})
    exclude_splits: tuple[str, ...] = ("heldout", "eval")  # never shipped: the evaluation's real clips
    min_duration: float = 0.3  # s
    min_rms_dbfs: float = -45.0  # quieter clips are mostly noise floor
    max_clipped: float = 1e-3  # largest fraction of samples at full scale (|x| >= 0.999)
    seed: int = 0  # order of the clips within one label

    def __post_init__(self) -> None:
        if any(share < 0 for share in self.shares.values()) or sum(self.shares.values()) > 1 + 1e-6:
            raise ValueError(f"shares must be >= 0 and sum to at most 1, got {self.shares}")


def flac_bytes(samples: np.ndarray, sample_rate: int) -> bytes:
    """The 16-bit FLAC file of mono float samples, as the bank stores it."""
    buffer = io.BytesIO()
    sf.write(buffer, samples, sample_rate, format="FLAC", subtype="PCM_16")
    return buffer.getvalue()


def flaw(clip: Clip, config: CurationConfig) -> str | None:
    """Why ``clip`` is not fit for a curated bank, or None."""
    rms_dbfs = 10 * np.log10(np.mean(np.square(clip.samples, dtype=np.float64)) + 1e-20)
    if clip.duration_s < config.min_duration:
        return "too short"
    if clip.silent or rms_dbfs < config.min_rms_dbfs:
        return "too quiet"
    if np.mean(np.abs(clip.samples) >= 0.999) > config.max_clipped:
        return "clipped"
    return None


def diverse_order(items: Sequence[SoundItem], seed: int = 0) -> list[SoundItem]:
    """``items`` round-robin over sources, within a source over labels, within a label in seeded hash order."""

    def key(text: str) -> str:
        return hashlib.sha1(f"{seed}:{text}".encode()).hexdigest()

    def round_robin(queues: list[list[SoundItem]]) -> list[SoundItem]:
        return [queue[i] for i in range(max(map(len, queues), default=0)) for queue in queues if i < len(queue)]

    by_source: dict[str, dict[str, list[SoundItem]]] = defaultdict(lambda: defaultdict(list))
    for item in sorted(items, key=lambda item: key(item.name)):
        by_source[item.source][item.label].append(item)
    per_source = [round_robin([labels[name] for name in sorted(labels, key=key)]) for labels in by_source.values()]
    return round_robin(sorted(per_source, key=lambda queue: key(queue[0].source)))


def curate(
    items: Sequence[SoundItem], config: CurationConfig, sample_rate: int, log: Callable[[str], None] = print
) -> list[SoundItem]:
    """The items a curated bank keeps, in their given order (see the module docstring); one log line each for
    unreadable clips and one summary line per category."""
    fit: dict[str, list[SoundItem]] = defaultdict(list)
    sizes: dict[str, int] = {}
    dropped: Counter[str] = Counter()
    for item in items:
        if item.split in config.exclude_splits or item.category not in config.shares:
            continue
        try:
            clip = load_audio(item.path, item.name, sample_rate=sample_rate)
        except InputError as error:
            log(f"warning: {error}; skipped")
            continue
        if reason := flaw(clip, config):
            dropped[reason] += 1
            continue
        fit[item.category].append(item)
        sizes[item.name] = len(flac_bytes(clip.samples, sample_rate))
    kept = set()
    for category, share in config.shares.items():
        budget, used, count = share * config.budget_mb * 1e6, 0, 0
        for item in diverse_order(fit[category], config.seed):
            if used + sizes[item.name] <= budget:
                kept.add(item.name)
                used, count = used + sizes[item.name], count + 1
        log(f"{category}: {count} of {len(fit[category])} fit clips, {used / 1e6:.1f} MB of {budget / 1e6:.1f} MB")
    if dropped:
        log("not fit: " + ", ".join(f"{count} {reason}" for reason, count in sorted(dropped.items())))
    return [item for item in items if item.name in kept]
