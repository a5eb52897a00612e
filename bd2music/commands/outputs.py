"""Where commands write: checked before any model loads or page is read, so that a bad ``--out`` is one line at
once, not a traceback after the work. Nothing is created here: a refused command leaves nothing behind."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from bd2music.errors import InputError


def output_folder(path: Path, option: str = "--out") -> Path:
    """``path`` when a folder can be written there: a writable folder, or a missing one whose nearest existing
    parent is a folder that can be written in (tried); InputError otherwise."""
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if existing == path and not path.is_dir():
        raise InputError(f"{option} {path} is a file, expected a folder")
    if not existing.is_dir():
        raise InputError(f"{option} {path}: cannot create the folder ({existing} is a file)")
    try:  # a folder made and removed at once: permission bits alone do not tell (root, read-only mounts)
        os.rmdir(tempfile.mkdtemp(prefix=".bd2music-", dir=existing))
    except OSError as error:
        raise InputError(f"{option} {path}: cannot write in {existing} ({error.strerror or error})") from None
    return path


def output_file(path: Path, option: str) -> Path:
    """``path`` when a file can be written there (``output_folder`` of its folder); InputError when it is a folder."""
    if path.is_dir():
        raise InputError(f"{option} {path} is a folder, expected a file")
    output_folder(path.parent, f"{option} {path}: its folder")
    return path


@contextmanager
def all_or_none() -> Iterator[Callable[[Path], Path]]:
    """Writes one result's files all or none: each file's path goes through ``new(path)`` just before it is
    written; when one cannot be written, the files this result created are removed again (a file that was there
    before is not) and the error is one InputError line naming the file, so no result is left half written."""
    created: list[Path] = []
    writing: list[Path] = []

    def new(path: Path) -> Path:
        writing.append(path)
        if not path.exists():
            created.append(path)
        return path

    try:
        yield new
    except (InputError, OSError) as error:
        for path in created:
            if path.is_file():
                path.unlink()
        if isinstance(error, InputError):
            raise
        raise InputError(f"{writing[-1] if writing else 'output'}: cannot write ({error.strerror or error})") from None
