"""Safe page decoding: one loader for every image that enters bd2music (CLI, app, training, tests).

Every accepted file becomes an RGB ``PIL.Image`` in its original pixel size, upright (EXIF orientation
applied). Anything else is refused with an :class:`~bd2music.errors.InputError` whose message fits on one line.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from bd2music.errors import InputError

MAX_PIXELS = 50_000_000  # larger images are refused before decoding (decompression bombs)
MIN_SIDE = 64  # smaller sides cannot hold a readable comic panel
FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "TIFF", "BMP")  # PIL plugin names accepted



@dataclass(frozen=True)
class Page:
    """A decoded comic page: RGB pixels at original size and the name it came with."""

    image: Image.Image
    name: str

    @property
    def width(self) -> int:
        return self.image.width

    @property
    def height(self) -> int:
        return self.image.height

    def downscaled(self, max_side: int) -> tuple[Image.Image, float]:
        """Return the page fitted inside ``max_side`` and the factor that maps its pixels back to the original."""
        return downscale(self.image, max_side)


PageSource = str | Path | bytes | Image.Image | np.ndarray | Page  # everything load_page accepts


def fingerprint(image: Image.Image) -> str:
    """16 hex digits naming a decoded page: sha1 of its size and RGB pixels. Unlike any float computed from the
    page (the model's readings move in their last digits with the number of CPU threads), the same page gives the
    same fingerprint on every machine; backends seed their page-dependent draws with it (``Plan.page_id``)."""
    digest = hashlib.sha1(f"{image.width}x{image.height}:".encode())
    digest.update(np.asarray(image if image.mode == "RGB" else image.convert("RGB")).tobytes())
    return digest.hexdigest()[:16]


def downscale(image: Image.Image, max_side: int) -> tuple[Image.Image, float]:
    """Shrink ``image`` so its long side is at most ``max_side``; return it and original/shrunk scale (>= 1)."""
    long_side = max(image.size)
    if long_side <= max_side:
        return image, 1.0
    scale = long_side / max_side
    size = (max(1, round(image.width / scale)), max(1, round(image.height / scale)))
    return image.resize(size, Image.Resampling.LANCZOS), scale


def to_rgb(image: Image.Image) -> Image.Image:
    """Convert any PIL mode to RGB: transparency composited on white, 16-bit and float scaled to 8 bits (floats
    within 0-1 read as the unit range, as float images are usually stored)."""
    if image.mode == "RGB":
        return image
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        values = np.asarray(image, dtype=np.float64)
        if image.mode.startswith("I;16"):
            values = values / 257.0
        elif image.mode == "F" and values.size and values.min() >= 0 and values.max() <= 1:
            values = values * 255.0
        elif values.size and (values.max() > 255 or values.min() < 0):
            low, high = float(values.min()), float(values.max())
            values = (values - low) * (255.0 / max(high - low, 1e-12))
        gray = np.clip(np.rint(values), 0, 255).astype(np.uint8)
        return Image.fromarray(gray, "L").convert("RGB")
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return image.convert("RGB")


def open_source(source: str | Path | bytes, name: str) -> io.BytesIO | Path:
    """A readable stream for in-memory bytes, or the path of an existing non-empty file; InputError otherwise."""
    if isinstance(source, bytes):
        if not source:
            raise InputError(f"{name}: the file is empty (0 bytes)")
        return io.BytesIO(source)
    path = Path(source)
    if not path.is_file():
        raise InputError(f"{name}: no such file")
    if path.stat().st_size == 0:
        raise InputError(f"{name}: the file is empty (0 bytes)")
    return path


def _open(source: str | Path | bytes, name: str) -> Image.Image:
    stream = open_source(source, name)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(stream, formats=list(FORMATS))
    except Image.DecompressionBombError:
        raise InputError(f"{name}: image is larger than {MAX_PIXELS // 1_000_000} megapixels") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        raise InputError(f"{name}: not a readable image (expected PNG, JPEG, WebP, GIF, TIFF or BMP)") from None


def _check_size(width: int, height: int, name: str) -> None:
    if width * height > MAX_PIXELS:
        raise InputError(
            f"{name}: image is {width}x{height} = {width * height / 1e6:.0f} megapixels, "
            f"over the {MAX_PIXELS // 1_000_000} megapixel limit"
        )
    if min(width, height) < MIN_SIDE:
        raise InputError(f"{name}: image is {width}x{height}, sides must be at least {MIN_SIDE} px")


def _decode(image: Image.Image, name: str) -> Image.Image:
    _check_size(image.width, image.height, name)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image.seek(0)  # animated GIF / multi-page TIFF: first frame
            image.load()
            upright = ImageOps.exif_transpose(image)
            rgb = to_rgb(upright)
    except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError) as error:
        reason = "truncated" if "truncated" in str(error) else "corrupt"
        raise InputError(f"{name}: the image file is {reason} and cannot be decoded") from None
    _check_size(rgb.width, rgb.height, name)
    return rgb


def load_page(source: PageSource, name: str | None = None) -> Page:
    """Decode a page from a path, bytes, a PIL image or an HxWx{1,3,4} uint8 array into an RGB :class:`Page`.

    Raises :class:`InputError` (one-line message) for missing, empty, non-image, corrupt or truncated
    files, images over ``MAX_PIXELS`` (checked from the header, before decoding) and sides under ``MIN_SIDE``.
    """
    if isinstance(source, Page):
        return source
    if name is None:
        name = Path(source).name if isinstance(source, (str, Path)) else "image"
    if isinstance(source, np.ndarray):
        if source.ndim not in (2, 3) or (source.ndim == 3 and source.shape[2] not in (1, 3, 4)):
            raise InputError(f"{name}: array of shape {source.shape} is not an image")
        source = Image.fromarray(np.ascontiguousarray(source.squeeze()).astype(np.uint8))
    if isinstance(source, Image.Image):
        return Page(_decode(source, name), name)
    with _open(source, name) as image:
        return Page(_decode(image, name), name)


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".gif", ".tif", ".tiff", ".bmp")


def expand_inputs(inputs: list[Path], suffixes: tuple[str, ...]) -> list[Path]:
    """Files named directly, plus files with one of ``suffixes`` inside named folders (sorted, recursive)."""
    files: list[Path] = []
    for item in inputs:
        if item.is_dir():
            files.extend(sorted(p for p in item.rglob("*") if p.is_file() and p.suffix.lower() in suffixes))
        else:
            files.append(item)
    return files


def with_added_suffix(stem: str | Path, suffix: str) -> Path:
    """``stem`` with ``suffix`` added, never swapped for its last part: ``vol.1`` gives ``vol.1.wav`` (a dotted
    name keeps its dots, where ``Path.with_suffix`` would give ``vol.wav``)."""
    stem = Path(stem)
    return stem.with_name(stem.name + suffix)


def check_replaceable(out: Path, overwrite: bool, marker: str | None, what: str) -> None:
    """Refuse, before any work, to build into ``out`` when something is there already: without ``overwrite``
    always, and with it unless ``out`` holds ``marker`` (the file that makes it ``what``, e.g. "a piece
    library"); ``marker`` None: no such check. An empty folder or no folder is fine."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        if not overwrite:
            raise InputError(f"{out} already exists; pass --overwrite to replace it")
        if marker is not None and not (out / marker).is_file():
            raise InputError(f"{out} is not {what} (no {marker}); refusing to replace it")
