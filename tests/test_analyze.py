"""Page analysis end to end: the trained detector, the CLI's JSON contract, original-pixel coordinates."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bd2music.__main__ import main
from bd2music.errors import InputError
from bd2music.io import load_page
from bd2music.vision.analysis import analyze_page
from bd2music.vision.classical import ClassicalDetector
from bd2music.vision.detect import load_detector
from bd2music.vision.lettering import KINDS
from bd2music.vision.yolo import YoloDetector

PAGE_KEYS = {"image", "width", "height", "panels", "balloons", "features"}
REPO = Path(__file__).resolve().parents[1]
WEIGHTS = REPO / "weights" / "detector"
EXAMPLES = REPO / "examples"


@pytest.fixture(scope="module")
def yolo() -> YoloDetector:
    return YoloDetector.from_pretrained()


def test_cli_json_contract(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    pages = tmp_path / "pages"
    pages.mkdir()
    for name in ("openmantra_tojime_no_siora_007.jpg", "peppercarrot_ep03_en_002.jpg"):
        shutil.copy(EXAMPLES / name, pages / name)
    (pages / "broken.png").write_bytes(b"not an image")
    out = tmp_path / "out.json"
    assert main(["analyze", str(pages), "--json", str(out), "--overlay", str(tmp_path / "overlay")]) == 1  # skipped one
    assert "broken.png" in capsys.readouterr().err
    result = json.loads(out.read_text())
    assert list(result) == ["pages"] and len(result["pages"]) == 2
    for page in result["pages"]:
        assert set(page) == PAGE_KEYS
        assert page["panels"], f"no panel found on {page['image']}"
        assert [p["order"] for p in page["panels"]] == list(range(len(page["panels"])))
        for item in page["panels"] + page["balloons"]:
            x0, y0, x1, y1 = item["box"]
            assert 0 <= x0 < x1 <= page["width"] and 0 <= y0 < y1 <= page["height"]
            assert 0.0 <= item["score"] <= 1.0
        for balloon in page["balloons"]:
            assert balloon["panel"] is None or 0 <= balloon["panel"] < len(page["panels"])
            assert set(balloon) == {"box", "panel", "score", "text", "kind"} and balloon["kind"] in KINDS
            assert isinstance(balloon["text"], str) and (balloon["text"] or balloon["kind"] == "unknown")
        assert page["features"]["layout"]["panel_count"] == len(page["panels"])
        assert page["features"]["layout"]["balloon_count"] == len(page["balloons"])
        assert (tmp_path / "overlay" / f"{Path(page['image']).stem}.png").is_file()
    pepper = result["pages"][1]
    assert any("Pepper" in balloon["text"] for balloon in pepper["balloons"]), pepper["balloons"]
    assert main(["analyze", str(pages / "peppercarrot_ep03_en_002.jpg"), "--json", str(out), "--no-text"]) == 0
    balloons = json.loads(out.read_text())["pages"][0]["balloons"]
    assert balloons and all(set(balloon) == {"box", "panel", "score"} for balloon in balloons)


def test_cli_single_bad_file_fails_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff" + b"\x00" * 100)
    assert main(["analyze", str(bad), "--json", str(tmp_path / "o.json"), "--detector", "classical"]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert any("bad.jpg" in line for line in err)
    assert not any("Traceback" in line for line in err)


def test_rtl_reads_the_right_panel_first(yolo: YoloDetector) -> None:
    page = load_page(EXAMPLES / "openmantra_tojime_no_siora_007.jpg")
    ltr, rtl = analyze_page(page, yolo), analyze_page(page, yolo, rtl=True)
    assert len(ltr.panels) >= 2
    first_ltr, first_rtl = ltr.panels[0].box, rtl.panels[0].box
    assert first_rtl[2] >= first_ltr[2] and first_rtl[0] >= first_ltr[0]
    assert sorted(p.box for p in ltr.panels) == sorted(p.box for p in rtl.panels)


def test_large_page_boxes_in_original_pixels() -> None:
    """A page upscaled 3x is analysed downscaled; its boxes come back 3x larger, on the original grid."""
    page = load_page(EXAMPLES / "peppercarrot_ep03_en_002.jpg")
    big = load_page(page.image.resize((page.width * 3, page.height * 3), Image.Resampling.BILINEAR), name="big")
    detector = ClassicalDetector()
    small_boxes = sorted(p.box for p in analyze_page(page, detector).panels)
    big_boxes = sorted(p.box for p in analyze_page(big, detector).panels)
    assert len(small_boxes) == len(big_boxes) > 0
    for a, b in zip(small_boxes, big_boxes):
        assert all(abs(3 * u - v) < 0.03 * big.width for u, v in zip(a, b))


def test_missing_weights_fall_back_to_classical(tmp_path: Path) -> None:
    with pytest.warns(UserWarning, match="classical"):
        detector = load_detector("yolo", weights=tmp_path)
    assert detector.name == "classical"


def test_load_detector_places_yolo_on_the_device() -> None:
    """The page benchmark's ``--device`` reaches the network (``meta``: a device that holds no data)."""
    detector = load_detector("yolo", device="meta")
    assert detector.device.type == "meta" and next(detector.model.parameters()).device.type == "meta"
    assert load_detector("classical", device="meta").name == "classical"


def test_yolo_round_trip_save_load(yolo: YoloDetector, tmp_path: Path) -> None:
    from bd2music.vision.yolo import save_detector

    unfused = YoloDetector.from_pretrained(fuse=False)  # what training produces and save_detector stores
    save_detector(unfused.model, unfused.config, tmp_path)
    again = YoloDetector.from_pretrained(tmp_path)
    image = load_page(EXAMPLES / "openmantra_tojime_no_siora_007.jpg").image
    before, after = yolo.detect(image), again.detect(image)
    assert len(before) >= 5 and [d.label for d in after] == [d.label for d in before]
    shifts = np.abs(np.array([d.box for d in after]) - np.array([d.box for d in before]))
    assert shifts.max() <= 1.0, shifts.max()  # the same boxes, to a pixel


def test_detector_soup_averages_its_members(tmp_path: Path) -> None:
    import torch

    from bd2music.training.detector import average_detectors
    from bd2music.vision.yolo import save_detector

    shipped = YoloDetector.from_pretrained(fuse=False)
    shifted = YoloDetector.from_pretrained(fuse=False)
    with torch.no_grad():
        for value in shifted.model.state_dict().values():
            if value.is_floating_point():
                value.add_(0.5)
    save_detector(shifted.model, shifted.config, tmp_path / "shifted")
    soup = average_detectors([WEIGHTS, tmp_path / "shifted"])
    for key, value in soup.model.state_dict().items():
        expected = shipped.model.state_dict()[key]
        torch.testing.assert_close(value, expected + 0.25 if value.is_floating_point() else expected,
                                   rtol=2e-3, atol=2e-3, msg=key)

    (tmp_path / "shifted" / "config.json").write_text(
        (WEIGHTS / "config.json").read_text().replace('"imgsz": 512', '"imgsz": 640'))
    with pytest.raises(InputError, match="config.json differs"):
        average_detectors([WEIGHTS, tmp_path / "shifted"])


def test_detector_soup_refuses_unfit_members(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    configs = {"a": {"seed": 1, "init_weights": "runs/stage5"}, "b": {"seed": 2, "init_weights": "runs/other"},
               "c": {"seed": 3, "init_weights": "runs/stage5"}}
    for name, config in configs.items():
        (tmp_path / f"{name}.json").write_text(json.dumps(config))
    data = tmp_path / "data"  # no page is needed: every refusal comes before training
    (data / "comics" / "labels").mkdir(parents=True)
    stale = tmp_path / "a_out"  # a member trained earlier with another seed
    shutil.copytree(WEIGHTS, stale)
    (stale / "train_config.json").write_text(json.dumps({"seed": 0, "init_weights": "runs/stage5"}))
    for members, message in ((["a"], "at least two"), (["a", "b"], "same init_weights"),
                             (["a", "c"], "trained with another config")):
        soup = tmp_path / "soup.json"
        soup.write_text(json.dumps({"members": [str(tmp_path / f"{m}.json") for m in members]}))
        out = tmp_path / "out"
        assert main(["train", "detector-soup", "--config", str(soup), "--out", str(out), "--work", str(tmp_path),
                     "--data", str(data)]) == 2
        assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_yolo_beats_a_floor_and_the_baseline_on_eval_pages(yolo: YoloDetector, data_dir: Path) -> None:
    """Held-out pages (never trained or tuned on): every 4th page of both titles."""
    from bd2music.evaluation.panels import evaluate_detector, load_annotations
    from bd2music.vision.analysis import ANALYSIS_LONG_SIDE

    pages = load_annotations(data_dir / "eval_pages")[::4]
    assert len(pages) >= 15
    ours = evaluate_detector(yolo, pages, ANALYSIS_LONG_SIDE)
    baseline = evaluate_detector(ClassicalDetector(), pages, ANALYSIS_LONG_SIDE)
    assert ours.panels.f1 >= 0.75, ours.panels
    assert ours.balloons.f1 >= 0.80, ours.balloons
    assert ours.panels.f1 > baseline.panels.f1


def test_yolo_finds_western_balloon_lettering(yolo: YoloDetector, relocated_labels) -> None:
    """Hand-labelled western colour pages (never trained on): stage 8 found 9 of their 60 text boxes, F1 0.23."""
    from bd2music.evaluation.panels import evaluate_detector, load_annotations
    from bd2music.vision.analysis import ANALYSIS_LONG_SIDE

    pages = load_annotations(relocated_labels(REPO / "benchmarks" / "western_balloons"))
    ours = evaluate_detector(yolo, pages, ANALYSIS_LONG_SIDE)
    baseline = evaluate_detector(ClassicalDetector(), pages, ANALYSIS_LONG_SIDE)
    assert ours.panels is None and sum(len(page.balloons) for page in pages) == 60
    assert ours.balloons.f1 >= 0.35 and ours.balloons.tp >= 18, ours.balloons
    assert ours.balloons.f1 > 2 * baseline.balloons.f1
