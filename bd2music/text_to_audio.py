"""Text to sound: the sound a prompt describes, sampled by the ``diffusion`` backend and mastered
(``Pipeline.text_to_audio``), with what went into it."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

import numpy as np

from bd2music.audio.mel import track_mel
from bd2music.backends.base import Layer
from bd2music.master import LUFS_RANGE, Mastered

TEXT_LUFS = sum(LUFS_RANGE) / 2  # the loudness a prompt's sound is mastered to
CONDITION = "condition: nearest the prompt"  # the trigger of a clip whose audio embedding conditioned a sound


def slug(text: str, limit: int = 48) -> str:
    """A file-name stem for ``text``: lower-case words joined by dashes."""
    return "-".join(re.findall(r"[a-z0-9]+", text.lower()))[:limit].strip("-") or "sound"


@dataclass
class TextToAudioResult:
    """A prompt's sound (44.1 kHz stereo, mastered) and its settings."""

    prompt: str
    mastered: Mastered
    layers: list[Layer]
    settings: dict  # seconds, seed, steps, guidance, scheduler, prompt_clips, vocoder, device, weights
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage (not part of to_dict)

    @property
    def audio(self) -> np.ndarray:
        return self.mastered.audio

    @property
    def sounds_like(self) -> list[str]:
        """The labels of the clips the sound was conditioned on (nearest the prompt first, each once)."""
        return list(dict.fromkeys(cue.label for layer in self.layers for cue in layer.cues if cue.trigger == CONDITION))

    @property
    def score(self) -> None:
        """No notes are played (a page's Result has the score of its music layer here)."""
        return None

    @property
    def sample_rate(self) -> int:
        return self.mastered.sample_rate

    @property
    def duration(self) -> float:
        return self.audio.shape[-1] / self.sample_rate

    @functools.cached_property
    def mel(self) -> np.ndarray:
        """(n_mels, frames) log-mel of the mix, for display."""
        return track_mel(self.audio, self.sample_rate)

    def to_dict(self) -> dict:
        cues = [cue.to_dict() for layer in self.layers for cue in layer.cues]
        return {"prompt": self.prompt, "settings": self.settings, "cues": cues, "sample_rate": self.sample_rate,
                "loudness_lufs": round(self.mastered.lufs, 2), "true_peak_dbtp": round(self.mastered.true_peak_db, 2),
                "duration": round(self.duration, 4)}
