"""Reading the lettering: OCR on rendered words, areas grouped and merged with the detected balloons, kinds,
nothing invented on blank, rotated or pure-lettering pages, and the onomatopoeia lexicon against the bank."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

from bd2music.evaluation.panels import load_annotations
from bd2music.io import load_page
from bd2music.onomatopoeia import LEXICON, TABLE, lookup, sound_words
from bd2music.vision.analysis import analyze_page
from bd2music.vision.boxes import Balloon, Detection
from bd2music.vision.lettering import KINDS, LetteringConfig, group_lines, letter_balloons, reading_text
from bd2music.vision.ocr import TextLine, TextReader, fix_digits, model_folder

REPO = Path(__file__).resolve().parents[1]
PANGRAM = ["THE QUICK BROWN FOX", "JUMPS OVER THE LAZY DOG", "PACK MY BOX WITH", "FIVE DOZEN LIQUOR JUGS"]


class NoDetector:
    """A detector that finds nothing, so that what the analysis reports comes from the lettering alone."""

    name = "none"

    def detect(self, image: Image.Image) -> list[Detection]:
        return []


@pytest.fixture(scope="module")
def reader() -> TextReader:
    return TextReader()


def lettered(lines: list[str], size: tuple[int, int] = (900, 700), at: tuple[int, int] = (60, 60),
             font_size: int = 48) -> Image.Image:
    """A white page with ``lines`` of black lettering, one under the other."""
    page = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(page)
    font = ImageFont.load_default(size=font_size)
    for i, line in enumerate(lines):
        draw.text((at[0], at[1] + i * round(font_size * 1.25)), line, fill="black", font=font)
    return page


def words(text: str) -> set[str]:
    return set(re.findall(r"[A-Z0-9]+", text.upper()))


def test_the_models_ship_in_the_wheel() -> None:
    folder = model_folder()
    assert all(path.stat().st_size > 100_000 for path in folder.glob("*.onnx"))


def test_a_rendered_word_is_read(reader: TextReader) -> None:
    lines = reader.read(lettered(["BOOM!"], font_size=96))
    assert [line.text for line in lines] == ["BOOM!"]
    x0, y0, x1, y1 = lines[0].box
    assert 40 <= x0 < x1 <= 400 and 40 <= y0 < y1 <= 200 and lines[0].score > 0.8


def test_blank_page_reads_nothing_and_keeps_nothing(reader: TextReader) -> None:
    assert reader.read(Image.new("RGB", (600, 800), "white")) == []
    analysis = analyze_page(load_page(Image.new("RGB", (600, 800), "white"), name="blank"), NoDetector(), reader=reader)
    assert analysis.balloons == [] and analysis.lettering


@pytest.mark.parametrize("angle", [90, 180, 270])
def test_rotated_lettering_is_read_right_or_left_out(reader: TextReader, angle: int) -> None:
    page = lettered(["BOOM!"], size=(500, 240), font_size=96).rotate(angle, expand=True, fillcolor="white")
    for line in reader.read(page):
        assert words(line.text) == {"BOOM"}, f"invented {line.text!r} at {angle} degrees"


def test_a_page_of_pure_lettering_invents_nothing(reader: TextReader) -> None:
    page = lettered(PANGRAM * 3, size=(1000, 1300), font_size=40)
    analysis = analyze_page(load_page(page, name="lettering"), NoDetector(), reader=reader)
    read = " ".join(balloon.text for balloon in analysis.balloons)
    assert words(read) <= words(" ".join(PANGRAM)) and len(words(read)) >= 12
    assert all(balloon.kind in KINDS for balloon in analysis.balloons)


def line(box, text="HELLO", height=None) -> TextLine:
    return TextLine(tuple(map(float, box)), text, 0.99, float(height or box[3] - box[1]), 0.0)


def test_stacked_lines_group_and_distant_ones_do_not() -> None:
    lines = [line((100, 100, 300, 130), "IT'S ALWAYS A"), line((90, 129, 310, 160), "PLEASURE TO SERVE"),
             line((600, 100, 760, 130), "GRRR..."), line((100, 300, 300, 330), "ELSEWHERE")]
    groups = sorted(group_lines(lines, LetteringConfig()), key=lambda g: (g.box[1], g.box[0]))
    assert [reading_text(g.lines) for g in groups] == ["IT'S ALWAYS A PLEASURE TO SERVE", "GRRR...", "ELSEWHERE"]
    apart = group_lines(lines[:2], LetteringConfig(), panels=[(0, 0, 400, 129), (0, 129, 400, 400)])
    assert len(apart) == 2  # lines in different panels never join


def test_touching_blocks_split_where_alignment_or_spacing_breaks() -> None:
    centred = [line((200 - w, 100 + 25 * i, 200 + w, 130 + 25 * i), f"CENTRED {i}") for i, w in enumerate((80, 60, 90))]
    assert len(group_lines(centred, LetteringConfig())) == 1  # ragged lines of one centred block stay together
    above = line((40, 72, 140, 102), "YOU KNOW...")  # a left-set block just above: its edges and centre all shift
    assert sorted(reading_text(g.lines) for g in group_lines([above, *centred], LetteringConfig())) == [
        "CENTRED 0 CENTRED 1 CENTRED 2", "YOU KNOW..."]
    below = [line((120, 186 + 25 * i, 280, 216 + 25 * i), f"NEXT {i}") for i in range(2)]  # same centre, wider gap
    blocks = sorted(reading_text(g.lines) for g in group_lines([*centred, *below], LetteringConfig()))
    assert blocks == ["CENTRED 0 CENTRED 1 CENTRED 2", "NEXT 0 NEXT 1"]
    assert len(group_lines([*centred, *below], LetteringConfig(spacing_break=2.0))) == 1  # within that: one block


def test_a_balloon_holding_two_blocks_gives_two_areas() -> None:
    page = Image.new("RGB", (400, 400), "white")
    centred = [line((200 - w, 100 + 25 * i, 200 + w, 130 + 25 * i), "HELLO THERE") for i, w in enumerate((80, 60))]
    aside = line((40, 72, 140, 102), "YOU KNOW...")
    areas = letter_balloons(page, [Balloon((30, 60, 290, 160), None, 0.9), Balloon((35, 65, 150, 110), None, 0.5)],
                            [aside, *centred])
    assert sorted(area.text for area in areas) == ["HELLO THERE HELLO THERE", "YOU KNOW..."]  # no empty duplicate


def test_lettering_merges_with_the_detected_balloons() -> None:
    page = Image.new("RGB", (800, 600), (150, 150, 150))  # grey art around a white oval balloon
    ImageDraw.Draw(page).ellipse((70, 85, 330, 190), fill="white", outline="black", width=3)
    lines = [line((110, 110, 290, 140), "HEY LOOK,"), line((115, 139, 285, 170), "IT'S PEPPER"),
             line((500, 400, 700, 430), "A CAPTION ALONE")]
    detected = [Balloon((100, 100, 300, 175), None, 0.8),  # holds the first two lines
                Balloon((600, 50, 700, 90), None, 0.9),  # holds nothing read: kept, unknown
                Balloon((10, 500, 60, 560), None, 0.2)]  # weak and empty on a page with text: dropped
    areas = letter_balloons(page, detected, lines)
    texts = {area.text: area for area in areas}
    assert set(texts) == {"HEY LOOK, IT'S PEPPER", "A CAPTION ALONE", ""}
    assert texts["HEY LOOK, IT'S PEPPER"].kind == "speech" and texts["HEY LOOK, IT'S PEPPER"].score == 0.8
    assert texts[""].box == (600, 50, 700, 90) and texts[""].kind == "unknown"
    assert texts["A CAPTION ALONE"].kind == "caption"  # plain paper all around, corners too (the oval's are not)
    assert letter_balloons(page, detected, []) == [  # a page with nothing read (manga): the detector's own
        Balloon(b.box, None, b.score, "", "unknown") for b in detected]


def test_onomatopoeia_outside_balloons_are_sound_effects() -> None:
    page = Image.new("RGB", (800, 600), "white")
    areas = letter_balloons(page, [], [line((100, 100, 400, 220), "KA-BOOM!", 120), line((100, 400, 300, 430))])
    assert {area.text: area.kind for area in areas} == {"KA-BOOM!": "sfx", "HELLO": "caption"}


def test_stretched_lettering_read_with_digits_gets_its_letters_back() -> None:
    assert fix_digits("B222222 huUW0000! 50 000Ko R2D2") == "BZZZZZZ huUWOOOO! 50 000Ko R2D2"


def test_the_lexicon_covers_english_and_japanese_with_sounds_the_bank_knows() -> None:
    assert len(LEXICON) >= 150
    labels = {row["label"] for row in csv.DictReader((REPO / "weights/bank/manifest.csv").open())}
    for sound, label, lettered_words in TABLE:
        assert sound and lettered_words.split(), sound
        assert label is None or label in labels, f"{sound}: no bank label {label!r}"
    for word in ("BANG", "KNOCK", "SPLASH", "WHOOSH", "DOKI", "ZAAA", "DOKIDOKI", "GOROGORO"):
        assert lookup(word) is not None, word
    assert lookup("Boom!").label == "explosion" and lookup("BOOOOOM").label == "explosion"
    assert lookup("KA-BOOM").sound == lookup("KABOOM").sound and lookup("knock-knock").label == "door wood knock"
    assert lookup("the") is None and lookup("HIS") is None and lookup("!!") is None
    assert [word for word, _ in sound_words("Oh no... BANG! Bang bang, zzzz")] == ["BANG", "BANG", "BANG", "ZZZZ"]
    assert lookup("BANG").query == "the sound of a gunshot"


@pytest.mark.parametrize(("folder", "pages", "areas"), [("western_lettering", 6, 33),
                                                        ("western_lettering_test", 3, 11)])
def test_the_lettering_label_sets_match_their_readmes(folder: str, pages: int, areas: int, relocated_labels) -> None:
    """The lettering sets load, find their images in shared/data, give every area a text and a kind, and share
    no page with the detector's training labels."""
    relocated = relocated_labels(REPO / "benchmarks" / folder)
    annotated = load_annotations(relocated)
    assert len(annotated) == pages and sum(len(page.balloons) for page in annotated) == areas
    trained = {path.stem for path in (REPO / "configs" / "detector").glob("*_labels/*.json")}
    for page in annotated:
        labels = json.loads((relocated / f"{page.name}.json").read_text())["areas"]
        assert [tuple(area["box"]) for area in labels] == page.balloons
        assert all(area["text"].strip() and area["kind"] in KINDS[:-1] for area in labels)
        with Image.open(page.image) as image:
            assert image.size == (page.width, page.height)
        assert all(0 <= x0 < x1 <= page.width and 0 <= y0 < y1 <= page.height for x0, y0, x1, y1 in page.balloons)
    if folder.endswith("_test"):
        assert not trained & {page.name for page in annotated}
