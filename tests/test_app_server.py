"""The app as a server: `python app.py --port N` starts it, and its named endpoints answer gradio_client.

Every bad upload comes back as the app's one-line message, the server's log gets that line (no traceback), and
the server keeps serving the next request. A busy port is one line naming ``--port``.
"""

from __future__ import annotations

import io
import json
import os
import socket
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import gradio_client
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"

@pytest.fixture(scope="module")
def client(app_url: str) -> gradio_client.Client:
    return gradio_client.Client(app_url, verbose=False)


def png_start(width: int, height: int) -> bytes:
    """The start of a ``width`` x ``height`` RGB PNG whose pixel data stops after a few rows."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = zlib.compress(b"\x00" * (3 * width + 1) * 4)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)) + chunk(
        b"IDAT", rows[: len(rows) // 2]
    )


def image_bytes(image: Image.Image, format: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format)
    return buffer.getvalue()


def page_file(tmp_path: Path, name: str, content: bytes) -> dict:
    path = tmp_path / name
    path.write_bytes(content)
    return gradio_client.handle_file(str(path))


BAD_PAGES = {  # upload name, content, words of the message the user sees
    "text": ("page.png", b"definitely not a png", "not a readable image"),
    "empty": ("page.jpg", b"", "empty"),
    "corrupt": ("page.png", png_start(800, 600), "truncated"),
    "huge": ("page.png", png_start(8_000, 8_000), "megapixel"),
    "tiny": ("page.png", image_bytes(Image.new("RGB", (30, 30), "white"), "PNG"), "at least"),
    "odd mode": ("page.tif", image_bytes(Image.new("YCbCr", (300, 200)), "TIFF"), "cannot be decoded"),
}


def test_analyze_endpoint(client: gradio_client.Client) -> None:
    page = EXAMPLES / "openmantra_tojime_no_siora_007.jpg"
    overlay, summary, _figure, table, _lettering, page_map, [json_file] = client.predict(
        gradio_client.handle_file(str(page)), True, "yolo", api_name="/analyze"
    )
    assert Path(overlay).is_file() and "panel" in summary and table["data"] and 'class="bd-panel"' in page_map
    assert json.loads(Path(json_file).read_text())["pages"][0]["panels"]


def test_generate_endpoint(client: gradio_client.Client, tmp_path: Path) -> None:
    cmyk = Image.open(EXAMPLES / "peppercarrot_ep03_en_002.jpg").convert("CMYK")
    page = page_file(tmp_path, "cmyk_page.jpg", image_bytes(cmyk, "JPEG"))  # an odd but readable mode
    *_, spectrogram, roll, wav, cues, [wav_file, json_file] = client.predict(
        page, 2, 5, True, False, "yolo", "scene", api_name="/generate"
    )
    assert spectrogram and roll is None and Path(wav).read_bytes()[:4] == b"RIFF" and Path(wav_file).name == "cmyk_page.wav"
    result = json.loads(Path(json_file).read_text())
    assert result["settings"]["seed"] == 5 and len(result["segments"]) == len(result["panels"])
    assert result["layers"] == ["scene"] and cues["data"] and len(cues["data"]) == len(result["cues"])


def test_bad_pages_are_messages_and_the_server_keeps_serving(client: gradio_client.Client, tmp_path: Path) -> None:
    for name, content, message in BAD_PAGES.values():
        for endpoint, settings in (("/analyze", (False, "yolo")), ("/generate", (2, 0, False, False, "yolo", "scene"))):
            with pytest.raises(Exception, match=message):
                client.predict(page_file(tmp_path, name, content), *settings, api_name=endpoint)
    example = EXAMPLES / "peppercarrot_ep03_en_002.jpg"
    overlay, *_ = client.predict(gradio_client.handle_file(str(example)), False, "classical", api_name="/analyze")
    assert Path(overlay).is_file()


def test_analyze_sound_endpoint_and_broken_audio(
    client: gradio_client.Client, tmp_path: Path, sound_clips: dict[str, Path]
) -> None:
    broken = tmp_path / "clip.wav"
    broken.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    with pytest.raises(Exception, match="clip.wav: not a readable audio file"):
        client.predict(gradio_client.handle_file(str(broken)), api_name="/analyze_sound")
    _figure, table = client.predict(gradio_client.handle_file(str(sound_clips["animal"])), api_name="/analyze_sound")
    assert table["data"]


def test_a_refused_upload_is_one_line_in_the_server_log(
    client: gradio_client.Client, app_log: Path, tmp_path: Path
) -> None:
    before = len(app_log.read_text())
    for endpoint, settings in (("/analyze", (False, "yolo")), ("/generate", (2, 0, False, False, "yolo", "scene"))):
        with pytest.raises(Exception, match="not a readable image"):
            client.predict(page_file(tmp_path, "notes.png", b"definitely not a png"), *settings, api_name=endpoint)
    logged = app_log.read_text()[before:].splitlines()
    assert len(logged) == 2, logged
    assert all(line.startswith("bd2music: refused: ") and "notes.png: not a readable image" in line for line in logged)


def test_draw_endpoint_and_a_blank_drawing(client: gradio_client.Client, tmp_path: Path) -> None:
    from bd2music.data.drawings import line_drawing

    drawing = page_file(tmp_path, "line.png", image_bytes(line_drawing(0.6, 0.02, (1, 0, 0)).image, "PNG"))
    strokes, summary, rows, wav, cues, [wav_file, json_file, midi_file] = client.predict(
        drawing, "sampler", "learned", 2, api_name="/draw")
    assert Path(strokes).is_file() and "1 stroke" in summary and len(rows["data"]) == 1
    assert Path(wav).read_bytes()[:4] == b"RIFF" and Path(midi_file).suffix == ".mid"
    assert json.loads(Path(json_file).read_text())["plan"]["events"] and cues["data"]
    blank = page_file(tmp_path, "blank.png", image_bytes(Image.new("RGB", (400, 300), "white"), "PNG"))
    with pytest.raises(Exception, match="the drawing is blank"):
        client.predict(blank, "bank", "classical", 2, api_name="/draw")
    with pytest.raises(Exception, match="seconds must be between 1 and 30"):
        client.predict(drawing, "sampler", "learned", 31, api_name="/draw")


def test_a_busy_port_is_one_line_naming_the_option() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run([sys.executable, "app.py", "--port", str(port)], cwd=REPO, capture_output=True,
                              text=True, timeout=300, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert done.returncode != 0
    assert (done.stdout + done.stderr).splitlines() == [
        f"bd2music: port {port} is in use; start the app on another one with --port N"
    ]


@pytest.mark.parametrize(("settings", "message"), [
    (("abc", 0, False, False), "seconds must be a number between 1 and 60, got 'abc'"),
    ((None, 0, False, False), "seconds must be a number between 1 and 60, got None"),
    ((2, 2**70, False, False), "seed must be between 0 and 4294967295, got 1180591620717411303424"),
    ((2, "abc", False, False), "seed must be a whole number between 0 and 4294967295, got 'abc'"),
    ((2, 1.5, False, False), "seed must be a whole number, got 1.5"),
    ((2, 0, False, "no"), "rtl must be true or false, got 'no'"),
    ((2, 0, 1, False), "per_panel must be true or false, got 1"),
    ((2, 0, False, False, "yolo", "scene", "yes"), "text must be true or false, got 'yes'"),
])
def test_every_generate_parameter_is_checked_in_one_line(client: gradio_client.Client, settings, message) -> None:
    page = gradio_client.handle_file(str(EXAMPLES / "peppercarrot_ep03_en_002.jpg"))
    with pytest.raises(Exception, match=message):
        client.predict(page, *settings, *("yolo", "scene")[len(settings) - 4:], api_name="/generate")
