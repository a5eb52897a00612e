"""Where weights come from: a local folder, the repository's ``weights/``, or a pinned Hugging Face Hub snapshot.

A component is a folder holding ``config.json`` + ``model.safetensors``. Hub repos hold one subfolder per
component (``detector/``, ...). ``weights/hub.json`` pins the app's weights: a model repo id, a commit and the
sha256 of every file to fetch (``BD2MUSIC_HUB_REPO`` / ``BD2MUSIC_HUB_REVISION`` override the first two,
``BD2MUSIC_WEIGHTS`` the local fallback ``weights/``). Nothing here touches the network unless a Hub repo is
asked for, and ``HF_HUB_OFFLINE=1`` is honoured by huggingface_hub.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from bd2music.errors import InputError, MissingWeights

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"
HUB_CONFIG = WEIGHTS_DIR / "hub.json"
WEIGHT_FILES = ("config.json", "model.safetensors")
CREDIT_FILES = ("attribution.csv", "donors.json")  # a component's credits, pinned with its weights when it has them
PIPELINE_INDEX = "pipeline.json"  # beside the component folders (bd2music.pipeline.PipelineIndex)  # what a component needs, and what the manifest pins
BANK_FILES = ("config.json", "index.safetensors", "manifest.csv")  # a sound bank: the manifest pins all its files
INSTRUMENT_FILES = ("config.json", "samples.safetensors")  # the instrument bank (bd2music.music.instruments): all
PIECES_FILES = ("config.json", "index.json", "notes.safetensors")  # a piece library (bd2music.music.library): all
DRAW_FILES = ("config.json", "model.safetensors", "bank_pitches.json")  # the drawing reader + the bank's pitches
PROMPT_INDEX_FILES = ("config.json", "index.safetensors", "clips.csv")  # a prompt index (bd2music.bank.prompt_index)
ASSETS = (BANK_FILES, INSTRUMENT_FILES, PIECES_FILES, DRAW_FILES, PROMPT_INDEX_FILES)  # pinned file by file, card too


@dataclass(frozen=True)
class HubConfig:
    """A model repo on the Hub at a pinned commit, with the sha256 of each file (``component/file`` keys)."""

    repo_id: str
    revision: str | None = None
    sha256: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class WeightsSource:
    """A local folder holding one subfolder per component, and a line saying where it came from."""

    folder: Path
    description: str

    @property
    def public(self) -> str:
        """The description without this machine's folders, for visitors: a local folder by its name alone."""
        return self.description.replace(str(self.folder), f"{self.folder.name}/")


def resolve_component(component: str, path_or_repo: str | Path | None = None, revision: str | None = None) -> Path:
    """Return a local folder with ``component``'s ``config.json`` and ``model.safetensors``.

    ``path_or_repo`` may be a component folder, a folder holding ``<component>/``, a Hub repo id
    (``owner/name``, downloaded at ``revision``), or None for the shipped ``weights/<component>``.
    """
    candidates: list[Path]
    if path_or_repo is None:
        candidates = [WEIGHTS_DIR / component]
    elif _hub_repo(path_or_repo):
        try:
            snapshot = _snapshot(str(path_or_repo), revision, [f"{component}/*.json", f"{component}/*.safetensors"])
        except Exception as error:  # offline, unreachable, unknown repo or revision
            raise InputError(
                f"could not fetch {component} weights from {path_or_repo}@{revision}: {type(error).__name__}"
            ) from None
        candidates = [snapshot / component]
    else:
        candidates = [Path(path_or_repo), Path(path_or_repo) / component]
    for folder in candidates:
        if all((folder / name).is_file() for name in WEIGHT_FILES):
            return folder
    raise MissingWeights(f"no {component} weights (config.json + model.safetensors) in {candidates[0]}")


def _hub_repo(path_or_repo: str | Path) -> bool:
    """Whether ``path_or_repo`` names a Hub repo (``owner/name``, not a local path) rather than an existing local
    folder; InputError (not MissingWeights: nothing falls back from it) when it is neither."""
    if Path(path_or_repo).exists():
        return False
    if isinstance(path_or_repo, str) and path_or_repo.count("/") == 1 and not path_or_repo.startswith((".", "/")):
        return True
    raise InputError(f"weights not found: {path_or_repo}")


def read_weights(folder: Path) -> tuple[dict, dict]:
    """(``config.json`` as a dict, the tensors of ``model.safetensors``) of a component folder; one InputError line
    when either cannot be read."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        config = json.loads((folder / "config.json").read_text())
        if not isinstance(config, dict):
            raise ValueError("config.json does not hold an object")
        return config, load_file(str(folder / "model.safetensors"))
    except (OSError, ValueError, SafetensorError) as error:
        detail = " ".join(str(error).split())[:200]
        raise InputError(f"{folder}: the weights are corrupt ({type(error).__name__}: {detail})") from None


def load_hub_config(path: Path = HUB_CONFIG) -> HubConfig | None:
    """The pinned Hub weights from ``path`` with the environment's overrides, or None when nothing names a repo."""
    data = json.loads(path.read_text()) if path.is_file() else {}
    repo_id = os.environ.get("BD2MUSIC_HUB_REPO") or data.get("repo_id")
    if not repo_id:
        return None
    revision = os.environ.get("BD2MUSIC_HUB_REVISION") or data.get("revision")
    return HubConfig(repo_id, revision, data.get("sha256", {}))


def locate_weights(config: HubConfig | None = None, local: Path | None = None) -> WeightsSource:
    """The pinned Hub snapshot, every file's sha256 checked; when none is pinned, offline or unreachable, the
    ``local`` folder (default ``$BD2MUSIC_WEIGHTS`` or the repository's ``weights/``)."""
    config = config or load_hub_config()
    local = local or Path(os.environ.get("BD2MUSIC_WEIGHTS") or WEIGHTS_DIR)
    if config is None or not config.revision or not config.sha256:
        return WeightsSource(local, f"local {local} (no Hub revision pinned in {HUB_CONFIG.name})")
    pinned = f"{config.repo_id}@{config.revision[:12]}"
    try:
        snapshot = _snapshot(config.repo_id, config.revision, list(config.sha256))
    except Exception as error:  # offline (HF_HUB_OFFLINE), unreachable, unknown repo or revision
        return WeightsSource(local, f"local {local} (Hub {pinned} not available: {type(error).__name__})")
    for name, expected in config.sha256.items():
        if not (snapshot / name).is_file() or file_sha256(snapshot / name) != expected:
            return WeightsSource(local, f"local {local} (Hub {pinned}: {name} does not match its sha256)")
    return WeightsSource(snapshot, f"Hub {pinned} (sha256 checked)")


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while block := stream.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def write_hub_config(
    repo_id: str, revision: str | None, local: Path = WEIGHTS_DIR, path: Path = HUB_CONFIG
) -> HubConfig:
    """Pin ``repo_id``@``revision`` in ``path`` with the sha256 of every component's files in ``local`` (its
    weights and the credits that travel with them), of every file of its sound banks (``bd2music.bank``),
    instrument bank (``bd2music.music.instruments``) and piece library (``bd2music.music.library``), and of its
    settings-only components (``config.json`` alone)."""
    files = sorted(
        file for folder in local.iterdir() if all((folder / name).is_file() for name in WEIGHT_FILES)
        for file in (folder / name for name in WEIGHT_FILES + CREDIT_FILES) if file.is_file()
    ) + sorted(
        file for folder in local.iterdir() if _is_asset(folder) for file in folder.rglob("*") if file.is_file()
    ) + sorted(  # settings-only components (the planner's tables)
        folder / "config.json" for folder in local.iterdir() if folder.is_dir() and (folder / "config.json").is_file()
        and not (folder / "model.safetensors").is_file() and not _is_asset(folder)
    )
    if not files:
        raise InputError(f"no component folders (config.json + model.safetensors) in {local}")
    if (local / PIPELINE_INDEX).is_file():  # the components' names, the sounds and their settings
        files.append(local / PIPELINE_INDEX)
    config = HubConfig(repo_id, revision, {file.relative_to(local).as_posix(): file_sha256(file) for file in files})
    path.write_text(json.dumps({"repo_id": repo_id, "revision": revision, "sha256": config.sha256}, indent=2) + "\n")
    return config


def _is_asset(folder: Path) -> bool:
    """A sound bank, the instrument bank or the piece library: every one of its files is pinned."""
    return any(all((folder / name).is_file() for name in files) for files in ASSETS)


def _snapshot(repo_id: str, revision: str | None, patterns: list[str]) -> Path:
    from huggingface_hub import snapshot_download

    return Path(snapshot_download(repo_id, revision=revision, allow_patterns=patterns))
