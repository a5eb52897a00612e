"""Bad input across the commands: one ``error:`` line and exit code 2, before any model loads (these calls would take
seconds to load the weights otherwise), never a traceback; corrupt weights refused in one line."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from bd2music.__main__ import main
from bd2music.commands.outputs import all_or_none
from bd2music.errors import InputError
from bd2music.hub import WEIGHTS_DIR
from bd2music.models.audio_vae import AudioVAE

EXAMPLE = str(Path(__file__).resolve().parents[1] / "examples" / "peppercarrot_ep03_en_002.jpg")


def refused(capsys: pytest.CaptureFixture, argv: list[str], message: str) -> None:
    """``argv`` exits with 2 and prints ``message`` in its one error line."""
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"bd2music {argv[0]}: error: ") and message in err and "\n" not in err, err


@pytest.fixture
def a_file(tmp_path: Path) -> Path:
    path = tmp_path / "taken"
    path.write_text("not a folder")
    return path


@pytest.mark.parametrize("command", [
    ["generate", EXAMPLE],
    ["draw", EXAMPLE],
    ["reconstruct", "--prior", "1"],
    ["text-to-audio", "rain on a tin roof"],
])
def test_an_out_folder_that_is_a_file_is_refused(command: list[str], a_file: Path, capsys) -> None:
    refused(capsys, [*command, "--out", str(a_file)], "is a file, expected a folder")


def test_an_out_folder_that_cannot_be_made_is_refused(a_file: Path, capsys) -> None:
    refused(capsys, ["generate", EXAMPLE, "--out", str(a_file / "sub")], "cannot create the folder")


@pytest.mark.parametrize(("options", "message"), [
    (["--prior", "1000000"], "--prior must be between 0 and 1000"),
    (["--prior=-1"], "--prior must be between 0 and 1000"),
    (["--prior", "1", "--seed=-1"], "seed must be between 0 and 2**32 - 1"),
    (["--prior", "1", "--seed", str(2**70)], "seed must be between 0 and 2**32 - 1"),
])
def test_reconstruct_refuses_counts_and_seeds_out_of_range(options: list[str], tmp_path: Path, capsys,
                                                           message: str) -> None:
    refused(capsys, ["reconstruct", *options, "--out", str(tmp_path / "out")], message)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("device", ["banana", "cuda:7"])
def test_a_device_this_machine_lacks_is_refused(device: str, tmp_path: Path, capsys) -> None:
    message = "unknown device" if device == "banana" else "was requested but"
    refused(capsys, ["generate", EXAMPLE, "--out", str(tmp_path), "--device", device], message)


@pytest.mark.parametrize("command", [["analyze", EXAMPLE, "--json", "{out}/a.json"], ["draw", EXAMPLE, "--out", "{out}"],
                                     ["generate", EXAMPLE, "--out", "{out}"]])
def test_weights_that_do_not_exist_are_refused_not_replaced(command: list[str], tmp_path: Path, capsys) -> None:
    argv = [part.format(out=tmp_path) for part in command]
    refused(capsys, [*argv, "--weights", str(tmp_path / "missing")], "weights not found")


def test_analyze_checks_its_outputs_before_the_pages(tmp_path: Path, a_file: Path, capsys) -> None:
    refused(capsys, ["analyze", EXAMPLE, "--json", str(tmp_path)], "is a folder, expected a file")
    refused(capsys, ["analyze", EXAMPLE, "--json", str(a_file / "a.json")], "its folder")
    refused(capsys, ["analyze", EXAMPLE, "--json", str(tmp_path / "a.json"), "--overlay", str(a_file)],
            "is a file, expected a folder")


def test_evaluate_checks_its_pages_and_clips_before_rendering(tmp_path: Path, capsys) -> None:
    pages, sounds = tmp_path / "pages", tmp_path / "sounds"
    pages.mkdir()
    sounds.mkdir()
    for index in range(3):
        shutil.copy(EXAMPLE, pages / f"page_{index}.jpg")
    common = ["evaluate", "--pages", str(pages), "--sounds", str(sounds), "--json", str(tmp_path / "r.json")]
    refused(capsys, [*common, "--limit", "0"], "--limit must be at least 3")
    (sounds / "broken.wav").write_bytes(b"RIFF not really")
    assert main(common) == 2
    skipped, error = capsys.readouterr().err.strip().splitlines()
    assert skipped.startswith("skipped: broken.wav: not a readable audio file")
    assert error == "bd2music evaluate: error: need at least 2 readable real clips, got 0"


@pytest.mark.parametrize(("options", "message"), [
    (["--repo", "not a repo!!"], "is not a Hub repo id"),
    (["--repo", "someone/bd2music", "--weights", "/missing/weights"], "no such folder"),
])
def test_hub_manifest_refuses_bad_ids_and_folders(options: list[str], tmp_path: Path, capsys, message: str) -> None:
    refused(capsys, ["hub-manifest", *options, "--out", str(tmp_path / "hub.json")], message)
    assert not (tmp_path / "hub.json").exists()


def test_hub_manifest_offline_says_so_in_one_line(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    local = tmp_path / "weights"
    local.mkdir()
    refused(capsys, ["hub-manifest", "--repo", "someone/bd2music", "--revision", "main", "--weights", str(local),
                     "--out", str(tmp_path / "hub.json")], "could not resolve someone/bd2music@main")


@pytest.mark.parametrize(("broken", "message"), [
    ("model.safetensors", "the weights are corrupt (SafetensorError"),
    ("config.json", "the weights are corrupt (JSONDecodeError"),
])
def test_corrupt_weights_are_refused_in_one_line(broken: str, message: str, tmp_path: Path) -> None:
    folder = tmp_path / "audio_vae"
    shutil.copytree(WEIGHTS_DIR / "audio_vae", folder)
    data = (folder / broken).read_bytes()
    (folder / broken).write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=re.escape(message)) as error:
        AudioVAE.from_pretrained(folder)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("command", [["analyze", EXAMPLE, "--json", "{out}/a.json"], ["generate", EXAMPLE, "--out", "{out}"]])
def test_a_corrupt_detector_is_refused_not_replaced_by_the_classical_one(command: list[str], tmp_path: Path,
                                                                         capsys) -> None:
    weights = tmp_path / "weights"
    weights.mkdir()
    for item in WEIGHTS_DIR.iterdir():  # the shipped weights, the detector's file cut in half
        (weights / item.name).symlink_to(item)
    (weights / "detector").unlink()
    shutil.copytree(WEIGHTS_DIR / "detector", weights / "detector")
    broken = weights / "detector" / "model.safetensors"
    broken.write_bytes(broken.read_bytes()[:1000])
    argv = [part.format(out=tmp_path / "out") for part in command]
    refused(capsys, [*argv, "--weights", str(weights)], "detector: the weights are corrupt")


def test_a_result_is_written_whole_or_not_at_all(tmp_path: Path) -> None:
    """``all_or_none``: when one file cannot be written, the files the result created are removed, a file that was
    there before is not removed (it holds what was written to it), and the error is one InputError line naming
    the file that failed."""
    kept = tmp_path / "page.mid"
    kept.write_bytes(b"from an earlier run")
    with pytest.raises(InputError, match=re.escape(f"{tmp_path / 'page.json'}: cannot write (Is a directory)")):
        with all_or_none() as new:
            new(tmp_path / "page.wav").write_bytes(b"RIFF")
            new(kept).write_bytes(b"MThd")
            (tmp_path / "page.json").mkdir()
            new(tmp_path / "page.json").write_text("{}")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["page.json", "page.mid"]
    assert kept.read_bytes() == b"MThd"
    with all_or_none() as new:  # nothing fails: everything stays
        new(tmp_path / "other.wav").write_bytes(b"RIFF")
    assert (tmp_path / "other.wav").read_bytes() == b"RIFF"
