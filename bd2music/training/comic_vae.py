"""Train the comic VAE (``bd2music.models.comic_vae``) on pages and panel crops.

    bd2music train comic-vae --out runs/comic_vae --config configs/comic_vae/cpu.json   # the shipped run
    bd2music train comic-vae --out runs/comic_vae --resume                              # continue runs/comic-vae
    bd2music train comic-vae --smoke --out /tmp/cvae --work /tmp/run                       # seconds, tiny model
    {"ebdtheque": "/path/to/eBDtheque_database_v3"} in --config adds eBDtheque's pages and panels

Data: ``bd2music.data.comic_images`` (shared comics pages + labelled panel crops + synthetic pages and panels,
eBDtheque if given; fixed held-out split by page), cached as uint8 in WORK/cache. Augmentation: horizontal flips
and shifts of up to ``max_shift`` pixels on white. Loss::

    |x - x'| + edge_weight * |grad x - grad x'|          mean per pixel, images in [0, 1]
    + beta * min(1, step / beta_warmup_steps) * KL       mean KL per latent element, nats

Held-out metrics use posterior means: L1 / MSE / PSNR per pixel, KL, and the L1 of always answering the mean
training image (the floor a model must beat to have learnt anything).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from bd2music.data.comic_images import (
    EBDTHEQUE_LICENCE,
    HELDOUT_EVERY,
    ImageCache,
    build_cache,
    load_comics,
    load_ebdtheque,
)
from bd2music.errors import InputError
from bd2music.models.base import config_to_dict
from bd2music.models.comic_vae import ComicVAE, ComicVAEConfig
from bd2music.training.solver import Solver, cosine_lr


@dataclass
class ComicVAETrainConfig:
    """Everything that decides a comic VAE run (saved as ``train_config.json``)."""

    model: ComicVAEConfig = field(default_factory=ComicVAEConfig)
    comics: bool = True  # the pages (and labelled panels) of DATA/comics
    ebdtheque: str | None = None  # an eBDtheque folder (page images + SVG ground truth) to add
    synthetic_pages: int = 400  # procedural pages (each with its panel crops) added to training
    max_pages: int = 0  # keep only this many real pages, spread over the list (0 = all; smoke runs)
    cache: str | None = None  # cache folder (default WORK/cache)
    steps: int = 2000
    batch_size: int = 64
    learning_rate: float = 2e-3  # AdamW peak
    weight_decay: float = 1e-4
    warmup_steps: int = 100
    min_lr_ratio: float = 0.05
    grad_clip: float = 1.0
    edge_weight: float = 0.5  # L1 on horizontal/vertical pixel differences: keeps ink lines and panel borders
    beta: float = 1e-3  # KL weight (mean nats per latent element vs mean L1 per pixel)
    beta_warmup_steps: int = 400  # beta ramps up linearly from 0
    max_shift: int = 4  # augmentation: random shifts up to this many pixels
    eval_every: int = 500
    checkpoint_every: int = 200
    seed: int = 0
    threads: int = 0  # torch CPU threads (0 = torch's default)


SMOKE = {  # seconds on a CPU: a tiny model on a few pages
    "model": {"image_size": 32, "channels": [8, 16], "latent_dim": 8},
    "synthetic_pages": 2,
    "max_pages": 12,
    "steps": 6,
    "batch_size": 8,
    "warmup_steps": 1,
    "beta_warmup_steps": 3,
    "eval_every": 6,
    "checkpoint_every": 3,
}


def prepare_cache(config: ComicVAETrainConfig, data_root: Path, work: Path) -> ImageCache:
    """Select the run's pages and build (or reuse) their image cache."""
    comics_dir = data_root / "comics" if (data_root / "comics").is_dir() else data_root
    pages = load_comics(comics_dir) if config.comics else []
    if config.ebdtheque:
        pages += load_ebdtheque(config.ebdtheque)
    if not pages:
        raise InputError("no training pages: enable comics or give ebdtheque")
    folder = Path(config.cache) if config.cache else work / "cache"
    build_cache(pages, folder, config.model.image_size, config.synthetic_pages, config.seed, config.max_pages)
    return ImageCache(folder)


def augment(images: torch.Tensor, rng: np.random.Generator, max_shift: int) -> torch.Tensor:
    """Random horizontal flips and shifts (white fill) of a batch (B, 3, S, S) in [0, 1]."""
    flip = torch.from_numpy(rng.random(len(images)) < 0.5)
    images = torch.where(flip[:, None, None, None], images.flip(-1), images)
    if max_shift <= 0:
        return images
    side = images.shape[-1]
    padded = F.pad(images, (max_shift,) * 4, value=1.0)
    offsets = rng.integers(0, 2 * max_shift + 1, size=(len(images), 2))
    return torch.stack([p[:, y : y + side, x : x + side] for p, (y, x) in zip(padded, offsets)])


def edge_l1(reconstruction: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    """Mean L1 between the horizontal and vertical pixel differences of two batches."""
    dx = lambda x: x[..., :, 1:] - x[..., :, :-1]  # noqa: E731
    dy = lambda x: x[..., 1:, :] - x[..., :-1, :]  # noqa: E731
    return 0.5 * ((dx(reconstruction) - dx(images)).abs().mean() + (dy(reconstruction) - dy(images)).abs().mean())


def losses(model: ComicVAE, images: torch.Tensor, config: ComicVAETrainConfig, beta: float,
           sample: bool = True) -> dict[str, torch.Tensor]:
    """The loss terms of one batch and their weighted ``total``."""
    out = model(images, sample=sample)
    error = out.reconstruction - images
    terms = {"l1": error.abs().mean(), "edge": edge_l1(out.reconstruction, images), "kl": out.posterior.kl().mean()}
    terms["mse"] = error.square().mean()
    return terms | {"total": terms["l1"] + config.edge_weight * terms["edge"] + beta * terms["kl"]}


@torch.inference_mode()
def evaluate(model: ComicVAE, cache: ImageCache, device: torch.device) -> dict[str, float]:
    """Held-out metrics on posterior means (all held-out images, and pages / panels apart)."""
    was_training = model.training
    model.eval()
    mean_image = cache.batch(cache.indices("train")).mean(dim=0)
    metrics: dict[str, float] = {}
    for kind in (None, "page", "panel"):
        indices = cache.indices("heldout", kind)
        if not len(indices):
            continue
        suffix = f"_{kind}s" if kind else ""
        sums = {"l1": 0.0, "mse": 0.0, "kl": 0.0, "psnr": 0.0, "mean_image_l1": 0.0}
        for chunk in indices.split(128):
            images = cache.batch(chunk).to(device)
            posterior = model.encode(images)
            error = model.decode(posterior.mean) - images
            mse = error.square().flatten(1).mean(dim=1)
            sums["l1"] += float(error.abs().mean()) * len(chunk)
            sums["mse"] += float(mse.sum())
            sums["kl"] += float(posterior.kl().sum())
            sums["psnr"] += float((-10 * mse.clamp_min(1e-10).log10()).sum())
            sums["mean_image_l1"] += float((images - mean_image.to(device)).abs().mean()) * len(chunk)
        metrics |= {f"heldout{suffix}_{k}": v / len(indices) for k, v in sums.items()}
        metrics[f"heldout{suffix}_count"] = float(len(indices))
    model.train(was_training)
    return metrics


def reconstruction_figure(model: ComicVAE, cache: ImageCache, path: Path, columns: int = 8) -> Path:
    """PNG grid of held-out originals (rows 1 and 3) above their reconstructions (rows 2 and 4): pages, then panels."""
    rows = []
    for kind in ("page", "panel"):
        indices = cache.indices("heldout", kind)
        if not len(indices):
            continue
        chosen = indices[torch.linspace(0, len(indices) - 1, min(columns, len(indices))).round().long().unique()]
        images = cache.batch(chosen)
        with torch.inference_mode():
            parameter = next(model.parameters())
            reconstructions = model.decode(model.encode(images.to(parameter)).mean).float().cpu()
        rows += [images, reconstructions]
    side, gap = cache.image_size * 2, 4
    grid = Image.new("RGB", (columns * (side + gap) + gap, len(rows) * (side + gap) + gap), (128, 128, 128))
    for r, row in enumerate(rows):
        for c, image in enumerate(row):
            pixels = (image.clamp(0, 1).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
            tile = Image.fromarray(pixels).resize((side, side), Image.Resampling.NEAREST)
            grid.paste(tile, (gap + c * (side + gap), gap + r * (side + gap)))
    path.parent.mkdir(parents=True, exist_ok=True)
    grid.save(path)
    return path


class ComicVAESolver(Solver):
    """The comic VAE's run: augmented batches of cached page and panel images."""

    name = "comic-vae"
    postfix = ("total", "l1", "kl")

    def __init__(self, config: ComicVAETrainConfig, data_root: Path, out: Path, work: Path, device: str = "cpu"):
        super().__init__(config, data_root, out, work, device)
        self.cache = prepare_cache(config, self.data_root, self.work)
        self.train_indices = self.cache.indices("train")
        if not len(self.train_indices):
            raise InputError("no training images")
        self.model = ComicVAE(config.model).to(self.device)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), config.learning_rate,
                                           weight_decay=config.weight_decay)
        self.schedule = cosine_lr(self.optimizer, config)

    def train_step(self, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        c = self.config
        torch.manual_seed(c.seed * 1_000_003 + self.step)  # the posterior samples never depend on a resume either
        batch = self.train_indices[torch.from_numpy(rng.integers(0, len(self.train_indices), c.batch_size))]
        images = augment(self.cache.batch(batch), rng, c.max_shift).to(self.device)
        beta = c.beta * min(1.0, self.step / max(1, c.beta_warmup_steps))
        terms = losses(self.model, images, c, beta)
        self.update(terms["total"])
        return terms

    def evaluate(self) -> dict[str, float]:
        return evaluate(self.model, self.cache, self.device)

    def export(self) -> dict[str, float]:
        """Write the weights folder: float16 safetensors + config.json, train_config.json, metrics.json (of the
        shipped float16 weights, not of the last evaluation), heldout.txt, reconstructions.png and the model card
        README.md."""
        config, cache, out = self.config, self.cache, self.out
        self.model.save_pretrained(out, dtype=torch.float16)
        shipped = ComicVAE.from_pretrained(out, device=self.device)
        metrics = evaluate(shipped, cache, self.device) | {
            "steps": float(self.step), "train_loss_last_100": self.mean_loss(-100)
        }
        reconstruction_figure(shipped, cache, out / "reconstructions.png")
        (out / "train_config.json").write_text(json.dumps(config_to_dict(config), indent=2) + "\n")
        (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
        (out / "heldout.txt").write_text((cache.folder / "heldout.txt").read_text())
        (out / "README.md").write_text(model_card(config, cache, metrics, self.parameter_count()))
        return metrics


def train_comic_vae(config: ComicVAETrainConfig, data_root: Path, out: Path, work: Path, device: str = "cpu",
                    resume: bool = False) -> dict[str, float]:
    """Train, checkpoint to ``work``, export to ``out`` (weights, card, figure); return held-out metrics."""
    return ComicVAESolver(config, data_root, out, work, device).run(resume)


def model_card(config: ComicVAETrainConfig, cache: ImageCache, metrics: dict[str, float], parameters: str) -> str:
    """Markdown model card: what the model is, data and licences, β and latent shape, held-out metrics."""
    from collections import Counter

    train = [r for r in cache.records if r["split"] == "train"]
    counts = Counter((r["source"], r["kind"]) for r in train)
    licences = Counter(r["license"] for r in train if r["kind"] == "page")
    c = config.model
    lines = [
        "---",
        "library_name: bd2music",
        "license: cc-by-nc-4.0",
        "tags: [vae, beta-vae, comics, manga, image-embedding, bd2music]",
        "---",
        "",
        "# bd2music comic VAE",
        "",
        f"A convolutional β-VAE: a comic page or panel crop, letterboxed on white into {c.image_size}x{c.image_size} "
        f"RGB, <-> a **{c.latent_dim}-d latent vector** (latent shape `({c.latent_dim},)`), **β = {config.beta:g}** "
        f"(mean KL per latent element vs mean L1 per pixel, warmed up over {config.beta_warmup_steps} steps; "
        f"+ {config.edge_weight:g} x L1 on pixel differences). Encoder channels {list(c.channels)}, "
        f"{parameters}, stored in float16; {int(metrics['steps'])} steps of batch "
        f"{config.batch_size}. Its posterior means feed bd2music's latent CycleGAN (`bd2music.models.mapper`). "
        "Why a vector β-VAE on pages and panels: see `bd2music/models/comic_vae.py`.",
        "",
        "```python",
        "from bd2music.models.comic_vae import ComicVAE, crop_panels",
        'vae = ComicVAE.from_pretrained("weights/comic_vae")',
        "latents = vae.encode_images([page_image, *crop_panels(page_image, panel_boxes)])  # (B, latent_dim)",
        "```",
        "",
        "## Reconstructions (held-out)",
        "",
        "![held-out originals and reconstructions](reconstructions.png)",
        "",
        "Rows 1-2: held-out pages and their reconstructions (posterior means); rows 3-4: held-out panel crops.",
        "",
        "## Training data",
        "",
        *[f"- {source} {kind}s: {count}" for (source, kind), count in sorted(counts.items())],
        "",
        f"Real pages: `shared/data/comics` (every page; panel crops from the human labels of the OpenMantra pages). "
        f"Every {HELDOUT_EVERY}th page by file name is held out with its panels (`heldout.txt`). Synthetic pages: "
        "`bd2music.data.synthetic_pages`, content cut from the training pages only. Never trained or tuned on "
        "`shared/data/eval_pages`." + (f" eBDtheque: `{config.ebdtheque}`." if config.ebdtheque else ""),
        "",
        "## Licence",
        "",
        "| licence (training pages) | pages |",
        "|---|---|",
        *[f"| {name} | {count} |" for name, count in licences.most_common()],
        "",
        "The weights inherit the licences of their training images: OpenMantra (CC BY-NC 4.0, Mantra Inc. and the "
        "titles' authors) and xkcd (CC BY-NC 2.5, Randall Munroe) are non-commercial; \"Climate Change Explained "
        "to Frogs\" (Camille Bissuel / Nylnook) is CC BY-SA 4.0; Pepper&Carrot (David Revoy, "
        "https://www.peppercarrot.com) is CC BY 4.0. They are therefore released for **non-commercial use only** "
        "(CC BY-NC 4.0), with attribution to those works (see `shared/data/comics/README.md`); the share-alike "
        "terms of the Climate Frogs pages are not compatible with NC, so a user who needs a clean licence should "
        "retrain without them."
        + (f" eBDtheque pages were used: {EBDTHEQUE_LICENCE}." if config.ebdtheque else ""),
        "",
        "## Metrics (held-out real pages and panels, posterior means, pixels in [0, 1])",
        "",
        "| metric | value |",
        "|---|---|",
        *[f"| {name} | {value:.4g} |" for name, value in metrics.items()],
        "",
        "`heldout*_mean_image_l1` is the error of always answering the mean training image: the floor to beat.",
        "",
        "## Retrain",
        "",
        "```bash",
        "bd2music train comic-vae --config train_config.json --out runs/comic_vae",
        "```",
        "",
    ]
    return "\n".join(lines)
