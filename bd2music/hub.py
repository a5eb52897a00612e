"""Where weights come from: a local folder, the repository's ``weights/``, or a pinned Hugging Face Hub snapshot.

A component is a folder holding ``config.json`` + ``model.safetensors``. Hub repos hold one subfolder per
component (``detector/``, ...). Nothing here touches the network unless a Hub repo id is asked for, and
``HF_HUB_OFFLINE=1`` is honoured by huggingface_hub itself.
"""

from __future__ import annotations

from pathlib import Path

from bd2music.errors import InputError

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"


def resolve_component(component: str, path_or_repo: str | Path | None = None, revision: str | None = None) -> Path:
    """Return a local folder with ``component``'s ``config.json`` and ``model.safetensors``.

    ``path_or_repo`` may be a component folder, a folder holding ``<component>/``, a Hub repo id
    (``owner/name``, downloaded at ``revision``), or None for the shipped ``weights/<component>``.
    """
    candidates: list[Path]
    if path_or_repo is None:
        candidates = [WEIGHTS_DIR / component]
    else:
        local = Path(path_or_repo)
        if local.exists():
            candidates = [local, local / component]
        elif isinstance(path_or_repo, str) and path_or_repo.count("/") == 1 and not path_or_repo.startswith("."):
            candidates = [_snapshot(path_or_repo, revision, component) / component]
        else:
            raise InputError(f"weights not found: {path_or_repo}")
    for folder in candidates:
        if (folder / "config.json").is_file() and (folder / "model.safetensors").is_file():
            return folder
    raise InputError(f"no {component} weights (config.json + model.safetensors) in {candidates[0]}")


def _snapshot(repo_id: str, revision: str | None, component: str) -> Path:
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo_id, revision=revision, allow_patterns=[f"{component}/*.json",
                                                                               f"{component}/*.safetensors"]))
    except Exception as error:  # offline, unreachable, unknown repo or revision
        raise InputError(f"could not fetch {component} weights from {repo_id}@{revision}: {type(error).__name__}") from None
