"""``bd2music audio-features``: CSV, .npz and PNG outputs; bad files skipped; bad parameters give exit code 2."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from bd2music.__main__ import main
from bd2music.audio.descriptors import DESCRIPTORS, summary_columns
from bd2music.errors import InputError


@pytest.fixture()
def sound_folder(sound_clips: dict[str, Path], tmp_path: Path) -> Path:
    """Two made-up clips in sub-folders and one broken file."""
    folder = tmp_path / "in"
    for category in ("music", "animal"):
        (folder / category).mkdir(parents=True)
        shutil.copy(sound_clips[category], folder / category)
    (folder / "broken.wav").write_bytes(b"RIFF but not really a wave file" * 4)
    return folder


def test_outputs_and_bad_file_skipped(sound_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    code = main(["audio-features", str(sound_folder), "--out", str(out), "--plots", "--batch-size", "2"])
    assert code == 1  # the broken file was skipped, the rest written
    skipped = [line for line in capsys.readouterr().err.splitlines() if "skipped" in line]
    assert skipped == [
        "bd2music audio-features: skipped broken.wav: not a readable audio file (expected WAV, FLAC, OGG or MP3)"
    ]

    with open(out / "features.csv", newline="") as table:
        rows = list(csv.DictReader(table))
    assert list(rows[0]) == ["file", "silent", *summary_columns()]
    clips = sorted(path.relative_to(sound_folder).as_posix() for path in sound_folder.rglob("*.flac"))
    assert sorted(Path(row["file"]).relative_to(sound_folder).as_posix() for row in rows) == clips
    assert all(np.isfinite(float(row["tempo"])) and row["silent"] == "0" for row in rows)

    for name in clips:
        with np.load(out / "frames" / f"{name}.npz") as arrays:
            assert set(arrays.files) == {n for n, d in DESCRIPTORS.items() if d.level != "clip"} | {
                "sample_rate",
                "hop_length",
            }
            assert int(arrays["sample_rate"]) == 16_000 and arrays["mfcc"].shape[0] == 20
            assert (
                arrays["rms"].shape[-1]
                == arrays["mel_db"].shape[-1]
                == 1 + len(arrays["waveform"]) // int(arrays["hop_length"])
            )
        png = out / "plots" / f"{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000


def test_nothing_processed_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "a.wav").write_bytes(b"not audio")
    code = main(
        [
            "audio-features",
            str(tmp_path / "a.wav"),
            str(tmp_path / "missing.flac"),
            "--out",
            str(tmp_path / "out"),
            "--backend",
            "librosa",
        ]
    )
    assert code == 1
    err = capsys.readouterr().err
    assert "skipped a.wav: not a readable audio file" in err and "skipped missing.flac: no such file" in err
    assert "none of the 2 files could be processed" in err


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--batch-size", "0"], "--batch-size must be at least 1, got 0"),
        (["--device", "tpu"], "unknown device 'tpu'"),
        pytest.param(
            ["--backend", "librosa", "--device", "cuda"],
            "the librosa backend runs on the CPU only",
            marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="without a GPU cuda itself is refused"),
        ),
        pytest.param(
            ["--device", "cuda"],
            "no CUDA GPU is available",
            marks=pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present"),
        ),
    ],
)
def test_bad_parameters_exit_2(
    sound_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], options: list[str], message: str
) -> None:
    assert main(["audio-features", str(sound_folder), "--out", str(tmp_path / "out"), *options]) == 2
    err = capsys.readouterr().err
    assert err.startswith("bd2music audio-features: error: ") and message in err and err.count("\n") == 1
    assert not (tmp_path / "out").exists()


def test_folder_without_audio_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "notes.txt").write_text("no sound here")
    assert main(["audio-features", str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    assert "no audio files" in capsys.readouterr().err


def test_analyze_clip_gives_the_app_a_figure_and_rows(sound_folder: Path) -> None:
    from bd2music.audio.plots import SUMMARY_ROWS, analyze_clip

    clip = next(sound_folder.rglob("*.flac"))
    fig, rows = analyze_clip(clip.read_bytes(), clip.name)
    assert clip.name in fig.texts[0].get_text()  # the suptitle names the file
    titles = [ax.get_title() for ax in fig.axes]
    for title in ("Waveform", "Mel spectrogram", "Chroma", "Spectral curves", "Tonnetz", "Energy and onsets"):
        assert title in titles
    assert [row[0] for row in rows] == [*SUMMARY_ROWS, "strongest_pitch_class", "silent"]
    assert {name: unit for name, _, unit in rows}["spectral_centroid_mean"] == "Hz"
    with pytest.raises(InputError, match="not a readable audio file"):
        analyze_clip(b"definitely not audio", "x.wav")
