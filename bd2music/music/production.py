"""The music's production chain, as a recording's mix would have it, after the sampler:

1. **band bus** (the pitched instruments, given apart from the drums when any stage is on): a chorus
   (``chorus_mix``: slowly modulated, detuned copies that fill the spectrum between the partials), a saturation
   (``band_drive_db``: pedalboard's tanh distortion at a low drive, as a tape or a console driven by the
   instruments rather than the drums; the chords' intermodulation fills between their partials) and a
   sidechain pump (``pump_db``: the band ducked at each kick and let back over ``pump_release_s``, as a
   compressor keyed by the kick does); then the drums join;
2. **tone**: a low shelf lifts the bass (``bass_db``), a wide bell can scoop the low mids (``mid_db``), a
   matching EQ can bend the long-term spectrum towards a reference's (``match_db``), and a high shelf tilts the
   top by the section's height (``tilt_db``: from its low value for the lowest, darkest sections to its high
   value for the highest, brightest ones), so that the mix's brightness follows the page's as a mixing
   engineer's EQ would; in per-panel mode each section's tone is blended into the next over ``blend_s``;
3. **glue**: a soft saturation (``drive_db``, a tanh stage that adds the harmonics a console or tape adds), a
   roll-off of the top (``lowpass_hz``) and a bus compressor;
4. **room**: a reverb (``reverb_room``, ``reverb_wet``), then an expander (``expand``: each moment's gain follows
   the mix's short-time level, ``(level / median level) ** expand``, as a transient shaper gives a mix back the
   punch and the gaps a played recording has between its notes and beats);
5. **noise floor**: pink noise ``noise_floor_db`` under the music's RMS, and a real room's tone
   ``room_tone_db`` under it (a steady ambience bed of the bank, ``music.room``; given by the backend).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bd2music.audio.eq import check_points, match_eq
from bd2music.music.intent import Section


@dataclass
class ProductionConfig:
    """The mix after the sampler (``weights/pipeline.json``, settings "music" -> "production")."""

    bass_hz: float = 150.0  # corner of the bass shelf
    bass_db: float = 6.0  # gain of the bass shelf (recordings hold their low end further forward)
    mid_hz: float = 700.0  # centre of a wide bell on the low mids...
    mid_db: float = 0.0  # ...and its gain (0: none)
    match_db: tuple[tuple[float, float], ...] = ()  # a matching EQ: (Hz, dB) points, gains interpolated on a log
    # frequency scale between them and held beyond (a reference's long-term spectrum; empty: none)
    tilt_hz: float = 1500.0  # corner of the tilt shelf
    tilt_db: tuple[float, float] = (-12.0, 3.0)  # gain of the tilt shelf at height 0 and at height 1
    blend_s: float = 0.3  # s over which one section's tone passes into the next's
    chorus_mix: float = 0.0  # share of a chorus (a slowly modulated delay: detuned copies) on the band (0: none)
    chorus_rate_hz: float = 0.8  # the chorus's modulation rate
    chorus_depth: float = 0.25  # ...and depth (0-1)
    pump_db: float = 0.0  # the band ducked this much at each kick (0: none)...
    pump_release_s: float = 0.18  # ...and back to its level with this time constant
    band_drive_db: float = 0.0  # the band through a tanh distortion this hot at its peak (0: none)
    drive_db: float = 6.0  # gain into the saturation at the peak (0: none)
    lowpass_hz: float = 6000.0  # the top rolled off from here (12 dB per octave) after the saturation (0: none)
    compressor_threshold_db: float = 0.0  # dB under the mix's peak where the bus compressor starts (0: none)
    compressor_ratio: float = 2.0
    reverb_room: float = 0.45  # room size of the reverb
    reverb_wet: float = 0.22  # wet level of the room
    expand: float = 0.0  # exponent of the expander after the room: gain (level / median level) ** expand (0: none)
    expand_ms: float = 50.0  # ...the level's window (RMS over both channels)
    noise_floor_db: float = -54.0  # a recording's noise floor, relative to the music's RMS
    room_tone_db: float = 0.0  # a real room's tone (an ambience bed of the bank) this far under the music's RMS
    # (0: none)...
    room_labels: tuple[str, ...] = ("crowd", "wind", "wind ambience", "nature ambience", "rain")  # ...drawn among
    # the bank's ambience beds of these labels...
    room_max_cv: float = 0.3  # ...whose RMS moves at most this much (standard deviation over mean: no events)...
    room_min_hz: float = 1000.0  # ...and whose spectral centroid is at least this high (a room that reaches the top
    # band, not a rumble)

    def __post_init__(self) -> None:
        check_points(self.match_db, "match_db")


def shelf_db(height: float, config: ProductionConfig) -> float:
    """dB of the tilt shelf for a section of ``height`` (0-1)."""
    low, high = config.tilt_db
    return float(low + (high - low) * np.clip(height, 0.0, 1.0))


def band_bus(config: ProductionConfig) -> bool:
    """Whether the chain treats the band apart from the drums (``produce``'s ``drums``)."""
    return bool(config.chorus_mix or config.pump_db or config.band_drive_db)


def produce(audio: np.ndarray, sections: list[Section], rate: int, seed: int, config: ProductionConfig,
            drums: np.ndarray | None = None, kicks: Sequence[float] = (), room: np.ndarray | None = None,
            ) -> np.ndarray:
    """(2, n) float32 music through the chain of the module docstring; ``audio``: the whole mix, or, with
    ``drums`` (same shape), the band without them; ``kicks``: the kick drum's onsets (s), which key the pump;
    ``room``: a room's tone (same shape), laid ``room_tone_db`` under the music at the end."""
    from pedalboard import Chorus, Pedalboard, Reverb

    audio = audio.astype(np.float32)
    if drums is not None:
        if config.chorus_mix:
            chorus = Chorus(config.chorus_rate_hz, config.chorus_depth, mix=config.chorus_mix)
            audio = Pedalboard([chorus])(audio, rate)
        if config.band_drive_db:
            audio = saturate(audio, rate, config.band_drive_db)
        audio = audio * pump(audio.shape[-1], rate, kicks, config) + drums.astype(np.float32)
    audio = _tone(audio, sections, rate, config)
    audio = _glue(audio, rate, config)

    reverb = Pedalboard([Reverb(room_size=config.reverb_room, wet_level=config.reverb_wet,
                                dry_level=1.0 - config.reverb_wet, width=1.0)])
    wet = expand(reverb(audio, rate), rate, config.expand, config.expand_ms)
    wet = wet + _noise(wet, rate, seed, config.noise_floor_db)
    if room is not None and config.room_tone_db:
        wet = wet + under(room, wet, config.room_tone_db)
    return wet.astype(np.float32)


def saturate(audio: np.ndarray, rate: int, drive_db: float) -> np.ndarray:
    """``audio`` through pedalboard's distortion (tanh) driven ``drive_db`` at its peak, back at its peak level."""
    from pedalboard import Distortion, Pedalboard

    peak = float(np.abs(audio).max())
    if peak == 0.0:
        return audio
    driven = Pedalboard([Distortion(drive_db)])(audio / np.float32(peak), rate)
    return (driven * np.float32(peak / max(float(np.abs(driven).max()), 1e-9))).astype(np.float32)


def expand(audio: np.ndarray, rate: int, exponent: float, window_ms: float) -> np.ndarray:
    """``audio`` (channels, n) times its short-time level (RMS over ``window_ms`` and the channels) over the median
    level, to the power ``exponent``: louder moments louder, quieter ones quieter (0: unchanged; silence stays)."""
    if not exponent:
        return audio
    from scipy.ndimage import uniform_filter1d

    power = np.mean(np.square(audio, dtype=np.float64), axis=0)
    level = np.sqrt(uniform_filter1d(power, max(1, round(window_ms * rate / 1000)), mode="nearest"))
    median = float(np.median(level))
    if median <= 0.0:
        return audio
    return (audio * (np.maximum(level / median, 1e-3) ** exponent)).astype(np.float32)


def under(bed: np.ndarray, audio: np.ndarray, level_db: float) -> np.ndarray:
    """``bed`` scaled to ``level_db`` relative to ``audio``'s RMS (float32; silence stays silence)."""
    bed_rms = float(np.sqrt(np.mean(np.square(bed, dtype=np.float64))))
    rms = float(np.sqrt(np.mean(np.square(audio, dtype=np.float64))))
    if bed_rms == 0.0:
        return bed.astype(np.float32)
    return (bed * np.float32((rms or 1e-4) * 10 ** (level_db / 20) / bed_rms)).astype(np.float32)


def pump(length: int, rate: int, kicks: Sequence[float], config: ProductionConfig) -> np.ndarray:
    """(length,) float32 gain of the band: ``pump_db`` down 5 ms after each kick, back with ``pump_release_s``."""
    if not config.pump_db or not len(kicks):
        return np.ones(length, np.float32)
    t = np.arange(length) / rate
    kicks = np.sort(np.asarray(kicks, dtype=np.float64))
    last = np.searchsorted(kicks, t, side="right") - 1
    since = np.where(last >= 0, t - kicks[np.maximum(last, 0)], np.inf)
    depth = 1.0 - 10 ** (-config.pump_db / 20)
    dip = np.minimum(since / 0.005, 1.0) * np.exp(-np.maximum(since - 0.005, 0.0) / config.pump_release_s)
    return (1.0 - depth * np.where(np.isfinite(since), dip, 0.0)).astype(np.float32)


def _tone(audio: np.ndarray, sections: list[Section], rate: int, config: ProductionConfig) -> np.ndarray:
    """Bass shelf, the low-mid bell, and each section's tilt shelf blended into the next's."""
    from pedalboard import HighShelfFilter, LowShelfFilter, Pedalboard, PeakFilter

    if config.bass_db:
        audio = Pedalboard([LowShelfFilter(config.bass_hz, config.bass_db)])(audio, rate)
    if config.mid_db:
        audio = Pedalboard([PeakFilter(config.mid_hz, config.mid_db, 0.7)])(audio, rate)
    if config.match_db:
        audio = match_eq(audio, rate, config.match_db)
    gains = [round(shelf_db(s.height, config), 2) for s in sections]
    if not any(gains):
        return audio
    toned = {g: Pedalboard([HighShelfFilter(config.tilt_hz, g)])(audio, rate) if g else audio for g in set(gains)}
    if len(toned) == 1:
        return toned[gains[0]]
    n = audio.shape[-1]
    t = np.arange(n) / rate
    weights = np.zeros((len(sections), n), np.float32)
    half = config.blend_s / 2
    for k, section in enumerate(sections):  # raised-cosine edges of width blend_s at the inner bounds
        rise = np.ones(n) if k == 0 else _ramp(t, section.start - half, config.blend_s)
        fall = np.ones(n) if k == len(sections) - 1 else 1.0 - _ramp(t, section.end - half, config.blend_s)
        weights[k] = rise * fall
    weights /= np.maximum(weights.sum(axis=0), 1e-6)
    return sum(weights[k] * toned[g] for k, g in enumerate(gains)).astype(np.float32)


def _ramp(t: np.ndarray, start: float, width: float) -> np.ndarray:
    x = np.clip((t - start) / max(width, 1e-6), 0.0, 1.0)
    return 0.5 - 0.5 * np.cos(np.pi * x)


def _glue(audio: np.ndarray, rate: int, config: ProductionConfig) -> np.ndarray:
    """Soft saturation, the roll-off of the top, then the bus compressor."""
    peak = float(np.abs(audio).max()) or 1.0
    if config.drive_db:
        drive = 10 ** (config.drive_db / 20) / peak
        audio = (np.tanh(audio * drive) / np.tanh(drive * peak) * peak).astype(np.float32)
    if config.lowpass_hz:  # a second-order Butterworth, 12 dB per octave
        from scipy.signal import butter, sosfilt

        audio = sosfilt(butter(2, config.lowpass_hz, "low", fs=rate, output="sos"), audio, axis=-1).astype(np.float32)
    if config.compressor_threshold_db:
        from pedalboard import Compressor, Pedalboard

        threshold = 20 * np.log10(peak) + config.compressor_threshold_db
        audio = Pedalboard([Compressor(threshold, config.compressor_ratio, 10.0, 120.0)])(audio, rate)
    return audio


def _noise(audio: np.ndarray, rate: int, seed: int, level_db: float) -> np.ndarray:
    """Pink (1/f) noise ``level_db`` under ``audio``'s RMS, seeded (float32, shaped at a fast FFT length)."""
    from scipy.fft import irfft, next_fast_len, rfft

    n = audio.shape[-1]
    size = next_fast_len(n, real=True)
    white = rfft(np.random.default_rng([seed, 24]).standard_normal((audio.shape[0], size), dtype=np.float32), axis=-1)
    freqs = np.fft.rfftfreq(size, 1.0 / rate).astype(np.float32)
    return under(irfft(white / np.sqrt(np.maximum(freqs, np.float32(20.0))), n=size, axis=-1)[:, :n], audio, level_db)
