"""Render the instrument bank from a General MIDI SoundFont (``bd2music instruments build``; build time only).

For each instrument of ``bd2music.music.gm`` the SoundFont (through TinySoundFont, imported here only) plays root
notes every ``root_step`` semitones over its range at each layer velocity: a held note, then its release. The
render is mixed to mono and trimmed to its onset. Sustained instruments keep their attack and a seamless loop
(``bd2music.music.loops``); decaying ones ring out until ``decay_floor_db`` under their peak, a short fade ending
them, and those still ringing after ``decay_max`` end on a loop that the sampler repeats ever quieter, at the decay
rate of their last second, so that a long note goes on decaying. The release after the note-off gives the
instrument's release time, which the sampler applies as its envelope. A layer whose spectrum is the loud layer's (the
preset has no velocity samples, only a gain) is not stored twice. Levels: each layer is scaled to the velocity
curve through its loud layer (``velocity_exponent``), each instrument so that its median level (RMS of a note's
first half second) is the same at the same velocity, and the whole bank so that the loudest note at velocity 127
peaks at ``peak``.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file
from scipy.signal import welch

from bd2music.errors import InputError
from bd2music.hub import file_sha256
from bd2music.io import check_replaceable
from bd2music.models.base import config_to_dict
from bd2music.music.gm import CHOKE_GROUPS, DRUM_KEYS, INSTRUMENTS, InstrumentSpec
from bd2music.music.instrument_card import write_card
from bd2music.music.loops import attack_end, decay_rate, find_loop
from bd2music.music.score import is_kit

SAMPLES_FILE = "samples.safetensors"


@dataclass
class InstrumentBuildConfig:
    """How the bank is rendered (saved in its ``config.json`` under ``build``)."""

    sample_rate: int = 32_000  # Hz of the stored samples (mono int16)
    root_step: int = 5  # semitones between root notes: a note is resampled by at most half of this
    velocities: tuple[int, ...] = (64, 118)  # MIDI velocity of each layer (TinySoundFont plays the piano 80-100 badly)
    velocity_exponent: float = 2.0  # level ~ velocity ** this (the GM curve, 40 log10 dB)
    same_layer_db: float = 1.0  # a layer whose spectrum is within this of the loud one's (mean dB over bands)
    hold: float = 2.5  # s a sustained note is held while rendering (its attack and a loop must fit)
    loop_min: float = 0.3  # s: shortest loop
    loop_max: float = 1.0  # s: longest loop
    decay_max: float = 3.0  # s rendered of a decaying note; one still ringing then ends on a decaying loop
    decay_fit: float = 1.0  # s at the end of such a note over which its decay rate (dB/s) is measured
    decay_loop_region: float = 1.2  # s at the end of such a note where its loop is looked for
    decay_loop: tuple[float, float] = (0.25, 0.5)  # s: shortest and longest decaying loop
    drum_max: float = 2.0  # s at most kept of a drum hit
    decay_floor_db: float = -50.0  # dB under its peak where a decaying note is cut
    release_hold: float = 1.0  # s held before the note-off when the release is measured
    release_floor_db: float = -60.0  # the release time is the time to fall this far under the held level
    peak: float = 0.5  # the loudest note at velocity 127 peaks at this
    instruments: tuple[str, ...] = tuple(INSTRUMENTS)  # which of bd2music.music.gm.INSTRUMENTS to render


@dataclass
class Rendered:
    """One stored sample while the bank is built."""

    key: str  # its tensor name, instrument/root/velocity
    root: int
    velocity: int
    audio: np.ndarray  # float32 mono at the bank's rate
    loop: tuple[int, int] | None = None
    match: float | None = None  # the loop's end-to-start correlation
    loop_gain: float = 1.0  # each repetition of the loop this times the last (a decaying note's loop: below 1)
    gain: float = 1.0
    level: float = field(default=0.0)  # RMS of its first half second


class SoundFontRenderer:
    """TinySoundFont playing one note at a time on channel 0, as mono float32 at ``sample_rate``."""

    def __init__(self, soundfont: Path, sample_rate: int):
        try:
            import tinysoundfont
        except ImportError:
            raise InputError("building the instrument bank needs TinySoundFont: "
                             "pip install --no-deps tinysoundfont==0.3.7") from None
        self.synth = tinysoundfont.Synth(samplerate=sample_rate)
        try:
            self.font = self.synth.sfload(str(soundfont))
        except Exception as error:  # missing, not a SoundFont, corrupt
            raise InputError(f"cannot load the SoundFont {soundfont}: {error}") from None
        self.sample_rate = sample_rate

    def preset(self, spec: InstrumentSpec, drums: bool) -> str:
        bank = 128 if drums else 0
        name = self.synth.sfpreset_name(self.font, bank, spec.program)
        if name is None:
            raise InputError(f"the SoundFont has no preset {spec.program} on bank {bank}")
        self.synth.program_select(0, self.font, bank, spec.program, drums)
        return name

    def note(self, key: int, velocity: int, hold: float, tail: float) -> tuple[np.ndarray, int]:
        """The note held ``hold`` s then released for ``tail`` s (mono) and the index of its note-off."""
        self.synth.noteon(0, key, velocity)
        held = self._generate(hold)
        self.synth.noteoff(0, key)
        released = self._generate(tail)
        self.synth.sounds_off()
        self._generate(0.1)
        return np.concatenate([held, released]), len(held)

    def _generate(self, seconds: float) -> np.ndarray:
        stereo = np.frombuffer(self.synth.generate(int(seconds * self.sample_rate)), dtype=np.float32)
        return stereo.reshape(-1, 2).mean(axis=1)


def roots(spec: InstrumentSpec, step: int) -> list[int]:
    """Root notes every ``step`` semitones so that each note of the range is at most ``step // 2`` from one."""
    found = list(range(spec.low + step // 2, spec.high + 1, step)) or [spec.high]
    return found + [spec.high] if spec.high - found[-1] > step // 2 else found


def trim_onset(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """The render from 1 ms before its first sample within 60 dB of its peak."""
    first = int(np.argmax(np.abs(audio) > 1e-3 * np.abs(audio).max()))
    return audio[max(0, first - sample_rate // 1000):]


def decay_end(audio: np.ndarray, sample_rate: int, floor_db: float) -> int | None:
    """Where a decaying note ends: after its last 10 ms frame above ``floor_db`` under its peak frame; None when
    it still rings at the end of the render."""
    hop = sample_rate // 100
    level = np.sqrt(np.mean(audio[: len(audio) // hop * hop].reshape(-1, hop) ** 2, axis=1))
    last = int(np.flatnonzero(level > level.max() * 10 ** (floor_db / 20))[-1])
    return (last + 1) * hop if last < len(level) - 1 else None


def faded(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """``audio`` with its last 50 ms faded out."""
    out = audio.copy()
    fade = min(sample_rate // 20, len(out))
    out[len(out) - fade:] *= np.linspace(1, 0, fade, dtype=np.float32)
    return out


def release_time(audio: np.ndarray, note_off: int, sample_rate: int, floor_db: float) -> float:
    """Seconds from the note-off until the level falls ``floor_db`` under its level just before it."""
    hop = sample_rate // 100
    before = np.sqrt(np.mean(audio[note_off - 2 * hop:note_off] ** 2))
    after = audio[note_off: note_off + (len(audio) - note_off) // hop * hop].reshape(-1, hop)
    quiet = np.flatnonzero(np.sqrt(np.mean(after**2, axis=1)) < before * 10 ** (floor_db / 20))
    return round(float(quiet[0] if len(quiet) else len(after)) * hop / sample_rate, 3)


def render_instrument(renderer: SoundFontRenderer, name: str, spec: InstrumentSpec, config: InstrumentBuildConfig,
                      ) -> tuple[dict, list[Rendered]]:
    """One instrument's config entry (without its samples) and its samples."""
    drums, rate = is_kit(name), config.sample_rate
    preset = renderer.preset(spec, drums)
    keys = sorted(DRUM_KEYS) if drums else roots(spec, config.root_step)
    samples: list[Rendered] = []
    for key in keys:
        layers = []
        for velocity in sorted(config.velocities, reverse=True):
            held = config.hold if spec.sustained else config.drum_max if drums else config.decay_max
            audio = trim_onset(renderer.note(key, velocity, held, 0.0)[0], rate)
            sample = Rendered(f"{name}/{key}/{velocity}", key, velocity, audio)
            if spec.sustained:
                start = attack_end(audio, rate) / rate + 0.05
                sample.audio, loop = find_loop(audio, rate, start, config.loop_min, config.loop_max)
                sample.loop, sample.match = (loop.start, loop.end), round(loop.match, 4)
            elif (end := decay_end(audio, rate, config.decay_floor_db)) is not None or drums:
                sample.audio = faded(audio[:end], rate)  # a drum still ringing at drum_max is faded there
            else:  # still ringing: a loop at its end goes on decaying at the rate of its last second
                slope = decay_rate(audio, rate, config.decay_fit)
                sample.audio, loop = find_loop(audio, rate, len(audio) / rate - config.decay_loop_region,
                                               *config.decay_loop, decay_db_per_s=slope)
                sample.loop, sample.match, sample.loop_gain = (loop.start, loop.end), round(loop.match, 4), loop.gain
            sample.level = float(np.sqrt(np.mean(sample.audio[: rate // 2] ** 2)))
            if layers and _same_timbre(layers[0].audio, sample.audio, rate, config.same_layer_db):
                break
            layers.append(sample)
        loud = layers[0]
        for sample in layers:  # on the velocity curve through the loud layer
            target = loud.level * (sample.velocity / loud.velocity) ** config.velocity_exponent
            sample.gain = target / max(sample.level, 1e-12)
        samples += layers
    middle = keys[len(keys) // 2]
    audio, note_off = renderer.note(middle, max(config.velocities), config.release_hold, 4.0)
    entry = {
        "program": spec.program, "bank": 128 if drums else 0, "preset": preset, "family": spec.family,
        "description": spec.description, "low": keys[0] if drums else spec.low, "high": keys[-1] if drums
        else spec.high, "sustained": spec.sustained, "role": spec.role, "style": spec.style,
        "release": max(0.02, release_time(audio, note_off, rate, config.release_floor_db)),
    }
    if drums:
        entry["keys"] = {str(key): DRUM_KEYS[key] for key in keys}
        entry["choke"] = [list(group) for group in CHOKE_GROUPS]
    return entry, samples


def spectrum_db(audio: np.ndarray, sample_rate: int, bands: int = 24) -> np.ndarray:
    """The level (dB) of a note's first half second in ``bands`` log-spaced bands from 50 Hz to 12 kHz, its
    loudest band at 0 dB."""
    frequencies, power = welch(audio[: sample_rate // 2], sample_rate, nperseg=2048)
    edges = np.geomspace(50, 12_000, bands + 1)
    band = np.array([power[(frequencies >= lo) & (frequencies < hi)].sum() for lo, hi in zip(edges, edges[1:])])
    level = 10 * np.log10(band + 1e-20)
    return level - level.max()


def _same_timbre(loud: np.ndarray, soft: np.ndarray, sample_rate: int, threshold_db: float) -> bool:
    """Whether two layers differ only in level: their band spectra within ``threshold_db`` on average over the
    bands within 40 dB of the loudest."""
    a, b = spectrum_db(loud, sample_rate), spectrum_db(soft, sample_rate)
    heard = (a > -40) | (b > -40)
    return float(np.mean(np.abs(a - b)[heard])) < threshold_db


def build_instruments(soundfont: str | Path, out: str | Path, config: InstrumentBuildConfig = InstrumentBuildConfig(),
                      overwrite: bool = False, command: str = "", log: Callable[[str], None] = print) -> Path:
    """Render the bank into ``out`` (``samples.safetensors``, ``config.json``, ``README.md``); returns ``out``.

    An existing bank at ``out`` is replaced only with ``overwrite``; anything else there never is.
    """
    soundfont, out = Path(soundfont), Path(out)
    if unknown := [name for name in config.instruments if name not in INSTRUMENTS]:
        raise InputError(f"unknown instruments {', '.join(unknown)} (known: {', '.join(INSTRUMENTS)})")
    check_replaceable(out, overwrite, SAMPLES_FILE, "an instrument bank")
    if not soundfont.is_file():
        raise InputError(f"no SoundFont at {soundfont}")
    renderer = SoundFontRenderer(soundfont, config.sample_rate)
    entries, rendered = {}, {}
    for name in config.instruments:
        entry, samples = render_instrument(renderer, name, INSTRUMENTS[name], config)
        entries[name], rendered[name] = entry, samples
        log(f"{name}: {entry['preset']}, {len(samples)} samples, release {entry['release']:.2f} s")
    for samples in rendered.values():  # instruments levelled: the same median level at the same velocity
        level = np.median([s.level * s.gain for s in samples if s.velocity == max(config.velocities)])
        for sample in samples:
            sample.gain /= level
    scale = config.peak / max(
        float(np.abs(s.audio).max()) * s.gain * (127 / s.velocity) ** config.velocity_exponent
        for samples in rendered.values() for s in samples)
    tensors = {}
    for name, samples in rendered.items():
        entries[name]["samples"] = []
        for sample in samples:
            peak = float(np.abs(sample.audio).max())
            tensors[sample.key] = np.round(sample.audio / peak * 32767).astype(np.int16)
            entries[name]["samples"].append({
                "key": sample.key, "root": sample.root, "velocity": sample.velocity,
                "gain": float(f"{peak / 32767 * sample.gain * scale:.6g}"),
                "loop": list(sample.loop) if sample.loop else None, "loop_match": sample.match,
                "loop_gain": float(f"{sample.loop_gain:.6g}"),
            })
    staging = out.parent / f".{out.name}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    save_file(tensors, str(staging / SAMPLES_FILE))
    settings = {
        "sample_rate": config.sample_rate, "velocity_exponent": config.velocity_exponent,
        "soundfont": {"file": soundfont.name, "sha256": file_sha256(soundfont)},
        "build": {**config_to_dict(replace(config, instruments=tuple(entries))), "command": command},
        "instruments": entries,
    }
    (staging / "config.json").write_text(json.dumps(settings, indent=1) + "\n")
    write_card(staging, settings, soundfont)
    if out.exists():
        shutil.rmtree(out)
    staging.rename(out)
    return out
