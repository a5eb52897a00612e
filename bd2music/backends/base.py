"""What every sound backend shares: the ``Layer`` it renders, the ``Cue`` of each clip it used, the protocol.

A backend reads a ``bd2music.plan.Plan`` (and only its own assets), renders it with a seed, and returns one or
more layers: audio at the backend's own sample rate, with the cues that say which clip sounds when and why.
Mixing, effects and loudness are the master's job (``bd2music.master``), never a backend's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Protocol

import numpy as np

from bd2music.errors import InputError

if TYPE_CHECKING:
    from bd2music.models.audio_vae import AudioVAE
    from bd2music.music.score import Score
    from bd2music.plan import Plan

Progress = Callable[[float, str], None]


@dataclass
class Cue:
    """One clip (or note source) heard in a layer: where, what, under which licence, and why it was chosen."""

    layer: str  # the layer's name ("scene", "neural", ...)
    start: float  # seconds into the track
    end: float
    clip: str  # the clip's id in its bank (path relative to the bank), or the model that made the sound
    license: str
    author: str
    source: str
    trigger: str  # why: "plan: panel 3", "plan: page", ...
    label: str = ""  # what is heard, in words: the bank clip's label ("rain"), the instrument, the piece

    def to_dict(self) -> dict:
        return asdict(self) | {"start": round(self.start, 3), "end": round(self.end, 3)}


@dataclass
class Layer:
    """Rendered audio of one backend: (channels, samples) float32 at ``sample_rate``, unmastered."""

    name: str
    audio: np.ndarray  # (channels, samples), channels 1 or 2
    sample_rate: int
    cues: list[Cue] = field(default_factory=list)
    role: str = "main"  # "main" or "bed": the master ducks beds under the other layers
    score: Score | None = None  # the notes a music layer played (written as MIDI beside the track)

    def __post_init__(self) -> None:
        self.audio = np.atleast_2d(np.asarray(self.audio, dtype=np.float32))

    @property
    def duration(self) -> float:
        return self.audio.shape[-1] / self.sample_rate


def trigger(panel: int) -> str:
    """A cue's ``trigger`` for a clip chosen for a plan segment (``panel`` -1: the whole page)."""
    return "plan: page" if panel < 0 else f"plan: panel {panel + 1}"


class Backend(Protocol):
    """A sound backend: ``render(plan, seed)`` -> layers. Built by ``from_pretrained(components)``. One that plays
    differently as a bed under another sound's lead defines ``as_bed()`` (the backend as a bed plays; see
    ``bed_of``)."""

    name: ClassVar[str]

    def render(self, plan: Plan, seed: int, progress: Progress | None = None) -> list[Layer]: ...


def bed_of(backend: Backend) -> Backend:
    """``backend`` as it plays under another sound's lead: its ``as_bed()`` if it has one, else itself."""
    as_bed = getattr(backend, "as_bed", None)
    return as_bed() if as_bed is not None else backend


def own_vae(components: dict, name: str) -> tuple[AudioVAE, str]:
    """(the audio VAE a backend decodes with, its folder's name): the one that ``components[name]`` names (a folder,
    when the pipeline names one), else the pipeline's own (the plan's latent space, ``"audio_vae"``)."""
    from bd2music.models.audio_vae import AudioVAE

    shared, folder = components["audio_vae"], components.get(name)
    if folder is None:
        return shared, "audio_vae"
    if not (Path(folder) / "model.safetensors").is_file():
        raise InputError(f"no audio VAE weights for {name} in {folder}")
    return AudioVAE.from_pretrained(Path(folder), device=shared.latent_mean.device).eval(), Path(folder).name
