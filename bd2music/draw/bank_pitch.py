"""The pitch of each clip of a sound bank, which the drawing's bank sound matches strokes against.

``clip_pitch`` runs pYIN (librosa) on the first ``PITCH_SECONDS`` of a clip at the bank's rate, on half-semitone
bins: the share of frames that are voiced (a pitched clip: a note, a bird, a voice, a hum; a noise has none),
the longest run of voiced frames where the clip holds its pitch (gaps of up to ``GAP_FRAMES``, steps of up to
``STEADY_SEMITONES`` from frame to frame: a siren's sweep is many runs), and the median f0 of that run as a
MIDI pitch. ``BankPitches.for_bank`` reads the table ``bd2music train draw`` ships
(``weights/draw/bank_pitches.json``, clip id -> [pitch, voiced share, run start s, run end s]) and measures the
clips it lacks (another bank given with ``--bank``) once, when the bank is first used.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import librosa
import numpy as np

from bd2music.bank import SoundBank

PITCH_SECONDS = 4.0  # of each clip
F0_RANGE = (50.0, 2000.0)  # Hz searched
TABLE = "bank_pitches.json"  # beside the drawing reader's weights
HOP = 1024  # pYIN hop, samples
GAP_FRAMES = 2  # unvoiced frames a voiced run may hold
STEADY_SEMITONES = 1.0  # a run ends where the pitch moves more than this from one voiced frame to the next
UNPITCHED = (float("nan"), 0.0, 0.0, 0.0)


def clip_pitch(audio: np.ndarray, sample_rate: int) -> tuple[float, float, float, float]:
    """(MIDI pitch of the longest voiced run, NaN when nothing is voiced; voiced share of the frames; the run's
    start and end in seconds)."""
    audio = np.asarray(audio, dtype=np.float32)[: round(PITCH_SECONDS * sample_rate)]
    if len(audio) < 2048 or not np.abs(audio).max() > 0:
        return UNPITCHED
    f0, voiced, _ = librosa.pyin(audio, fmin=F0_RANGE[0], fmax=F0_RANGE[1], sr=sample_rate, frame_length=2048,
                                 hop_length=HOP, resolution=0.5)
    if not voiced.any():
        return UNPITCHED
    frames = np.flatnonzero(voiced)
    pitches = librosa.hz_to_midi(f0[frames])
    breaks = np.flatnonzero((np.diff(frames) > GAP_FRAMES + 1) | (np.abs(np.diff(pitches)) > STEADY_SEMITONES))
    runs = np.split(frames, breaks + 1)
    run = max(runs, key=lambda r: (r[-1] - r[0], -r[0]))
    inside = run[0] + np.flatnonzero(voiced[run[0]:run[-1] + 1])
    start, end = (run[0] - 0.5) * HOP / sample_rate, (run[-1] + 0.5) * HOP / sample_rate
    return (float(librosa.hz_to_midi(np.median(f0[inside]))), float(voiced.mean()), max(0.0, start),
            min(len(audio) / sample_rate, end))


@dataclass
class BankPitches:
    """Per clip of a bank, in its order: pitch (MIDI, NaN: unpitched), voiced share, and the voiced run (s)."""

    pitch: np.ndarray
    voiced: np.ndarray
    start: np.ndarray
    end: np.ndarray

    @classmethod
    def for_bank(cls, bank: SoundBank, table: str | Path | None = None) -> BankPitches:
        """The table's values for the clips it holds; the others measured now."""
        known = json.loads(Path(table).read_text()) if table is not None and Path(table).is_file() else {}
        missing = [i for i, clip in enumerate(bank.clips) if clip.id not in known]
        if missing:
            warnings.warn(f"measuring the pitch of {len(missing)} sound-bank clips (once)", stacklevel=2)
        measured = {bank.clips[i].id: clip_pitch(bank.audio(i), bank.sample_rate) for i in missing}
        values = np.array([known.get(c.id) or measured[c.id] for c in bank.clips], dtype=np.float64).reshape(-1, 4)
        return cls(*values.T)

    @staticmethod
    def write(bank: SoundBank, path: str | Path) -> dict[str, list[float | None]]:
        """Measure every clip of ``bank`` and write the table to ``path``."""
        from tqdm import tqdm

        table = {}
        for i, clip in enumerate(tqdm(bank.clips, desc="bank pitches", unit="clip")):
            pitch, voiced, start, end = clip_pitch(bank.audio(i), bank.sample_rate)
            table[clip.id] = [None if np.isnan(pitch) else round(pitch, 3), round(voiced, 3), round(start, 3),
                              round(end, 3)]
        Path(path).write_text(json.dumps(table, indent=0) + "\n")
        return table
