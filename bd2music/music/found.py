"""Found sounds: a pitched clip of the scene joins the band (WAVE's second phase: the image's objects become
instruments).

The scene's bank clips that best match a segment are its sound sources (``MusicBackend.source_clips``). Among
them, a clip that holds a clear pitch (a bird, a bell, a voice, a horn; measured once per bank clip by
``bd2music.draw.bank_pitch`` into the shipped table: voiced share and the longest steady voiced run) becomes an
instrument of the sampler: its voiced run, rooted at its own pitch, played at the melody's pitches on the
strongest beats of the sections whose sources hold it. One found sound per page: the pitched clip that the most
segments rank among their sources (the better rank on a tie). Clips of the bank's ``music`` category are tracks,
not single sources, and never join.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bd2music.bank import SoundBank
from bd2music.music.instruments import InstrumentBank

FOUND_PROGRAMS = {  # the General MIDI program that stands for a found sound in the MIDI file, by bank category
    "animal": 123,  # Bird Tweet
    "human": 53,  # Voice Oohs
    "foley": 115,  # Woodblock
}  # machines (engines, saws) and ambiences (whole places, not one source) do not join


@dataclass
class FoundConfig:
    """Which clips join and how loud they play (``weights/pipeline.json``, settings "music", "found"); which
    notes they play is the performer's ``found_accent``."""

    enabled: bool = True  # False: the band plays alone
    min_voiced: float = 0.6  # a clip voiced in at least this share of its frames holds a clear pitch...
    min_run_s: float = 0.15  # ...over a voiced run at least this long
    velocity_exponent: float = 2.0  # velocity -> gain of the found sound
    level_db: float = -10.0  # the found sound's RMS at most this far above (-: below) the band's over the track


@dataclass(frozen=True)
class Found:
    """The page's found sound: its bank clip, its instrument name, and the sections it plays in."""

    clip: int
    name: str
    sections: frozenset[int]


class FoundSounds:
    """The pitched clips of a bank (from its pitch table) and the instruments made of them."""

    def __init__(self, bank: SoundBank, table: dict[str, list], config: FoundConfig = FoundConfig()) -> None:
        self.bank, self.config = bank, config
        self.runs: dict[int, tuple[float, float, float]] = {}  # clip -> (MIDI pitch, run start s, run end s)
        for index, clip in enumerate(bank.clips):
            pitch, voiced, start, end = table.get(clip.id) or (None, 0.0, 0.0, 0.0)
            if pitch is not None and clip.category in FOUND_PROGRAMS and voiced >= config.min_voiced \
                    and end - start >= config.min_run_s:
                self.runs[index] = (float(pitch), float(start), float(end))

    @classmethod
    def load(cls, bank: SoundBank | None, table: str | Path | None, config: FoundConfig = FoundConfig()):
        """The found sounds of ``bank`` from its pitch table (None: no bank or no table; clips the table does not
        hold never join: measuring them would take minutes)."""
        if bank is None or table is None or not Path(table).is_file():
            return None
        try:
            return cls(bank, json.loads(Path(table).read_text()), config)
        except (ValueError, TypeError):  # a corrupt table: no found sounds, the music plays on
            return None

    def choose(self, ranked: list[list[int]]) -> Found | None:
        """The page's found sound from each segment's ranked source clips, or None when none is pitched."""
        votes: dict[int, tuple[int, int]] = {}  # clip -> (segments holding it, -best rank)
        for clips in ranked:
            for rank, clip in enumerate(clips):
                if clip in self.runs:
                    count, best = votes.get(clip, (0, -rank))
                    votes[clip] = (count + 1, max(best, -rank))
        if not votes:
            return None
        clip = max(votes, key=lambda c: (votes[c], -c))
        label = self.bank.clips[clip].label or self.bank.clips[clip].category
        return Found(clip, f"found: {label} ({clip})", frozenset(k for k, clips in enumerate(ranked) if clip in clips))

    def players(self, found: Found) -> tuple[InstrumentBank, tuple[int, int, bool], int]:
        """A sampler holding the found sound alone, its (lowest, highest, sustained) range, its GM program."""
        pitch, start, end = self.runs[found.clip]
        rate = self.bank.sample_rate
        audio = np.asarray(self.bank.audio(found.clip))[round(start * rate):round(end * rate)]
        players = InstrumentBank({}, self.config.velocity_exponent)
        players.add_found(found.name, audio, rate, pitch)
        info = players.info(found.name)
        return players, (info["low"], info["high"], False), FOUND_PROGRAMS[self.bank.clips[found.clip].category]


def mix_found(band: np.ndarray, found: np.ndarray, level_db: float) -> np.ndarray:
    """``band`` plus ``found``, the found sound turned down where it would stand above ``level_db`` relative to
    the band (RMS over the whole track): an ornament, never a lead."""
    band_rms, found_rms = float(np.sqrt(np.mean(band**2))), float(np.sqrt(np.mean(found**2)))
    if found_rms == 0.0:
        return band
    gain = min(1.0, 10 ** (level_db / 20) * band_rms / found_rms) if band_rms > 0 else 1.0
    return band + np.float32(gain) * found
