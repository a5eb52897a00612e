"""The app's functions: real pages and clips give every output; bad uploads give a gr.Error, not a traceback."""

from __future__ import annotations

import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import gradio as gr
import pytest
import soundfile
import yaml
from matplotlib.text import Text
from PIL import Image

from bd2music.audio.plots import DISPLAY_SIZE, MIN_FONT_PT

from bd2music.vision.lettering import KINDS

import app


def no_progress(fraction: float, desc: str | None = None) -> None:
    """Stands in for gr.Progress outside a request."""


def assert_legible(*figures) -> None:
    """Drawn as wide as the app shows them, no text under MIN_FONT_PT (the browser test checks the scale)."""
    for figure in figures:
        small = [t.get_text() for t in figure.findobj(Text)
                 if t.get_visible() and t.get_text().strip() and t.get_fontsize() < MIN_FONT_PT]
        assert figure.get_figwidth() == DISPLAY_SIZE[0] and not small, small


def panel_boxes(page_map: str) -> dict[int, dict]:
    """The page map's panel boxes by panel number: their attributes."""
    boxes = {}
    parser = HTMLParser()
    parser.handle_starttag = lambda tag, attrs: boxes.update(
        {int(dict(attrs)["data-panel"]): dict(attrs)} if "data-panel" in dict(attrs) else {})
    parser.feed(page_map)
    return boxes


def test_analyze_example_page() -> None:
    example = app.EXAMPLES / "peppercarrot_ep03_en_002.jpg"
    overlay, summary, figure, table, lettering, page_map, [json_path] = app.analyze(str(example), False, "yolo")
    assert isinstance(overlay, Image.Image) and max(overlay.size) <= 1200
    boxes = panel_boxes(page_map)  # numbered boxes, without times: no track yet
    assert sorted(boxes) == list(range(1, 6)) and not any("data-start" in box for box in boxes.values())
    assert any("Pepper" in row[2] for row in lettering) and all(row[1] in KINDS for row in lettering)
    assert [row[0] for row in lettering] == sorted(row[0] for row in lettering)  # panels in reading order
    *_, lettering, _page_map, [json_path] = app.analyze(str(example), False, "yolo", False)
    assert lettering == [] and "text" not in json.loads(Path(json_path).read_text())["pages"][0]["balloons"][0]
    *_, lettering, _page_map, [json_path] = app.analyze(str(example), False, "yolo")
    assert re.search(r"\*\*\d+ panels?\*\*", summary), summary
    assert app._count([1], "panel") == "1 panel" and app._count([], "balloon") == "0 balloons"
    assert figure is not None and len(table) > 10
    page = json.loads(Path(json_path).read_text())["pages"][0]
    assert page["image"] == example.name and page["panels"]


def test_classical_detector_choice() -> None:
    *_, [json_path] = app.analyze(str(app.EXAMPLES / "openmantra_tojime_no_siora_007.jpg"), True, "classical")
    assert json.loads(Path(json_path).read_text())["pages"][0]["panels"]


def test_generate_per_panel() -> None:
    page = app.EXAMPLES / "openmantra_tojime_no_siora_007.jpg"
    overlay, summary, _features, table, _lettering, page_map, spectrogram, roll, wav, cues, downloads = app.generate(
        str(page), 3, 7, True, True, "yolo", "scene", progress=no_progress
    )
    assert roll is None and len(downloads) == 2  # no music, no score
    audio, rate = soundfile.read(wav)
    assert rate == 44100 and audio.shape[1] == 2 and abs(len(audio) / rate - 3) < 0.05
    assert "panel" in summary and table and "LUFS" in summary
    saved = json.loads(Path(downloads[1]).read_text())
    assert Path(downloads[0]) == Path(wav) and saved["settings"]["seed"] == 7 and saved["settings"]["per_panel"]
    numbers = {text.get_text() for text in spectrogram.axes[0].texts}
    assert len(saved["panels"]) > 1 and numbers == {str(i + 1) for i in range(len(saved["panels"]))}
    assert len(saved["segments"]) == len(saved["panels"]) and saved["features"]
    boxes = panel_boxes(page_map)  # each panel's box plays the segment it is heard in
    assert {n: (float(b["data-start"]), float(b["data-end"])) for n, b in boxes.items()} == {
        s["panel"] + 1: (pytest.approx(s["start"], abs=1e-3), pytest.approx(s["end"], abs=1e-3))
        for s in saved["segments"]}
    assert "Why it sounds like this" in summary and "with " in summary  # the scene's clips, named
    assert "BPM" in summary and all(s["tempo"] > 0 and s["onset_rate"] > 0 for s in saved["plan"]["segments"])
    assert cues and len(cues) == len(saved["cues"]) and all(row[4] and row[5] for row in cues)  # licence, author
    assert {row[6] for row in cues} >= {f"plan: panel {i + 1} (bed)" for i in range(len(saved["panels"]))}


def test_generate_music_shows_its_score_and_offers_its_midi(tmp_path: Path) -> None:
    page = tmp_path / "peppercarrot.ep03.jpg"  # a dotted name keeps its dots in every file offered
    shutil.copy(app.EXAMPLES / "peppercarrot_ep03_en_002.jpg", page)
    *_, summary, features, _table, _lettering, page_map, spectrogram, roll, wav, cues, downloads = app.generate(
        str(page), 3, 0, False, False, "yolo", "music", progress=no_progress
    )  # page mode: one segment, every panel heard all along it
    boxes = panel_boxes(page_map)
    assert len(boxes) == 5 and {(b["data-start"], b["data-end"]) for b in boxes.values()} == {("0.000", "3.000")}
    saved = json.loads(Path(downloads[1]).read_text())
    assert [Path(d).name for d in downloads] == [f"peppercarrot.ep03.{ext}" for ext in ("wav", "json", "mid")]
    assert Path(downloads[2]).read_bytes()[:4] == b"MThd"
    assert "Why it sounds like this**: " in summary and f"**{saved['music']['key']}**" in summary
    assert "melody on" in summary
    assert roll.axes[0].get_title().startswith(f"Score: {saved['music']['key']}")
    assert_legible(features, spectrogram, roll)
    assert {row[2] for row in cues} == {"music"}


def test_generate_refuses_an_unknown_sound_in_one_line() -> None:
    page = str(app.EXAMPLES / "peppercarrot_ep03_en_002.jpg")
    with pytest.raises(gr.Error, match="unknown sound 'buzz', expected one of soundtrack, music, scene, neural"):
        app.generate(page, 2, 0, False, False, "yolo", "buzz", progress=no_progress)


def test_generate_refuses_bad_settings() -> None:
    page = str(app.EXAMPLES / "peppercarrot_ep03_en_002.jpg")
    with pytest.raises(gr.Error, match="seconds"):
        app.generate(page, 0, 0, False, False, "yolo", progress=no_progress)
    with pytest.raises(gr.Error):
        app.generate(page, 5, None, False, False, "yolo", progress=no_progress)


@pytest.mark.parametrize(
    "content",
    [b"", b"this is a text file, not a page", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40],
)
def test_bad_page_upload_is_a_gr_error(tmp_path: Path, content: bytes) -> None:
    bad = tmp_path / "upload.png"
    bad.write_bytes(content)
    with pytest.raises(gr.Error):
        app.analyze(str(bad), False, "yolo")
    with pytest.raises(gr.Error):
        app.generate(str(bad), 2, 0, False, False, "yolo", progress=no_progress)


def test_tiny_page_is_a_gr_error(tmp_path: Path) -> None:
    tiny = tmp_path / "tiny.png"
    Image.new("RGB", (30, 30)).save(tiny)
    with pytest.raises(gr.Error, match="at least"):
        app.analyze(str(tiny), False, "yolo")


def test_no_upload_is_a_gr_error() -> None:
    with pytest.raises(gr.Error):
        app.analyze(None, False, "yolo")
    with pytest.raises(gr.Error):
        app.generate(None, 2, 0, False, False, "yolo", progress=no_progress)


def test_sound_tab(sound_clips: dict[str, Path], tmp_path: Path) -> None:
    figure, rows = app.analyze_sound(str(sound_clips["music"]))
    assert figure is not None and len(rows) > 5
    assert_legible(figure)
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    with pytest.raises(gr.Error):
        app.analyze_sound(str(broken))


def test_depict_tab(sound_clips: dict[str, Path], tmp_path: Path) -> None:
    image, summary, rows, figure, (png, json_path) = app.depict(str(sound_clips["animal"]), 3)
    record = json.loads(Path(json_path).read_text())
    assert isinstance(image, Image.Image) and max(image.size) >= 768 and Image.open(png).size == image.size
    assert f"**{len(record['panels'])} panels**" in summary and record["readings"]["key"] in summary
    assert [row[0] for row in rows][:4] == ["tempo", "spectral centroid", "loudness", "onset rate"]
    assert rows[0][3] == f"{len(record['panels'])} → {len(record['panels'])}" and record["seed"] == 3
    assert figure is not None and Path(png).name == "animal.png"
    again, *_ = app.depict(str(sound_clips["animal"]), 3)
    assert again.tobytes() == image.tobytes()
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    for clip, seed, message in ((str(broken), 0, "not a readable audio file"), (None, 0, "Upload or record"),
                                (str(sound_clips["animal"]), None, "seed")):
        with pytest.raises(gr.Error, match=message):
            app.depict(clip, seed)


def test_demo_builds_with_named_endpoints() -> None:
    demo = app.build_demo()
    names = {dep.get("api_name") for dep in demo.config["dependencies"]}
    assert {"analyze", "generate", "analyze_sound", "draw", "depict"} <= names


def test_space_front_matter_matches_the_pins() -> None:
    root = app.EXAMPLES.parent
    front = yaml.safe_load((root / "README.md").read_text().split("---\n")[1])
    pins = dict(line.split("==") for line in (root / "requirements.txt").read_text().split() if "==" in line)
    assert front["sdk"] == "gradio" and front["sdk_version"] == pins["gradio"] == gr.__version__
    assert (root / front["app_file"]).is_file() and front["python_version"] == "3.11"
    required = {"title", "emoji", "colorFrom", "colorTo", "license", "models", "suggested_hardware", "short_description"}
    assert required <= set(front) and len(front["short_description"]) <= 60
    assert front["models"] == [json.loads((root / "weights" / "hub.json").read_text())["repo_id"]]


def test_a_sound_whose_bank_is_missing_is_one_log_line_and_not_offered(tmp_path: Path, monkeypatch, capsys) -> None:
    from bd2music.pipeline import Pipeline

    broken = Pipeline.from_pretrained(device="cpu", bank=tmp_path / "no_bank")
    monkeypatch.setattr(app, "pipeline", lambda: broken)
    app.sounds.cache_clear()
    try:
        assert app.sounds() == (["music", "neural", "diffusion"], "music")  # the default (music over the scene) needs the bank
    finally:
        app.sounds.cache_clear()
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(" is unavailable")[0] for line in lines] == ["bd2music: sound 'soundtrack'", "bd2music: sound 'scene'"]
    assert all("no sound bank in" in line for line in lines)


def test_request_folders_are_deleted_after_their_age(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(app, "OUTPUT_ROOT", tmp_path / "outputs")
    page = str(app.EXAMPLES / "peppercarrot_ep03_en_002.jpg")
    *_, [first] = app.analyze(page, False, "classical")
    monkeypatch.setattr(app, "OUTPUT_MAX_AGE_S", 3600.0)
    *_, [second] = app.analyze(page, False, "classical")
    assert Path(first).is_file() and Path(second).is_file(), "a young folder was deleted"
    monkeypatch.setattr(app, "OUTPUT_MAX_AGE_S", 0.0)
    *_, [third] = app.analyze(page, False, "classical")
    assert not Path(first).exists() and not Path(second).exists() and Path(third).is_file()
    assert [p.name for p in (tmp_path / "outputs").iterdir()] == [Path(third).parent.name]


def test_importing_the_app_writes_no_file_beside_it() -> None:
    assert not (Path(app.__file__).with_suffix(".pyi")).exists()


def test_draw_gives_the_strokes_readings_sound_and_files(tmp_path: Path) -> None:
    from bd2music.data.drawings import line_drawing

    path = tmp_path / "sketch.png"
    line_drawing(0.7, 0.03, (1, 0.3, 0), size=(600, 300)).image.save(path)
    strokes, summary, rows, wav, cues, downloads = app.draw(str(path), "sampler", "learned", 3)
    assert isinstance(strokes, Image.Image) and strokes.size == (600, 300)
    assert "**1 stroke** read (learned)" in summary and "LUFS" in summary
    [[number, seconds, notes, height, loudness, brightness, colour, plays]] = rows
    assert number == 1 and seconds == "0.28-2.72"  # 0.1-0.9 of the canvas, and the brush's round ends
    assert notes and abs(height - 0.7) < 0.02 and brightness > 0.8
    audio, rate = soundfile.read(wav)
    assert rate == 44100 and audio.shape[1] == 2 and len(audio) / rate >= 3
    assert [Path(d).suffix for d in downloads] == [".wav", ".json", ".mid"] and Path(downloads[0]) == Path(wav)
    saved = json.loads(Path(downloads[1]).read_text())
    assert saved["settings"]["sound"] == "sampler" and saved["reading"]["strokes"][0]["colour"] == colour
    assert len(cues) == 1 and cues[0][2] == f"instrument: {plays}" and cues[0][3] and cues[0][4]


def test_draw_from_the_canvas_with_the_bank(tmp_path: Path) -> None:
    from bd2music.data.drawings import line_drawing

    path = tmp_path / "composite.png"
    line_drawing(0.4, 0.02, (0, 0.2, 1)).image.save(path)
    *_, rows, wav, cues, downloads = app.draw_canvas({"background": None, "layers": [], "composite": str(path)},
                                                     "bank", "classical", 2)
    assert len(rows) == 1 and len(downloads) == 2 and cues[0][2] == rows[0][7]  # the clip that plays the stroke
    assert soundfile.info(wav).samplerate == 44100


def test_a_blank_canvas_or_bad_settings_are_one_line(tmp_path: Path) -> None:
    blank = tmp_path / "blank.png"
    Image.new("RGBA", (900, 450), (0, 0, 0, 0)).save(blank)  # what an untouched canvas gives
    with pytest.raises(gr.Error, match="the drawing is blank: draw at least one stroke"):
        app.draw_canvas({"background": None, "layers": [], "composite": str(blank)}, "sampler")
    with pytest.raises(gr.Error, match="Draw something"):
        app.draw_canvas(None, "sampler")
    with pytest.raises(gr.Error, match="seconds must be between 1 and 30"):
        app.draw(str(app.EXAMPLES / "peppercarrot_ep03_en_002.jpg"), "sampler", "learned", 60)
    with pytest.raises(gr.Error, match="reading must be one of learned, classical"):
        app.draw(str(app.EXAMPLES / "peppercarrot_ep03_en_002.jpg"), "sampler", "guess", 5)
