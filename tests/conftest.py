"""Shared fixtures: the real data folder (``shared/data`` beside the repo, or $BD2MUSIC_DATA)."""

from __future__ import annotations

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
