"""Train the latent mapper (``bd2music.models.mapper``): a latent CycleGAN between comic and audio latents.

    bd2music train mapper --config configs/mapper/cpu.json --out weights/mapper    # minutes, one CPU thread
    bd2music train mapper --config configs/mapper/no_cycle.json --out OUT --work runs/mapper-no_cycle  # one ablation
    python -m bd2music.training.mapper_ablation --out runs/mapper-ablation          # all of them + a table
    bd2music train mapper --smoke --config smoke.json --out /tmp/m --work /tmp/run   # seconds; smoke.json names
                                                                                    # tiny comic_vae/audio_vae folders

Components (frozen, folders in the config): ``comic_vae``, ``audio_vae`` and, for the semantic loss, ``audio_text``
(without it the semantic loss is switched off and the run says so).

Data (cached in the work folder, nothing is decoded to audio):

* comic side: every page of ``DATA/comics`` (the comic VAE's fixed page split, ``bd2music.data.comic_images``;
  never ``eval_pages``) and ``comics.synthetic_pages`` generated pages (content cut from the training pages), each
  page and each of its first ``comics.max_panels`` panel crops an item: its comic-VAE posterior mean, its condition
  (``page_condition`` / ``panel_condition``) and its description (``bd2music.vision.description``). Panels and
  balloons come from ``comics/labels`` where present (manga: right-to-left), from the YOLO detector otherwise,
  from the generator for synthetic pages.
* audio side: the audio-VAE posterior means of the sound cache's windows (``data.cache``: an existing cache is
  only read, never rebuilt; its ``window_frames`` must be the audio VAE's) with their real descriptors.

Losses of G (generator), F (inverse) and the identity projections P (audio latent -> comic latent size) and
Q (comic latent -> audio latent size), each weighted in the config (0 switches it off); latents are compared
standardised (the mapper's statistics):

* ``adversarial``: LSGAN in both latent spaces, D_a(G(z)) and D_c(F(a)) against real latents.
* ``cycle``: |F(G(z, c, n)) - z| and |G(F(a), c_a, 0) - a|, where c_a is a batch page's condition whose
  structural features are set to the quantiles of the window's own descriptors (its audio-side condition).
* ``identity``: |G(P(a), c_a, 0) - a| and |F(Q(z)) - z| through the learned projections (training only).
* ``structural``: for each pair of ``pairs`` (page feature -> descriptor), 1 - Spearman correlation over the batch
  between the feature and the audio VAE descriptor head's prediction on G(z) (soft ranks: pairwise sigmoids).
* ``semantic``: 1 - cos(embed(G(z)), audio_text.embed_text(description)); ``embed`` is the audio VAE's semantic
  head when it was trained, else a latent -> embedding head fitted here on the real windows' audio-text
  embeddings (``semantic_head_steps``).
* ``moments``: per-element mean and std of G(z) over the batch against a pool of real latents.
* ``sliced`` (optional, off by default): sliced 2-Wasserstein distance between G(z) and the pool of real latents
  (``sliced_directions`` random projections per step), a whole-distribution match beyond per-element moments.
  In a 600-step CPU run it widened G(z) (diversity ratio 0.83 -> 0.91) without lowering the Frechet distance.
* ``matching``: G(z) is pulled (MSE) to a real latent chosen for it by an optimal assignment (Hungarian, batch
  against a pool of ``pool_size`` real windows) whose cost is ``matching_structure_cost`` x the squared distance
  between the page's feature quantiles and the window's descriptor quantiles over ``pairs`` plus the latent
  distance: a conditional IMLE that keeps G(z) on real latents (decodable audio) with descriptors that rank like
  the features, and keeps the noise meaningful (variety).

``min_window_fill`` (off by default) keeps real windows that are a few events in near silence (``window_fill``)
out of the pool of targets: edges -> onsets on decoded audio rises, the Frechet distance to all real windows too.

Metrics (held-out comic items, never decoded): Spearman rho and p of each pair on the descriptor head's predictions
of G(z); diversity ratio (mean pairwise distance of generated latents / that of real held-out windows); Frechet
distance between generated and real held-out latents (flattened) for the trained mapper and an untrained one.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path

import numpy as np
import scipy.stats
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors.torch import load_file, save_file
from scipy.optimize import linear_sum_assignment
from torch import nn
from tqdm import tqdm

from bd2music.data.comic_images import _spread, _training_content, load_comics
from bd2music.data.sounds import SoundCache
from bd2music.data.synthetic_pages import PageGenerator, load_content_sources
from bd2music.errors import InputError
from bd2music.io import load_page
from bd2music.models.audio_vae import AudioVAE, PooledHead
from bd2music.models.base import config_to_dict
from bd2music.models.comic_vae import ComicVAE, crop_panels
from bd2music.models.mapper import (
    CONDITION_NAMES,
    STRUCTURAL_PAIRS,
    LatentMapper,
    MapperConfig,
    page_condition,
    panel_condition,
)
from bd2music.training.audio_text import window_embeddings
from bd2music.training.common import (
    DataConfig,
    cosine_schedule,
    export,
    model_card,
    prepare_cache,
    restore_training_state,
    save_training_state,
    seed_everything,
    setup_device,
)
from bd2music.vision.analysis import analyze_page
from bd2music.vision.boxes import Balloon, Box, Panel
from bd2music.vision.description import describe_page, describe_panel
from bd2music.vision.detect import load_detector
from bd2music.vision.features import PageFeatures, compute_features
from bd2music.vision.reading_order import assign_balloons, reading_order

LOSSES = ("adversarial", "cycle", "identity", "structural", "semantic", "moments", "sliced", "matching")
PAGE_FEATURES_VERSION = 1


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
    """Everything that decides a mapper run (saved as ``train_config.json``); a loss weight of 0 switches it off."""

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
    sliced_weight: float = 0.0  # optional (see the module doc): off in the shipped CPU run
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


# -- comic items ------------------------------------------------------------------------------------------------


def features_from_boxes(image: Image.Image, panels: list[Box], balloons: list[Box], rtl: bool) -> PageFeatures:
    """Features of a page whose panel and balloon boxes (image pixels) are known: reading order, balloon owners."""
    order = reading_order(panels, rtl=rtl)
    ordered = [Panel(panels[i], rank, 1.0) for rank, i in enumerate(order)]
    owners = assign_balloons(balloons, [p.box for p in ordered])
    return compute_features(image, ordered, [Balloon(box, owner, 1.0) for box, owner in zip(balloons, owners)])


def _labelled_boxes(label_file: Path, image: Image.Image) -> tuple[list[Box], list[Box]]:
    """Panel and balloon boxes of a ``comics/labels`` file, scaled to ``image``."""
    data = json.loads(label_file.read_text())
    sx, sy = image.width / data["width"], image.height / data["height"]
    panels, balloons = ([(b[0] * sx, b[1] * sy, b[2] * sx, b[3] * sy) for b in data.get(key, [])]
                        for key in ("panels", "balloons"))
    return panels, balloons


@dataclass
class ComicPages:
    """Real and synthetic pages with their features; ``image(i)`` gives page ``i`` back (synthetic: redrawn)."""

    names: list[str]
    splits: list[str]
    features: list[PageFeatures]
    paths: list[str | None]  # real pages' files; None for synthetic pages (drawn again from their index)
    content: Path  # the synthetic pages' content folder
    seed: int

    @cached_property
    def generator(self) -> PageGenerator:
        return PageGenerator(load_content_sources(self.content), seed=self.seed)

    def image(self, index: int) -> Image.Image:
        path = self.paths[index]
        if path is not None:
            return load_page(path).image
        return self.generator(int(self.names[index].rsplit("/", 1)[1])).image


def comic_pages(config: MapperTrainConfig, comics_dir: Path, work: Path) -> ComicPages:
    """The run's pages and their features, computed once and cached in ``work/comic_pages.json``."""
    pages = _spread(load_comics(comics_dir), config.comics.max_pages)
    settings = {"version": PAGE_FEATURES_VERSION, "comics": config_to_dict(config.comics), "seed": config.seed,
                "pages": [page.name for page in pages]}
    cache_file = work / "comic_pages.json"
    result = ComicPages([], [], [], [], _training_content(pages, work / "content"), config.seed)
    if cache_file.is_file() and (cached := json.loads(cache_file.read_text()))["settings"] == settings:
        records = cached["records"]
    else:
        detector = None
        records = []
        for page in tqdm(pages, desc="page features", unit="page"):
            label_file = comics_dir / "labels" / f"{page.path.stem}.json"
            loaded = load_page(page.path)
            if label_file.is_file():
                manga = page.name.startswith("openmantra")
                features = features_from_boxes(loaded.image, *_labelled_boxes(label_file, loaded.image), rtl=manga)
            else:
                detector = detector or load_detector(config.comics.detector, config.comics.detector_weights,
                                                     fallback=False)
                features = analyze_page(loaded, detector).features
            records.append({"name": page.name, "split": page.split, "path": str(page.path),
                            "features": features.to_dict()})
        for index in tqdm(range(config.comics.synthetic_pages), desc="synthetic pages", unit="page"):
            drawn = result.generator(index)
            features = features_from_boxes(drawn.image, list(drawn.panels), list(drawn.balloons), rtl=False)
            records.append({"name": f"synthetic/{index:05d}", "split": "train", "path": None,
                            "features": features.to_dict()})
        work.mkdir(parents=True, exist_ok=True)
        cache_file.write_text(json.dumps({"settings": settings, "records": records}) + "\n")
    result.names, result.splits = [r["name"] for r in records], [r["split"] for r in records]
    result.features = [PageFeatures.from_dict(r["features"]) for r in records]
    result.paths = [r["path"] for r in records]
    return result


@dataclass
class ComicItems:
    """Pages and panel crops: names, splits, conditions (N, C), comic latents (N, Dc) and descriptions."""

    names: list[str]
    splits: list[str]
    conditions: torch.Tensor
    latents: torch.Tensor
    descriptions: list[str]

    def indices(self, split: str) -> torch.Tensor:
        return torch.tensor([i for i, s in enumerate(self.splits) if s == split], dtype=torch.long)


def file_digest(folder: str | Path) -> str:
    """Short SHA-1 of a weights folder's ``model.safetensors`` (cache keys of latents computed with it)."""
    return hashlib.sha1((Path(folder) / "model.safetensors").read_bytes()).hexdigest()[:16]


def comic_items(config: MapperTrainConfig, pages: ComicPages, comic_vae: ComicVAE, work: Path) -> ComicItems:
    """Every page and its first ``max_panels`` panels as items; latents cached per comic VAE in ``work``."""
    names, splits, conditions, descriptions, where = [], [], [], [], []
    for index, (name, split, features) in enumerate(zip(pages.names, pages.splits, pages.features)):
        panels = range(min(len(features.panels), config.comics.max_panels))
        names += [name, *(f"{name}#panel{i}" for i in panels)]
        splits += [split] * (1 + len(panels))
        conditions += [page_condition(features), *(panel_condition(features, i) for i in panels)]
        descriptions += [describe_page(features), *(describe_panel(features, i) for i in panels)]
        where.append((index, list(panels)))
    cache_file = work / f"comic_latents-{file_digest(config.comic_vae)}.safetensors"
    if cache_file.is_file() and len(latents := load_file(str(cache_file))["latents"]) == len(names):
        return ComicItems(names, splits, torch.stack(conditions), latents, descriptions)
    encoded = []
    for index, panels in tqdm(where, desc="comic latents", unit="page"):
        image = pages.image(index)
        crops = crop_panels(image, [pages.features[index].panels[i].box for i in panels])
        encoded.append(comic_vae.encode_images([image, *crops]).cpu())
    latents = torch.cat(encoded)
    save_file({"latents": latents.contiguous()}, str(cache_file))
    return ComicItems(names, splits, torch.stack(conditions), latents, descriptions)


# -- audio windows ----------------------------------------------------------------------------------------------


def sound_cache(config: MapperTrainConfig, data_root: Path, work: Path, audio_vae: AudioVAE, device: str) -> SoundCache:
    """An existing cache (``data.cache``) read as it is, else one built in ``work/cache``."""
    folder = Path(config.data.cache) if config.data.cache else None
    if folder is not None and (folder / "index.json").is_file():
        cache = SoundCache(folder)
    else:
        cache = prepare_cache(data_root, replace(config.data, cache=None), work, device=device,
                              window_frames=audio_vae.config.window_frames, hop_frames=config.cache_hop_frames,
                              mel=audio_vae.config.mel)
    if cache.window_frames != audio_vae.config.window_frames:
        raise InputError(f"{cache.folder}: windows of {cache.window_frames} frames, the audio VAE takes "
                         f"{audio_vae.config.window_frames}")
    return cache


@torch.inference_mode()
def audio_latents(config: MapperTrainConfig, cache: SoundCache, audio_vae: AudioVAE, work: Path) -> torch.Tensor:
    """Posterior means of every cache window (windows, *latent_shape), cached per audio VAE in ``work``."""
    cache_file = work / f"audio_latents-{file_digest(config.audio_vae)}-{len(cache.window_clip)}.safetensors"
    if cache_file.is_file():
        return load_file(str(cache_file))["latents"]
    device = next(audio_vae.parameters()).device
    chunks = torch.arange(len(cache.window_clip)).split(64)
    latents = torch.cat([audio_vae.encode(cache.window_mels(c).to(device)).mean.cpu()
                         for c in tqdm(chunks, desc="audio latents", unit="batch")])
    work.mkdir(parents=True, exist_ok=True)
    save_file({"latents": latents.contiguous()}, str(cache_file))
    return latents


def window_fill(cache: SoundCache, indices: torch.Tensor, within_db: float) -> torch.Tensor:
    """Share of each window's mel frames whose power lies within ``within_db`` of its loudest frame: about 1 for
    sound that goes on, small for a few events in near silence (which no pulse can make rhythmic)."""
    fills = []
    for chunk in indices.split(256):
        frame_db = 10 * torch.log10(cache.window_mels(chunk).exp().sum(dim=1) + 1e-12)
        loud = frame_db.amax(dim=1, keepdim=True)
        fills.append((frame_db > loud - within_db).float().mean(dim=1))
    return torch.cat(fills)


def empirical_quantiles(values: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Share of ``reference`` rows below each value, per column: (N, D) in [0, 1] (ties count half)."""
    sorted_reference = reference.sort(dim=0).values.T.contiguous()
    columns = values.T.contiguous()
    below = torch.searchsorted(sorted_reference, columns) + torch.searchsorted(sorted_reference, columns, right=True)
    return (below.float() / (2 * len(reference))).T


# -- semantic targets -------------------------------------------------------------------------------------------


@dataclass
class Semantic:
    """``embed(latent) -> (B, D)`` unit vectors and the items' description embeddings (N, D)."""

    embed: nn.Module
    texts: torch.Tensor
    head_cosine: float | None = None  # held-out cosine of a head fitted here (None: the audio VAE's own head)


class VAESemanticHead(nn.Module):
    """The audio VAE's own semantic head (``AudioVAE.embed``)."""

    def __init__(self, audio_vae: AudioVAE) -> None:
        super().__init__()
        self.audio_vae = audio_vae

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        return self.audio_vae.embed(latent)


class FittedSemanticHead(nn.Module):
    """A latent -> unit embedding head (``PooledHead``) fitted to an audio-text model's embeddings."""

    def __init__(self, channels: int, hidden: int, dim: int) -> None:
        super().__init__()
        self.head = PooledHead(channels, hidden, dim)

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.head(latent), dim=-1)


def vae_semantic_trained(folder: str | Path) -> bool:
    """Whether the audio VAE's metrics say its semantic head was trained (with it, or by ``train audio-heads``)."""
    file = Path(folder) / "metrics.json"
    metrics = json.loads(file.read_text()) if file.is_file() else {}
    return bool(metrics.get("semantic_targets", 0)) or "heldout_cosine" in metrics


def semantic_setup(
    config: MapperTrainConfig, cache: SoundCache, latents: torch.Tensor, audio_vae: AudioVAE, items: ComicItems,
    work: Path, device: torch.device,
) -> Semantic | None:
    """The semantic loss's embedder and text targets, or None (with a note) when it cannot run."""
    if config.semantic_weight <= 0:
        return None
    folder = Path(config.audio_text)
    if not (folder / "model.safetensors").is_file():
        tqdm.write(f"mapper: no audio-text model in {folder}: semantic loss switched off")
        return None
    from bd2music.models.audio_text import AudioTextModel

    audio_text = AudioTextModel.from_pretrained(folder, device=device)
    unique = sorted(set(items.descriptions))
    with torch.inference_mode():
        embedded = audio_text.embed_text(unique)
    texts = embedded[torch.tensor([unique.index(text) for text in items.descriptions])]
    dim = audio_text.config.embed_dim
    if audio_vae.semantic_head is not None and audio_vae.config.semantic_dim == dim and vae_semantic_trained(
        config.audio_vae
    ):
        return Semantic(VAESemanticHead(audio_vae), texts)
    tqdm.write("mapper: the audio VAE has no trained semantic head: fitting a latent -> audio-text head")
    targets = cached_window_embeddings(config, cache, audio_text, work)
    head = FittedSemanticHead(latents.shape[1], audio_vae.config.head_dim, dim).to(device)
    cosine = fit_semantic_head(head, latents, targets, cache, config, device)
    tqdm.write(f"mapper: semantic head fitted, held-out cosine {cosine:.3f}")
    return Semantic(head.requires_grad_(False).eval(), texts, cosine)


@torch.inference_mode()
def cached_window_embeddings(config: MapperTrainConfig, cache: SoundCache, audio_text, work: Path) -> torch.Tensor:
    """Audio-text embeddings of every cache window, cached per audio-text model in ``work``."""
    cache_file = work / f"window_embeddings-{file_digest(config.audio_text)}-{len(cache.window_clip)}.safetensors"
    if cache_file.is_file():
        return load_file(str(cache_file))["embeddings"]
    windows = torch.arange(len(cache.window_clip))
    embeddings = window_embeddings(audio_text, cache, windows, audio_text.logit_scale.device)
    save_file({"embeddings": embeddings.contiguous()}, str(cache_file))
    return embeddings


def fit_semantic_head(head: FittedSemanticHead, latents: torch.Tensor, targets: torch.Tensor, cache: SoundCache,
                      config: MapperTrainConfig, device: torch.device) -> float:
    """Cosine regression of the training windows' embeddings from their latents; returns the held-out cosine."""
    train, heldout = cache.window_indices("train"), cache.window_indices("heldout")
    optimizer = torch.optim.AdamW(head.parameters(), 2e-3, weight_decay=1e-4)
    for step in tqdm(range(config.semantic_head_steps), desc="semantic head", unit="step"):
        rng = np.random.default_rng([config.seed, step, 7])
        batch = train[torch.from_numpy(rng.integers(0, len(train), 128))]
        loss = (1 - (head(latents[batch].to(device)) * targets[batch].to(device)).sum(-1)).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    with torch.inference_mode():
        return float((head(latents[heldout].to(device)) * targets[heldout].to(device)).sum(-1).mean())


# -- losses -----------------------------------------------------------------------------------------------------


def hard_ranks(values: torch.Tensor) -> torch.Tensor:
    """Ranks (0-based, ties averaged) of a (B,) tensor."""
    greater = (values[:, None] > values[None, :]).float().sum(dim=1)
    equal = (values[:, None] == values[None, :]).float().sum(dim=1)
    return greater + 0.5 * (equal - 1)


def soft_ranks(values: torch.Tensor, temperature: float) -> torch.Tensor:
    """Differentiable ranks of a (B,) tensor: sums of sigmoids of pairwise differences (in units of its std)."""
    scale = values.detach().std().clamp_min(1e-6) * temperature
    return torch.sigmoid((values[:, None] - values[None, :]) / scale).sum(dim=1)


def pearson(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    a, b = a - a.mean(), b - b.mean()
    return (a * b).sum() / (a.norm() * b.norm()).clamp_min(1e-8)


def structural_loss(features: torch.Tensor, predicted: torch.Tensor, temperature: float) -> torch.Tensor:
    """Mean over pairs (columns) of 1 - Spearman correlation between features (B, P) and predictions (B, P)."""
    terms = [1 - pearson(hard_ranks(f), soft_ranks(p, temperature)) for f, p in zip(features.T, predicted.T)]
    return torch.stack(terms).mean()


def moments_loss(fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """Squared differences of the per-element batch mean and std of standardised latents."""
    return (fake.mean(0) - real.mean(0)).square().mean() + (fake.std(0) - real.std(0)).square().mean()


def sliced_wasserstein(fake: torch.Tensor, real: torch.Tensor, directions: int, generator: torch.Generator):
    """Mean squared difference of the sorted projections of ``fake`` (B, ...) and ``real`` (R, ...) on random unit
    directions (``real``'s quantiles interpolated at ``fake``'s B levels): a sliced 2-Wasserstein distance."""
    projection = F.normalize(torch.randn(fake[0].numel(), directions, generator=generator), dim=0).to(fake)
    fake_sorted = (fake.flatten(1) @ projection).sort(dim=0).values
    real_sorted = (real.flatten(1) @ projection).sort(dim=0).values
    levels = torch.linspace(0, len(real) - 1, len(fake), device=fake.device)
    low = levels.floor().long().clamp(max=len(real) - 2)
    target = torch.lerp(real_sorted[low], real_sorted[low + 1], (levels - low)[:, None])
    return (fake_sorted - target).square().mean()


def matching_targets(fake: torch.Tensor, real: torch.Tensor, feature_q: torch.Tensor, descriptor_q: torch.Tensor,
                     structure_cost: float) -> torch.Tensor:
    """For each generated latent the index of its real latent in the optimal assignment (see the module doc)."""
    latent_cost = torch.cdist(fake.detach().flatten(1), real.flatten(1)).square() / fake[0].numel()
    cost = latent_cost + structure_cost * torch.cdist(feature_q, descriptor_q).square() / feature_q.shape[1]
    rows, columns = linear_sum_assignment(cost.cpu().numpy())
    return torch.as_tensor(columns[np.argsort(rows)], device=fake.device)


def lsgan(scores: torch.Tensor, target: float) -> torch.Tensor:
    return (scores - target).square().mean()


class AudioDiscriminator(nn.Module):
    """Audio latents (B, channels, frames) -> realness score: temporal convs, then a linear layer over all frames."""

    def __init__(self, shape: tuple[int, int], hidden: int) -> None:
        super().__init__()
        channels, frames = shape
        self.net = nn.Sequential(
            nn.Conv1d(channels, hidden, 3, padding=1), nn.LeakyReLU(0.2),
            nn.Conv1d(hidden, hidden, 3, padding=1), nn.LeakyReLU(0.2), nn.Flatten(), nn.Linear(hidden * frames, 1),
        )

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        return self.net(latent).squeeze(-1)


def comic_discriminator(dim: int, hidden: int) -> nn.Module:
    """Comic latents (B, Dc) -> realness score."""
    return nn.Sequential(nn.Linear(dim, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, hidden), nn.LeakyReLU(0.2),
                         nn.Linear(hidden, 1), nn.Flatten(0))


class Projections(nn.Module):
    """Learned identity projections: P (audio latent -> comic size) and Q (comic latent -> audio shape)."""

    def __init__(self, config: MapperConfig) -> None:
        super().__init__()
        self.shape = tuple(config.audio_latent_shape)
        self.to_comic = nn.Linear(math.prod(self.shape), config.comic_latent_dim)
        self.to_audio = nn.Linear(config.comic_latent_dim, math.prod(self.shape))

    def comic(self, audio: torch.Tensor) -> torch.Tensor:
        return self.to_comic(audio.flatten(1))

    def audio(self, comic: torch.Tensor) -> torch.Tensor:
        return self.to_audio(comic).view(-1, *self.shape)


@dataclass
class Batch:
    """One step's data: comic items and a pool of real windows (standardised latents) with their quantiles."""

    comic: torch.Tensor  # raw comic latents (B, Dc)
    condition: torch.Tensor  # (B, C)
    noise: torch.Tensor  # (B, noise_dim)
    texts: torch.Tensor | None  # description embeddings (B, D)
    real: torch.Tensor  # standardised audio latents (R, channels, frames)
    descriptor_q: torch.Tensor  # quantiles of the real windows' descriptors over ``pairs`` (R, P)
    directions: torch.Generator  # draws the sliced Wasserstein loss's projections


@dataclass
class Trainer:
    """The mapper, its training-only networks, the frozen heads and the loss settings."""

    config: MapperTrainConfig
    mapper: LatentMapper
    projections: Projections
    audio_disc: AudioDiscriminator
    comic_disc: nn.Module
    audio_vae: AudioVAE
    semantic: Semantic | None
    feature_columns: list[int]  # condition columns of the pairs' features
    descriptor_columns: list[int]  # descriptor head columns of the pairs' descriptors

    def audio_condition(self, condition: torch.Tensor, descriptor_q: torch.Tensor) -> torch.Tensor:
        """Page conditions whose pair features are set to the values at the windows' descriptor quantiles."""
        knots = self.mapper.condition_knots[self.feature_columns]  # (P, K)
        position = descriptor_q.T * (knots.shape[1] - 1)  # (P, B)
        low = position.floor().long().clamp(max=knots.shape[1] - 2)
        values = torch.lerp(knots.gather(1, low), knots.gather(1, low + 1), (position - low).clamp(0, 1))
        condition = condition.clone()
        condition[:, self.feature_columns] = values.T
        return condition

    def generator_losses(self, batch: Batch) -> dict[str, torch.Tensor]:
        """Every switched-on loss term of G, F and the projections, and their weighted ``total``."""
        c, m = self.config, self.mapper
        size = len(batch.comic)
        fake = m.generate_standardised(batch.comic, batch.condition, batch.noise)
        comic = m.standardise_comic(batch.comic)
        real = batch.real[:size]
        real_condition = self.audio_condition(batch.condition, batch.descriptor_q[:size])
        zeros = torch.zeros_like(batch.noise)
        real_quantiles = m.condition_quantiles(real_condition)
        terms: dict[str, torch.Tensor] = {}
        if c.adversarial_weight > 0:
            fake_comic = m.invert_standardised(real)
            terms["adversarial"] = lsgan(self.audio_disc(fake), 1.0) + lsgan(self.comic_disc(fake_comic), 1.0)
        if c.cycle_weight > 0:
            back = m.generator(m.invert_standardised(real), real_condition, real_quantiles, zeros)
            terms["cycle"] = (m.invert_standardised(fake) - comic).abs().mean() + (back - real).abs().mean()
        if c.identity_weight > 0:
            audio_id = m.generator(self.projections.comic(real), real_condition, real_quantiles, zeros)
            comic_id = m.invert_standardised(self.projections.audio(comic))
            terms["identity"] = (audio_id - real).abs().mean() + (comic_id - comic).abs().mean()
        unstandardised = fake * m.audio_std[:, None] + m.audio_mean[:, None]
        if c.structural_weight > 0:
            predicted = self.audio_vae.descriptor_head(unstandardised)[:, self.descriptor_columns]
            terms["structural"] = structural_loss(batch.condition[:, self.feature_columns], predicted,
                                                  c.rank_temperature)
        if self.semantic is not None and batch.texts is not None:
            terms["semantic"] = (1 - (self.semantic.embed(unstandardised) * batch.texts).sum(-1)).mean()
        if c.moments_weight > 0:
            terms["moments"] = moments_loss(fake, batch.real)
        if c.sliced_weight > 0:
            terms["sliced"] = sliced_wasserstein(fake, batch.real, c.sliced_directions, batch.directions)
        if c.matching_weight > 0:
            feature_q = m.condition_quantiles(batch.condition)[:, self.feature_columns]
            targets = matching_targets(fake, batch.real, feature_q, batch.descriptor_q, c.matching_structure_cost)
            terms["matching"] = (fake - batch.real[targets]).square().mean()
        total = sum(getattr(c, f"{name}_weight") * value for name, value in terms.items())
        return terms | {"total": total}

    def discriminator_loss(self, batch: Batch) -> torch.Tensor:
        """LSGAN loss of both discriminators (real -> 1, generated -> 0)."""
        m = self.mapper
        with torch.no_grad():
            fake = m.generate_standardised(batch.comic, batch.condition, batch.noise)
            fake_comic = m.invert_standardised(batch.real[: len(batch.comic)])
        audio = lsgan(self.audio_disc(batch.real[: len(fake)]), 1.0) + lsgan(self.audio_disc(fake), 0.0)
        comic = lsgan(self.comic_disc(m.standardise_comic(batch.comic)), 1.0) + lsgan(self.comic_disc(fake_comic), 0.0)
        return audio + comic


# -- metrics ----------------------------------------------------------------------------------------------------


def frechet_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """Frechet distance between Gaussians fitted to the rows of ``a`` and ``b`` (flattened). The trace of
    sqrt(cov_a cov_b) is the nuclear norm of A B^T / sqrt((n_a - 1)(n_b - 1)) for the centred rows A, B: exact
    and cheap when there are fewer samples than dimensions."""
    a, b = a.flatten(1).double(), b.flatten(1).double()
    centred_a, centred_b = a - a.mean(0), b - b.mean(0)
    variance = centred_a.square().sum() / (len(a) - 1) + centred_b.square().sum() / (len(b) - 1)
    cross = torch.linalg.svdvals(centred_a @ centred_b.T).sum() / math.sqrt((len(a) - 1) * (len(b) - 1))
    return float((a.mean(0) - b.mean(0)).square().sum() + variance - 2 * cross)


def spearman(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Spearman rho and its p-value; 0 and 1 when either side is constant."""
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return 0.0, 1.0
    rho, p = scipy.stats.spearmanr(x, y)
    return float(rho), float(p)


def mean_pairwise_distance(latents: torch.Tensor) -> float:
    return float(torch.pdist(latents.flatten(1).double()).mean())


@torch.inference_mode()
def generated_latents(mapper: LatentMapper, items: ComicItems, indices: torch.Tensor, draws: int, seed: int):
    """Audio latents of ``items[indices]``, ``draws`` noise draws each (draw-major), with a seeded generator."""
    device = mapper.audio_mean.device
    noise = torch.randn(draws * len(indices), mapper.config.noise_dim, generator=torch.Generator().manual_seed(seed))
    comic, condition = items.latents[indices].repeat(draws, 1), items.conditions[indices].repeat(draws, 1)
    return mapper.generate(comic.to(device), condition.to(device), noise.to(device)).cpu()


@torch.inference_mode()
def evaluate(trainer: Trainer, untrained: LatentMapper, items: ComicItems, heldout: torch.Tensor,
             real: torch.Tensor) -> dict[str, float]:
    """Held-out metrics (see the module doc); ``real`` are the held-out windows' latents."""
    c = trainer.config
    generated = generated_latents(trainer.mapper, items, heldout, c.eval_noise_draws, c.seed)
    first = generated[: len(heldout)].to(trainer.mapper.audio_mean.device)
    predicted = trainer.audio_vae.predict_descriptors(first)
    metrics: dict[str, float] = {}
    for (feature, descriptor), column in zip(c.pairs, trainer.feature_columns):
        rho, p = spearman(items.conditions[heldout, column].numpy(), predicted[descriptor].cpu().numpy())
        metrics[f"rho_{feature}_{descriptor}"], metrics[f"p_{feature}_{descriptor}"] = rho, p
    if trainer.semantic is not None:
        embedded = trainer.semantic.embed(first)
        metrics["semantic_cosine"] = float((embedded * trainer.semantic.texts[heldout].to(embedded)).sum(-1).mean())
        if trainer.semantic.head_cosine is not None:
            metrics["semantic_head_heldout_cosine"] = trainer.semantic.head_cosine
    baseline = generated_latents(untrained, items, heldout, c.eval_noise_draws, c.seed)
    metrics["diversity_ratio"] = mean_pairwise_distance(generated) / mean_pairwise_distance(real)
    metrics["frechet"] = frechet_distance(generated, real)
    metrics["frechet_untrained"] = frechet_distance(baseline, real)
    metrics["frechet_ratio"] = metrics["frechet"] / metrics["frechet_untrained"]
    return metrics


# -- the run ----------------------------------------------------------------------------------------------------


def load_components(config: MapperTrainConfig, device: torch.device) -> tuple[ComicVAE, AudioVAE]:
    comic_vae = ComicVAE.from_pretrained(config.comic_vae, device=device).requires_grad_(False)
    audio_vae = AudioVAE.from_pretrained(config.audio_vae, device=device).requires_grad_(False)
    names = audio_vae.config.descriptors
    for feature, descriptor in config.pairs:
        if feature not in CONDITION_NAMES:
            raise InputError(f"pairs: {feature!r} is not a condition ({', '.join(CONDITION_NAMES)})")
        if descriptor not in names:
            raise InputError(f"pairs: the audio VAE does not predict {descriptor!r} ({', '.join(names)})")
    return comic_vae, audio_vae


def train_mapper(
    config: MapperTrainConfig, data_root: Path, out: Path, work: Path, device: str = "cpu", resume: bool = False
) -> dict[str, float]:
    """Train, checkpoint to ``work``, export to ``out``; return the held-out metrics."""
    torch_device = setup_device(device, config.threads)
    seed_everything(config.seed)
    comic_vae, audio_vae = load_components(config, torch_device)
    config.model = replace(config.model, comic_latent_dim=comic_vae.config.latent_dim,
                           audio_latent_shape=tuple(audio_vae.config.latent_shape))
    comics_dir = data_root / "comics"
    pages = comic_pages(config, comics_dir, work)
    items = comic_items(config, pages, comic_vae, work)
    cache = sound_cache(config, data_root, work, audio_vae, device)
    latents = audio_latents(config, cache, audio_vae, work)
    train_items, heldout_items = items.indices("train"), items.indices("heldout")
    train_windows, heldout_windows = cache.window_indices("train"), cache.window_indices("heldout")
    if not len(train_items) or not len(heldout_items) or not len(train_windows):
        raise InputError("mapper: need training and held-out comic items and training sound windows")
    descriptors = cache.descriptor_targets([d for _, d in config.pairs])
    descriptor_q = empirical_quantiles(descriptors, descriptors[train_windows])
    semantic = semantic_setup(config, cache, latents, audio_vae, items, work, torch_device)

    mapper = LatentMapper(config.model)
    mapper.set_statistics(items.conditions[train_items], items.latents[train_items], latents[train_windows])
    if config.min_window_fill > 0:  # statistics and quantiles stay those of all windows; targets are filtered
        kept = window_fill(cache, train_windows, config.fill_db) >= config.min_window_fill
        tqdm.write(f"mapper: {int(kept.sum())} of {len(train_windows)} training windows are full enough as targets")
        train_windows = train_windows[kept]
    untrained = LatentMapper(config.model)
    untrained.load_state_dict({**untrained.state_dict(), **{k: v for k, v in mapper.state_dict().items()
                                                             if not k.startswith(("generator.", "inverse."))}})
    hidden = config.discriminator_hidden
    trainer = Trainer(
        config, mapper.to(torch_device), Projections(config.model).to(torch_device),
        AudioDiscriminator(config.model.audio_latent_shape, hidden).to(torch_device),
        comic_discriminator(config.model.comic_latent_dim, 2 * hidden).to(torch_device),
        audio_vae, semantic,
        [CONDITION_NAMES.index(f) for f, _ in config.pairs],
        [audio_vae.config.descriptors.index(d) for _, d in config.pairs],
    )
    untrained.to(torch_device).eval()
    generator_params = [*mapper.parameters(), *trainer.projections.parameters()]
    discriminator_params = [*trainer.audio_disc.parameters(), *trainer.comic_disc.parameters()]
    optimizer = torch.optim.AdamW(generator_params, config.learning_rate, betas=(0.5, 0.99),
                                  weight_decay=config.weight_decay)
    disc_optimizer = torch.optim.AdamW(discriminator_params, config.discriminator_learning_rate, betas=(0.5, 0.99),
                                       weight_decay=config.weight_decay)
    factor = cosine_schedule(config.warmup_steps, config.steps, config.min_lr_ratio)
    schedules = [torch.optim.lr_scheduler.LambdaLR(o, factor) for o in (optimizer, disc_optimizer)]
    parts = {"mapper": mapper, "projections": trainer.projections, "audio_disc": trainer.audio_disc,
             "comic_disc": trainer.comic_disc, "optimizer": optimizer, "disc_optimizer": disc_optimizer,
             "schedules": schedules}
    step, history, train_losses = restore_training_state(work, config, torch_device, **parts) if resume else (0, [], [])

    real_latents = latents.to(torch_device)
    progress = tqdm(total=config.steps, initial=step, desc="mapper", unit="step")
    while step < config.steps:
        rng = np.random.default_rng([config.seed, step])  # the batch of a step never depends on a resume
        chosen = train_items[torch.from_numpy(rng.integers(0, len(train_items), config.batch_size))]
        pool = train_windows[torch.from_numpy(rng.choice(len(train_windows), min(config.pool_size,
                                                                                  len(train_windows)), replace=False))]
        noise = torch.from_numpy(rng.standard_normal((config.batch_size, config.model.noise_dim), dtype=np.float32))
        batch = Batch(
            items.latents[chosen].to(torch_device), items.conditions[chosen].to(torch_device), noise.to(torch_device),
            None if semantic is None else semantic.texts[chosen].to(torch_device),
            mapper.standardise_audio(real_latents[pool.to(torch_device)]), descriptor_q[pool].to(torch_device),
            torch.Generator().manual_seed(int(rng.integers(2**31))),
        )
        if config.adversarial_weight > 0:
            disc_loss = trainer.discriminator_loss(batch)
            disc_optimizer.zero_grad(set_to_none=True)
            disc_loss.backward()
            disc_optimizer.step()
        terms = trainer.generator_losses(batch)
        optimizer.zero_grad(set_to_none=True)
        terms["total"].backward()
        torch.nn.utils.clip_grad_norm_(generator_params, config.grad_clip)
        optimizer.step()
        for schedule in schedules:
            schedule.step()
        step += 1
        train_losses.append(terms["total"].item())
        progress.update()
        progress.set_postfix({k: f"{v.item():.3f}" for k, v in terms.items() if k in ("total", "structural",
                                                                                         "matching")})
        if step % config.eval_every == 0 or step == config.steps:
            mapper.eval()
            metrics = evaluate(trainer, untrained, items, heldout_items, latents[heldout_windows])
            mapper.train()
            history.append({"step": step} | metrics)
            progress.write(f"step {step}: " + ", ".join(f"{k} {v:.4g}" for k, v in metrics.items()
                                                         if not k.startswith("p_")))
        if step % config.checkpoint_every == 0 or step == config.steps:
            save_training_state(work, config, step, history, train_losses, **parts)
    progress.close()

    mapper.eval()
    metrics = {k: v for k, v in history[-1].items() if k != "step"} if history else {}
    metrics |= {"steps": step, "train_loss_last_100": float(np.mean(train_losses[-100:])),
                "semantic_loss_used": float(semantic is not None),
                "train_items": len(train_items), "heldout_items": len(heldout_items)}
    card = model_card(
        "bd2music latent mapper", summary(config, mapper, semantic is not None, step), config.model, cache, metrics,
        "bd2music train mapper --config train_config.json --out weights/mapper", ["latent-cyclegan", "bd2music"],
    ).replace("import Mapper", "import LatentMapper").replace("= Mapper.", "= LatentMapper.")
    export(mapper, out, config, cache, metrics, card + comic_card(pages))
    return metrics


def summary(config: MapperTrainConfig, mapper: LatentMapper, semantic: bool, steps: int) -> str:
    """The model card's first paragraph."""
    c = config.model
    switched = [name for name in LOSSES if getattr(config, f"{name}_weight") > 0 and (name != "semantic" or semantic)]
    pairs = ", ".join(f"{f} -> {d}" for f, d in config.pairs)
    return (
        f"Latent CycleGAN generator for bd2music: a comic-VAE latent ({c.comic_latent_dim}-d) + {c.condition_dim} page "
        f"features ({', '.join(CONDITION_NAMES)}) + {c.noise_dim} noise numbers -> one audio-VAE window latent "
        f"{tuple(c.audio_latent_shape)}, and its inverse. Losses: {', '.join(switched)}. Structural pairs: {pairs}. "
        f"Components: comic VAE `{config.comic_vae}`, audio VAE `{config.audio_vae}`"
        + (f", audio-text `{config.audio_text}`" if semantic else "")
        + f". {sum(p.numel() for p in mapper.parameters()) / 1e6:.2f} M parameters, {steps} steps. The held-out "
        "metrics use the audio VAE's descriptor head on generated latents (no audio decoded): Spearman rho/p per "
        "pair, diversity ratio (mean pairwise distance generated / real held-out windows), Frechet distance in the "
        "latent for this mapper and for an untrained one with the same statistics."
    )


def comic_card(pages: ComicPages) -> str:
    """The model card's section on the comic training data."""
    real = [n for n, p in zip(pages.names, pages.paths) if p is not None]
    heldout = [n for n, s in zip(pages.names, pages.splits) if s == "heldout"]
    return "\n".join([
        "",
        "## Comic data",
        "",
        f"{len(real)} real pages of `shared/data/comics` ({len(heldout)} held out, every 10th by name, with their "
        f"panels) and {len(pages.names) - len(real)} synthetic pages drawn from the training pages. Licences: "
        "OpenMantra and xkcd pages CC BY-NC, Climate Frogs CC BY-SA 4.0, Pepper&Carrot CC BY 4.0 (David Revoy); see "
        "`shared/data/comics/README.md`. The evaluation pages (`eval_pages`) are never used.",
        "",
    ])
