"""``bd2music generate`` on the shipped example pages and ``bd2music evaluate`` on the data, with the shipped weights:
WAV + JSON per page, bad pages skipped, CBZ albums, the evaluation report's format; plus the evaluation's statistics."""

from __future__ import annotations

import json
import os
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from bd2music.__main__ import main
from bd2music.commands.generate import ALBUM_CROSSFADE_S, natural_key
from bd2music.evaluation.soundtrack import STRUCTURAL_PAIRS, frechet_distance, pulse_heard, spearman
from bd2music.music.export import read_midi
from bd2music.training.mapper_ablation import decoded_metrics, table

PAGES = ("peppercarrot_ep03_en_002.jpg", "openmantra_tojime_no_siora_007.jpg")
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"  # holds both pages
RATE = 44_100  # the master writes 44.1 kHz stereo
WEIGHTS = ["--weights", os.environ["BD2MUSIC_WEIGHTS"]] if os.environ.get("BD2MUSIC_WEIGHTS") else []


def generate(*args: str) -> int:
    return main(["generate", *args, "--device", "cpu", *WEIGHTS])


def test_pages_folder_gives_wav_and_json_per_page(tmp_path: Path, one_torch_thread) -> None:
    pages = tmp_path / "pages"
    pages.mkdir()
    for name in PAGES:
        shutil.copy(EXAMPLES / name, pages / name)
    assert generate(str(pages), "--out", str(tmp_path / "out"), "--seconds", "3", "--per-panel", "--seed", "7") == 0
    for name in PAGES:
        stem = Path(name).stem
        audio, rate = sf.read(tmp_path / "out" / f"{stem}.wav")
        assert rate == RATE and audio.shape == (3 * RATE, 2) and np.abs(audio).max() > 1e-3
        record = json.loads((tmp_path / "out" / f"{stem}.json").read_text())
        assert record["image"] == name and record["wav"] == f"{stem}.wav"
        assert record["settings"] | {"seconds": 3.0, "seed": 7, "per_panel": True} == record["settings"]
        assert [s["panel"] for s in record["segments"]] == list(range(len(record["panels"])))
        assert record["segments"][-1]["end"] == pytest.approx(3.0) and "features" in record


def test_cbz_album_tracks_in_natural_order_bad_page_skipped(
    tmp_path: Path, capsys: pytest.CaptureFixture, one_torch_thread
) -> None:
    album = tmp_path / "story.cbz"
    with zipfile.ZipFile(album, "w") as archive:
        archive.write(EXAMPLES / PAGES[0], "page10.jpg")
        archive.write(EXAMPLES / PAGES[1], "page2.jpg")
        archive.writestr("page3.png", b"not an image")
        archive.writestr("notes.txt", b"ignored")
    out = tmp_path / "out"
    assert generate(str(album), "--out", str(out), "--seconds", "2") == 1
    err = capsys.readouterr().err
    assert "page3.png" in err and "Traceback" not in err
    assert sorted(p.name for p in out.iterdir()) == sorted(
        f"{stem}.{ext}" for stem in ("story", "story_page2", "story_page10") for ext in ("wav", "json", "mid")
    )  # the default soundtrack has music: each track's score beside it, the album's too
    record = json.loads((out / "story.json").read_text())
    assert [t["track"] for t in record["tracks"]] == ["story_page2.wav", "story_page10.wav"]
    pages = [json.loads((out / f"story_page{n}.json").read_text())["music"]["notes"] for n in (2, 10)]
    assert record["midi"] == "story.mid" and len(read_midi(out / "story.mid")) == sum(pages)
    audio, rate = sf.read(out / "story.wav")
    assert rate == RATE and len(audio) == int((4 - ALBUM_CROSSFADE_S) * RATE)
    page2, _ = sf.read(out / "story_page2.wav")
    assert np.allclose(audio[: RATE], page2[: RATE], atol=1e-4)


def test_bad_length_exits_2_missing_page_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    page = str(EXAMPLES / PAGES[0])
    assert generate(page, "--out", str(tmp_path), "--seconds", "0.2") == 2
    assert generate(str(tmp_path / "missing.png"), "--out", str(tmp_path)) == 1
    assert "missing.png: no such file" in capsys.readouterr().err
    assert not list(tmp_path.glob("*.wav"))


def test_a_page_that_cannot_be_written_is_skipped_and_the_rest_written(
    tmp_path: Path, capsys: pytest.CaptureFixture, one_torch_thread
) -> None:
    out = tmp_path / "out"
    (out / f"{Path(PAGES[0]).stem}.wav").mkdir(parents=True)  # where the first page's track would go
    assert generate(*(str(EXAMPLES / name) for name in PAGES), "--out", str(out), "--seconds", "1") == 1
    err = capsys.readouterr().err
    assert f"skipped: {out / Path(PAGES[0]).stem}.wav: cannot write the WAV" in err and "Traceback" not in err
    assert (out / f"{Path(PAGES[1]).stem}.wav").is_file() and (out / f"{Path(PAGES[1]).stem}.json").is_file()


def test_a_track_is_written_whole_or_not_at_all_and_dotted_names_keep_their_dots(
    tmp_path: Path, capsys: pytest.CaptureFixture, one_torch_thread
) -> None:
    pages, out = tmp_path / "pages", tmp_path / "out"
    pages.mkdir()
    for name in ("vol.1.jpg", "vol.2.jpg"):  # the default sound has music: a MIDI file beside each track
        shutil.copy(EXAMPLES / PAGES[0], pages / name)
    (out / "vol.2.json").mkdir(parents=True)  # where the second page's record would go
    assert generate(str(pages), "--out", str(out), "--seconds", "1") == 1
    err = capsys.readouterr().err
    assert f"skipped: {out / 'vol.2.json'}: cannot write (Is a directory)" in err and "Traceback" not in err
    assert sorted(p.name for p in out.iterdir()) == ["vol.1.json", "vol.1.mid", "vol.1.wav", "vol.2.json"]
    assert json.loads((out / "vol.1.json").read_text())["midi"] == "vol.1.mid"


def test_natural_order() -> None:
    assert sorted(["p10.jpg", "p2.jpg", "P1.jpg"], key=natural_key) == ["P1.jpg", "p2.jpg", "p10.jpg"]


def test_evaluation_report_format(tmp_path: Path, data_dir: Path, sound_rows: list, one_torch_thread) -> None:
    pages, sounds = tmp_path / "pages", tmp_path / "sounds"
    pages.mkdir(), sounds.mkdir()
    for index in range(3):
        for suffix in (".jpg", ".json"):
            name = f"openmantra_balloon_dream_{index:03d}{suffix}"
            shutil.copy(data_dir / "eval_pages" / name, pages / name)
    for row in sound_rows[::300]:
        shutil.copy(data_dir / "sounds" / row["file"], sounds / Path(row["file"]).name)
    out = tmp_path / "report.json"
    command = ["evaluate", "--pages", str(pages), "--sounds", str(sounds), "--json", str(out), "--seconds", "3",
               "--sound", "neural"]
    assert main([*command, "--device", "cpu", *WEIGHTS]) == 0
    report = json.loads(out.read_text())
    assert report["pages"] == 3 and report["real_clips"] == len(sound_rows[::300])
    assert [(r["feature"], r["descriptor"]) for r in report["structure"]] == list(STRUCTURAL_PAIRS)
    for row in report["structure"]:
        assert row["rho"] is None or (-1 <= row["rho"] <= 1 and 0 < row["p_value"] <= 1)
    assert report["diversity"]["generated"] > 0 and report["diversity"]["real"] > 0
    assert report["frechet"]["trained"] >= 0 and report["frechet"]["untrained"] >= 0
    assert report["outputs"] == {"silent": 0, "clipped": 0, "silent_share": 0.0, "clipped_share": 0.0}
    assert set(report["targets"]) == {"structure", "diversity", "frechet", "outputs"}
    assert [row["image"] for row in report["rows"]] == [f"openmantra_balloon_dream_{i:03d}.jpg" for i in range(3)]
    assert set(report["rows"][0]["descriptors"]) == {d for _, d in STRUCTURAL_PAIRS}
    assert all(row["asked"]["tempo"] > 0 and row["asked"]["onset_rate"] > 0 for row in report["rows"])
    assert report["pulse_heard"]["tempo_share"] in (0, 1 / 3, 2 / 3, 1)
    assert 0 <= report["pulse_heard"]["onset_rate_median_gap"] < 1
    assert report["sound"] == "neural" and 0.0 <= report["listening"]["realism_c2st"] <= 1.0
    spread = report["listening"]["realism_c2st_round_trip_spread"]
    assert spread["seeds"] == 20 and 0.0 <= spread["min"] <= spread["mean"] <= spread["max"] <= 1.0
    assert report["listening"]["page_distinctness_db"] > 0 and len(report["listening"]["links"]) == 4
    metrics = decoded_metrics(report)  # one row of the decoded-audio ablation table
    assert metrics["frechet"] == report["frechet"]["trained"] and metrics["silent_or_clipped"] == 0
    assert {f"rho_{f}_{d}" for f, d in STRUCTURAL_PAIRS} <= set(metrics)
    row = table({"run": metrics}, ("frechet", "silent_or_clipped")).splitlines()[-1]
    assert row == f"| run | {metrics['frechet']:.3g} | 0 |"


def test_spearman_permutation_p_value() -> None:
    rng = np.random.default_rng(0)
    x = rng.random(12)
    rho, p = spearman(x, 3 * x + 1)
    assert rho == pytest.approx(1.0) and p < 0.01
    rho, p = spearman(x, -x)
    assert rho == pytest.approx(-1.0) and p < 0.01
    rho, p = spearman(x, rng.random(12))
    assert abs(rho) < 0.6 and p > 0.05
    assert all(np.isnan(v) for v in spearman(x, np.ones(12)))


def test_pulse_heard_counts_tempo_within_four_percent() -> None:
    asked = [{"tempo": 100.0, "onset_rate": 4.0}] * 4
    measured = [{"tempo": t, "onset_rate": r} for t, r in ((100.0, 4.0), (103.0, 3.0), (50.0, 4.4), (196.0, 4.0))]
    assert pulse_heard(asked, measured) == {"tempo_share": 0.5, "onset_rate_median_gap": pytest.approx(0.05)}


def test_frechet_distance_of_gaussians() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((4000, 3)), rng.standard_normal((4000, 3))
    assert frechet_distance(a, b) < 0.02
    assert frechet_distance(a, b + 2.0) == pytest.approx(12.0, rel=0.02)
    assert frechet_distance(a, 3 * b) == pytest.approx(3 * (3 - 1) ** 2, rel=0.05)
