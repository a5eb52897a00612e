"""Audio-text model: shipped weights retrieve held-out clips from their labels, round trip, smoke training of the
audio-text model and of the audio VAE's heads on it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from bd2music.audio.load import load_audio
from bd2music.audio.mel import MEL, MelSpectrogram
from bd2music.data.sounds import load_sounds
from bd2music.errors import InputError
from bd2music.hub import WEIGHTS_DIR
from bd2music.models import AudioTextModel, AudioTextModelConfig, AudioVAE
from bd2music.models.audio_text import load_clap
from bd2music.models.base import merge_config
from bd2music.training.audio_heads import SMOKE as HEADS_SMOKE
from bd2music.training.audio_heads import AudioHeadsTrainConfig, train_audio_heads
from bd2music.training.audio_text import SMOKE as TEXT_SMOKE
from bd2music.training.audio_text import AudioTextTrainConfig, chance_recall, text_to_audio_recall, train_audio_text
from bd2music.training.audio_vae import SMOKE as VAE_SMOKE
from bd2music.training.audio_vae import AudioVAETrainConfig, train_audio_vae

pytestmark = pytest.mark.usefixtures("one_torch_thread")


class ClipGallery:
    """Minimal stand-in for a SoundCache: ``text_to_audio_recall`` reads ``clips[i]["label"]`` only."""

    def __init__(self, labels: list[str]) -> None:
        self.clips = [{"label": label} for label in labels]


@pytest.fixture(scope="module")
def shipped() -> AudioTextModel:
    return AudioTextModel.from_pretrained(WEIGHTS_DIR / "audio_text")


def test_shipped_model_retrieves_heldout_clips_from_their_labels(shipped: AudioTextModel, data_dir: Path) -> None:
    heldout = [item for item in load_sounds(data_dir / "sounds") if item.split == "heldout"]
    spectrogram = MelSpectrogram(MEL)
    with torch.inference_mode():
        gallery = torch.cat(
            [
                shipped.embed_audio(spectrogram(torch.from_numpy(load_audio(item.path, item.name).samples))[None])
                for item in heldout
            ]
        )
    metrics = text_to_audio_recall(shipped, ClipGallery([item.label for item in heldout]), list(range(len(heldout))),
                                   gallery)
    assert metrics["heldout_queries"] > 30
    assert metrics["heldout_recall_at_1"] > 3 * metrics["heldout_chance_recall_at_1"]
    assert metrics["heldout_recall_at_5"] > 2 * metrics["heldout_chance_recall_at_5"]
    card = (WEIGHTS_DIR / "audio_text" / "README.md").read_text()
    assert "recall_at_5" in card and "CC-BY" in card


def test_chance_recall_counts_relevant_clips() -> None:
    relevant = torch.tensor([[True, False, False, False], [True, True, False, False]])
    assert chance_recall(relevant, 1) == pytest.approx((1 / 4 + 2 / 4) / 2)
    assert chance_recall(relevant, 4) == 1.0


def test_round_trip_and_any_length(shipped: AudioTextModel, tmp_path: Path) -> None:
    shipped.save_pretrained(tmp_path / "audio_text")
    loaded = AudioTextModel.from_pretrained(tmp_path)
    mels = torch.randn(2, MEL.n_mels, 300) - 6
    with torch.inference_mode():
        assert torch.equal(loaded.embed_audio(mels), shipped.embed_audio(mels))
        assert torch.equal(loaded.embed_text(["rain", "a dog"]), shipped.embed_text(["rain", "a dog"]))
        for frames in (1, 7, 1000):
            embedding = loaded.embed_audio(torch.randn(1, MEL.n_mels, frames))
            assert embedding.shape == (1, shipped.config.embed_dim)
            assert embedding.norm().item() == pytest.approx(1.0, abs=1e-5)
    with pytest.raises(InputError):
        loaded.embed_audio(torch.zeros(1, MEL.n_mels + 1, 10))


def test_missing_clap_checkpoint_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="CLAP"):
        load_clap(tmp_path / "no_such_clap")


def test_smoke_training_of_the_audio_text_model_and_the_vae_heads(data_dir: Path, tmp_path: Path) -> None:
    config = merge_config(
        AudioTextTrainConfig(), TEXT_SMOKE | {"steps": 30, "checkpoint_every": 30, "model": {"embed_dim": 12}}
    )
    metrics = train_audio_text(config, data_dir, tmp_path / "audio_text", tmp_path / "run_text")
    losses = torch.load(tmp_path / "run_text" / "checkpoint.pt", weights_only=True)["losses"]
    assert sum(losses[-5:]) < sum(losses[:5])
    assert {"heldout_recall_at_1", "heldout_chance_recall_at_5"} <= metrics.keys()
    assert AudioTextModel.from_pretrained(tmp_path / "audio_text").config == config.model

    vae_config = merge_config(AudioVAETrainConfig(), VAE_SMOKE | {"steps": 2})
    train_audio_vae(vae_config, data_dir, tmp_path / "audio_vae", tmp_path / "run_vae")
    heads_config = merge_config(
        AudioHeadsTrainConfig(),
        HEADS_SMOKE | {"audio_vae": str(tmp_path / "audio_vae"), "audio_text": str(tmp_path / "audio_text")},
    )
    metrics = train_audio_heads(heads_config, data_dir, tmp_path / "heads", tmp_path / "run_heads")
    assert metrics["heldout_cosine"] > metrics["heldout_cosine_before"] + 0.2
    assert {"r2_mean", "r2_tempo", "heldout_head_recall_at_1", "heldout_mel_l1_nats"} <= metrics.keys()
    vae = AudioVAE.from_pretrained(tmp_path / "heads")
    assert vae.config.semantic_dim == 12  # resized from the smoke VAE's 8 to the audio-text model's 12
    original = AudioVAE.from_pretrained(tmp_path / "audio_vae")
    assert torch.equal(vae.encoder[0].weight, original.encoder[0].weight)  # encoder frozen
    assert json.loads((tmp_path / "heads" / "train_config.json").read_text())["audio_text"] == str(
        tmp_path / "audio_text"
    )


def test_config_refuses_an_unknown_text_model() -> None:
    with pytest.raises(ValueError):
        AudioTextModelConfig(text_model="no-such-package")
