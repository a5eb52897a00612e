"""Shared fixtures: the real data folder (``../shared/data`` beside the clone, or $BD2MUSIC_DATA), made-up sound
clips, and the app served once.

Tests that use ``data_dir`` (directly or through another fixture) are marked ``data`` when collected. Without the
data they skip with one line saying how to provide it; under CI (``CI=true``) a missing data folder is an error,
so that CI never passes with its data tests skipped. ``pytest -m "not data"`` runs only what needs no data.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

REPO = Path(__file__).resolve().parents[1]
DATA_DIR = Path(os.environ.get("BD2MUSIC_DATA") or REPO.parent / "shared" / "data")
DATA_FOLDERS = ("comics", "eval_pages", "sounds")
EXAMPLES = REPO / "examples"  # four real pages shipped with the app (also in the data's comics/)
FIXTURES = Path(__file__).parent / "data"  # small files the tests need: labels of an example page, split lists
SOUND_RATE = 16_000


def missing_data() -> str | None:
    """Why the data tests cannot run (one line), or None when the data folder is there."""
    absent = [name for name in DATA_FOLDERS if not (DATA_DIR / name).is_dir()]
    if not absent:
        return None
    return (f"needs the shared data (no {', '.join(f'{name}/' for name in absent)} in {DATA_DIR}): "
            "put the data folder at ../shared/data beside the clone or set BD2MUSIC_DATA=/path/to/data")


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test that uses the data folder ``data`` (``-m "not data"`` deselects them)."""
    for item in items:
        if "data_dir" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.data)


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    """One line for all the data tests skipped: the missing data, or (with the data there) their own reasons
    (``-rs`` lists them one by one)."""
    skipped = [report for report in terminalreporter.stats.get("skipped", []) if "data" in report.keywords]
    if skipped:
        reasons = sorted({str(report.longrepr[-1]).removeprefix("Skipped: ") for report in skipped
                          if isinstance(report.longrepr, tuple)})
        terminalreporter.write_line(f"{len(skipped)} data tests skipped: {missing_data() or '; '.join(reasons)}",
                                    yellow=True)


def needs(reason: str | None, what: str) -> None:
    """Skip the test for ``reason`` (one line), or fail it under CI, which runs every test; nothing when None."""
    if reason and in_ci():
        pytest.fail(f"CI runs every {what} test: {reason}", pytrace=False)
    if reason:
        pytest.skip(reason)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The shared real data (comics/, eval_pages/, sounds/); skips the test when absent (fails under CI)."""
    needs(missing_data(), "data")
    return DATA_DIR


@pytest.fixture(scope="session")
def neural_vae_folder() -> Path:
    """The shipped audio VAE the neural sound decodes with: the pipeline's ``neural_vae``, else its ``audio_vae``."""
    components = json.loads((REPO / "weights" / "pipeline.json").read_text())["components"]
    return REPO / "weights" / components.get("neural_vae", "audio_vae")


@pytest.fixture(scope="session")
def chromium() -> str:
    """The system Chromium (``$BD2MUSIC_CHROMIUM`` or the first on PATH; .ci/run installs Debian's); skips the
    browser test when there is none (a system package, which the README's pip command does not install), fails
    under CI."""
    found = os.environ.get("BD2MUSIC_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    needs(None if found else "no Chromium for the browser test: `apt-get install chromium` (or set "
          "BD2MUSIC_CHROMIUM)", "browser")
    return found


@pytest.fixture(scope="session")
def relocated_labels(data_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """``relocated_labels(folder)``: a copy of an annotation folder of the repo (``benchmarks/...``,
    ``configs/detector/...``) whose images, named there as ``../shared/data/comics/...`` beside the clone, point
    into ``data_dir`` instead, so that ``BD2MUSIC_DATA`` elsewhere works too."""

    def relocate(folder: Path) -> Path:
        copy = tmp_path_factory.mktemp(folder.name)
        for path in sorted(folder.glob("*.json")):
            record = json.loads(path.read_text())
            record["image"] = str(data_dir / "comics" / Path(record["image"]).name)
            (copy / path.name).write_text(json.dumps(record))
        return copy

    return relocate


@pytest.fixture(scope="session")
def sound_rows(data_dir: Path) -> list[dict[str, str]]:
    """The rows of sounds/manifest.csv (file, category, label, source, ..., duration_s)."""
    with open(data_dir / "sounds" / "manifest.csv", newline="") as manifest:
        return list(csv.DictReader(manifest))


def made_up_clip(category: str, seconds: float = 4.0, seed: int = 0) -> np.ndarray:
    """A few seconds of 16 kHz mono sound that stands in for a real clip of ``category`` (peak 0.5):
    music (a 120 BPM arpeggio of decaying harmonic notes), foley (irregular thuds), animal (chirps) or
    ambience (steady rumbling noise with a hum)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SOUND_RATE)) / SOUND_RATE
    sound = np.zeros_like(t)
    if category == "music":
        for index, start in enumerate(np.arange(0.0, seconds, 0.25)):
            after = t >= start
            age, pitch = t[after] - start, 220 * 2 ** ((0, 3, 7, 12)[index % 4] / 12)
            sound[after] += sum(np.sin(2 * np.pi * k * pitch * age) / k for k in (1, 2, 3)) * np.exp(-6 * age)
    elif category == "foley":
        decay = np.exp(-np.arange(1600) / 200)
        for start in np.cumsum(rng.uniform(0.25, 0.6, 16)):
            first = int(start * SOUND_RATE)
            thud = np.convolve(rng.normal(0, 1, 1600), np.ones(6) / 6, "same") * decay
            sound[first:first + 1600] += thud[: max(0, len(sound) - first)]
    elif category == "animal":
        for start in np.arange(0.1, seconds - 0.2, 0.4):
            during = (t >= start) & (t < start + 0.12)
            age = t[during] - start
            sound[during] += np.sin(2 * np.pi * (2500 * age + 8000 * age**2)) * np.hanning(during.sum())
    elif category == "ambience":
        rumble = np.convolve(rng.normal(0, 1, len(t)), np.ones(24) / 24, "same")
        sound = rumble / rumble.std() * (1 + 0.3 * np.sin(2 * np.pi * 0.3 * t)) + 0.5 * np.sin(2 * np.pi * 100 * t)
    else:
        raise ValueError(f"no made-up {category} clip")
    sound += rng.normal(0, 1e-3 * np.abs(sound).max(), len(sound))  # a noise floor, like a recording
    return (0.5 * sound / np.abs(sound).max()).astype(np.float32)


@pytest.fixture(scope="session")
def harmonic_tone() -> np.ndarray:
    """3 s at 16 kHz: 11 harmonics of 147 Hz (between the 62.5 Hz lines of a vocoder's frame rate) with a 3 Hz
    vibrato, over faint noise."""
    t = np.arange(3 * SOUND_RATE) / SOUND_RATE
    phase = 2 * np.pi * np.cumsum(147.0 * (1 + 0.02 * np.sin(2 * np.pi * 3 * t))) / SOUND_RATE
    tone = 0.1 * sum(np.sin(k * phase) / k for k in range(1, 12))
    return (tone + np.random.default_rng(0).normal(0, 0.003, len(t))).astype(np.float32)


@pytest.fixture(scope="session")
def sound_clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Four made-up 4 s FLAC clips, ``<tmp>/sounds/<category>/<category>.flac``, by category (no data needed)."""
    folder = tmp_path_factory.mktemp("clips") / "sounds"
    clips = {}
    for seed, category in enumerate(("music", "foley", "animal", "ambience")):
        clips[category] = folder / category / f"{category}.flac"
        clips[category].parent.mkdir(parents=True)
        soundfile.write(clips[category], made_up_clip(category, seed=seed), SOUND_RATE)
    return clips


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny models: one thread is as fast, and never stalls when another job shares the 2 cores."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def app_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The file that receives the served app's stdout and stderr (its server-side log)."""
    return tmp_path_factory.mktemp("app") / "app.log"


@pytest.fixture(scope="session")
def app_url(app_log: Path) -> Iterator[str]:
    """``python app.py --port N`` started once (models loaded, offline), its URL; stopped at the end."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = app_log
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
