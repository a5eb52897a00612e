"""Latent mapper: conditions from real pages, descriptions, generate/invert, structural loss, smoke training."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from PIL import Image

from bd2music.audio.load import load_audio
from bd2music.audio.mel import MEL, mel_spectrogram
from bd2music.errors import InputError
from bd2music.models.audio_vae import AudioVAE, AudioVAEConfig
from bd2music.models.comic_vae import ComicVAE, ComicVAEConfig
from bd2music.models.mapper import (
    CONDITION_NAMES,
    LatentMapper,
    MapperConfig,
    page_condition,
    panel_condition,
    quantile_transform,
)
from bd2music.training.common import load_config
from bd2music.training.mapper import (
    SMOKE,
    MapperTrainConfig,
    features_from_boxes,
    structural_loss,
    train_mapper,
    window_fill,
)
from bd2music.vision.description import describe_page, describe_panel

PAGE = "openmantra_tojime_no_siora_007"  # a shipped example page; its human labels are in tests/data/labels
REPO = Path(__file__).resolve().parents[1]
TINY = MapperConfig(comic_latent_dim=8, audio_latent_shape=(4, 8), hidden=32, blocks=1, inverse_hidden=16, noise_dim=4)


@pytest.fixture(scope="module")
def features():
    """Features of a real labelled page (human panel and balloon boxes, right-to-left)."""
    image = Image.open(REPO / "examples" / f"{PAGE}.jpg").convert("RGB")
    labels = json.loads((REPO / "tests" / "data" / "labels" / f"{PAGE}.json").read_text())
    return features_from_boxes(image, [tuple(b) for b in labels["panels"]], [tuple(b) for b in labels["balloons"]],
                               rtl=True)


def noise(seed: int, batch: int = 3) -> torch.Tensor:
    return torch.randn(batch, TINY.noise_dim, generator=torch.Generator().manual_seed(seed))


def test_conditions_from_real_page(features):
    condition = page_condition(features)
    scalars = features.normalised_scalars()
    assert condition.shape == (len(CONDITION_NAMES),)
    assert condition.tolist() == pytest.approx([scalars[name] for name in CONDITION_NAMES])
    assert 0 <= condition.min() and condition.max() <= 1
    assert len(features.panels) >= 2
    panel = features.panels[1]
    view = panel_condition(features, 1)
    named = dict(zip(CONDITION_NAMES, view.tolist()))
    assert named["brightness"] == pytest.approx(panel.colour.brightness)
    assert named["balloon_count"] == pytest.approx(min(panel.balloon_count / 20, 1.0))
    for layout in ("panel_count", "area_mean", "size_rhythm", "regularity"):
        assert named[layout] == pytest.approx(scalars[layout])
    assert not torch.equal(view, panel_condition(features, 0))
    with pytest.raises(InputError):
        panel_condition(features, len(features.panels))


def test_descriptions_follow_the_rules(features):
    text = describe_page(features)
    assert text == describe_page(features) and text.endswith(".")
    dark = replace(features, colour=replace(features.colour, brightness=0.1))
    assert describe_page(dark).startswith("Dark, ominous")
    assert "people talking" in describe_page(features, balloon_count=30)
    assert "no speech" in describe_page(replace(features, layout=replace(features.layout, text_coverage=0.0)), 0)
    assert describe_panel(features, 0) != "" and describe_panel(features, 0) == describe_panel(features, 0)


def test_generate_is_deterministic_for_a_seed():
    torch.manual_seed(0)
    mapper = LatentMapper(TINY).eval()
    comic, condition = torch.randn(3, 8), torch.rand(3, len(CONDITION_NAMES))
    first = mapper.generate(comic, condition, noise(5))
    assert first.shape == (3, 4, 8)
    assert torch.equal(first, mapper.generate(comic, condition, noise(5)))
    assert not torch.allclose(first, mapper.generate(comic, condition, noise(6)))
    assert mapper.invert(first).shape == (3, 8)
    with pytest.raises(InputError):
        mapper.generate(comic, condition[:, :5], noise(5))
    with pytest.raises(InputError):
        mapper.invert(torch.zeros(3, 4, 7))


def test_quantile_transform_is_a_monotone_cdf():
    mapper = LatentMapper(TINY)
    conditions = torch.rand(200, len(CONDITION_NAMES)) ** 3  # skewed, like colourfulness on manga pages
    mapper.set_statistics(conditions, torch.randn(200, 8), torch.randn(50, 4, 8))
    grid = torch.linspace(-0.1, 1.1, 50)[:, None].expand(-1, len(CONDITION_NAMES))
    quantiles = quantile_transform(grid, mapper.condition_knots)
    assert quantiles.min() == 0 and quantiles.max() == 1
    assert (quantiles.diff(dim=0) >= 0).all()
    median = quantile_transform(conditions.median(dim=0, keepdim=True).values, mapper.condition_knots)
    assert median.sub(0.5).abs().max() < 0.05


def test_structural_loss_rewards_following_the_feature():
    feature = torch.linspace(0, 1, 16)[:, None]
    following, opposed = torch.linspace(-2, 2, 16)[:, None], torch.linspace(2, -2, 16)[:, None]
    assert structural_loss(feature, opposed, 0.1) > structural_loss(feature, following, 0.1) + 1.5
    predicted = opposed.clone().requires_grad_(True)
    structural_loss(feature, predicted, 0.1).backward()
    assert predicted.grad[0] > 0 > predicted.grad[-1]  # descent lowers the first prediction, raises the last


@pytest.fixture(scope="module")
def smoke_components(tmp_path_factory) -> Path:
    """Random-initialised tiny comic and audio VAEs, as component folders."""
    folder = tmp_path_factory.mktemp("components")
    torch.manual_seed(0)
    ComicVAE(ComicVAEConfig(image_size=16, channels=(4, 8), latent_dim=6)).save_pretrained(folder / "comic_vae")
    audio = AudioVAEConfig(window_frames=32, overlap_frames=8, channels=(8, 8), blocks_per_stage=1, latent_channels=4,
                           semantic_dim=0, head_dim=8)
    AudioVAE(audio).save_pretrained(folder / "audio_vae")
    return folder


def test_smoke_training_saves_and_loads_identically(data_dir, smoke_components, tmp_path, one_torch_thread):
    overrides = {"comic_vae": str(smoke_components / "comic_vae"), "audio_vae": str(smoke_components / "audio_vae"),
                 "audio_text": str(tmp_path / "absent")}
    (tmp_path / "components.json").write_text(json.dumps(overrides))
    config = load_config(MapperTrainConfig, tmp_path / "components.json", SMOKE)
    metrics = train_mapper(config, data_dir, tmp_path / "out", tmp_path / "work")
    assert metrics["steps"] == SMOKE["steps"] and metrics["semantic_loss_used"] == 0
    assert {"diversity_ratio", "frechet", "frechet_untrained", "rho_brightness_spectral_centroid_mean"} <= set(metrics)
    for name in ("config.json", "model.safetensors", "train_config.json", "metrics.json", "README.md"):
        assert (tmp_path / "out" / name).is_file()
    mapper = LatentMapper.from_pretrained(tmp_path / "out")
    assert mapper.config.comic_latent_dim == 6 and tuple(mapper.config.audio_latent_shape) == (4, 16)
    mapper.save_pretrained(tmp_path / "again")
    again = LatentMapper.from_pretrained(tmp_path / "again")
    comic, condition = torch.randn(2, 6), torch.rand(2, len(CONDITION_NAMES))
    z = torch.randn(2, mapper.config.noise_dim, generator=torch.Generator().manual_seed(1))
    assert torch.equal(mapper.generate(comic, condition, z), again.generate(comic, condition, z))
    assert not torch.equal(mapper.condition_knots, LatentMapper(mapper.config).condition_knots)  # statistics saved


class _Windows:
    """The one method of ``SoundCache`` that ``window_fill`` reads."""

    def __init__(self, mels: torch.Tensor) -> None:
        self.mels = mels

    def window_mels(self, indices: torch.Tensor) -> torch.Tensor:
        return self.mels[indices]


def test_window_fill_tells_sound_that_goes_on_from_events_in_silence(sound_clips: dict[str, Path]) -> None:
    """A clip that sounds all along fills its window; the same clip kept only in 4 short bursts does not."""
    clips = [load_audio(path).samples[: 4 * MEL.sample_rate] for path in sound_clips.values()]
    mels = torch.stack([mel_spectrogram(torch.from_numpy(c)) for c in clips if len(c) == 4 * MEL.sample_rate])
    assert len(mels) == len(clips)
    steady = mels[window_fill(_Windows(mels), torch.arange(len(mels)), 30.0).argmax()]
    bursts = torch.full_like(steady, MEL.log_min)
    for start in range(0, steady.shape[-1], steady.shape[-1] // 4):
        bursts[:, start:start + 4] = steady[:, start:start + 4]
    fill = window_fill(_Windows(torch.stack([steady, bursts])), torch.arange(2), 30.0)
    assert fill[0] > 0.9 and fill[1] < 0.2
