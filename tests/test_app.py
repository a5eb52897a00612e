"""The app's functions: real pages and clips give every output; bad uploads give a gr.Error, not a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import gradio as gr
import pytest
from PIL import Image

import app


def test_analyze_example_page() -> None:
    example = app.EXAMPLES / "peppercarrot_ep03_en_002.jpg"
    overlay, summary, figure, table, json_path = app.analyze(str(example), False, "yolo")
    assert isinstance(overlay, Image.Image) and max(overlay.size) <= 1200
    assert "panels" in summary
    assert figure is not None and len(table) > 10
    page = json.loads(Path(json_path).read_text())["pages"][0]
    assert page["image"] == example.name and page["panels"]


def test_classical_detector_choice(data_dir: Path) -> None:
    *_, json_path = app.analyze(str(data_dir / "comics" / "openmantra_rasetugari_005.jpg"), True, "classical")
    assert json.loads(Path(json_path).read_text())["pages"][0]["panels"]


@pytest.mark.parametrize(
    "content",
    [b"", b"this is a text file, not a page", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40],
)
def test_bad_page_upload_is_a_gr_error(tmp_path: Path, content: bytes) -> None:
    bad = tmp_path / "upload.png"
    bad.write_bytes(content)
    with pytest.raises(gr.Error):
        app.analyze(str(bad), False, "yolo")


def test_tiny_page_is_a_gr_error(tmp_path: Path) -> None:
    tiny = tmp_path / "tiny.png"
    Image.new("RGB", (30, 30)).save(tiny)
    with pytest.raises(gr.Error, match="at least"):
        app.analyze(str(tiny), False, "yolo")


def test_no_upload_is_a_gr_error() -> None:
    with pytest.raises(gr.Error):
        app.analyze(None, False, "yolo")


def test_sound_tab(data_dir: Path, tmp_path: Path) -> None:
    clip = next((data_dir / "sounds" / "music").glob("*.flac"))
    figure, rows = app.analyze_sound(str(clip))
    assert figure is not None and len(rows) > 5
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    with pytest.raises(gr.Error):
        app.analyze_sound(str(broken))


def test_demo_builds_with_named_endpoints() -> None:
    demo = app.build_demo()
    names = {dep.get("api_name") for dep in demo.config["dependencies"]}
    assert {"analyze", "analyze_sound"} <= names
