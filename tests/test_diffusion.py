"""The latent diffusion model, its training, the ``diffusion`` backend and text to audio: tiny random models."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from bd2music.__main__ import main
from bd2music.audio.griffin_lim import GriffinLim
from bd2music.backends.diffusion import DiffusionBackend, DiffusionSettings
from bd2music.errors import InputError
from bd2music.models.audio_vae import AudioVAE, AudioVAEConfig
from bd2music.models.base import merge_config
from bd2music.models.diffusion import LatentDiffusion, LatentDiffusionConfig
from bd2music.plan import Plan, SegmentPlan
from bd2music.training.audio_vae import SMOKE as VAE_SMOKE

TINY = {"latent_channels": 4, "latent_frames": 16, "downsampling": 2, "overlap_frames": 4, "embed_dim": 8,
        "width": 16, "depth": 1, "heads": 2, "inference": {"steps": 4}}  # fits the audio VAE's smoke preset


def tiny_model(**overrides) -> LatentDiffusion:
    """A tiny denoiser whose zero-initialised layers are made random, so that conditions change its output."""
    torch.manual_seed(0)
    model = LatentDiffusion(merge_config(LatentDiffusionConfig(), TINY | overrides)).eval()
    with torch.no_grad():
        for parameter in model.parameters():
            if not parameter.any():
                parameter.normal_(0.0, 0.3)
    config = model.config
    model.set_statistics(torch.randn(20, *config.latent_shape) * 2 + 1, torch.rand(20, len(config.descriptors)) * 100 + 1)
    return model


def tiny_vae() -> AudioVAE:
    torch.manual_seed(0)
    return AudioVAE(merge_config(AudioVAEConfig(), VAE_SMOKE["model"])).eval()


def plan(seconds: float = 2.0) -> Plan:
    half, generator = seconds / 2, torch.Generator().manual_seed(0)
    segments = [SegmentPlan(panel, start, start + half, tempo, 2.0, centroid, -20.0, 0.2, "a page",
                            embedding=torch.nn.functional.normalize(torch.randn(8, generator=generator), dim=0), latents=None)
                for panel, start, tempo, centroid in ((0, 0.0, 90.0, 800.0), (1, half, 130.0, 3000.0))]
    return Plan(seconds, 0, segments, "a page", 0.5)


@pytest.fixture
def backend(tmp_path: Path) -> DiffusionBackend:
    tiny_model().save_pretrained(tmp_path / "diffusion")
    vae = tiny_vae()
    audio_text = type("AudioText", (), {"config": type("Config", (), {"embed_dim": 8})()})()
    components = {"audio_vae": vae, "audio_text": audio_text, "vocoder": GriffinLim(vae.config.mel, 4),
                  "diffusion": tmp_path / "diffusion"}
    return DiffusionBackend.from_components(components, {"griffin_lim_iterations": 4})


def test_shapes_and_conditions() -> None:
    model = tiny_model()
    x, t = torch.randn(3, 4, 16), torch.tensor([10, 500, 990])
    embedding, descriptors = torch.randn(3, 8), torch.rand(3, 4) * 100
    full = model.condition(embedding, descriptors)
    assert full.shape == (3, 16) and model(x, t, full).shape == x.shape
    dropped = model.condition(embedding, descriptors, torch.tensor([True, False, True]), torch.zeros(3, dtype=bool))
    null = model.condition(None, None, keep_embedding=torch.ones(3, dtype=bool))
    assert torch.allclose(dropped[1], null[1]) and not torch.allclose(dropped[0], null[0])
    assert torch.allclose(model.condition(embedding, None), model.condition(embedding, descriptors,
                                                                            keep_descriptors=torch.zeros(3, dtype=bool)))
    latents = model.sample(3, embedding[0], descriptors[0], torch.Generator().manual_seed(0))
    assert latents.shape == (3, 4, 16) and torch.isfinite(latents).all()
    assert model.config.windows_for(32) == 1 and model.config.windows_for(33) == 2  # 16 latent frames = 32 mel


def test_guidance_scheduler_steps_and_seeds(monkeypatch: pytest.MonkeyPatch) -> None:
    model = tiny_model()
    embedding = torch.randn(8)
    calls = []
    forward = LatentDiffusion.forward
    monkeypatch.setattr(LatentDiffusion, "forward", lambda self, x, t, c: calls.append(len(x)) or forward(self, x, t, c))

    def sample(seed=0, **kwargs):
        return model.sample(2, embedding, None, torch.Generator().manual_seed(seed), **kwargs)

    for scheduler in ("ddim", "dpm++"):
        calls.clear()
        sample(steps=5, scheduler=scheduler)
        assert calls == [4] * 5  # one batched call per step: 2 windows, conditional and unconditional
    calls.clear()
    plain = sample(guidance=1.0)
    assert calls == [2] * 4  # the model's default steps; guidance 1: no unconditional pass
    assert not torch.allclose(plain, sample(guidance=4.0))
    assert torch.equal(sample(seed=3), sample(seed=3)) and not torch.allclose(sample(seed=3), sample(seed=4))
    assert not torch.allclose(sample(), model.sample(2, -embedding, None, torch.Generator().manual_seed(0)))
    for bad in ({"steps": 0}, {"guidance": 0.5}, {"scheduler": "euler"}):
        with pytest.raises(InputError):
            sample(**bad)


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    model = tiny_model()
    model.save_pretrained(tmp_path)
    loaded = LatentDiffusion.from_pretrained(tmp_path)
    assert loaded.config == model.config
    embedding = torch.randn(8)
    assert torch.equal(model.sample(2, embedding, None, torch.Generator().manual_seed(1)),
                       loaded.sample(2, embedding, None, torch.Generator().manual_seed(1)))


def test_backend_renders_a_plan_reproducibly(backend: DiffusionBackend) -> None:
    [layer] = backend.render(plan(), seed=0)
    assert layer.name == "diffusion" and layer.sample_rate == 16_000 and layer.audio.shape == (1, 32_000)
    assert np.isfinite(layer.audio).all() and 0 < np.abs(layer.audio).max() <= 1.0
    assert [cue.trigger for cue in layer.cues] == ["plan: panel 1", "plan: panel 2"]
    assert np.array_equal(backend.render(plan(), seed=0)[0].audio, layer.audio)
    assert not np.array_equal(backend.render(plan(), seed=1)[0].audio, layer.audio)
    mel = backend.log_mel(plan(3.3), seed=0)
    assert mel.shape == (64, 1 + round(3.3 * 16_000) // 256)


def test_backend_refuses_a_model_of_other_latents_or_settings(backend: DiffusionBackend, tmp_path: Path) -> None:
    tiny_model(latent_channels=6).save_pretrained(tmp_path / "other")
    components = {"audio_vae": backend.audio_vae, "audio_text": backend.audio_text, "vocoder": backend.vocoder}
    with pytest.raises(InputError, match="latents"):
        DiffusionBackend.from_components(components | {"diffusion": tmp_path / "other"})
    with pytest.raises(InputError, match="vocoder"):
        DiffusionBackend.from_components(components | {"diffusion": tmp_path / "diffusion"}, {"vocoder": "hifi"})
    with pytest.raises(InputError, match="no diffusion weights"):
        DiffusionBackend.from_components(components | {"diffusion": tmp_path / "absent"})
    assert DiffusionSettings().vocoder == "griffin-lim"


@pytest.mark.parametrize("argv, message", [
    (["   "], "prompt must not be empty"),
    (["x" * 301], "at most 300 characters"),
    (["rain", "--seconds", "0.5"], "seconds must be between 1 and 60"),
    (["rain", "--steps", "0"], "steps must be a whole number between 1 and 200"),
    (["rain", "--seed", "-1"], "seed must be between 0"),
])
def test_cli_refuses_bad_arguments_in_one_line(argv: list[str], message: str, tmp_path: Path, capsys) -> None:
    assert main(["text-to-audio", *argv, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and not list(tmp_path.iterdir())


def test_cli_writes_a_wav_and_its_json(tmp_path: Path) -> None:
    assert main(["text-to-audio", "a dog barking", "--out", str(tmp_path), "--seconds", "2", "--steps", "2",
                 "--seed", "4"]) == 0
    wav, record = tmp_path / "a-dog-barking_4.wav", json.loads((tmp_path / "a-dog-barking_4.json").read_text())
    import soundfile

    audio, rate = soundfile.read(wav)
    assert rate == 44_100 and audio.shape == (88_200, 2) and np.abs(audio).max() > 0.01
    assert record["prompt"] == "a dog barking" and record["settings"]["steps"] == 2 and record["cues"]
