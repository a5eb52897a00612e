"""Mastering: the backends' layers become one 44.1 kHz stereo track at the loudness the plan asks.

``master(layers, config, target_lufs)`` runs, in order:

1. each layer resampled to ``OUTPUT_RATE`` with soxr, made stereo (mono on both channels, more than two channels
   averaged), all padded to the longest;
2. ducking: when "main" and "bed" layers both sound, the beds are lowered by up to ``duck_depth_db`` where the
   mains are loud (a sidechain: the mains' frame level, relative to their loudest frame, drives the reduction,
   smoothed with attack and release times);
3. the sum, DC removed, brought to ``chain_input_lufs`` so that the chain's thresholds mean the same for every
   input, then the pedalboard chain: high-pass, low and high shelves, a small room reverb, compressor, limiter;
4. short raised-cosine fades at both ends;
5. loudness (ITU-R BS.1770 integrated, pyloudnorm) brought to ``target_lufs`` clamped to ``LUFS_RANGE``, then the
   true peak (4x oversampled with soxr) held at or below ``TRUE_PEAK_CEILING_DB`` by a look-ahead gain curve; the
   two alternate a few rounds, and if the ceiling still is not met the whole track is turned down (the ceiling
   wins over the loudness).

Stems (``stems=True``) go through the same steps with the mix's gains: same ducking, their own pass through the
chain, the mix's loudness and limiter gain curve. Silence stays silent: no gain is applied where loudness is -inf.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pedalboard
import pyloudnorm
import soxr
from scipy.ndimage import minimum_filter1d, uniform_filter1d

from bd2music.backends.base import Layer

OUTPUT_RATE = 44_100  # Hz: every mastered track and stem
LUFS_RANGE = (-24.0, -14.0)  # the loudness a plan may ask for, LUFS (lower, upper)
TRUE_PEAK_CEILING_DB = -1.0  # dBTP: no inter-sample peak above this
TRUE_PEAK_OVERSAMPLING = 4  # true peak measured on the track resampled to this many times its rate
SILENCE_PEAK = 1e-7  # a track whose sample peak is below this (about -140 dBFS) is silence and left alone
LOUDNESS_BLOCK_S = 0.4  # BS.1770 gating block; shorter tracks are zero-padded to it for the measurement


@dataclass
class MasterConfig:
    """Settings of the mix, the effect chain and the limiter (times in ms, levels in dB)."""

    duck_depth_db: float = 9.0  # beds lowered by up to this much where the main layers are at their loudest
    duck_range_db: float = 30.0  # main frames this far below the mains' loudest frame duck the beds not at all
    duck_gate_dbfs: float = -60.0  # main frames below this level never duck
    duck_frame_ms: float = 20.0  # sidechain frame (the level is the frame's RMS over channels and main layers)
    duck_attack_ms: float = 40.0  # time constant of the reduction's rise
    duck_release_ms: float = 400.0  # time constant of its fall
    chain_input_lufs: float = -20.0  # the sum is brought to this loudness before the chain
    highpass_hz: float = 30.0  # removes rumble and DC
    low_shelf_hz: float = 120.0
    low_shelf_db: float = 1.0  # a little warmth
    high_shelf_hz: float = 8000.0
    high_shelf_db: float = 1.5  # a little air
    reverb_room_size: float = 0.2  # small room (0..1)
    reverb_damping: float = 0.5  # high-frequency absorption of the room (0..1)
    reverb_wet: float = 0.1  # level of the room
    reverb_dry: float = 0.9  # level of the direct sound
    reverb_width: float = 1.0  # stereo width of the room (0..1)
    compressor_threshold_db: float = -12.0  # dBFS, on the sum at chain_input_lufs (lower: beats lose their accent)
    compressor_ratio: float = 2.0
    compressor_attack_ms: float = 15.0
    compressor_release_ms: float = 150.0
    limiter_threshold_db: float = -1.5  # the chain's limiter (peaks of the sum, before the loudness gain)
    limiter_release_ms: float = 100.0
    fade_in_ms: float = 10.0
    fade_out_ms: float = 50.0
    true_peak_lookahead_ms: float = 5.0  # the true-peak limiter's gain reaches its floor this early, holds as long
    true_peak_margin_db: float = 0.2  # the limiter aims this far under the ceiling (the gain curve adds overshoot)
    loudness_rounds: int = 4  # loudness gain / true-peak limiting rounds

    def chain(self) -> pedalboard.Pedalboard:
        """The effect chain, fresh (no state carried between tracks)."""
        return pedalboard.Pedalboard([
            pedalboard.HighpassFilter(cutoff_frequency_hz=self.highpass_hz),
            pedalboard.LowShelfFilter(cutoff_frequency_hz=self.low_shelf_hz, gain_db=self.low_shelf_db),
            pedalboard.HighShelfFilter(cutoff_frequency_hz=self.high_shelf_hz, gain_db=self.high_shelf_db),
            pedalboard.Reverb(room_size=self.reverb_room_size, damping=self.reverb_damping,
                              wet_level=self.reverb_wet, dry_level=self.reverb_dry, width=self.reverb_width),
            pedalboard.Compressor(threshold_db=self.compressor_threshold_db, ratio=self.compressor_ratio,
                                  attack_ms=self.compressor_attack_ms, release_ms=self.compressor_release_ms),
            pedalboard.Limiter(threshold_db=self.limiter_threshold_db, release_ms=self.limiter_release_ms),
        ])


@dataclass
class Mastered:
    """The mastered track: (2, samples) float32 at ``sample_rate``, its measured loudness and true peak."""

    audio: np.ndarray
    sample_rate: int
    lufs: float  # integrated loudness after mastering; -inf for silence
    true_peak_db: float  # dBTP after mastering; -inf for silence
    stems: dict[str, np.ndarray] = field(default_factory=dict)  # layer name -> (2, samples), same gains as the mix


def _stereo(audio: np.ndarray) -> np.ndarray:
    """(channels, samples) -> (2, samples): mono doubled, more than two channels averaged."""
    if audio.shape[0] == 2:
        return audio
    return np.repeat(audio.mean(axis=0, keepdims=True), 2, axis=0)


def _prepared(layer: Layer) -> np.ndarray:
    """The layer's audio at OUTPUT_RATE, stereo, float32, NaN and inf replaced by 0."""
    audio = np.nan_to_num(_stereo(layer.audio.astype(np.float32)), nan=0.0, posinf=0.0, neginf=0.0)
    if layer.sample_rate != OUTPUT_RATE and audio.shape[1]:
        audio = soxr.resample(audio.T, layer.sample_rate, OUTPUT_RATE).T
    return np.ascontiguousarray(audio, dtype=np.float32)


def _padded(tracks: Sequence[np.ndarray]) -> list[np.ndarray]:
    length = max(track.shape[1] for track in tracks)
    return [np.pad(track, ((0, 0), (0, length - track.shape[1]))) for track in tracks]


def _smoothed(values: np.ndarray, frame_s: float, attack_s: float, release_s: float) -> np.ndarray:
    """One-pole smoothing of a frame-rate curve, faster rising (attack) than falling (release)."""
    rise, fall = (1.0 - np.exp(-frame_s / max(t, 1e-6)) for t in (attack_s, release_s))
    out, state = np.empty_like(values), 0.0
    for i, value in enumerate(values):
        state += (rise if value > state else fall) * (value - state)
        out[i] = state
    return out


def duck_gain(mains: np.ndarray, length: int, config: MasterConfig) -> np.ndarray:
    """Per-sample gain (linear, <= 1) for the beds, from the summed main layers (2, samples)."""
    frame = max(1, int(round(config.duck_frame_ms * 1e-3 * OUTPUT_RATE)))
    frames = -(-length // frame)
    power = np.pad(mains**2, ((0, 0), (0, frames * frame - length))).reshape(2, frames, frame).mean(axis=(0, 2))
    level = 10 * np.log10(np.maximum(power, 1e-20))
    loudest = level.max(initial=-200.0)
    activity = np.clip(1 + (level - loudest) / config.duck_range_db, 0.0, 1.0) * (level > config.duck_gate_dbfs)
    frame_s = frame / OUTPUT_RATE
    reduction = _smoothed(activity * config.duck_depth_db, frame_s,
                          config.duck_attack_ms * 1e-3, config.duck_release_ms * 1e-3)
    centres = (np.arange(frames) + 0.5) * frame
    return 10 ** (-np.interp(np.arange(length), centres, reduction) / 20)


def _mixed_layers(layers: Sequence[Layer], config: MasterConfig) -> dict[str, np.ndarray]:
    """Each layer prepared, padded, and (beds, when mains also sound) ducked; keyed by unique name."""
    tracks = _padded([_prepared(layer) for layer in layers])
    mains = [t for t, layer in zip(tracks, layers) if layer.role != "bed"]
    if mains and len(mains) < len(tracks):
        gain = duck_gain(np.sum(mains, axis=0), tracks[0].shape[1], config).astype(np.float32)
        tracks = [t * gain if layer.role == "bed" else t for t, layer in zip(tracks, layers)]
    named: dict[str, np.ndarray] = {}
    for track, layer in zip(tracks, layers):
        name, n = layer.name, 1
        while name in named:
            n += 1
            name = f"{layer.name}_{n}"
        named[name] = track
    return named


def integrated_loudness(audio: np.ndarray, sample_rate: int = OUTPUT_RATE) -> float:
    """BS.1770 integrated loudness (LUFS) of (channels, samples) or (samples,); -inf for silence."""
    audio = np.atleast_2d(audio)
    if not np.any(np.abs(audio) > SILENCE_PEAK):
        return float("-inf")
    block = int(LOUDNESS_BLOCK_S * sample_rate) + 1
    padded = np.pad(audio, ((0, 0), (0, max(0, block - audio.shape[1]))))
    lufs = float(pyloudnorm.Meter(sample_rate).integrated_loudness(padded.T.astype(np.float64)))
    return lufs if np.isfinite(lufs) else float("-inf")


def _oversampled_peaks(audio: np.ndarray) -> np.ndarray:
    """Per output sample, the highest |x| over channels and the TRUE_PEAK_OVERSAMPLING points that follow it."""
    n, k = audio.shape[1], TRUE_PEAK_OVERSAMPLING
    fine = np.abs(soxr.resample(audio.T, OUTPUT_RATE, OUTPUT_RATE * k)).max(axis=1)
    fine = np.pad(fine, (0, max(0, n * k - len(fine))))[: n * k].reshape(n, k).max(axis=1)
    return np.maximum(fine, np.abs(audio).max(axis=0))


def true_peak_db(audio: np.ndarray) -> float:
    """True peak (dBTP) of (2, samples) at OUTPUT_RATE, from the signal oversampled TRUE_PEAK_OVERSAMPLING times."""
    if audio.shape[1] == 0:
        return float("-inf")
    peak = float(_oversampled_peaks(audio).max())
    return 20 * np.log10(peak) if peak > 0 else float("-inf")


def _limiter_gain(audio: np.ndarray, ceiling: float, lookahead: int) -> np.ndarray:
    """A smooth gain curve (<= 1) under which every oversampled peak of ``audio`` stays at ``ceiling`` or below.

    The needed gain is min-filtered over 2 * lookahead + 1 samples, then averaged over as many: every sample of
    the average window saw the needed gain of the centre, so the result never exceeds it.
    """
    need = np.minimum(1.0, ceiling / np.maximum(_oversampled_peaks(audio), 1e-12))
    width = 2 * lookahead + 1
    return uniform_filter1d(minimum_filter1d(need, width, mode="nearest"), width, mode="nearest")


def _fades(length: int, config: MasterConfig) -> np.ndarray:
    """Raised-cosine fade-in and fade-out envelope."""
    def ramp(ms: float) -> np.ndarray:
        n = min(length, int(ms * 1e-3 * OUTPUT_RATE))
        return 0.5 - 0.5 * np.cos(np.pi * np.arange(n) / max(n, 1))

    envelope = np.ones(length)
    fade_in, fade_out = ramp(config.fade_in_ms), ramp(config.fade_out_ms)
    envelope[: len(fade_in)] *= fade_in
    envelope[length - len(fade_out):] *= fade_out[::-1]
    return envelope.astype(np.float32)


def _processed(audio: np.ndarray, pre_gain: float, config: MasterConfig) -> np.ndarray:
    """DC removed, pre-gain, effect chain, DC removed again, fades."""
    audio = (audio - audio.mean(axis=1, keepdims=True)) * np.float32(pre_gain)
    audio = config.chain()(np.ascontiguousarray(audio, dtype=np.float32), OUTPUT_RATE)
    audio = audio - audio.mean(axis=1, keepdims=True)
    return (audio * _fades(audio.shape[1], config)).astype(np.float32)


def _loudness_and_peak_gain(audio: np.ndarray, audio_lufs: float, target_lufs: float,
                            config: MasterConfig) -> np.ndarray:
    """Per-sample gain that brings ``audio`` (measured at ``audio_lufs``) to ``target_lufs`` with its true peak
    under the ceiling."""
    gain = np.ones(audio.shape[1])
    lookahead = max(1, int(config.true_peak_lookahead_ms * 1e-3 * OUTPUT_RATE))
    aim = 10 ** ((TRUE_PEAK_CEILING_DB - config.true_peak_margin_db) / 20)
    for round_ in range(config.loudness_rounds):
        lufs = audio_lufs if round_ == 0 else integrated_loudness(audio * gain)
        gain *= 10 ** ((target_lufs - lufs) / 20)
        limited = _limiter_gain(audio * gain, aim, lookahead)
        if limited.min() >= 1.0:
            break
        gain *= limited
    excess = true_peak_db(audio * gain) - TRUE_PEAK_CEILING_DB
    return gain * 10 ** (-max(excess, 0.0) / 20)


def master(layers: Sequence[Layer], config: MasterConfig | None = None, target_lufs: float = -18.0,
           stems: bool = False) -> Mastered:
    """Mix, process and level ``layers`` into one stereo track at OUTPUT_RATE (steps in the module docstring).

    Args:
        layers: the backends' layers (any sample rate, mono or stereo); "bed" layers duck under "main" ones.
        config: mix, chain and limiter settings; ``MasterConfig()`` when None.
        target_lufs: integrated loudness to reach, clamped to ``LUFS_RANGE``.
        stems: also return each layer processed alike, keyed by layer name.
    """
    if not layers:
        raise ValueError("master: no layers to mix")
    config = config or MasterConfig()
    target = float(np.clip(target_lufs, *LUFS_RANGE))
    if max(layer.audio.shape[1] for layer in layers) == 0:
        empty = np.zeros((2, 0), np.float32)
        return Mastered(empty, OUTPUT_RATE, float("-inf"), float("-inf"),
                        {layer.name: empty for layer in layers} if stems else {})
    tracks = _mixed_layers(layers, config)
    mix = np.sum(list(tracks.values()), axis=0)
    mix_lufs = integrated_loudness(mix)
    pre_gain = 10 ** ((config.chain_input_lufs - mix_lufs) / 20) if np.isfinite(mix_lufs) else 1.0
    audio = _processed(mix, pre_gain, config)
    audio_lufs = integrated_loudness(audio)
    if np.isfinite(audio_lufs):
        gain = _loudness_and_peak_gain(audio, audio_lufs, target, config).astype(np.float32)
    else:  # silence stays as it is
        gain = np.ones(audio.shape[1], np.float32)
    out = np.nan_to_num(audio * gain).astype(np.float32)
    stem_audio = {name: np.nan_to_num(_processed(track, pre_gain, config) * gain).astype(np.float32)
                  for name, track in tracks.items()} if stems else {}
    return Mastered(out, OUTPUT_RATE, integrated_loudness(out), true_peak_db(out), stem_audio)
