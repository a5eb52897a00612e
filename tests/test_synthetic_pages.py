"""The procedural page generator: reproducible, and its labels match what was drawn (content from the shipped
example pages; the data's comics/ for the detector's dataset and the extra label folders)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from bd2music.__main__ import main
from bd2music.data.synthetic_pages import PageGenerator, clip_polygon, inside_polygon, load_content_sources
from bd2music.training.detector import yolo_label_lines
from bd2music.vision.boxes import iou_matrix

PAGES = 12
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def comics(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A comics folder like the data's: the four shipped example pages, one of them with its human labels."""
    folder = tmp_path_factory.mktemp("comics")
    for page in (REPO / "examples").glob("*.jpg"):
        shutil.copy(page, folder)
    shutil.copytree(REPO / "tests" / "data" / "labels", folder / "labels")
    return folder


@pytest.fixture(scope="module")
def generator(comics: Path) -> PageGenerator:
    return PageGenerator(load_content_sources(comics, max_side=400), seed=3, long_side=640)


@pytest.fixture(scope="module")
def pages(generator: PageGenerator) -> list:
    return [generator(i) for i in range(PAGES)]


def test_same_seed_same_page(generator: PageGenerator, pages: list) -> None:
    again = generator(5)
    assert np.array_equal(np.asarray(again.image), np.asarray(pages[5].image))
    assert again.panels == pages[5].panels and again.balloons == pages[5].balloons
    assert not np.array_equal(np.asarray(pages[4].image), np.asarray(pages[5].image))


def test_boxes_lie_on_the_page(pages: list) -> None:
    for page in pages:
        assert page.panels, "every page has at least one panel"
        w, h = page.image.size
        for x0, y0, x1, y1 in page.panels + page.balloons:
            assert -1 <= x0 < x1 <= w + 1 and -1 <= y0 < y1 <= h + 1


def test_gutters_are_paper_and_panels_are_not(pages: list) -> None:
    """Outside every panel box the page is blank paper; inside, something was drawn."""
    for page in pages:
        pixels = np.asarray(page.image.convert("L"), dtype=np.float32)
        inside = np.zeros(pixels.shape, bool)
        for x0, y0, x1, y1 in page.panels + page.balloons:
            inside[max(0, int(y0) - 3):int(y1) + 4, max(0, int(x0) - 3):int(x1) + 4] = True
        outside = pixels[~inside]
        if outside.size > 500:
            paper = np.median(outside)
            assert np.mean(np.abs(outside - paper) < 45) > 0.85
        panel_stds = [pixels[int(y0):int(y1), int(x0):int(x1)].std() for x0, y0, x1, y1 in page.panels]
        assert max(panel_stds) > 10


def balloon_crops(pages: list) -> list[np.ndarray]:
    """The grey pixels inside every (non-empty) balloon label of the pages."""
    crops = []
    for page in pages:
        pixels = np.asarray(page.image.convert("L"), dtype=np.float32)
        for x0, y0, x1, y1 in page.balloons:
            crop = pixels[int(y0):int(np.ceil(y1)), int(x0):int(np.ceil(x1))]
            if crop.size:
                crops.append(crop)
    return crops


def test_balloon_boxes_hold_lettering(pages: list) -> None:
    """Each balloon label is a tight box around dark strokes on a light background."""
    crops = balloon_crops(pages)
    for crop in crops:
        assert (crop < 170).mean() > 0.02, "lettering is darker than the balloon"
    assert len(crops) >= PAGES, "pages carry balloons"


@pytest.fixture(scope="module")
def western_pages(generator: PageGenerator) -> list:
    western = PageGenerator(generator.sources, seed=3, long_side=640, western_balloons=1.0)
    return [western(i) for i in range(PAGES)]


def test_western_lettering_changes_only_the_balloons(pages: list, western_pages: list) -> None:
    assert [page.panels for page in western_pages] == [page.panels for page in pages]
    assert sum(w.balloons != p.balloons for w, p in zip(western_pages, pages, strict=True)) >= PAGES // 2


def test_western_balloon_boxes_hold_lettering_on_light_and_dark_balloons(western_pages: list) -> None:
    """Western boxes also hold strokes that stand out of their balloon, dark on light or light on dark."""
    light = dark = 0
    for crop in balloon_crops(western_pages):
        background = np.median(crop)
        assert (np.abs(crop - background) > 60).mean() > 0.02, "lettering stands out of the balloon"
        dark += background < 100
        light += background >= 100
    assert light >= PAGES and dark >= 1, (light, dark)


def test_content_sources_can_leave_out_unlabelled_pages(generator: PageGenerator, comics: Path) -> None:
    """With ``labelled_only`` only the labelled pages give content, so no unlabelled lettering is cut in."""
    labelled = load_content_sources(comics, max_side=400, labelled_only=True)
    assert len(labelled) == len(list((comics / "labels").glob("*.json"))) < len(generator.sources)
    assert sum(bool(source.texts) for source in labelled) > len(labelled) // 2


def test_content_sources_take_labels_from_more_folders(data_dir: Path) -> None:
    """Pages labelled in ``label_dirs`` give their panels as content regions and their lettering as known text."""
    western = REPO / "configs" / "detector" / "western_labels"
    manga = load_content_sources(data_dir / "comics", max_side=400, labelled_only=True)
    both = load_content_sources(data_dir / "comics", max_side=400, labelled_only=True, label_dirs=[western])
    assert len(both) == len(manga) + len(list(western.glob("*.json")))
    assert sum(len(source.texts) for source in both) - sum(len(source.texts) for source in manga) == 17
    assert sum(len(source.regions) for source in both) - sum(len(source.regions) for source in manga) == 35


def test_panels_do_not_overlap_except_insets(pages: list) -> None:
    for page in pages:
        overlaps = iou_matrix(np.array(page.panels), np.array(page.panels))
        np.fill_diagonal(overlaps, 0)
        assert (overlaps > 0.3).sum() == 0


def test_polygon_helpers() -> None:
    square = [(0.0, 0.0), (10.0, 0.0), (10.0, 10.0), (0.0, 10.0)]
    left = clip_polygon(square, -1.0, 0.0, 4.0)  # x <= 4
    assert max(p[0] for p in left) == pytest.approx(4.0) and len(left) == 4
    assert inside_polygon(square, (5, 5)) and not inside_polygon(square, (11, 5))


def test_yolo_label_lines_normalise_and_drop_slivers() -> None:
    rows = yolo_label_lines([(0, (0, 0, 50, 100)), (1, (10, 10, 11, 11)), (1, (-5, 90, 20, 120))], 100, 100)
    assert rows[0] == "0 0.250000 0.500000 0.500000 1.000000"
    assert len(rows) == 2 and rows[1].startswith("1 0.100000 0.950000 0.200000 0.100000")


def test_make_pages_command(tmp_path: Path, comics: Path) -> None:
    assert main(["make-pages", "--out", str(tmp_path), "-n", "2", "--seed", "1", "--comics", str(comics)]) == 0
    labels = json.loads((tmp_path / "synthetic_1_00001.json").read_text())
    assert set(labels) >= {"image", "width", "height", "panels", "balloons"}
    assert (tmp_path / labels["image"]).is_file()


def test_detector_dataset_takes_extra_labelled_pages(tmp_path: Path, data_dir: Path, relocated_labels) -> None:
    """Extra labelled folders train with both classes; a folder without panel boxes is refused."""
    from bd2music.errors import InputError
    from bd2music.training.detector import DetectorTrainConfig, build_dataset

    extra = relocated_labels(REPO / "configs" / "detector" / "western_labels")
    config = DetectorTrainConfig(synthetic_pages=0, real_repeats=1, extra_labels=[str(extra)])
    build_dataset(tmp_path / "set", data_dir / "comics", config)
    rows = [line.split()[0] for f in (tmp_path / "set" / "labels" / "train").glob("real_peppercarrot_*.txt")
            for line in f.read_text().splitlines()]
    assert len(list(extra.glob("*.json"))) == 10 and rows.count("0") == 35 and rows.count("1") == 17
    assert len(list((tmp_path / "set" / "images" / "val").glob("real_*.jpg"))) == 14  # every 10th manga page
    western_balloons = relocated_labels(REPO / "benchmarks" / "western_balloons")
    balloons_only = DetectorTrainConfig(synthetic_pages=0, extra_labels=[str(western_balloons)])
    with pytest.raises(InputError, match="need panels"):
        build_dataset(tmp_path / "bad", data_dir / "comics", balloons_only)


def test_detector_model_card_states_the_data_split(tmp_path: Path) -> None:
    from bd2music.training.detector import DetectorTrainConfig, write_model_card

    for every, wording in ((2, "every 2nd page held out"), (10, "every 10th page held out"),
                           (0, "all of them used for training")):
        write_model_card(tmp_path, DetectorTrainConfig(real_validation_every=every), tmp_path / "no_results.csv")
        card = (tmp_path / "README.md").read_text()
        assert wording in card and "non-commercial" in card and "bd2music train detector" in card
    assert "Climate Frogs, xkcd)" in card
    write_model_card(tmp_path, DetectorTrainConfig(unlabelled_content=False), tmp_path / "no_results.csv")
    assert "panel content cut from the labelled OpenMantra pages only" in (tmp_path / "README.md").read_text()
    write_model_card(tmp_path, DetectorTrainConfig(unlabelled_content=False, content_labels=["more"]),
                     tmp_path / "no_results.csv")
    assert "the labelled OpenMantra pages and the pages labelled in `more` only" in (tmp_path / "README.md").read_text()
    write_model_card(tmp_path, DetectorTrainConfig(content_labels=["more"]), tmp_path / "no_results.csv")
    assert "xkcd), with the lettering of the pages labelled in `more` labelled" in (tmp_path / "README.md").read_text()
