"""Train the audio-text contrastive model (``bd2music.models.audio_text``) on the clips and their labels.

    bd2music train audio-text --out runs/audio_text                      # minutes on one CPU thread
    bd2music train audio-text --smoke --out /tmp/at --work /tmp/run_at        # seconds, tiny model

Pairs: a random log-mel crop of one of a training clip's cached windows, and one of ``TEMPLATES`` filled with the
clip's manifest label and category ("the sound of rain", "rain, a ambience sound", ...). A batch holds one clip
per label, labels drawn without replacement, so no two pairs of a batch share a label. Loss: symmetric InfoNCE
(cross-entropy of the audio-to-text and text-to-audio similarity logits, learnable temperature). The frozen
sentence encoder embeds every text once, before training.

Metric: text-to-audio retrieval on the held-out clips (fixed split, ``bd2music.data.sounds``). Queries are the
distinct held-out labels as ``QUERY_TEMPLATE``, the gallery the held-out clips (a clip's embedding: the mean of
its windows' embeddings); a query scores a hit at k when one of the k nearest clips carries its label. Chance
recall@k is the mean over queries of 1 - C(N - n, k) / C(N, k) (N clips, n of them with the query's label).
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from bd2music.bank.captions import CAPTION
from bd2music.data.sounds import SoundCache
from bd2music.models.audio_text import AudioTextModelConfig, AudioTextModel
from bd2music.models.text_encoder import text_encoder
from bd2music.training.card import export, model_card
from bd2music.training.common import DataConfig, mel_statistics, prepare_cache
from bd2music.training.solver import Solver, cosine_lr

TEMPLATES = (
    "{label}",
    "the sound of {label}",
    "a recording of {label}",
    CAPTION,  # "{label}, a {category} sound": how the sound bank's clips are found by text
    "{category} sound: {label}",
)
QUERY_TEMPLATE = "the sound of {label}"
RECALL_AT = (1, 5)


@dataclass
class AudioTextTrainConfig:
    """Everything that decides an audio-text run (saved as ``train_config.json``)."""

    model: AudioTextModelConfig = field(default_factory=AudioTextModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    cache_window_frames: int = 256  # cached windows (4.096 s) ...
    cache_hop_frames: int = 128  # ... every 2.05 s
    crop_frames: int = 128  # training crops of a window (2.05 s)
    gain_jitter: float = 1.0  # a random loudness change: up to +-1 nat added to the whole log-mel
    steps: int = 600
    batch_size: int = 64  # pairs (distinct labels) per step
    learning_rate: float = 1e-3  # AdamW peak
    weight_decay: float = 0.05
    warmup_steps: int = 50
    min_lr_ratio: float = 0.05
    grad_clip: float = 1.0
    eval_every: int = 150
    checkpoint_every: int = 150
    seed: int = 0
    threads: int = 1  # torch CPU threads (0 = torch's default)


SMOKE = {  # seconds on a CPU: a tiny model on 8 clips
    "model": {"channels": [16, 24], "embed_dim": 8, "text_hidden": 16},
    "data": {"max_clips": 8},
    "cache_window_frames": 32,
    "cache_hop_frames": 16,
    "crop_frames": 16,
    "steps": 8,
    "batch_size": 4,
    "learning_rate": 3e-3,
    "warmup_steps": 1,
    "eval_every": 8,
    "checkpoint_every": 4,
}


def clip_texts(clip: dict) -> list[str]:
    """The training sentences of a cached clip: every template filled with its label and category."""
    return [template.format(label=clip["label"], category=clip["category"]) for template in TEMPLATES]


@torch.inference_mode()
def window_embeddings(model: AudioTextModel, cache: SoundCache, windows: torch.Tensor, device: torch.device):
    """``embed_audio`` of whole cached windows: (len(windows), embed_dim) on the CPU."""
    return torch.cat(
        [model.embed_audio(cache.window_mels(chunk).to(device)).cpu() for chunk in windows.split(64)]
    )


def clip_embeddings(
    cache: SoundCache, windows: torch.Tensor, embeddings: torch.Tensor
) -> tuple[list[int], torch.Tensor]:
    """The clips of ``windows`` and their unit embeddings: the mean of their windows' ``embeddings``."""
    clips = cache.window_clip[windows]
    ids = sorted(set(clips.tolist()))
    means = torch.stack([embeddings[clips == clip].mean(dim=0) for clip in ids])
    return ids, F.normalize(means, dim=-1)


def chance_recall(relevant: torch.Tensor, k: int) -> float:
    """Expected recall@k of a random ranking: mean over queries of 1 - C(N - n, k) / C(N, k)."""
    total = relevant.shape[1]
    counts = relevant.sum(dim=1).tolist()
    return float(np.mean([1 - math.comb(total - n, k) / math.comb(total, k) for n in counts]))


@torch.inference_mode()
def text_to_audio_recall(
    model: AudioTextModel, cache: SoundCache, clip_ids: list[int], gallery: torch.Tensor, prefix: str = "heldout_"
) -> dict[str, float]:
    """Recall@k of the distinct labels of ``clip_ids`` (as ``QUERY_TEMPLATE``) over the clips' embeddings
    ``gallery`` (len(clip_ids), D), and the chance level of each (see the module docstring)."""
    labels = [cache.clips[clip]["label"] for clip in clip_ids]
    queries = sorted(set(labels))
    text = model.embed_text([QUERY_TEMPLATE.format(label=label) for label in queries]).cpu()
    relevant = torch.tensor([[label == query for label in labels] for query in queries])
    ranking = (text @ gallery.T).argsort(dim=1, descending=True)
    hits = relevant.gather(1, ranking)
    metrics = {f"{prefix}queries": float(len(queries)), f"{prefix}gallery_clips": float(len(clip_ids))}
    for k in RECALL_AT:
        metrics[f"{prefix}recall_at_{k}"] = hits[:, :k].any(dim=1).float().mean().item()
        metrics[f"{prefix}chance_recall_at_{k}"] = chance_recall(relevant, min(k, len(clip_ids)))
    return metrics


def evaluate(
    model: AudioTextModel, cache: SoundCache, windows: torch.Tensor, device: torch.device
) -> dict[str, float]:
    """Held-out text-to-audio retrieval (see the module docstring)."""
    model.eval()
    clip_ids, gallery = clip_embeddings(cache, windows, window_embeddings(model, cache, windows, device))
    model.train()
    train_labels = {cache.clips[i]["label"] for i in cache.clip_indices("train")}
    unseen = {cache.clips[i]["label"] for i in clip_ids} - train_labels
    return text_to_audio_recall(model, cache, clip_ids, gallery) | {
        "heldout_labels_unseen_in_training": float(len(unseen)),
        "temperature": math.exp(-model.logit_scale.item()),
    }


def augment(
    mels: torch.Tensor, crop: int, gain_jitter: float, log_min: float, rng: np.random.Generator
) -> torch.Tensor:
    """A random ``crop``-frame slice of each log-mel with a random gain (nats added, never below ``log_min``)."""
    starts = rng.integers(0, mels.shape[-1] - crop + 1, len(mels))
    crops = torch.stack([mel[:, start : start + crop] for mel, start in zip(mels, starts)])
    gains = torch.from_numpy(rng.uniform(-gain_jitter, gain_jitter, (len(mels), 1, 1))).float()
    return (crops + gains).clamp_min(log_min)


class AudioTextSolver(Solver):
    """The audio-text run: a batch of (window crop, sentence) pairs with distinct labels per step."""

    name = "audio-text"

    def __init__(self, config: AudioTextTrainConfig, data_root: Path, out: Path, work: Path, device: str = "cpu"):
        super().__init__(config, data_root, out, work, device)
        self.cache = cache = prepare_cache(
            self.data_root, config.data, self.work, device=device, window_frames=config.cache_window_frames,
            hop_frames=config.cache_hop_frames, mel=config.model.mel, descriptors=False,
        )
        train_windows, self.heldout_windows = cache.window_indices("train"), cache.window_indices("heldout")
        self.windows_of_label: dict[str, list[int]] = defaultdict(list)
        for window in train_windows.tolist():
            self.windows_of_label[cache.clips[int(cache.window_clip[window])]["label"]].append(window)
        self.labels = sorted(self.windows_of_label)
        texts = sorted({text for clip in cache.clips for text in clip_texts(clip)})
        tqdm.write(f"audio-text: embedding {len(texts)} sentences with {config.model.text_model}")
        embedded = dict(zip(texts, text_encoder(config.model.text_model, device).embed(texts).cpu()))
        self.sentences = torch.stack([torch.stack([embedded[text] for text in clip_texts(clip)])
                                      for clip in cache.clips])
        self.model = AudioTextModel(config.model).to(self.device)
        self.model.set_statistics(*mel_statistics(cache, train_windows))
        self.optimizer = torch.optim.AdamW(self.model.parameters(), config.learning_rate,
                                           weight_decay=config.weight_decay)
        self.schedule = cosine_lr(self.optimizer, config)
        self.batch_size = min(config.batch_size, len(self.labels))
        self.targets = torch.arange(self.batch_size, device=self.device)

    def train_step(self, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        c, cache, model = self.config, self.cache, self.model
        batch_labels = rng.permutation(len(self.labels))[: self.batch_size]
        windows = torch.tensor([rng.choice(self.windows_of_label[self.labels[i]]) for i in batch_labels])
        mels = augment(cache.window_mels(windows), c.crop_frames, c.gain_jitter, cache.mel.log_min, rng)
        text = self.sentences[cache.window_clip[windows],
                              torch.from_numpy(rng.integers(0, len(TEMPLATES), self.batch_size))]
        logits = model.logits(model.embed_audio(mels.to(self.device)), model.project_text(text.to(self.device)))
        loss = 0.5 * (F.cross_entropy(logits, self.targets) + F.cross_entropy(logits.T, self.targets))
        self.update(loss)
        return {"total": loss}

    def evaluate(self) -> dict[str, float]:
        return evaluate(self.model, self.cache, self.heldout_windows, self.device)

    def export(self) -> dict[str, float]:
        """Time an embedding, write the weights folder."""
        metrics = self.final_metrics()
        start = time.perf_counter()
        window_embeddings(self.model, self.cache, self.heldout_windows[:1], self.device)
        metrics |= {"train_loss_first_100": self.mean_loss(100), "embed_seconds_per_window": time.perf_counter() - start}
        c = self.config.model
        summary = (
            f"Audio-text contrastive model for bd2music (CLAP-style, trained from scratch on the clips' manifest "
            f"labels and categories): a 1-D ConvNeXt audio tower (widths {list(c.channels)}) on log-mels "
            f"(`bd2music.audio.mel`, any length) and a projection of frozen {c.text_model} sentence embeddings "
            f"(all-MiniLM-L6-v2, Apache-2.0, shipped in the pip package), both to {c.embed_dim}-d unit vectors. "
            f"{self.parameter_count()} trained, {self.step} steps of {self.batch_size} pairs. Held-out "
            f"text-to-audio retrieval: queries are the {int(metrics.get('heldout_queries', 0))} distinct held-out "
            f"labels as \"{QUERY_TEMPLATE}\", the gallery the {int(metrics.get('heldout_gallery_clips', 0))} held-out "
            "clips; chance recall@k = mean over queries of 1 - C(N - n, k) / C(N, k) for n relevant clips among N. "
            "Its audio embeddings are the targets of the audio VAE's semantic head (`bd2music train audio-heads`)."
        )
        card = model_card("bd2music audio-text model", summary, c, self.cache, metrics,
                          "bd2music train audio-text --config train_config.json --out runs/audio_text",
                          ["audio", "text", "contrastive", "clap", "bd2music"])
        export(self.model, self.out, self.config, self.cache, metrics, card)
        return metrics


def train_audio_text(
    config: AudioTextTrainConfig, data_root: Path, out: Path, work: Path, device: str = "cpu", resume: bool = False
) -> dict[str, float]:
    """Train, checkpoint to ``work``, export to ``out``; return the final held-out metrics."""
    return AudioTextSolver(config, data_root, out, work, device).run(resume)
