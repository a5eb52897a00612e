"""Shared fixtures: the real data folder (``shared/data`` beside the repo, or $BD2MUSIC_DATA)."""

from __future__ import annotations

import csv
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
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


@pytest.fixture(scope="session")
def app_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``python app.py --port N`` started once (models loaded, offline), its URL; stopped at the end."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = tmp_path_factory.mktemp("app") / "app.log"
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1"}
    with open(log, "w") as output:
        process = subprocess.Popen([sys.executable, "app.py", "--port", str(port)], cwd=REPO, env=env,
                                   stdout=output, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 180  # load every model, then bind
        while not _listening(port):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the app did not start; its log ends with:\n{log.read_text()[-2000:]}")
            time.sleep(0.5)
        yield f"http://127.0.0.1:{port}/"
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0
