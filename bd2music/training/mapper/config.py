"""What decides a mapper run (saved as ``train_config.json``) and the smoke preset."""

from __future__ import annotations

from dataclasses import dataclass, field

from bd2music.models.mapper import STRUCTURAL_PAIRS, MapperConfig
from bd2music.training.common import DataConfig

LOSSES = ("adversarial", "cycle", "identity", "structural", "semantic", "moments", "sliced", "matching")


@dataclass
class ComicDataConfig:
    """Which comic items a run uses."""

    synthetic_pages: int = 120  # generated pages added to the real ones (training split)
    max_pages: int = 0  # real pages kept, spread over the list (0 = all; for smoke runs)
    max_panels: int = 6  # panel items per page (the first in reading order)
    detector: str = "yolo"  # finds panels and balloons on pages without labels
    detector_weights: str = "weights/detector"  # the YOLO weights it uses (the page features depend on them)


@dataclass
class MapperTrainConfig:
    """Everything that decides a mapper run; a loss weight of 0 switches that loss off (``LOSSES``)."""

    model: MapperConfig = field(default_factory=MapperConfig)
    comics: ComicDataConfig = field(default_factory=ComicDataConfig)
    data: DataConfig = field(default_factory=lambda: DataConfig(cache="runs/audio-vae/cache"))
    cache_hop_frames: int = 64  # hop of the sound cache's windows (only used when the cache is built)
    comic_vae: str = "weights/comic_vae"
    audio_vae: str = "weights/audio_vae"
    audio_text: str = "weights/audio_text"
    pairs: tuple[tuple[str, str], ...] = STRUCTURAL_PAIRS
    steps: int = 600  # converges fast: the matching loss gives every step real targets
    batch_size: int = 64
    pool_size: int = 256  # real windows per step (moments, matching, adversarial)
    learning_rate: float = 1e-3  # G, F and projections (AdamW peak)
    discriminator_learning_rate: float = 5e-4
    discriminator_hidden: int = 64  # width of both discriminators (training only, not shipped)
    weight_decay: float = 1e-4
    warmup_steps: int = 50
    min_lr_ratio: float = 0.05
    grad_clip: float = 1.0
    adversarial_weight: float = 0.1
    cycle_weight: float = 0.3
    identity_weight: float = 0.1
    structural_weight: float = 1.0
    semantic_weight: float = 0.3
    moments_weight: float = 1.0
    sliced_weight: float = 0.0  # optional (see ``bd2music.training.mapper``): off in the shipped CPU run
    sliced_directions: int = 128  # random projections per step of the sliced Wasserstein loss
    matching_weight: float = 1.0
    matching_structure_cost: float = 8.0  # feature/descriptor quantile mismatch vs latent distance in the assignment
    min_window_fill: float = 0.0  # real windows with a smaller fill (see ``window_fill``) are not G's targets
    fill_db: float = 30.0  # a frame "fills" its window when within this many dB of the window's loudest frame
    rank_temperature: float = 0.1  # soft-rank sigmoid width, in standard deviations of the predictions
    semantic_head_steps: int = 300  # fitting of the latent -> embedding head when the audio VAE has none
    eval_every: int = 200
    eval_noise_draws: int = 4  # noise draws per held-out item for diversity and Frechet distance
    checkpoint_every: int = 100
    seed: int = 0
    threads: int = 1  # torch CPU threads (0 = torch's default)


SMOKE = {  # seconds on a CPU: 6 real pages, 2 synthetic, 4 clips (give smoke component folders with --config)
    "model": {"hidden": 32, "blocks": 1, "inverse_hidden": 16, "noise_dim": 4, "quantile_knots": 5},
    "comics": {"synthetic_pages": 2, "max_pages": 6, "max_panels": 2, "detector": "classical"},
    "data": {"max_clips": 4, "cache": None},
    "cache_hop_frames": 16,
    "steps": 6,
    "batch_size": 8,
    "pool_size": 8,
    "warmup_steps": 1,
    "semantic_head_steps": 4,
    "eval_every": 6,
    "eval_noise_draws": 2,
    "checkpoint_every": 3,
}
