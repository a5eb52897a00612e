"""Weights as Hub-style folders: ``config.json`` (a dataclass config) + ``model.safetensors``, loaded strictly.

The shape of huggingface_hub's ``PyTorchModelHubMixin`` and diffusers' ``ModelMixin``, kept small::

    model.save_pretrained("weights/vocoder")                       # config.json + model.safetensors
    Vocoder.from_pretrained()                                      # the repo's weights/vocoder
    Vocoder.from_pretrained("owner/bd2music", revision="<40-hex>")  # its vocoder/ subfolder on the Hub

A model class sets ``component`` (its folder name) and ``config_class`` (a dataclass; nested dataclasses and
tuples round-trip through JSON) and takes the config as its only constructor argument. Only safetensors are
written or read (no pickles), and every tensor of the state dict must be present and used.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import torch
from safetensors.torch import save_file

from bd2music.errors import InputError
from bd2music.hub import read_weights, resolve_component

T = TypeVar("T")
M = TypeVar("M", bound="PretrainedMixin")


def config_to_dict(config: Any) -> dict[str, Any]:
    """A dataclass config as JSON-able data (tuples become lists)."""
    return json.loads(json.dumps(dataclasses.asdict(config)))


def config_from_dict(cls: type[T], data: dict[str, Any], what: str = "config") -> T:
    """Rebuild dataclass ``cls`` from ``data``: nested dataclasses and tuples restored, unknown keys refused."""
    if not isinstance(data, dict):
        raise InputError(f"{what}: expected a JSON object, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    known = {field.name for field in dataclasses.fields(cls)}
    if unknown := set(data) - known:
        raise InputError(f"{what}: unknown keys {', '.join(sorted(unknown))} (known: {', '.join(sorted(known))})")
    values = {}
    for name, value in data.items():
        hint = hints[name]
        if dataclasses.is_dataclass(hint) and isinstance(value, dict):
            value = config_from_dict(hint, value, f"{what}.{name}")
        elif isinstance(value, list) and typing.get_origin(hint) is tuple:
            inner = typing.get_args(hint)
            value = tuple(
                tuple(v) if isinstance(v, list) and typing.get_origin(inner[0]) is tuple else v for v in value
            )
        values[name] = value
    try:
        return cls(**values)
    except (TypeError, ValueError) as error:
        raise InputError(f"{what}: {error}") from None


def merge_config(config: T, overrides: dict[str, Any], what: str = "config") -> T:
    """``config`` with ``overrides`` applied key by key (nested dataclasses merged, not replaced)."""
    merged = config_to_dict(config)

    def update(base: dict, new: dict) -> None:
        for key, value in new.items():
            if isinstance(value, dict) and isinstance(base.get(key), dict):
                update(base[key], value)
            else:
                base[key] = value

    update(merged, overrides)
    return config_from_dict(type(config), merged, what)


class PretrainedMixin:
    """``save_pretrained`` / ``from_pretrained`` for an ``nn.Module`` built as ``cls(config)``."""

    component: ClassVar[str]  # folder name: weights/<component>/, <component>/ in a Hub repo
    config_class: ClassVar[type]
    config: Any

    def save_pretrained(self, directory: str | Path, dtype: torch.dtype | None = None) -> Path:
        """Write ``config.json`` and ``model.safetensors`` (floats cast to ``dtype`` if given) into ``directory``."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        state = {
            name: (tensor.to(dtype) if dtype is not None and tensor.is_floating_point() else tensor).detach().cpu()
            for name, tensor in self.state_dict().items()  # type: ignore[attr-defined]
        }
        save_file(
            {k: v.contiguous() for k, v in state.items()},
            str(directory / "model.safetensors"),
            metadata={"format": "pt", "model_type": type(self).__name__},
        )
        config = {"model_type": type(self).__name__} | config_to_dict(self.config)
        (directory / "config.json").write_text(json.dumps(config, indent=2) + "\n")
        return directory

    @classmethod
    def from_pretrained(
        cls: type[M],
        path_or_repo: str | Path | None = None,
        revision: str | None = None,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> M:
        """Load from a component folder, a folder holding ``<component>/``, a Hub repo id at ``revision``, or
        None for the repository's ``weights/<component>``; returns the model in eval mode on ``device``."""
        folder = resolve_component(cls.component, path_or_repo, revision)
        data, state = read_weights(folder)
        model_type = data.pop("model_type", cls.__name__)
        if model_type != cls.__name__:
            raise InputError(f"{folder} holds a {model_type}, not a {cls.__name__}")
        model = cls(config_from_dict(cls.config_class, data, f"{folder}/config.json"))  # type: ignore[call-arg]
        try:
            model.load_state_dict(state, strict=True)  # type: ignore[attr-defined]  # casts to the model's dtype
        except RuntimeError as error:
            detail = " ".join(line.strip() for line in str(error).splitlines())
            raise InputError(f"{folder}: weights do not match config.json: {detail[:400]}") from None
        return model.to(device=device, dtype=dtype).eval()  # type: ignore[attr-defined]
