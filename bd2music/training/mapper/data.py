"""The mapper's data, computed once per work folder and cached there.

* comic side: pages (real and synthetic) with their features (``comic_pages``, ``work/comic_pages.json``), then
  every page and its first panels as items with condition, description and comic-VAE posterior mean
  (``comic_items``, ``work/comic_latents-<digest>.safetensors``);
* audio side: the sound cache's windows (``sound_cache``) and their audio-VAE posterior means (``audio_latents``),
  ``window_fill`` (how much of a window sounds) and ``empirical_quantiles`` of their descriptors.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path

import torch
from PIL import Image
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from bd2music.data.comic_images import _spread, _training_content, load_comics
from bd2music.data.sounds import SoundCache
from bd2music.data.synthetic_pages import PageGenerator, load_content_sources
from bd2music.errors import InputError
from bd2music.io import load_page
from bd2music.models.audio_vae import AudioVAE
from bd2music.models.base import config_to_dict
from bd2music.models.comic_vae import ComicVAE, crop_panels
from bd2music.models.mapper import page_condition, panel_condition
from bd2music.training.common import prepare_cache
from bd2music.training.mapper.config import MapperTrainConfig
from bd2music.vision.analysis import analyze_page
from bd2music.vision.boxes import Balloon, Box, Panel
from bd2music.vision.description import describe_page, describe_panel
from bd2music.vision.detect import load_detector
from bd2music.vision.features import PageFeatures, compute_features
from bd2music.vision.reading_order import assign_balloons, reading_order

PAGE_FEATURES_VERSION = 1


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
