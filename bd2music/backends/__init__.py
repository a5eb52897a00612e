"""Sound backends by name: each renders a ``bd2music.plan.Plan`` into layers (``base.Layer``).

A new backend is one module here with a class that has ``name``, ``from_components(components, settings)`` and
``render(plan, seed, progress)``, plus one entry in ``REGISTRY``; the pipeline, the CLI and the app find it
by name. Modules are imported only when their backend is first used.
"""

from __future__ import annotations

import importlib
from dataclasses import fields
from typing import TypeVar

from bd2music.backends.base import Backend, Cue, Layer, Progress, bed_of
from bd2music.errors import InputError

T = TypeVar("T")

REGISTRY = {  # name -> "module:Class"
    "neural": "bd2music.backends.neural:NeuralBackend",
    "scene": "bd2music.backends.scene:SceneBackend",
    "music": "bd2music.backends.music:MusicBackend",
    "diffusion": "bd2music.backends.diffusion:DiffusionBackend",
}

__all__ = ["REGISTRY", "Backend", "Cue", "Layer", "Progress", "backend_class", "bed_of", "check_name",
           "settings_config"]


def check_name(name: str, known=REGISTRY) -> str:
    """``name`` when it is a known sound; otherwise an InputError listing the known names."""
    if name not in known:
        raise InputError(f"unknown sound {name!r}, expected one of {', '.join(known)}")
    return name


def backend_class(name: str) -> type:
    """The class registered as ``name`` (imported on first use)."""
    module, _, attribute = REGISTRY[check_name(name)].partition(":")
    return getattr(importlib.import_module(module), attribute)


def settings_config(config_class: type[T], settings: dict | None, owner: str) -> T:
    """``config_class`` built from ``settings`` (a JSON object of its fields; None: the defaults); InputError
    naming ``owner`` for a field it does not have or a value it refuses."""
    settings = settings or {}
    if unknown := set(settings) - {f.name for f in fields(config_class)}:
        raise InputError(f"{owner} settings: unknown {', '.join(sorted(unknown))}")
    try:
        return config_class(**settings)
    except (TypeError, ValueError) as error:
        raise InputError(f"{owner} settings: {error}") from None
