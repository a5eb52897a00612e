"""``bd2music depict`` and its pipeline on made-up clips with the shipped weights: a page and its readings per
clip, bad files skipped, the same page for the same seed, another page for another clip; the mapping, the
layout, the fit and the benchmark's measures."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile
from PIL import Image

from bd2music.__main__ import main
from bd2music.depict import DepictConfig, DepictPipeline
from bd2music.depict.layout import LayoutConfig, lay_out, size_weights
from bd2music.depict.readings import Readings, onset_variety, window_bounds
from bd2music.errors import InputError
from bd2music.evaluation.depict import jpeg_copy, link_report, page_distance, thumbnail
from bd2music.vision.features import compute_features, measure_colour

WEIGHTS = ["--weights", os.environ["BD2MUSIC_WEIGHTS"]] if os.environ.get("BD2MUSIC_WEIGHTS") else []


@pytest.fixture(scope="module")
def depict(one_torch_thread) -> DepictPipeline:
    return DepictPipeline.from_pretrained(os.environ.get("BD2MUSIC_WEIGHTS"), device="cpu")


def readings(**values) -> Readings:
    base = dict(name="clip", duration=5.0, silent=False, tempo=120.0, onset_rate=4.0, centroid=1500.0,
                loudness=-25.0, onset_variety=0.5, tonic=0, mode="major", key_strength=0.5)
    return Readings(**(base | values))


def test_command_writes_a_page_and_its_readings_per_clip_and_skips_bad_files(
    tmp_path: Path, sound_clips: dict[str, Path], one_torch_thread, capsys: pytest.CaptureFixture
) -> None:
    clips = tmp_path / "clips"
    clips.mkdir()
    for category, name in (("music", "music.flac"), ("foley", "foley.take.2.flac"), ("animal", "animal.flac")):
        shutil.copy(sound_clips[category], clips / name)
    (clips / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    out = tmp_path / "pages"
    (out / "animal.json").mkdir(parents=True)  # where the animal clip's readings would go: its page is not kept
    assert main(["depict", str(clips), "--out", str(out), "--seed", "4", "--device", "cpu", *WEIGHTS]) == 1
    err = capsys.readouterr().err
    assert "skipped: broken.wav: not a readable audio file" in err and "Traceback" not in err
    assert f"skipped: {out / 'animal.json'}: cannot write (Is a directory)" in err
    assert sorted(p.name for p in out.iterdir()) == [
        "animal.json", "foley.take.2.json", "foley.take.2.png", "music.json", "music.png"]
    assert json.loads((out / "foley.take.2.json").read_text())["image"] == "foley.take.2.png"
    image = Image.open(out / "music.png")
    record = json.loads((out / "music.json").read_text())
    assert max(image.size) >= 768 and image.mode == "RGB" and record["image"] == "music.png"
    assert record["seed"] == 4 and record["readings"]["key"] and record["readings"]["tempo"] > 0
    assert len(record["panels"]) == record["targets"]["panels"] == len(record["readings"]["windows"])
    ends = [panel["end"] for panel in record["panels"]]
    assert ends == sorted(ends) and abs(ends[-1] - record["readings"]["duration"]) < 0.05
    measured = measure_colour(image)  # the JSON says what the written page measures
    assert record["measured"]["brightness"] == pytest.approx(measured.brightness, abs=1e-3)
    assert record["measured"]["edge_density"] == pytest.approx(measured.edge_density, abs=1e-3)


def test_same_seed_same_page_other_seed_or_clip_another(depict: DepictPipeline, sound_clips: dict[str, Path]) -> None:
    music = depict(sound_clips["music"], seed=1)
    again = depict(sound_clips["music"], seed=1)
    assert np.array_equal(np.asarray(music.image), np.asarray(again.image))
    assert again.to_dict() == music.to_dict()
    reference = page_distance(thumbnail(music.image), thumbnail(jpeg_copy(music.image)))
    for other in (depict(sound_clips["music"], seed=2), depict(sound_clips["ambience"], seed=1)):
        assert page_distance(thumbnail(music.image), thumbnail(other.image)) > 5 * reference


def test_the_page_follows_the_sound(depict: DepictPipeline, sound_clips: dict[str, Path]) -> None:
    pages = {category: depict(sound_clips[category]) for category in ("music", "ambience", "animal")}
    for page in pages.values():  # the fit reaches the targets it can
        targets, measured = page.targets, page.fitted.measured
        assert measured["brightness"] == pytest.approx(targets.brightness, abs=0.02)
        assert measured["colourfulness"] == pytest.approx(targets.colourfulness, rel=0.1)
        assert len(page.panels) == targets.panels
    by = {name: sorted(pages, key=lambda c: getattr(pages[c].readings, name)) for name in ("centroid", "loudness")}
    assert sorted(pages, key=lambda c: pages[c].fitted.measured["brightness"]) == by["centroid"]
    assert sorted(pages, key=lambda c: pages[c].fitted.measured["colourfulness"]) == by["loudness"]


def test_a_silent_and_a_very_short_clip_are_depicted(depict: DepictPipeline) -> None:
    silent = depict((np.zeros(16_000, np.float32), 16_000), name="silence")
    short = depict((np.sin(np.arange(1600) * 0.3).astype(np.float32), 16_000), name="blip")
    assert silent.readings.silent and silent.readings.onset_rate == 0 and len(silent.panels) >= 3
    assert len(short.readings.windows) == len(short.panels) and short.image.size == silent.image.size


def test_bad_inputs_are_one_line(depict: DepictPipeline, tmp_path: Path, capsys: pytest.CaptureFixture,
                                 sound_clips: dict[str, Path]) -> None:
    with pytest.raises(InputError, match="seed must be"):
        depict(sound_clips["music"], seed=-1)
    with pytest.raises(InputError, match="not a readable audio file"):
        depict(b"not audio", name="notes.wav")
    assert main(["depict", str(sound_clips["music"]), "--out", str(tmp_path), "--seed", str(2**32)]) == 2
    (tmp_path / "empty").mkdir()
    assert main(["depict", str(tmp_path / "empty"), "--out", str(tmp_path)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 2 and "seed must be" in lines[0] and "no audio files" in lines[1]


def test_quantiles_are_strictly_increasing_and_carry_onto_the_targets() -> None:
    config = DepictConfig()
    for name, knots in config.knots.items():
        values = np.linspace(knots[0] - 3 * abs(knots[0]) - 1, knots[-1] * 4 + 1, 200)
        quantiles = [config.quantile(name, v) for v in values]
        assert np.all(np.diff(quantiles) > 0) and 0 < quantiles[0] and quantiles[-1] < 1
    slow, fast = config.targets(readings(tempo=70.0)), config.targets(readings(tempo=180.0))
    assert config.panels[0] <= slow.panels < fast.panels <= config.panels[1]
    dull, bright = config.targets(readings(centroid=400.0)), config.targets(readings(centroid=3500.0))
    assert dull.brightness < bright.brightness
    quiet, loud = config.targets(readings(loudness=-45.0)), config.targets(readings(loudness=-10.0))
    assert quiet.colourfulness < loud.colourfulness
    calm, busy = config.targets(readings(onset_rate=0.5)), config.targets(readings(onset_rate=12.0))
    assert calm.edge_density < busy.edge_density


def test_config_round_trips_and_refuses_bad_knots(tmp_path: Path) -> None:
    fitted = DepictConfig.fit([readings(tempo=t, centroid=c) for t, c in zip(range(60, 200, 7), range(300, 3100, 140))])
    fitted.save(tmp_path)
    assert DepictConfig.load(tmp_path) == fitted and fitted.clips == 20
    data = json.loads((tmp_path / "config.json").read_text())
    data["knots"]["tempo"] = data["knots"]["tempo"][::-1]
    (tmp_path / "config.json").write_text(json.dumps(data))
    with pytest.raises(InputError, match="knots of tempo"):
        DepictConfig.load(tmp_path)


def test_layout_is_in_reading_order_inside_the_page() -> None:
    config = LayoutConfig()
    for count in range(3, 11):
        weights = size_weights(list(np.linspace(-30, -10, count)), 1.0, config)
        panels = lay_out(weights, 1.0, np.random.default_rng(count), config)
        assert len(panels) == count
        boxes = np.array([[min(x for x, _ in p), min(y for _, y in p), max(x for x, _ in p), max(y for _, y in p)]
                          for p in panels])
        assert boxes.min() >= 0 and boxes[:, 2].max() <= config.width and boxes[:, 3].max() <= config.height
        centres = (boxes[:, :2] + boxes[:, 2:]) / 2
        for a, b in zip(centres[:-1], centres[1:]):  # the next panel is to the right, or in a lower tier
            assert b[0] > a[0] or b[1] > a[1]
    regular = size_weights([-30.0, -10.0, -20.0], 0.0, config)
    uneven = size_weights([-30.0, -10.0, -20.0], 1.0, config)
    assert np.all(regular == 1) and uneven[1] > uneven[2] > uneven[0]


def test_readings_helpers() -> None:
    assert onset_variety(np.arange(0, 100, 10)) == 0 and onset_variety(np.array([0, 5])) == 0
    assert onset_variety(np.array([0, 1, 2, 20, 21, 40])) > 1
    assert window_bounds(100, 4) == [(0, 25), (25, 50), (50, 75), (75, 100)]
    assert window_bounds(2, 3) == [(0, 1), (0, 1), (1, 2)]  # fewer frames than windows: each keeps one


def test_measure_colour_is_what_the_page_features_measure() -> None:
    page = Image.open(Path(__file__).resolve().parents[1] / "examples" / "peppercarrot_ep03_en_002.jpg")
    assert measure_colour(page) == compute_features(page, [], []).colour


def test_link_report() -> None:
    rng = np.random.default_rng(0)
    rows = []
    for i in range(12):
        rows.append({"clip": f"c{i}", "readings": {"tempo": 80 + 10 * i, "centroid": 100 * i, "loudness": -i,
                                                   "onset_rate": i},
                     "page": {"panel_count": 3 + i // 2, "brightness": i, "colourfulness": -i, "edge_density": i},
                     "targets": {"panels": 3 + i // 2, "brightness": i, "colourfulness": 0, "edge_density": i},
                     "seconds": 0.1 * i,
                     "thumbnail": rng.uniform(0, 1, (128, 96, 3)).astype(np.float32)})
    report = link_report(rows)
    assert report["spearman"]["centroid -> brightness"] == 1 and report["spearman"]["loudness -> colourfulness"] == 1
    assert report["off_target"]["brightness"]["p90"] == 0 and report["off_target"]["colourfulness"]["median"] == 5.5
    assert report["two_or_more_panels"] == 1 and report["panels_found_as_planned"] == 1
    assert 0.2 < report["closest_pages"]["distance"] < 0.4 and report["seconds_per_clip"]["max"] == 1.1
