"""The drawing's two sounds: each renders a ``DrawPlan`` into one ``Layer`` (44.1 kHz stereo, cues per stroke).

* ``sampler``: the music sampler (``bd2music.music.instruments``) plays each event's notes on an instrument
  chosen by the stroke's colour: among the bank's sustained instruments that reach the notes, the one whose
  brightness rank at the notes' register (``bd2music.backends.music.instrument_brightness``: the spectral
  centroids of the instruments playing one pitch, ranked) is nearest the brightness reading.
* ``bank``: each event plays the nearest real clip of the sound bank (``bd2music.bank``): the clips are scored
  by how far their pitch (``bd2music.draw.bank_pitch``) lies from the event's, in octaves (``pitch_weight``),
  and by the distance of their spectral centroid and loudness from the quantiles, at the brightness and loudness
  readings, of the clips that have a pitch (voiced in at least ``min_voiced`` of their frames; in bank standard
  deviations, ``descriptor_weight``), and a clip voiced for ``voiced_seconds`` or more gains ``voiced_weight``
  (less in proportion: long clear pitches first); only the clips with a pitch play when the bank has any. The
  clip's voiced run is played as an instrument of its own, retuned to the event's notes
  (``InstrumentBank.add_found``), looped while a note is held when it lasts ``loop_from`` or more.

Both tilt each event's spectrum by its brightness (``DrawPlanConfig.tilt_db``, shelves around ``pivot_hz``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pedalboard

from bd2music.backends.base import Cue, Layer
from bd2music.backends.music import MUSIC_LICENSE, instrument_brightness
from bd2music.bank import RankWeights, SoundBank
from bd2music.draw.bank_pitch import BankPitches
from bd2music.draw.plan import DrawEvent, DrawPlan
from bd2music.errors import InputError
from bd2music.music.instruments import InstrumentBank
from bd2music.music.score import DRUMS, Note, Score

SAMPLE_RATE = 44_100
TAIL_S = 1.5  # the last notes' release may ring this long past the drawing's end
PIVOT_HZ = 1000.0  # the tilt leaves this frequency as it is
RANKED_PITCHES = tuple(range(42, 91, 6))  # the sampler's instruments are ranked by brightness at each of these


def tilt(audio: np.ndarray, amount: float, tilt_db: float, rate: int = SAMPLE_RATE) -> np.ndarray:
    """``audio`` (channels, samples) with its highs raised and lows lowered by ``amount`` (-1..1) x ``tilt_db`` / 2
    each (shelves at ``PIVOT_HZ``)."""
    gain = float(amount) * tilt_db / 2
    board = pedalboard.Pedalboard([pedalboard.LowShelfFilter(cutoff_frequency_hz=PIVOT_HZ, gain_db=-gain),
                                   pedalboard.HighShelfFilter(cutoff_frequency_hz=PIVOT_HZ, gain_db=gain)])
    return board(np.ascontiguousarray(audio, dtype=np.float32), rate)


def _trigger(event: DrawEvent) -> str:
    return (f"stroke {event.stroke + 1} (height {event.height:.2f}, loudness {event.loudness:.2f}, "
            f"brightness {event.brightness:.2f})")


def _notes(event: DrawEvent, instrument: str) -> list[Note]:
    return [Note(start, duration, pitch, event.velocity, instrument) for start, duration, pitch in event.notes]


def _mix(parts: list[np.ndarray], seconds: float) -> np.ndarray:
    out = np.zeros((2, round((seconds + TAIL_S) * SAMPLE_RATE)), np.float32)
    for part in parts:
        n = min(out.shape[1], part.shape[1])
        out[:, :n] += part[:, :n]
    return out


@dataclass
class SamplerSound:
    """Notes on the instrument bank, an instrument per stroke by its colour."""

    instruments: InstrumentBank
    name: ClassVar[str] = "sampler"

    def __post_init__(self) -> None:
        sustained = [n for n in self.instruments.names if self.instruments.info(n)["sustained"] and n != DRUMS]
        self.ranks = {pitch: instrument_brightness(self.instruments, 22_050, pitch, sustained)
                      for pitch in RANKED_PITCHES}

    def instrument(self, event: DrawEvent) -> str:
        """Among the sustained instruments that reach the event's notes, the one whose brightness rank at the
        event's register (the nearest of ``RANKED_PITCHES``) is nearest its brightness reading."""
        pitches = [pitch for _, _, pitch in event.notes]
        ranks = self.ranks[min(RANKED_PITCHES, key=lambda p: abs(p - np.mean(pitches)))]
        infos = {n: self.instruments.info(n) for n in ranks}
        reach = [n for n in ranks if infos[n]["low"] <= min(pitches) and max(pitches) <= infos[n]["high"]]
        return min(reach or list(ranks), key=lambda n: (abs(ranks[n] - event.brightness), n))

    def render(self, plan: DrawPlan) -> Layer:
        parts, cues, notes, programs = [], [], [], {}
        for event in plan.events:
            name = self.instrument(event)
            played = _notes(event, name)
            audio = self.instruments.render(played, SAMPLE_RATE, plan.seconds + TAIL_S)
            parts.append(tilt(audio, event.tilt, plan.config.tilt_db))
            notes += played
            programs[name] = self.instruments.info(name)["program"]
            cues.append(Cue(self.name, event.start, event.end, f"instrument: {name}", MUSIC_LICENSE,
                            "S. Christian Collins et al. (MuseScore General)", "MuseScore_General_Lite.sf3",
                            _trigger(event)))
        score = Score(sorted(notes, key=lambda n: (n.start, n.pitch)), [(0.0, 120.0)], "drawn", "drawing",
                      [], programs)
        return Layer(self.name, _mix(parts, plan.seconds), SAMPLE_RATE, cues, score=score)


@dataclass
class BankSound:
    """The nearest real clip per stroke, retuned to its notes."""

    bank: SoundBank
    pitches: BankPitches
    pitch_weight: float = 1.0  # score lost per octave between the clip's pitch and the event's
    descriptor_weight: float = 1.0  # per bank standard deviation of centroid and loudness distance
    min_voiced: float = 0.6  # a clip voiced in fewer of its frames has no pitch
    voiced_weight: float = 1.0  # score gained by a clip whose voiced run lasts ``voiced_seconds`` (less: in proportion)
    voiced_seconds: float = 1.5
    loop_from: float = 0.3  # s: a clip's voiced run at least this long is looped while a note is held
    name: ClassVar[str] = "bank"

    def __post_init__(self) -> None:
        names = self.bank.descriptor_names
        self.centroids = self.bank.descriptors[:, names.index("spectral_centroid_mean")].numpy()
        self.loudness = self.bank.descriptors[:, names.index("loudness_lufs")].numpy()
        self.pitched = (self.pitches.voiced >= self.min_voiced) & np.isfinite(self.pitches.pitch)
        self.candidates = np.flatnonzero(self.pitched) if self.pitched.any() else np.arange(len(self.bank))
        self.clarity = np.minimum((self.pitches.end - self.pitches.start) / self.voiced_seconds, 1.0)

    def choose(self, event: DrawEvent) -> int:
        """The clip that plays ``event``."""
        target = {"spectral_centroid_mean": float(np.quantile(self.centroids[self.candidates], event.brightness)),
                  "loudness_lufs": float(np.quantile(self.loudness[self.candidates], event.loudness))}
        score = self.bank.scores(descriptors=target, weights=RankWeights(0.0, 0.0, self.descriptor_weight)).numpy()
        octaves = np.abs(np.nan_to_num(self.pitches.pitch, nan=1e3) - event.pitch) / 12
        score += self.voiced_weight * self.clarity - self.pitch_weight * np.where(self.pitched, octaves, 0.0)
        return int(self.candidates[np.argmax(score[self.candidates])])

    def render(self, plan: DrawPlan) -> Layer:
        players = InstrumentBank({}, velocity_exponent=2.0)  # this drawing's clips, each an instrument
        parts, cues = [], []
        for event in plan.events:
            clip = self.choose(event)
            info = self.bank.clips[clip]
            name = f"clip {clip}"
            if name not in players.instruments:
                audio = np.asarray(self.bank.audio(clip))
                root = event.pitch
                if self.pitched[clip]:  # its voiced run, at its pitch
                    root = self.pitches.pitch[clip]
                    rate = self.bank.sample_rate
                    audio = audio[round(self.pitches.start[clip] * rate):round(self.pitches.end[clip] * rate)]
                try:
                    players.add_found(name, audio, self.bank.sample_rate, float(root),
                                      sustained=len(audio) >= self.loop_from * self.bank.sample_rate)
                except InputError:  # too short or too irregular to loop: played once per note
                    players.add_found(name, audio, self.bank.sample_rate, float(root))
            rendered = players.render(_notes(event, name), SAMPLE_RATE, plan.seconds + TAIL_S)
            parts.append(tilt(rendered, event.tilt, plan.config.tilt_db))
            cues.append(Cue(self.name, event.start, event.end, info.id, info.license, info.author, info.source,
                            _trigger(event)))
        return Layer(self.name, _mix(parts, plan.seconds), SAMPLE_RATE, cues)


def loaded(name: str, components: dict) -> SamplerSound | BankSound:
    """The sound ``name`` built from ``components`` ("instruments", "bank" folders, "pitches" table)."""
    if name == SamplerSound.name:
        return SamplerSound(InstrumentBank.load(components["instruments"]))
    bank = SoundBank.load(components["bank"])
    return BankSound(bank, BankPitches.for_bank(bank, components.get("pitches")))


SOUNDS = (SamplerSound.name, BankSound.name)
