"""Panel/balloon metrics on hand-made cases, the evaluate-panels command on drawn pages, and the repository's
hand-labelled western sets (their images are in the shared data)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from bd2music.__main__ import main
from bd2music.commands.evaluate_panels import markdown_table
from bd2music.errors import InputError
from bd2music.evaluation import (
    AnnotatedPage,
    Counts,
    DetectorReport,
    count_matches,
    evaluate_page,
    load_annotations,
    match_boxes,
)
from bd2music.vision.boxes import Detection

A, B, C = (0, 0, 100, 100), (200, 0, 300, 100), (0, 200, 100, 300)
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture()
def drawn_pages(tmp_path: Path) -> Path:
    """Four annotated pages in the eval_pages format: framed panels, two to four of them, on white paper."""
    folder = tmp_path / "pages"
    folder.mkdir()
    for index in range(4):
        page = Image.new("RGB", (600, 800), "white")
        draw = ImageDraw.Draw(page)
        panels = [(40, 40 + 240 * row, 560, 240 + 240 * row) for row in range(2 + index % 3)][:3]
        for box in panels:
            draw.rectangle(box, outline="black", width=4)
            draw.ellipse((box[0] + 60, box[1] + 40, box[0] + 200, box[1] + 150), outline="black", width=3)
        page.save(folder / f"page_{index}.jpg")
        (folder / f"page_{index}.json").write_text(json.dumps(
            {"image": f"page_{index}.jpg", "width": 600, "height": 800, "panels": panels}))
    return folder


def test_perfect_and_missed() -> None:
    assert count_matches([A, B], [A, B]) == Counts(2, 0, 0)
    assert count_matches([A], [A, B]) == Counts(1, 0, 1)
    assert count_matches([(0, 0, 100, 40)], [A]) == Counts(0, 1, 1)  # IoU 0.4 < 0.5


def test_duplicates_are_false_positives() -> None:
    counts = count_matches([A, (0, 0, 100, 98), A], [A])
    assert counts == Counts(1, 2, 0)
    assert counts.precision == pytest.approx(1 / 3) and counts.recall == 1.0 and counts.f1 == pytest.approx(0.5)


def test_greedy_takes_the_highest_iou_first() -> None:
    truth = [(0, 0, 100, 100), (30, 0, 130, 100)]
    pred = [(20, 0, 120, 100), (28, 0, 128, 100)]  # pred 1 fits truth 1 best (IoU 0.96)
    assert sorted(match_boxes(pred, truth)) == [(0, 0), (1, 1)]
    assert match_boxes([(0, 0, 100, 100)], truth) == [(0, 0)]  # one-to-one


def test_empty_ground_truth() -> None:
    assert count_matches([A, B], []) == Counts(0, 2, 0)
    assert count_matches([A, B], []).precision == 0.0 and count_matches([A, B], []).f1 == 0.0
    nothing = count_matches([], [])
    assert (nothing.precision, nothing.recall, nothing.f1) == (1.0, 1.0, 1.0)
    assert count_matches([], [A]).recall == 0.0


def test_micro_average_and_balloons_only_where_annotated() -> None:
    annotated = AnnotatedPage(Path("p1.jpg"), 400, 400, [A, B], [C])
    unannotated = AnnotatedPage(Path("p2.jpg"), 400, 400, [A], None)
    detections = [Detection(A, 0.9, "panel"), Detection(C, 0.8, "balloon"), Detection(B, 0.7, "balloon")]
    report = DetectorReport("test", [evaluate_page(detections, annotated), evaluate_page(detections, unannotated)])
    assert report.pages[1].balloons is None
    assert report.panels == Counts(2, 0, 1)
    assert report.balloons == Counts(1, 1, 0)
    assert json.loads(json.dumps(report.to_dict()))["overall"]["panels"]["recall"] == pytest.approx(2 / 3, abs=1e-4)


def test_pages_with_balloons_only_leave_panels_unscored(tmp_path: Path) -> None:
    Image.new("RGB", (400, 400), "white").save(tmp_path / "page.jpg")
    (tmp_path / "page.json").write_text(json.dumps({"image": "page.jpg", "width": 400, "height": 400,
                                                    "balloons": [list(C)]}))
    (page,) = load_annotations(tmp_path)
    assert page.panels is None and page.balloons == [C]
    report = DetectorReport("test", [evaluate_page([Detection(A, 0.9, "panel"), Detection(C, 0.8, "balloon")], page)])
    assert report.panels is None and report.balloons == Counts(1, 0, 0)
    row = markdown_table([report]).splitlines()[-1]
    assert row.startswith("| test | n/a | n/a | n/a | 1.000 | 1.000 | 1.000 |"), row


def test_load_annotations(tmp_path: Path) -> None:
    Image.new("RGB", (100, 100), "white").save(tmp_path / "page.jpg")
    (tmp_path / "page.json").write_text(json.dumps({"image": "page.jpg", "width": 100, "height": 100,
                                                    "panels": [[0, 0, 50, 50]]}))
    (page,) = load_annotations(tmp_path)
    assert page.panels == [(0.0, 0.0, 50.0, 50.0)] and page.balloons is None and page.name == "page"
    (tmp_path / "other.json").write_text(json.dumps({"image": "missing.jpg", "width": 1, "height": 1, "panels": []}))
    with pytest.raises(InputError, match=r"missing\.jpg"):
        load_annotations(tmp_path)


@pytest.mark.parametrize(("folder", "pages", "boxes"), [("western_balloons", 8, 60), ("western_balloons_test", 8, 18),
                                                     ("western_balloons_test2", 8, 37)])
def test_western_balloon_sets_match_their_readmes(folder: str, pages: int, boxes: int, relocated_labels) -> None:
    """The hand-labelled western sets load, find their images in shared/data and hold the boxes their README says."""
    annotated = load_annotations(relocated_labels(REPO / "benchmarks" / folder))
    assert len(annotated) == pages and sum(len(page.balloons) for page in annotated) == boxes
    for page in annotated:
        assert page.panels is None
        with Image.open(page.image) as image:
            assert image.size == (page.width, page.height)
        assert all(0 <= x0 < x1 <= page.width and 0 <= y0 < y1 <= page.height for x0, y0, x1, y1 in page.balloons)


def test_training_label_folders_are_disjoint_from_the_evaluation_sets(relocated_labels) -> None:
    """The western pages labelled for training hold both classes and none of the western evaluation pages."""
    evaluated = {page.name for folder in ("western_balloons", "western_balloons_test", "western_balloons_test2")
                 for page in load_annotations(relocated_labels(REPO / "benchmarks" / folder))}
    for folder, pages, panels, balloons in (("western_labels", 10, 35, 17), ("handlettered_labels", 18, 41, 52)):
        annotated = load_annotations(relocated_labels(REPO / "configs" / "detector" / folder))
        assert not evaluated & {page.name for page in annotated}
        assert len(annotated) == pages and sum(len(page.panels) for page in annotated) == panels
        assert sum(len(page.balloons) for page in annotated) == balloons
        for page in annotated:
            assert all(0 <= x0 < x1 <= page.width and 0 <= y0 < y1 <= page.height
                       for x0, y0, x1, y1 in page.panels + page.balloons)


def test_cli_writes_the_report(drawn_pages: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "report.json"
    assert main(["evaluate-panels", str(drawn_pages), "--detector", "classical", "--limit", "3", "--json",
                 str(out)]) == 0
    assert "| classical |" in capsys.readouterr().out
    report = json.loads(out.read_text())
    assert {"folder", "pages", "iou_threshold", "detectors"} <= set(report) and report["pages"] == 3
    classical = report["detectors"]["classical"]
    assert {"overall", "pages", "seconds_per_page"} <= set(classical) and len(classical["pages"]) == 3
    for counts in (classical["overall"]["panels"], classical["pages"][0]["panels"]):
        assert set(counts) == {"tp", "fp", "fn", "precision", "recall", "f1"}
    assert classical["overall"]["panels"]["tp"] == 8  # the framed panels of pages 0-2: 2 + 3 + 3, all found
    assert {"name", "panels", "balloons", "seconds"} == set(classical["pages"][0])


def test_cli_reports_missing_yolo_weights(drawn_pages: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "report.json"
    args = ["evaluate-panels", str(drawn_pages), "--detector", "yolo", "classical",
            "--weights", str(tmp_path / "no_weights"), "--limit", "1", "--json", str(out)]
    assert main(args) == 0
    assert "yolo: not evaluated" in capsys.readouterr().out
    report = json.loads(out.read_text())
    assert list(report["detectors"]) == ["classical"] and "yolo" in report["skipped"]
