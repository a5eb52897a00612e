"""Shared fixtures: the real data folder (``shared/data`` beside the repo, or $BD2MUSIC_DATA)."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

REPO = Path(__file__).resolve().parents[1]
DATA_DIR = Path(os.environ.get("BD2MUSIC_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The shared real data (comics/, eval_pages/, sounds/)."""
    assert (DATA_DIR / "comics").is_dir(), f"real data not found at {DATA_DIR} (set BD2MUSIC_DATA)"
    return DATA_DIR


@pytest.fixture(scope="session")
def sound_rows(data_dir: Path) -> list[dict[str, str]]:
    """The rows of sounds/manifest.csv (file, category, label, source, ..., duration_s)."""
    with open(data_dir / "sounds" / "manifest.csv", newline="") as manifest:
        return list(csv.DictReader(manifest))


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny models: one thread is as fast, and never stalls when another job shares the 2 cores."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
