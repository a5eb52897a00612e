"""The instrument bank and the sampler that plays a score with it.

``InstrumentBank.load(folder)`` reads ``weights/instruments`` (``samples.safetensors`` + ``config.json``, built by
``bd2music instruments build`` from a General MIDI SoundFont; TinySoundFont is not needed here).
``bank.render(notes)`` mixes ``bd2music.music.score.Note`` s into 44.1 kHz stereo: for each note the nearest root
and velocity layer, pitch by resampling (cached per sample, pitch and rate), the loop repeated while a sustained
note is held, the release envelope, the velocity curve of the bank, constant-power panning; optionally a detuned
double of each sustained note (``double_cents``: a second player a few cents off and a few ms late, as in a
section, which fills between the partials without touching the attacks of the plucked and struck instruments).
Drums play a GM key's hit whole; a closed or pedal hi-hat cuts an open one. ``bank.add_found`` registers a
pitched clip (a sound of the scene) as one more instrument.

    bank = InstrumentBank.load()
    audio = bank.render([Note(0.0, 1.0, 60, 100, "cello")], seconds=2.0)  # (2, 88200) float32
"""

from __future__ import annotations

import json
import math
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from numbers import Integral, Real
from pathlib import Path

import numpy as np

from bd2music.errors import InputError
from bd2music.hub import INSTRUMENT_FILES, WEIGHTS_DIR
from bd2music.music.loops import attack_end, find_loop
from bd2music.music.sampler import Pitched, Sample, pan_gains, pitched, release_curve, voice
from bd2music.music.score import Note, is_kit

DEFAULT_FOLDER = WEIGHTS_DIR / "instruments"


@dataclass
class SamplerConfig:
    """How the sampler plays (not stored with the bank)."""

    attack: float = 0.002  # s: every note fades in over this, so that no sample starts with a click
    choke_fade: float = 0.03  # s: an open hi-hat cut by a closed or pedal one fades out over this
    found_peak: float = 0.25  # peak of a found sound at velocity 127
    found_loop: tuple[float, float] = (0.1, 1.0)  # s: shortest and longest loop of a sustained found sound
    cache_mb: float = 128.0  # resampled samples kept, per (sample, pitch, rate), least recently used dropped
    quality: str = "MQ"  # soxr quality: MQ keeps 16 bits, all that the int16 samples hold
    double_cents: float = 0.0  # each sustained note doubled by a second voice this many cents sharp (0: none)...
    double_ms: float = 15.0  # ...starting this much later...
    double_db: float = -4.0  # ...and this much quieter


@dataclass
class Instrument:
    """An instrument of the bank: its config entry (without its samples) and its samples."""

    info: dict
    samples: list[Sample]

    def pick(self, pitch: int, velocity: int) -> Sample:
        """The sample of the nearest root (the lower one on a tie), then of the nearest layer velocity."""
        root = min({sample.root for sample in self.samples}, key=lambda root: (abs(root - pitch), root))
        return min((s for s in self.samples if s.root == root), key=lambda s: abs(s.velocity - velocity))


class InstrumentBank:
    """Instruments by name (``names``, ``info``) and the sampler that plays notes with them (``render``)."""

    def __init__(self, instruments: dict[str, Instrument], velocity_exponent: float,
                 config: SamplerConfig = SamplerConfig()):
        self.instruments = instruments
        self.velocity_exponent = velocity_exponent
        self.config = config
        self._cache: OrderedDict[tuple, Pitched] = OrderedDict()
        self._cached_bytes = 0
        self._cache_lock = threading.Lock()  # the app may render two pages at once
        self._curves: dict[tuple[int, bool], np.ndarray] = {}  # attack ramps and release curves by length

    @classmethod
    def load(cls, folder: str | Path | None = None, config: SamplerConfig = SamplerConfig()) -> InstrumentBank:
        """The bank in ``folder`` (default ``weights/instruments``); a missing or corrupt one is an InputError."""
        folder = Path(folder) if folder is not None else DEFAULT_FOLDER
        if not all((folder / name).is_file() for name in INSTRUMENT_FILES):
            raise InputError(f"no instrument bank in {folder} (config.json + samples.safetensors): "
                             "build it with `bd2music instruments build`")
        from safetensors.numpy import load_file

        try:
            settings = json.loads((folder / "config.json").read_text())
            tensors = load_file(str(folder / "samples.safetensors"))
            rate = int(settings["sample_rate"])
            instruments = {}
            for name, entry in settings["instruments"].items():
                samples = [Sample(s["key"], _int16(tensors[s["key"]], s["key"]), rate, s["root"], s["velocity"],
                                  float(s["gain"]), tuple(s["loop"]) if s["loop"] else None,
                                  float(s.get("loop_gain", 1.0))) for s in entry["samples"]]
                if not samples:
                    raise ValueError(f"{name} has no samples")
                instruments[name] = Instrument({k: v for k, v in entry.items() if k != "samples"}, samples)
            exponent = float(settings["velocity_exponent"])
        except Exception as error:  # unreadable JSON or tensors, a missing key or sample
            reason = f"no {error}" if isinstance(error, KeyError) else \
                (str(error).splitlines() or [type(error).__name__])[0]
            raise InputError(f"instrument bank {folder} is corrupt: {reason}") from None
        return cls(instruments, exponent, config)

    @property
    def names(self) -> list[str]:
        """The instrument names, sorted (found sounds included)."""
        return sorted(self.instruments)

    def info(self, name: str) -> dict:
        """The config entry of ``name``: program, family, description, low, high, sustained, role, release..."""
        return dict(self._instrument(name).info)

    def add_found(self, name: str, audio: np.ndarray, sample_rate: int, root_pitch: float, sustained: bool = False,
                  release: float = 0.1) -> None:
        """Register a pitched clip (mono, or channels first) as instrument ``name`` sounding at ``root_pitch``
        (MIDI, may be fractional); ``sustained`` clips get a loop and last as long as a note is held."""
        if not isinstance(name, str) or not name or name in self.instruments:
            raise InputError(f"found sound name {name!r}: give a new, non-empty name (taken: {', '.join(self.names)})")
        audio = np.asarray(audio, dtype=np.float32)
        if audio.ndim == 2:
            audio = audio.mean(axis=int(np.argmin(audio.shape)))
        if not isinstance(sample_rate, Integral) or sample_rate <= 0:
            raise InputError(f"found sound {name}: sample rate must be a positive whole number, got {sample_rate!r}")
        if audio.ndim != 1 or len(audio) < sample_rate // 100 or not np.isfinite(audio).all() \
                or not np.abs(audio).max() > 0:
            raise InputError(f"found sound {name}: needs at least 10 ms of finite, non-silent mono or stereo audio")
        if not isinstance(root_pitch, Real) or not 0 <= root_pitch <= 127:
            raise InputError(f"found sound {name}: root pitch must be a MIDI pitch 0-127, got {root_pitch!r}")
        loop = None
        if sustained:
            shortest, longest = self.config.found_loop
            steady = attack_end(audio, sample_rate) / sample_rate
            try:
                audio, found = find_loop(audio, sample_rate, steady, shortest,
                                         min(longest, (len(audio) / sample_rate - steady) / 2))
            except ValueError as error:
                raise InputError(f"found sound {name}: too short to loop ({error})") from None
            loop = (found.start, found.end)
        peak = float(np.abs(audio).max())
        scaled = np.round(audio / peak * 32767).astype(np.int16)
        sample = Sample(f"{name}/found", scaled, sample_rate, float(root_pitch), 127,
                        self.config.found_peak / 32767, loop)
        info = {"family": "found", "description": f"found sound: {name}", "low": max(0, round(root_pitch) - 12),
                "high": min(127, round(root_pitch) + 12), "sustained": bool(sustained), "role": "melody",
                "release": float(release), "found": True}
        self.instruments[name] = Instrument(info, [sample])

    def render(self, notes: Iterable[Note], sample_rate: int = 44_100, seconds: float | None = None) -> np.ndarray:
        """All ``notes`` mixed, (2, n) float32 at ``sample_rate``; ``seconds`` fixes the length (notes cut
        there), else it ends with the last release."""
        if not isinstance(sample_rate, Integral) or sample_rate <= 0:
            raise InputError(f"sample rate must be a positive whole number, got {sample_rate!r}")
        notes = sorted((self._checked(note) for note in notes), key=_order)  # the mix is the same in any order
        chokes = self._chokes(notes)
        voices = [(note, self._voice(note, sample_rate, chokes.get(index))) for index, note in enumerate(notes)]
        voices += self._doubles(notes, sample_rate)
        length = max((round(note.start * sample_rate) + len(v) for note, v in voices), default=0)
        if seconds is not None:
            if not isinstance(seconds, Real) or not 0 <= seconds < math.inf:
                raise InputError(f"seconds must be a non-negative number, got {seconds!r}")
            length = round(seconds * sample_rate)
        out = np.zeros((2, length), dtype=np.float32)
        for pan in sorted({note.pan for note in notes}):  # each position's voices mixed in mono, then panned
            group = [(round(note.start * sample_rate), sound) for note, sound in voices if note.pan == pan]
            first = min(start for start, _ in group)
            bus = np.zeros(max(0, min(length, max(start + len(sound) for start, sound in group)) - first), np.float32)
            for start, sound in group:
                part = sound[: max(0, len(bus) + first - start)]
                bus[start - first:start - first + len(part)] += part
            for channel, pan_gain in enumerate(pan_gains(pan)):
                out[channel, first:first + len(bus)] += np.float32(pan_gain) * bus
        return out

    def _doubles(self, notes: list[Note], rate: int) -> list[tuple[Note, np.ndarray]]:
        """The detuned doubles of the sustained notes (``double_cents``; none when 0): (the note moved
        ``double_ms`` later, its voice ``double_cents`` sharp and ``double_db`` quieter)."""
        config = self.config
        if not config.double_cents:
            return []
        late, gain = config.double_ms / 1000, 10 ** (config.double_db / 20)
        return [(replace(note, start=note.start + late), self._voice(note, rate, None, config.double_cents, gain))
                for note in notes if not is_kit(note.instrument) and self.instruments[note.instrument].info.get(
                    "sustained") and not self.instruments[note.instrument].info.get("found")]

    def _voice(self, note: Note, rate: int, choke: float | None, cents: float = 0.0, level: float = 1.0,
               ) -> np.ndarray:
        """The note's mono audio at ``rate``, velocity gain applied; ``choke``: seconds after which a drum hit
        is cut; ``cents``: the pitch moved this much; ``level``: a further gain."""
        instrument = self.instruments[note.instrument]
        sample = instrument.pick(note.pitch, note.velocity)
        attack = self._curve(round(self.config.attack * rate), rising=True)
        gain = level * (note.velocity / sample.velocity) ** self.velocity_exponent
        if is_kit(note.instrument) and choke is None:
            return voice(self._pitched(sample, sample.root, rate), 0, self._curve(0), attack, gain, True)
        if is_kit(note.instrument):
            held, release = round(choke * rate), self._curve(round(self.config.choke_fade * rate))
        else:
            held, release = round(note.duration * rate), self._curve(round(instrument.info["release"] * rate))
        return voice(self._pitched(sample, note.pitch + cents / 100, rate), held, release, attack, gain)

    def _curve(self, length: int, rising: bool = False) -> np.ndarray:
        """The attack ramp or the release curve of ``length`` samples (made once)."""
        if (length, rising) not in self._curves:
            self._curves[length, rising] = np.linspace(0, 1, length, endpoint=False, dtype=np.float32) if rising \
                else release_curve(length)
        return self._curves[length, rising]

    def _chokes(self, notes: list[Note]) -> dict[int, float]:
        """For the drum hits of a choke group (hi-hats): index in ``notes`` (sorted by start) -> seconds until
        the group's next hit."""
        chokes, following = {}, {}
        for index in reversed(range(len(notes))):
            note = notes[index]
            if not is_kit(note.instrument):
                continue
            for number, group in enumerate(self.instruments[note.instrument].info.get("choke", [])):
                if note.pitch in group:  # a group is one kit's: a kit's hi-hat never cuts another kit's
                    if following.get((note.instrument, number), note.start) > note.start:
                        chokes[index] = following[note.instrument, number] - note.start
                    following[note.instrument, number] = note.start
        return chokes

    def _pitched(self, sample: Sample, pitch: float, rate: int) -> Pitched:
        key = (sample.key, pitch, rate)
        with self._cache_lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
            sound = self._cache[key] = pitched(sample, pitch, rate, self.config.quality)
            self._cached_bytes += sound.nbytes
            while self._cached_bytes > self.config.cache_mb * 1e6 and len(self._cache) > 1:
                self._cached_bytes -= self._cache.popitem(last=False)[1].nbytes
            return sound

    def _instrument(self, name: str) -> Instrument:
        if name not in self.instruments:
            raise InputError(f"unknown instrument {name!r} (the bank has: {', '.join(self.names)})")
        return self.instruments[name]

    def _checked(self, note: Note) -> Note:
        """``note`` if the sampler can play it, else an InputError naming what is wrong."""
        if not isinstance(note, Note):
            raise InputError(f"expected a Note, got {type(note).__name__}")
        instrument = self._instrument(note.instrument)
        if not isinstance(note.pitch, Integral) or not 0 <= note.pitch <= 127:
            raise InputError(f"{note.instrument} note: pitch must be a MIDI note 0-127, got {note.pitch!r}")
        if is_kit(note.instrument) and str(note.pitch) not in instrument.info["keys"]:
            raise InputError(f"{note.instrument}: no GM key {note.pitch} in the bank "
                             f"(keys: {', '.join(instrument.info['keys'])})")
        if not isinstance(note.velocity, Integral) or not 1 <= note.velocity <= 127:
            raise InputError(f"{note.instrument} note: velocity must be 1-127, got {note.velocity!r}")
        if not all(isinstance(x, Real) and 0 <= x < math.inf for x in (note.start, note.duration)):
            raise InputError(f"{note.instrument} note: start and duration must be non-negative seconds, "
                             f"got {note.start!r} and {note.duration!r}")
        if not isinstance(note.pan, Real) or not -1 <= note.pan <= 1:
            raise InputError(f"{note.instrument} note: pan must be -1..1, got {note.pan!r}")
        return note


def _order(note: Note) -> tuple:
    return note.start, note.instrument, note.pitch, note.velocity, note.duration, note.pan


def _int16(tensor: np.ndarray, key: str) -> np.ndarray:
    if tensor.dtype != np.int16 or tensor.ndim != 1 or not len(tensor):
        raise ValueError(f"sample {key} is not int16 mono audio")
    return tensor
