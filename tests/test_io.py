"""The page loader: every format and mode becomes RGB; every bad input is refused with one clear line."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bd2music.errors import InputError
from bd2music.io import MAX_PIXELS, MIN_SIDE, downscale, load_page

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "peppercarrot_ep03_en_002.jpg"


def encode(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def test_real_page_loads_as_rgb() -> None:
    page = load_page(EXAMPLE)
    assert page.image.mode == "RGB"
    assert (page.width, page.height) == (1133, 1600)
    assert page.name == "peppercarrot_ep03_en_002.jpg"


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "GIF", "TIFF", "BMP"])
def test_every_format(fmt: str) -> None:
    image = Image.new("RGB", (120, 90), (200, 30, 30))
    page = load_page(encode(image, fmt))
    assert page.image.mode == "RGB" and page.image.size == (120, 90)
    r, g, b = page.image.getpixel((60, 45))
    assert r > 150 and g < 80 and b < 80


def test_gif_first_frame() -> None:
    frames = [Image.new("P", (100, 100), i) for i in (1, 2)]
    frames[0].putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0] + [0] * 759)
    frames[1].putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0] + [0] * 759)
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:])
    assert load_page(data).image.getpixel((5, 5)) == (255, 0, 0)


@pytest.mark.parametrize(
    ("mode", "value", "expected"),
    [
        ("1", 1, (255, 255, 255)),
        ("L", 128, (128, 128, 128)),
        ("LA", (0, 0), (255, 255, 255)),  # fully transparent black → white paper
        ("RGBA", (255, 0, 0, 0), (255, 255, 255)),
        ("RGBA", (255, 0, 0, 255), (255, 0, 0)),
        ("CMYK", (0, 255, 255, 0), (255, 0, 0)),
        ("I;16", 65535, (255, 255, 255)),
        ("I;16", 32896, (128, 128, 128)),
        ("F", 0.5, (128, 128, 128)),  # a float page in the unit range
        ("F", 200.0, (200, 200, 200)),  # a float page in 8-bit units
    ],
)
def test_every_mode_to_rgb(mode: str, value, expected: tuple[int, int, int]) -> None:
    page = load_page(Image.new(mode, (80, 80), value))
    assert page.image.mode == "RGB"
    assert page.image.getpixel((10, 10)) == expected


def test_palette_with_transparency_is_composited_on_white() -> None:
    image = Image.new("P", (80, 80), 0)
    image.putpalette([10, 20, 30] * 256)
    image.info["transparency"] = 0
    assert load_page(encode(image, "PNG")).image.getpixel((1, 1)) == (255, 255, 255)


def test_exif_orientation_is_applied() -> None:
    image = Image.new("RGB", (200, 100), (0, 0, 255))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise on display
    page = load_page(encode(image, "JPEG", exif=exif.tobytes()))
    assert page.image.size == (100, 200)


def test_numpy_array_input() -> None:
    array = np.zeros((100, 70, 3), np.uint8)
    array[..., 1] = 255
    assert load_page(array).image.getpixel((3, 3)) == (0, 255, 0)


def test_non_image_bytes() -> None:
    with pytest.raises(InputError, match="not a readable image"):
        load_page(b"%PDF-1.4 this is not a picture at all")


def test_zero_byte_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        load_page(empty)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        load_page(tmp_path / "nope.png")


def test_truncated_jpeg() -> None:
    data = EXAMPLE.read_bytes()
    with pytest.raises(InputError, match="truncated|corrupt"):
        load_page(data[: len(data) // 3])


def test_corrupt_png() -> None:
    data = bytearray(encode(Image.new("RGB", (100, 100), (1, 2, 3)), "PNG"))
    data[60:80] = b"\x00" * 20  # inside the compressed pixel data
    with pytest.raises(InputError, match="corrupt|truncated|not a readable"):
        load_page(bytes(data))


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims a huge size: only the header is valid (a decompression bomb's shape)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024)  # a few rows' worth: decoding the rest would need gigabytes
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


@pytest.mark.parametrize("size", [(10_000, 6_000), (60_000, 60_000)])
def test_huge_image_refused_from_header(size: tuple[int, int]) -> None:
    assert size[0] * size[1] > MAX_PIXELS
    with pytest.raises(InputError, match="megapixel"):
        load_page(png_header_only(*size))


def test_tiny_image_refused() -> None:
    with pytest.raises(InputError, match=f"at least {MIN_SIDE}"):
        load_page(encode(Image.new("RGB", (MIN_SIDE - 1, 500)), "PNG"))


def test_error_messages_are_one_line(tmp_path: Path) -> None:
    for bad in (b"junk", b"", png_header_only(20_000, 20_000)):
        with pytest.raises(InputError) as caught:
            load_page(bad)
        assert "\n" not in str(caught.value)


def test_downscale_keeps_aspect_and_reports_scale() -> None:
    image = Image.new("RGB", (3000, 2000))
    small, scale = downscale(image, 1500)
    assert small.size == (1500, 1000) and scale == pytest.approx(2.0)
    same, one = downscale(small, 1500)
    assert same is small and one == 1.0
