"""Sound backends by name: each renders a ``bd2music.plan.Plan`` into layers (``base.Layer``).

A new backend is one module here with a class that has ``name``, ``from_components(components)`` and
``render(plan, seed, progress)``, plus one entry in ``REGISTRY``; the pipeline, the CLI and the app find it
by name. Modules are imported only when their backend is first used.
"""

from __future__ import annotations

import importlib

from bd2music.backends.base import Backend, Cue, Layer, Progress
from bd2music.errors import InputError

REGISTRY = {  # name -> "module:Class"
    "neural": "bd2music.backends.neural:NeuralBackend",
    "scene": "bd2music.backends.scene:SceneBackend",
}

__all__ = ["REGISTRY", "Backend", "Cue", "Layer", "Progress", "backend_class", "check_name"]


def check_name(name: str, known=REGISTRY) -> str:
    """``name`` when it is a known sound; otherwise an InputError listing the known names."""
    if name not in known:
        raise InputError(f"unknown sound {name!r}, expected one of {', '.join(known)}")
    return name


def backend_class(name: str) -> type:
    """The class registered as ``name`` (imported on first use)."""
    module, _, attribute = REGISTRY[check_name(name)].partition(":")
    return getattr(importlib.import_module(module), attribute)
