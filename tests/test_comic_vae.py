"""Comic VAE: shipped weights on real held-out pages and panels, the contract, data loaders and smoke training."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from bd2music.data.comic_images import (
    ImageCache,
    build_cache,
    load_comics,
    load_ebdtheque,
    parse_ebdtheque_svg,
)
from bd2music.errors import InputError
from bd2music.io import load_page
from bd2music.models.base import merge_config
from bd2music.models.comic_vae import ComicVAE, ComicVAEConfig, crop_panels
from bd2music.training.comic_vae import SMOKE, ComicVAETrainConfig, train_comic_vae

REPO = Path(__file__).resolve().parents[1]
WEIGHTS = REPO / "weights" / "comic_vae"
FIXTURES = Path(__file__).parent / "data"
HELDOUT_L1_FLOOR = 0.15  # mean L1 per pixel on 5 held-out pages + panels: shipped 0.116, untrained 0.37

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def vae() -> ComicVAE:
    return ComicVAE.from_pretrained(WEIGHTS)


@pytest.fixture(scope="module")
def heldout_images(data_dir: Path) -> list[Image.Image]:
    """5 held-out real pages (one per title group) and the labelled panel crops of the OpenMantra ones."""
    pages = [page for page in load_comics(data_dir / "comics") if page.split == "heldout"][::4]
    images = []
    for page in pages:
        image = load_page(page.path).image
        images += [image, *crop_panels(image, list(page.panels))]
    return images


def reconstruction_l1(model: ComicVAE, images: list[Image.Image]) -> float:
    batch = torch.stack([model.preprocess(image) for image in images])
    with torch.no_grad():
        return float((model.decode(model.encode(batch).mean) - batch).abs().mean())


def test_heldout_split_is_fixed_and_never_touches_eval_pages(data_dir: Path) -> None:
    pages = load_comics(data_dir / "comics")
    heldout = [page.name for page in pages if page.split == "heldout"]
    assert heldout == (FIXTURES / "comic_vae_heldout.txt").read_text().split()
    assert all("eval_pages" not in str(page.path) for page in pages)
    with pytest.raises(InputError, match="evaluation"):
        load_comics(data_dir / "eval_pages")


def test_shipped_weights_encode_and_decode_real_pages_and_panels(vae: ComicVAE, heldout_images) -> None:
    config = vae.config
    latents = vae.encode_images(heldout_images)
    assert latents.shape == (len(heldout_images), config.latent_dim)
    assert torch.isfinite(latents).all()
    decoded = vae.decode(latents)
    assert decoded.shape == (len(heldout_images), 3, config.image_size, config.image_size)
    assert decoded.min() >= 0 and decoded.max() <= 1
    assert latents.std(dim=0).mean() > 0.05  # different images, different latents
    card = (WEIGHTS / "README.md").read_text()
    assert "reconstructions.png" in card and (WEIGHTS / "reconstructions.png").is_file()
    assert "eval_pages" in card and "non-commercial" in card


def test_heldout_reconstruction_beats_floor_that_untrained_misses(vae: ComicVAE, heldout_images) -> None:
    torch.manual_seed(0)
    untrained = ComicVAE(vae.config).eval()
    assert reconstruction_l1(vae, heldout_images) < HELDOUT_L1_FLOOR
    assert reconstruction_l1(untrained, heldout_images) > HELDOUT_L1_FLOOR
    metrics = json.loads((WEIGHTS / "metrics.json").read_text())
    assert metrics["heldout_l1"] < metrics["heldout_mean_image_l1"]


def test_posterior_mean_is_deterministic(vae: ComicVAE, heldout_images) -> None:
    first = vae.encode_images(heldout_images[:3])
    assert torch.equal(first, vae.encode_images(heldout_images[:3]))
    assert torch.allclose(first[1:2], vae.encode_images(heldout_images[1:2]), atol=1e-5)  # batch-independent


def test_preprocess_letterboxes_on_white() -> None:
    model = ComicVAE(ComicVAEConfig(image_size=32, channels=(8, 16), latent_dim=4))
    tall = Image.new("RGB", (50, 100), (0, 0, 0))
    square = model.preprocess(tall)
    assert square.shape == (3, 32, 32)
    assert torch.all(square[:, :, 0] == 1.0) and torch.all(square[:, :, -1] == 1.0)  # white side bars
    assert torch.all(square[:, :, 16] == 0.0)  # the black page in the middle


def test_save_load_round_trip(tmp_path: Path) -> None:
    torch.manual_seed(1)
    model = ComicVAE(ComicVAEConfig(image_size=32, channels=(8, 16), latent_dim=6)).eval()
    model.save_pretrained(tmp_path / "comic_vae")
    loaded = ComicVAE.from_pretrained(tmp_path / "comic_vae")
    images = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(model.encode(images).mean, loaded.encode(images).mean)
        assert torch.equal(model.decode(torch.ones(1, 6)), loaded.decode(torch.ones(1, 6)))
    assert loaded.config == model.config


def test_crop_panels_pads_and_clips() -> None:
    image = Image.new("RGB", (200, 100), "white")
    inside, edge = crop_panels(image, [(50, 20, 150, 70), (-30, 80, 60, 130)])
    assert inside.size == (104, 52)  # 2 % of 100 and of 50 on each side
    assert edge.size == (62, 21)  # clipped to the image: x 0..62 (60 + 1.8), y 79..100
    with pytest.raises(InputError, match="outside"):
        crop_panels(image, [(300, 10, 400, 50)])


def test_ebdtheque_svg_and_loader() -> None:
    root = FIXTURES / "ebdtheque"
    shapes = parse_ebdtheque_svg(root / "GT" / "FIXTURE_001.svg")
    assert {name: len(polygons) for name, polygons in shapes.items()} == {
        "Panel": 3, "Balloon": 1, "Line": 1, "Character": 1
    }
    (page,) = load_ebdtheque(root)
    assert page.path == root / "Pages" / "FIXTURE_001.jpg"
    assert page.panels == ((10, 10, 290, 190), (10, 205, 140, 390), (155, 205, 290, 390))
    with pytest.raises(InputError, match="no eBDtheque pages"):
        load_ebdtheque(root / "GT")


def test_cache_holds_pages_and_panel_crops(tmp_path: Path) -> None:
    pages = load_ebdtheque(FIXTURES / "ebdtheque")
    cache = ImageCache(build_cache(pages, tmp_path / "cache", image_size=32))
    assert cache.images.dtype == torch.uint8 and cache.images.shape == (4, 3, 32, 32)
    assert [r["kind"] for r in cache.records] == ["page", "panel", "panel", "panel"]
    assert len(cache.indices("heldout", "panel")) == 3
    # the second panel of the fixture is filled with (255, 200, 180): its crop is mostly that colour
    colour = cache.batch(torch.tensor([2]))[0, :, 12:20, 12:20].mean(dim=(1, 2))
    assert torch.allclose(colour, torch.tensor([1.0, 200 / 255, 180 / 255]), atol=0.05)


def test_smoke_training_with_resume_and_ebdtheque(tmp_path: Path, data_dir: Path) -> None:
    config = merge_config(ComicVAETrainConfig(), SMOKE | {"max_pages": 4, "synthetic_pages": 1,
                                                         "ebdtheque": str(FIXTURES / "ebdtheque")})
    metrics = train_comic_vae(config, data_dir, tmp_path / "out", tmp_path / "work")
    assert metrics["steps"] == config.steps and metrics["heldout_l1"] > 0
    records = ImageCache(tmp_path / "work" / "cache").records
    assert {r["source"] for r in records} == {"comics", "ebdtheque", "synthetic"}
    assert all(r["split"] == "train" for r in records if r["source"] == "synthetic")
    model = ComicVAE.from_pretrained(tmp_path / "out")
    assert model.config == config.model
    again = train_comic_vae(config, data_dir, tmp_path / "out2", tmp_path / "work", resume=True)
    assert again["heldout_l1"] == pytest.approx(metrics["heldout_l1"])  # resumed at the end: same weights
    assert (tmp_path / "out" / "reconstructions.png").is_file()
