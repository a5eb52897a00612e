"""Where the app's weights come from: the pinned Hub snapshot when its files match their sha256, else weights/."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bd2music import hub
from bd2music.__main__ import main
from bd2music.hub import HubConfig, file_sha256, load_hub_config, locate_weights, write_hub_config

REPO = Path(__file__).resolve().parents[1]
COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def local(tmp_path: Path) -> Path:
    """A weights folder with two small components."""
    for component in ("detector", "vocoder"):
        folder = tmp_path / "weights" / component
        folder.mkdir(parents=True)
        (folder / "config.json").write_text(json.dumps({"component": component}))
        (folder / "model.safetensors").write_bytes(component.encode() * 100)
    return tmp_path / "weights"


def test_manifest_pins_every_component_file(local: Path, tmp_path: Path) -> None:
    out = tmp_path / "hub.json"
    assert main(["hub-manifest", "--repo", "someone/bd2music", "--revision", COMMIT, "--weights", str(local),
                 "--out", str(out)]) == 0
    config = load_hub_config(out)
    assert config.repo_id == "someone/bd2music" and config.revision == COMMIT
    assert sorted(config.sha256) == ["detector/config.json", "detector/model.safetensors", "vocoder/config.json",
                                     "vocoder/model.safetensors"]
    assert config.sha256["vocoder/model.safetensors"] == file_sha256(local / "vocoder" / "model.safetensors")


def test_manifest_pins_every_file_of_the_instrument_bank(local: Path, tmp_path: Path) -> None:
    instruments = local / "instruments"
    instruments.mkdir()
    for name in ("config.json", "samples.safetensors", "README.md"):
        (instruments / name).write_text(name)
    config = write_hub_config("someone/bd2music", COMMIT, local, tmp_path / "hub.json")
    assert {"instruments/config.json", "instruments/samples.safetensors", "instruments/README.md"} <= set(config.sha256)


def test_environment_overrides_repo_and_revision(local: Path, tmp_path: Path, monkeypatch) -> None:
    out = tmp_path / "hub.json"
    write_hub_config("someone/bd2music", COMMIT, local, out)
    monkeypatch.setenv("BD2MUSIC_HUB_REPO", "other/repo")
    monkeypatch.setenv("BD2MUSIC_HUB_REVISION", "f" * 40)
    config = load_hub_config(out)
    assert (config.repo_id, config.revision) == ("other/repo", "f" * 40) and len(config.sha256) == 4


def test_pinned_snapshot_used_when_every_file_matches(local: Path, tmp_path: Path, monkeypatch) -> None:
    config = write_hub_config("someone/bd2music", COMMIT, local, tmp_path / "hub.json")
    snapshot = tmp_path / "snapshot"
    shutil.copytree(local, snapshot)
    asked = []
    monkeypatch.setattr(hub, "_snapshot", lambda *args: asked.append(args) or snapshot)  # the Hub's download
    source = locate_weights(config, local)
    assert source.folder == snapshot and source.description.startswith("Hub someone/bd2music@0123456789ab")
    assert asked == [("someone/bd2music", COMMIT, list(config.sha256))]

    (snapshot / "vocoder" / "model.safetensors").write_bytes(b"tampered")
    source = locate_weights(config, local)
    assert source.folder == local and "vocoder/model.safetensors does not match its sha256" in source.description


def test_offline_or_unpinned_falls_back_to_local(local: Path) -> None:
    config = HubConfig("someone/never-downloaded", COMMIT, {"detector/config.json": "0" * 64})
    source = locate_weights(config, local)
    assert source.folder == local and "not available" in source.description
    source = locate_weights(HubConfig("someone/never-downloaded"), local)
    assert source.folder == local and "no Hub revision pinned" in source.description
    assert source.public == f"local {local.name}/ (no Hub revision pinned in hub.json)"  # no folder of the server


def test_importing_the_app_touches_no_network() -> None:
    code = (
        "import socket\n"
        "def refuse(*args, **kwargs): raise AssertionError('network at import')\n"
        "socket.socket.connect = socket.socket.connect_ex = refuse\n"
        "socket.create_connection = socket.getaddrinfo = refuse\n"
        "import app\n"
    )
    env = {"PATH": "/usr/bin:/bin", "HOME": str(Path.home()), "GRADIO_ANALYTICS_ENABLED": "False"}
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]


def test_shipped_manifest_matches_the_shipped_weights() -> None:
    """weights/hub.json lists every shipped weight file with the credits beside it, and every file of the sound
    bank, the instrument bank, the piece library and the drawing reader (with the bank's pitches), with its
    current sha256 (rerun `bd2music hub-manifest` after retraining or rebuilding, or the app would take the Hub
    snapshot for stale)."""
    config = load_hub_config(REPO / "weights" / "hub.json")
    folders = [folder for folder in (REPO / "weights").iterdir() if folder.is_dir()]
    whole = {folder for folder in folders if any((folder / name).is_file() for name in
                                                 ("index.safetensors", "samples.safetensors", "notes.safetensors",
                                                  "bank_pitches.json"))}
    shipped = sorted(
        str(p.relative_to(REPO / "weights")) for folder in folders
        for p in (folder.rglob("*") if folder in whole else folder.glob("*"))
        if p.is_file() and (folder in whole or p.name in ("config.json", "model.safetensors")
                            or p.name in ("attribution.csv", "donors.json") and (folder / "model.safetensors").is_file())
    )
    assert sorted(config.sha256) == sorted([*shipped, "pipeline.json"])
    for name, digest in config.sha256.items():
        assert file_sha256(REPO / "weights" / name) == digest, f"{name} changed since hub.json was written"
