"""The shared training loop (``bd2music.training.solver``) and the inference settings saved with the weights."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pytest
import torch

from bd2music import soundtrack
from bd2music.errors import InputError
from bd2music.models.audio_vae import AudioVAE, AudioVAEConfig
from bd2music.models.base import merge_config
from bd2music.training.audio_vae import SMOKE as VAE_SMOKE
from bd2music.training.solver import Solver, cosine_lr, load_checkpoint, save_training_state


@dataclass
class TinyConfig:
    model: dict = field(default_factory=lambda: {"width": 3})
    steps: int = 6
    batch_size: int = 4
    learning_rate: float = 0.1
    warmup_steps: int = 1
    min_lr_ratio: float = 0.1
    grad_clip: float = 1.0
    eval_every: int = 3
    checkpoint_every: int = 2
    seed: int = 0
    threads: int = 0


class TinySolver(Solver):
    """Least squares on a fixed random problem: one linear layer, batches drawn from the step's generator."""

    name = "tiny"

    def __init__(self, config: TinyConfig, work: Path, stop_at: int | None = None) -> None:
        super().__init__(config, work, work / "out", work)
        self.inputs = torch.randn(32, config.model["width"])
        self.outputs = self.inputs @ torch.tensor([1.0, -2.0, 0.5])
        self.model = torch.nn.Linear(config.model["width"], 1)
        self.optimizer = torch.optim.SGD(self.model.parameters(), config.learning_rate)
        self.schedule = cosine_lr(self.optimizer, config)
        self.stop_at = stop_at

    def train_step(self, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        if self.step == self.stop_at:
            raise KeyboardInterrupt
        batch = torch.from_numpy(rng.integers(0, len(self.inputs), self.config.batch_size))
        loss = (self.model(self.inputs[batch])[:, 0] - self.outputs[batch]).square().mean()
        self.update(loss)
        return {"total": loss}

    def evaluate(self) -> dict[str, float]:
        with torch.no_grad():
            return {"mse": float((self.model(self.inputs)[:, 0] - self.outputs).square().mean())}

    def export(self) -> dict[str, float]:
        return self.final_metrics() | {"weight": self.model.weight.detach().clone()}


def test_a_resumed_run_ends_where_an_uninterrupted_one_ends(tmp_path: Path) -> None:
    whole = TinySolver(TinyConfig(), tmp_path / "whole").run()
    with pytest.raises(KeyboardInterrupt):
        TinySolver(TinyConfig(), tmp_path / "cut", stop_at=5).run()  # its last checkpoint: step 4
    assert torch.load(tmp_path / "cut" / "checkpoint.pt", weights_only=True)["step"] == 4
    resumed = TinySolver(TinyConfig(), tmp_path / "cut").run(resume=True)
    assert torch.equal(resumed.pop("weight"), whole.pop("weight"))
    assert resumed == whole and whole["steps"] == 6 and whole["mse"] < TinySolver(TinyConfig(), tmp_path).evaluate()["mse"]
    history = torch.load(tmp_path / "cut" / "checkpoint.pt", weights_only=True)["history"]
    assert [h["step"] for h in history] == [3, 6]


def test_a_checkpoint_of_another_architecture_is_refused(tmp_path: Path) -> None:
    config = TinyConfig()
    save_training_state(tmp_path, config, 1, [], [])
    assert load_checkpoint(tmp_path, config, torch.device("cpu"))["step"] == 1
    with pytest.raises(InputError, match="another model config"):
        load_checkpoint(tmp_path, replace(config, model={"width": 4}), torch.device("cpu"))
    # inference settings are not architecture: a run resumes whatever they are
    save_training_state(tmp_path, replace(config, model={"width": 3, "inference": {"depth": 1}}), 2, [], [])
    assert load_checkpoint(tmp_path, config, torch.device("cpu"))["step"] == 2


def test_inference_settings_travel_with_the_weights(tmp_path: Path) -> None:
    shipped = AudioVAE.from_pretrained()  # its config.json predates the settings: defaults, today's values
    settings = shipped.config.inference
    assert "inference" not in json.loads((Path(__file__).parents[1] / "weights" / "audio_vae" / "config.json").read_text())
    assert (settings.pulse_depth_db, settings.offbeat_db, settings.decay_share, settings.max_onsets_per_beat) == (
        soundtrack.PULSE_DEPTH_DB, soundtrack.OFFBEAT_DB, soundtrack.DECAY_SHARE, soundtrack.MAX_ONSETS_PER_BEAT)
    config = merge_config(AudioVAEConfig(), VAE_SMOKE["model"] | {"inference": {"offbeat_db": 2.0}})
    AudioVAE(config).save_pretrained(tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["inference"]["offbeat_db"] == 2.0
    assert AudioVAE.from_pretrained(tmp_path).config == config
