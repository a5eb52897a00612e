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
import urllib.request
import zlib
from pathlib import Path

import gradio_client
import pytest
import soundfile
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
    "text": ("page.png", b"definitely not a png", "page.png: not a readable image"),
    "empty": ("page.jpg", b"", "empty"),
    "corrupt": ("page.png", png_start(800, 600), "truncated"),
    "huge": ("page.png", png_start(8_000, 8_000), "megapixel"),
    "tiny": ("page.png", image_bytes(Image.new("RGB", (30, 30), "white"), "PNG"), "at least"),
    "odd mode": ("page.tif", image_bytes(Image.new("YCbCr", (300, 200)), "TIFF"), "cannot be decoded"),
    "not named as an image": ("notes.pdf", b"%PDF-1.4", "notes.pdf: not an image file"),
}
FILE_OBJECT = "must be a file sent with the request (gradio_client.handle_file(path)), got "
GOOD = {  # a request each endpoint serves; each case of the battery spoils one of its values
    "/analyze": ("PAGE", False, "classical", True),
    "/generate": ("PAGE", 2, 0, False, False, "yolo", "scene", True),
    "/analyze_sound": ("CLIP",),
    "/depict": ("CLIP", 0),
    "/draw": ("PAGE", "sampler", "learned", 2),
    "/text_to_audio": ("rain on a roof", 2, 0, 2),
}
BATTERY = [  # endpoint, {argument index: bad value}, the app's line (a bad page: a key of BAD_PAGES)
    ("/analyze", {0: None}, "Upload a comic page first."),
    ("/analyze", {0: "page.png"}, f"page {FILE_OBJECT}'page.png'"),
    ("/analyze", {0: 5}, f"page {FILE_OBJECT}5"),
    ("/analyze", {0: {"path": "/etc/passwd"}}, f"page {FILE_OBJECT}{{'path': '/etc/passwd'}}"),
    ("/analyze", {0: {"path": "/etc/passwd", "meta": {"_type": "gradio.FileData"}}},
     "passwd: not an image file (PNG, JPEG, WebP, GIF, TIFF, BMP)"),
    ("/analyze", {1: "no"}, "rtl must be true or false, got 'no'"),
    ("/analyze", {1: None}, "rtl must be true or false, got None"),
    ("/analyze", {1: 1}, "rtl must be true or false, got 1"),
    ("/analyze", {2: "foo"}, "detector must be one of yolo, classical, got 'foo'"),
    ("/analyze", {2: 3}, "detector must be one of yolo, classical, got 3"),
    ("/analyze", {2: None}, "detector must be one of yolo, classical, got None"),
    ("/analyze", {3: "yes"}, "text must be true or false, got 'yes'"),
    ("/analyze", {3: None}, "text must be true or false, got None"),
    ("/generate", {0: None}, "Upload a comic page first."),
    ("/generate", {0: [1, 2]}, f"page {FILE_OBJECT}[1, 2]"),
    ("/generate", {1: "abc"}, "seconds must be a number between 1 and 60, got 'abc'"),
    ("/generate", {1: None}, "seconds must be a number between 1 and 60, got None"),
    ("/generate", {1: True}, "seconds must be a number between 1 and 60, got True"),
    ("/generate", {1: [2]}, "seconds must be a number between 1 and 60, got [2]"),
    ("/generate", {1: 0}, "seconds must be between 1 and 60, got 0"),
    ("/generate", {1: 61}, "seconds must be between 1 and 60, got 61"),
    ("/generate", {1: 0.5}, "seconds must be between 1 and 60, got 0.5"),
    ("/generate", {2: 2**70}, "seed must be between 0 and 4294967295, got 1180591620717411303424"),
    ("/generate", {2: -1}, "seed must be between 0 and 4294967295, got -1"),
    ("/generate", {2: "abc"}, "seed must be a whole number between 0 and 4294967295, got 'abc'"),
    ("/generate", {2: 1.5}, "seed must be a whole number, got 1.5"),
    ("/generate", {2: None}, "seed must be a whole number between 0 and 4294967295, got None"),
    ("/generate", {2: {"a": 1}}, "seed must be a whole number between 0 and 4294967295, got {'a': 1}"),
    ("/generate", {3: 1}, "per_panel must be true or false, got 1"),
    ("/generate", {3: "true"}, "per_panel must be true or false, got 'true'"),
    ("/generate", {3: None}, "per_panel must be true or false, got None"),
    ("/generate", {4: "no"}, "rtl must be true or false, got 'no'"),
    ("/generate", {5: "Yolo"}, "detector must be one of yolo, classical, got 'Yolo'"),
    ("/generate", {6: "buzz"}, "sound must be one of soundtrack, music, scene, neural, diffusion, got 'buzz'"),
    ("/generate", {6: 5}, "sound must be one of soundtrack, music, scene, neural, diffusion, got 5"),
    ("/generate", {6: None}, "sound must be one of soundtrack, music, scene, neural, diffusion, got None"),
    ("/generate", {7: "yes"}, "text must be true or false, got 'yes'"),
    ("/generate", {7: 0}, "text must be true or false, got 0"),
    ("/analyze_sound", {0: None}, "Upload or record a sound first."),
    ("/analyze_sound", {0: "x.wav"}, f"clip {FILE_OBJECT}'x.wav'"),
    ("/analyze_sound", {0: [1, 2]}, f"clip {FILE_OBJECT}[1, 2]"),
    ("/analyze_sound", {0: ("clip.wav", b"RIFF\x00\x00\x00\x00WAVEjunk")}, "clip.wav: not a readable audio file"),
    ("/analyze_sound", {0: ("notes.txt", b"hello")}, "notes.txt: not a readable audio file"),
    ("/analyze_sound", {0: ("slow.wav", "1 Hz")}, "slow.wav: a sample rate of 1 Hz is too low to analyse"),
    ("/depict", {0: None}, "Upload or record a sound first."),
    ("/depict", {0: "x.wav"}, f"clip {FILE_OBJECT}'x.wav'"),
    ("/depict", {0: ("clip.wav", b"RIFF\x00\x00\x00\x00WAVEjunk")}, "clip.wav: not a readable audio file"),
    ("/depict", {0: ("slow.wav", "1 Hz")}, "slow.wav: a sample rate of 1 Hz is too low to analyse"),
    ("/depict", {1: "abc"}, "seed must be a whole number between 0 and 4294967295, got 'abc'"),
    ("/depict", {1: 1.5}, "seed must be a whole number, got 1.5"),
    ("/depict", {1: -1}, "seed must be between 0 and 4294967295, got -1"),
    ("/depict", {1: None}, "seed must be a whole number between 0 and 4294967295, got None"),
    ("/draw", {0: None}, "Draw something on the canvas or upload a drawing first."),
    ("/draw", {0: "line.png"}, f"drawing {FILE_OBJECT}'line.png'"),
    ("/draw", {0: ("notes.txt", b"hello")}, "notes.txt: not an image file (PNG, JPEG, WebP, GIF, TIFF, BMP)"),
    ("/draw", {1: "piano"}, "sound must be one of sampler, bank, got 'piano'"),
    ("/draw", {1: None}, "sound must be one of sampler, bank, got None"),
    ("/draw", {2: "neural"}, "reading must be one of learned, classical, got 'neural'"),
    ("/draw", {2: 1}, "reading must be one of learned, classical, got 1"),
    ("/draw", {3: "abc"}, "seconds must be a number between 1 and 30, got 'abc'"),
    ("/draw", {3: 0}, "seconds must be between 1 and 30, got 0"),
    ("/text_to_audio", {0: 5}, "prompt must be text of 1 to 300 characters, got 5"),
    ("/text_to_audio", {0: None}, "prompt must be text of 1 to 300 characters, got None"),
    ("/text_to_audio", {0: "  "}, "prompt must not be empty: describe a sound, e.g. 'rain on a tin roof'"),
    ("/text_to_audio", {0: "x" * 301}, "prompt must be at most 300 characters, got 301"),
    ("/text_to_audio", {1: 0}, "seconds must be between 1 and 60, got 0"),
    ("/text_to_audio", {2: -1}, "seed must be between 0 and 4294967295, got -1"),
    ("/text_to_audio", {3: 2.5}, "steps must be a whole number, got 2.5"),
    ("/text_to_audio", {3: 0}, "steps must be between 1 and 200, got 0"),
    *((endpoint, {0: name}, name) for name in BAD_PAGES for endpoint in ("/analyze", "/generate")),
]


def request(endpoint: str, spoilt: dict, tmp_path: Path, clip: Path) -> list:
    """The endpoint's good request with the ``spoilt`` values; bad pages and clips are written as files."""
    arguments = list(GOOD[endpoint])
    for index, value in spoilt.items():
        if isinstance(value, str) and value in BAD_PAGES:
            name, content, _ = BAD_PAGES[value]
            value = page_file(tmp_path, name, content)
        elif isinstance(value, tuple) and value[1] == "1 Hz":
            buffer = io.BytesIO()
            soundfile.write(buffer, [0.5, -0.5] * 50, 1, format="WAV")
            value = page_file(tmp_path, value[0], buffer.getvalue())
        elif isinstance(value, tuple):
            value = page_file(tmp_path, *value)
        arguments[index] = value
    files = {"PAGE": EXAMPLES / "peppercarrot_ep03_en_002.jpg", "CLIP": clip}
    return [gradio_client.handle_file(str(files[a])) if isinstance(a, str) and a in files else a for a in arguments]


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
    assert str(REPO) not in Path(json_file).read_text()  # the weights are named without the server's folders


def test_no_server_folder_in_the_page_its_config_or_its_footer(app_url: str) -> None:
    for address in (app_url, app_url + "config"):
        with urllib.request.urlopen(address) as response:
            text = response.read().decode()
        assert str(REPO) not in text
    assert "Weights: local weights/" in text  # the footer, in the config the page is drawn from


@pytest.mark.parametrize(("endpoint", "spoilt", "message"), BATTERY)
def test_a_battery_of_bad_requests_gets_the_apps_own_line(
    client: gradio_client.Client, app_log: Path, tmp_path: Path, sound_clips: dict[str, Path], endpoint, spoilt, message
) -> None:
    """Every parameter of every endpoint, of a wrong type or range: the visitor gets the app's one line (its
    words, never Gradio's generic ones), and the server's log gets that line once, without a traceback."""
    message = BAD_PAGES[message][2] if message in BAD_PAGES else message
    before = len(app_log.read_text())
    with pytest.raises(Exception) as refused:
        client.predict(*request(endpoint, spoilt, tmp_path, sound_clips["animal"]), api_name=endpoint)
    assert message in str(refused.value) and "\n" not in str(refused.value).strip()
    logged = app_log.read_text()[before:].splitlines()
    assert [line.startswith("bd2music: refused: ") and message in line for line in logged] == [True], logged


def test_the_app_serves_after_the_battery(client: gradio_client.Client, app_log: Path) -> None:
    assert len(BATTERY) >= 40
    example = EXAMPLES / "peppercarrot_ep03_en_002.jpg"
    overlay, *_ = client.predict(gradio_client.handle_file(str(example)), False, "classical", api_name="/analyze")
    assert Path(overlay).is_file() and "Traceback" not in app_log.read_text()


def test_analyze_sound_endpoint(client: gradio_client.Client, sound_clips: dict[str, Path]) -> None:
    _figure, table = client.predict(gradio_client.handle_file(str(sound_clips["animal"])), api_name="/analyze_sound")
    assert table["data"]


def test_depict_endpoint(client: gradio_client.Client, sound_clips: dict[str, Path]) -> None:
    clip = gradio_client.handle_file(str(sound_clips["music"]))
    page, summary, readings, _figure, [png, json_file] = client.predict(clip, 5, api_name="/depict")
    assert Path(page).is_file() and "panels" in summary and readings["data"]
    assert json.loads(Path(json_file).read_text())["seed"] == 5 and Path(png).suffix == ".png"


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
