"""The prompt index: a tiny one built from synthesised clips with the shipped audio-text model; the shipped one."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr
import torch

from bd2music.__main__ import main
from bd2music.audio.mel import MEL, mel_spectrogram
from bd2music.bank.prompt_index import PromptIndex, build_prompt_index
from bd2music.data.sounds import load_dataset
from bd2music.errors import InputError
from bd2music.hub import WEIGHTS_DIR, file_sha256
from bd2music.models.audio_text import AudioTextModel

pytestmark = pytest.mark.usefixtures("one_torch_thread")

RATE = 22_050
SHIPPED = WEIGHTS_DIR / "prompt_index"
HELDOUT = Path(__file__).parent / "data" / "sounds_heldout.txt"


def tone(frequency: float) -> np.ndarray:
    t = np.arange(2 * RATE) / RATE
    return (0.3 * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """A sounds folder of six tones from six recordings (so that one is held out) and a corrupt clip."""
    root = tmp_path_factory.mktemp("sounds")
    (root / "music").mkdir()
    with open(root / "manifest.csv", "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["file", "category", "label", "source", "source_path", "license", "author", "duration_s"])
        for i in range(6):
            sf.write(root / f"music/tone{i}.wav", tone(220 * (i + 1)), RATE)
            writer.writerow([f"music/tone{i}.wav", "music", f"tone {i}", "test:synth", f"synth/{i}", "CC0-1.0",
                             f"maker {i}", "2.0"])
        (root / "music/broken.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEfmt garbage")
        writer.writerow(["music/broken.wav", "music", "broken", "test:synth", "synth/x", "MIT", "nobody", "2.0"])
    return root


@pytest.fixture(scope="module")
def built(folder: Path, tmp_path_factory) -> Path:
    return build_prompt_index(folder, tmp_path_factory.mktemp("indexes") / "prompt_index")


def test_the_index_holds_every_training_clip_once_with_its_credits(folder: Path, built: Path) -> None:
    out = built
    index = PromptIndex.load(out)
    training = [item.name for item in load_dataset(folder) if item.split == "train" and "broken" not in item.name]
    assert 0 < len(training) < 6  # one recording held out
    assert [clip.id for clip in index.clips] == training  # the corrupt clip skipped
    assert index.embeddings.shape == (len(training), 128)
    assert torch.allclose(index.embeddings.norm(dim=1), torch.ones(len(training)), atol=1e-4)
    first = index.clips[0]
    number = first.id[len("music/tone"):-len(".wav")]
    assert (first.label, first.license, first.author) == (f"tone {number}", "CC0-1.0", f"maker {number}")
    config = json.loads((out / "config.json").read_text())
    assert config["clips"] == len(training) and config["split"] == "train"
    card = (out / "README.md").read_text()
    assert f"| CC0-1.0 | {len(training)} |" in card and "bd2music bank prompt-index" in card


def test_rows_are_the_audio_text_embeddings_of_the_clips(built: Path) -> None:
    index = PromptIndex.load(built)
    model = AudioTextModel.from_pretrained().eval()
    clip = index.clips[-1]
    samples = tone(220 * (int(clip.id[len("music/tone"):-len(".wav")]) + 1))
    resampled = soxr.resample(samples, RATE, MEL.sample_rate).astype(np.float32)
    with torch.inference_mode():
        expected = model.embed_audio(mel_spectrogram(torch.from_numpy(resampled))[None])[0]
    assert torch.nn.functional.cosine_similarity(index.embeddings[-1], expected, dim=0) > 0.99
    others = torch.nn.functional.cosine_similarity(index.embeddings[:-1], expected[None], dim=1)
    assert (others < 0.9999).all()


def test_the_cli_names_skipped_clips_and_refuses_to_replace_without_overwrite(folder: Path, tmp_path: Path,
                                                                             capsys) -> None:
    out = tmp_path / "index"
    assert main(["bank", "prompt-index", str(folder), "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "music/broken.wav" in captured.err and f"prompt index written to {out}" in captured.out
    assert main(["bank", "prompt-index", str(folder), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "already exists" in err and len(err.strip().splitlines()) == 1
    assert main(["bank", "prompt-index", str(folder), "--out", str(out), "--overwrite"]) == 0
    assert main(["bank", "prompt-index", str(tmp_path / "nowhere"), "--out", str(tmp_path / "other")]) == 2
    assert "not a folder" in capsys.readouterr().err or not (tmp_path / "other").exists()


def test_missing_or_corrupt_indexes_are_one_line(built: Path, tmp_path: Path) -> None:
    out = built
    with pytest.raises(InputError, match="no prompt index"):
        PromptIndex.load(tmp_path)
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in ("config.json", "clips.csv"):
        (broken / name).write_bytes((out / name).read_bytes())
    (broken / "index.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(InputError, match="corrupt"):
        PromptIndex.load(broken)


def test_shipped_index_is_made_by_the_shipped_audio_text_model_without_heldout_clips() -> None:
    index = PromptIndex.load(SHIPPED)
    config = json.loads((SHIPPED / "config.json").read_text())
    pinned = config["build"]["components"]
    assert pinned and all(file_sha256(WEIGHTS_DIR / name) == digest for name, digest in pinned.items())
    heldout = {line for line in HELDOUT.read_text().splitlines() if line and not line.startswith("#")}
    assert len(index.clips) == config["clips"] > 500 and not heldout & {clip.id for clip in index.clips}
    assert all(clip.license and clip.author and clip.source for clip in index.clips)
    assert {clip.category for clip in index.clips} == {"ambience", "animal", "foley", "human", "machine", "music"}
