"""The comic VAE's images: whole pages and panel crops, real and synthetic, letterboxed and cached as uint8.

Sources (never ``shared/data/eval_pages``):

* ``shared/data/comics``: every page (``*.jpg``, licences from ``manifest.csv``) and, for the pages with human
  labels (``labels/*.json``: ``panels`` as [x0, y0, x1, y1]), a crop of each panel (``crop_panels``).
* eBDtheque (optional, ``ebdtheque=FOLDER``): its pages (``Pages/*.jpg``) and one SVG per page (``GT/*.svg``, or
  both side by side), where ``<polygon points="x,y x,y ...">`` elements inside an ``<svg class="Panel">`` group
  (or carrying ``class="Panel"`` themselves) outline the panels; Balloon, Line and Character polygons are read
  but not used. See :func:`load_ebdtheque`.
* ``bd2music.data.synthetic_pages.PageGenerator`` pages with their exact panel boxes, whose content is cut from
  the *training* real pages only (held-out pages never leak into them).

Split (fixed, by page): real pages sorted by file name, every ``HELDOUT_EVERY``-th (index 0, 10, 20, ...) is
held out with all its panel crops; the same rule applies to eBDtheque's pages. Synthetic images are all training.
``build_cache`` writes ``images.safetensors`` (``images``: uint8 (N, 3, S, S)) + ``index.json`` (one record per
image: name, kind page/panel, source, split, licence) + ``heldout.txt``; ``ImageCache`` reads it back.
"""

from __future__ import annotations

import csv
import json
import re
import xml.etree.ElementTree as ElementTree
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from bd2music.data.synthetic_pages import PageGenerator, load_content_sources
from bd2music.errors import InputError
from bd2music.io import load_page
from bd2music.models.comic_vae import crop_panels, letterbox
from bd2music.vision.boxes import Box

HELDOUT_EVERY = 10
CACHE_VERSION = 1
PAGE_LONG_SIDE = 800  # pages are downscaled to this before cropping (crops end at a few dozen pixels anyway)
MIN_PANEL_SIDE = 24  # smaller panel boxes (pixels of the downscaled page) are skipped
SYNTHETIC_LICENCE = "mixed: drawn from the training pages of shared/data/comics (CC BY-NC / BY-SA / BY)"
EBDTHEQUE_LICENCE = "eBDtheque terms (research use, see ebdtheque.univ-lr.fr)"
EBDTHEQUE_CLASSES = ("Panel", "Balloon", "Line", "Character")


@dataclass(frozen=True)
class AnnotatedPage:
    """A real page on disk, its panel boxes (original pixels, may be empty) and where it comes from."""

    path: Path
    name: str
    panels: tuple[Box, ...]
    license: str
    source: str  # comics or ebdtheque
    split: str  # train or heldout


def _split(index: int) -> str:
    return "heldout" if index % HELDOUT_EVERY == 0 else "train"


def _refuse_eval(path: Path) -> None:
    if "eval_pages" in path.resolve().parts:
        raise InputError(f"{path}: evaluation pages are never used for training")


def load_comics(comics_dir: str | Path) -> list[AnnotatedPage]:
    """The pages of ``shared/data/comics`` with their labelled panels and licences, split by page."""
    comics_dir = Path(comics_dir)
    _refuse_eval(comics_dir)
    paths = sorted(comics_dir.glob("*.jpg"))
    if not paths:
        raise InputError(f"no *.jpg comic pages in {comics_dir}")
    manifest = comics_dir / "manifest.csv"
    licences = {row["file"]: row["license"] for row in csv.DictReader(manifest.open())} if manifest.is_file() else {}
    pages = []
    for index, path in enumerate(paths):
        label_file = comics_dir / "labels" / f"{path.stem}.json"
        panels = json.loads(label_file.read_text())["panels"] if label_file.is_file() else []
        pages.append(AnnotatedPage(path, path.name, tuple(tuple(map(float, box)) for box in panels),
                                   licences.get(path.name, "unknown"), "comics", _split(index)))
    return pages


def _points(text: str) -> list[tuple[float, float]]:
    values = [float(v) for v in re.split(r"[\s,]+", text.strip()) if v]
    return list(zip(values[0::2], values[1::2]))


def parse_ebdtheque_svg(path: str | Path) -> dict[str, list[list[tuple[float, float]]]]:
    """The polygons of an eBDtheque ground-truth SVG by class (Panel, Balloon, Line, Character, ...).

    A polygon's class is its own ``class`` attribute or that of its nearest enclosing element with one (eBDtheque
    groups each class in an ``<svg class="...">``); namespaces are ignored."""
    try:
        root = ElementTree.parse(path).getroot()
    except (ElementTree.ParseError, OSError) as error:
        raise InputError(f"{path}: not a readable SVG ({error})") from None
    shapes: dict[str, list[list[tuple[float, float]]]] = {}

    def walk(element: ElementTree.Element, inherited: str | None) -> None:
        name = element.get("class", inherited)
        if element.tag.rsplit("}", 1)[-1] == "polygon" and name and element.get("points"):
            shapes.setdefault(name, []).append(_points(element.get("points", "")))
        for child in element:
            walk(child, name)

    walk(root, None)
    return shapes


def polygon_box(points: list[tuple[float, float]]) -> Box:
    """Bounding box of a polygon."""
    xs, ys = [x for x, _ in points], [y for _, y in points]
    return min(xs), min(ys), max(xs), max(ys)


def load_ebdtheque(root: str | Path) -> list[AnnotatedPage]:
    """eBDtheque pages with their panel boxes: every ``*.svg`` under ``root`` (e.g. ``GT/``) whose page image (same
    stem, under ``root``, e.g. ``Pages/``) exists; split by page like the shared comics."""
    root = Path(root)
    _refuse_eval(root)
    images = {p.stem: p for p in sorted(root.rglob("*")) if p.suffix.lower() in (".jpg", ".jpeg", ".png")}
    svgs = sorted(root.rglob("*.svg"))
    pairs = [(svg, images[svg.stem]) for svg in svgs if svg.stem in images]
    if not pairs:
        raise InputError(f"{root}: no eBDtheque pages (page images with a same-named .svg ground truth)")
    pages = []
    for index, (svg, image) in enumerate(pairs):
        panels = tuple(polygon_box(points) for points in parse_ebdtheque_svg(svg).get("Panel", []) if points)
        pages.append(AnnotatedPage(image, f"ebdtheque/{image.name}", panels, EBDTHEQUE_LICENCE, "ebdtheque",
                                   _split(index)))
    return pages


def _training_content(pages: list[AnnotatedPage], folder: Path) -> Path:
    """A folder of links to the training pages of ``shared/data/comics`` (+ labels): the synthetic pages' content."""
    (folder / "labels").mkdir(parents=True, exist_ok=True)
    for page in pages:
        if page.source != "comics" or page.split != "train":
            continue
        link = folder / page.path.name
        if not link.exists():
            link.symlink_to(page.path.resolve())
        label = page.path.parent / "labels" / f"{page.path.stem}.json"
        if label.is_file() and not (folder / "labels" / label.name).exists():
            (folder / "labels" / label.name).symlink_to(label.resolve())
    return folder


def _spread(pages: list[AnnotatedPage], count: int) -> list[AnnotatedPage]:
    """``count`` pages evenly spread over the list (all when ``count`` is 0 or too large)."""
    if not count or count >= len(pages):
        return pages
    return [pages[round(i * (len(pages) - 1) / max(1, count - 1))] for i in range(count)]


def build_cache(
    pages: list[AnnotatedPage],
    folder: str | Path,
    image_size: int = 64,
    synthetic_pages: int = 0,
    seed: int = 0,
    max_pages: int = 0,
) -> Path:
    """Letterbox every page and panel crop of ``pages`` (at most ``max_pages``, spread over the list) plus
    ``synthetic_pages`` generated pages with their panels into ``folder`` (see the module doc); an existing cache
    of the same pages and settings is kept."""
    folder = Path(folder)
    pages = _spread(pages, max_pages)
    settings = json.loads(json.dumps({  # as read back from JSON: tuples become lists
        "version": CACHE_VERSION, "image_size": image_size, "synthetic_pages": synthetic_pages, "seed": seed,
        "pages": [asdict(page) | {"path": str(page.path)} for page in pages],
    }))
    index_file = folder / "index.json"
    if index_file.is_file() and json.loads(index_file.read_text())["settings"] == settings:
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    index_file.unlink(missing_ok=True)  # written last: a half-built cache is never taken for a complete one
    images: list[np.ndarray] = []
    records: list[dict[str, str]] = []

    def add(image: Image.Image, panels: list[Box], name: str, source: str, split: str, licence: str) -> None:
        panels = [box for box in panels if min(box[2] - box[0], box[3] - box[1]) >= MIN_PANEL_SIDE]
        for kind, crop, crop_name in [("page", image, name)] + [
            ("panel", crop, f"{name}#panel{i}") for i, crop in enumerate(crop_panels(image, panels))
        ]:
            images.append(np.asarray(letterbox(crop, image_size)).transpose(2, 0, 1))
            records.append({"name": crop_name, "kind": kind, "source": source, "split": split, "license": licence})

    for page in tqdm(pages, desc="comic pages", unit="page"):
        image, scale = load_page(page.path).downscaled(PAGE_LONG_SIDE)
        add(image, [tuple(v / scale for v in box) for box in page.panels], page.name, page.source, page.split,
            page.license)
    if synthetic_pages:
        content = load_content_sources(_training_content(pages, folder / "content"))
        if not content:
            raise InputError("synthetic pages need training pages from shared/data/comics")
        generator = PageGenerator(content, seed=seed, long_side=PAGE_LONG_SIDE)
        for index in tqdm(range(synthetic_pages), desc="synthetic pages", unit="page"):
            page = generator(index)
            add(page.image, list(page.panels), f"synthetic/{index:05d}", "synthetic", "train", SYNTHETIC_LICENCE)
    tensor = torch.from_numpy(np.stack(images)) if images else torch.zeros(0, 3, image_size, image_size)
    save_file({"images": tensor.to(torch.uint8).contiguous()}, str(folder / "images.safetensors"))
    heldout = sorted({page.name for page in pages if page.split == "heldout"})
    (folder / "heldout.txt").write_text("".join(f"{name}\n" for name in heldout))
    index_file.write_text(json.dumps({"settings": settings, "records": records}, indent=1) + "\n")
    return folder


class ImageCache:
    """A cache written by ``build_cache``: uint8 images (N, 3, S, S) and one record per image."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        if not (self.folder / "index.json").is_file():
            raise InputError(f"no comic image cache in {self.folder} (index.json missing)")
        index = json.loads((self.folder / "index.json").read_text())
        self.image_size: int = index["settings"]["image_size"]
        self.records: list[dict[str, str]] = index["records"]
        self.images = load_file(str(self.folder / "images.safetensors"))["images"]

    def indices(self, split: str, kind: str | None = None) -> torch.Tensor:
        """Indices of the images in ``split`` (train or heldout), of one ``kind`` (page or panel) if given."""
        return torch.tensor([i for i, r in enumerate(self.records)
                             if r["split"] == split and kind in (None, r["kind"])], dtype=torch.long)

    def batch(self, indices: torch.Tensor) -> torch.Tensor:
        """Float images (len(indices), 3, S, S) in [0, 1]."""
        return self.images[indices].float() / 255.0
