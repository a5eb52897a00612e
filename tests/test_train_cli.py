"""``bd2music train``: a folder that holds a model (the shipped weights/<model> above all) is never written into
unless ``--overwrite`` is given; a missing data folder is one line. The trainers are replaced by stand-ins that
only record their call, so nothing is trained and, even if a refusal failed, nothing would be written."""

from __future__ import annotations

from pathlib import Path

import pytest

from bd2music.__main__ import main
from bd2music.commands.train import AUDIO_MODELS
from bd2music.hub import file_sha256

REPO = Path(__file__).resolve().parents[1]
SHIPPED = {"audio-heads": "audio_vae"}  # the CLI model whose weights live in another model's folder
TRAINERS = {  # CLI model: (module, train function, shipped weights folder), from the command's own table
    model: (module, function, SHIPPED.get(model, model.replace("-", "_")))
    for model, (module, _config, function) in AUDIO_MODELS.items()
} | {"detector": ("bd2music.training.detector", "train_detector", "detector")}


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Path]]:
    """Every trainer replaced by a stand-in that records (model, out folder) and writes nothing."""
    import importlib

    made: list[tuple[str, Path]] = []
    for model, (module, function, _) in TRAINERS.items():
        def stand_in(config, data, out, work, *args, model=model, **kwargs):
            made.append((model, Path(out)))
            return {} if model != "detector" else Path(out)

        monkeypatch.setattr(importlib.import_module(module), function, stand_in)
    return made


def snapshot(folder: Path) -> dict[str, tuple[str, int]]:
    """Each file's sha256 and modification time."""
    return {path.name: (file_sha256(path), path.stat().st_mtime_ns) for path in sorted(folder.iterdir())}


def train(*args: str) -> int:
    return main(["train", *args])


def test_a_folder_with_a_model_is_refused_until_overwrite(tmp_path: Path, calls, capsys) -> None:
    out = tmp_path / "vocoder"
    out.mkdir()
    (out / "config.json").write_text('{"model_type": "Vocoder"}')
    (out / "model.safetensors").write_bytes(b"weights")
    before = snapshot(out)

    assert train("vocoder", "--smoke", "--out", str(out), "--data", str(tmp_path)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(out) in err and "already holds a model" in err and "--overwrite" in err
    assert calls == [] and snapshot(out) == before

    assert train("vocoder", "--smoke", "--out", str(out), "--data", str(tmp_path), "--overwrite") == 0
    assert calls == [("vocoder", out)]


@pytest.mark.parametrize("held", ["config.json", "model.safetensors", "other.safetensors"])
def test_either_file_of_a_model_is_enough_to_refuse(tmp_path: Path, calls, held: str) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / held).write_text("{}")
    assert train("comic-vae", "--out", str(tmp_path / "out"), "--data", str(tmp_path)) == 2
    assert calls == []


def test_a_new_or_modelless_folder_is_trained_into(tmp_path: Path, calls) -> None:
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "README.md").write_text("a folder with no model in it")
    assert train("audio-vae", "--out", str(tmp_path / "new"), "--data", str(tmp_path)) == 0
    assert train("audio-vae", "--out", str(tmp_path / "notes"), "--data", str(tmp_path)) == 0
    assert calls == [("audio-vae", tmp_path / "new"), ("audio-vae", tmp_path / "notes")]


@pytest.mark.parametrize("model", list(TRAINERS))
def test_the_shipped_weights_are_left_untouched(model: str, tmp_path: Path, calls, capsys) -> None:
    """`train MODEL --out weights/<model>`, as one might type it, says why it stops and changes nothing."""
    shipped = REPO / "weights" / TRAINERS[model][2]
    before = snapshot(shipped)
    data = tmp_path / "data"
    (data / "comics" / "labels").mkdir(parents=True)
    assert train(model, "--out", str(shipped), "--data", str(data)) == 2
    assert f"{shipped} already holds a model" in capsys.readouterr().err
    assert calls == [] and snapshot(shipped) == before


def test_a_missing_data_folder_is_one_line(tmp_path: Path, calls, capsys) -> None:
    assert train("vocoder", "--out", str(tmp_path / "out"), "--data", str(tmp_path / "no_data")) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no data folder" in err and "BD2MUSIC_DATA" in err
    assert calls == [] and not (tmp_path / "out").exists()
