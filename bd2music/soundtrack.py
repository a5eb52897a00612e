"""Arranging a soundtrack: per-panel durations, cross-faded overlap-add, peak-safe loudness.

* ``panel_durations``: panel ``i`` gets a floor of ``MIN_SEGMENT_S`` (less when the page has many panels for few
  seconds) plus a share of the rest proportional to ``area x (1 + TEXT_FACTOR x text coverage)``: big panels and
  wordy panels are read longer. The durations sum to the asked seconds exactly.
* ``overlap_add``: pieces (log-mel frames or samples along the last axis) placed at their starts, linear ramps
  where a piece meets a neighbour, normalised by the summed weights (a weighted mean, so levels are kept).
* ``pulse_gains``: the rhythm the mapper asks for, made audible. The audio VAE's descriptor head reads a tempo
  (BPM) and an onset rate (onsets/s) in every generated latent, but its decoder renders rhythm poorly (docs/BENCHMARKS.md), so the track's log-mel is shaped by a pulse: a beat every ``60 / tempo`` s and, between
  beats, extra onsets spread evenly so that the track has ``onset_rate`` onsets per second on average. Each beat
  lifts the level back to 0 dB, from where it decays towards ``-PULSE_DEPTH_DB`` with a time constant of
  ``DECAY_SHARE`` of a beat; each onset between beats adds a smaller bump of ``OFFBEAT_DB`` that decays within
  its own gap. The beats stay much the strongest onsets, so the tempo heard (and measured by the autocorrelation
  tempogram) is the beat's, while the onset count follows ``onset_rate``.
* ``normalise_loudness``: DC removed, short fades at both ends (no click), and the order of levels kept as the
  models put it (it carries the page: louder for more colourful pages). Tracks at or above ``LEVEL_KNEE_DBFS``
  (about the median RMS of real clips, docs/BENCHMARKS.md) keep their level; quieter ones are brought toward it, their distance to
  it divided by ``LEVEL_RATIO`` (the decoder renders many pages as a few events in near silence). Any track is then lowered until its peak is at most ``PEAK_DBFS`` (never clips).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

MIN_SEGMENT_S = 1.0  # shortest panel segment when the seconds allow it
TEXT_FACTOR = 3.0  # a panel half covered by text is read 2.5x as long as a silent one of the same size
LEVEL_KNEE_DBFS = -20.0  # RMS level from which tracks keep their own (about real clips' median)
LEVEL_RATIO = 4.0  # a track X dB under the knee ends X / LEVEL_RATIO dB under it
PEAK_DBFS = -1.0  # peak ceiling
EDGE_FADE_S = 0.02  # fade-in / fade-out at the ends of a track
PULSE_DEPTH_DB = 15.0  # deepest dip of the pulse envelope below an onset
OFFBEAT_DB = 3.0  # onsets between beats lift the decaying beat envelope by this much (louder: tempo misheard)
DECAY_SHARE = 0.4  # decay time constant / its gap (a beat's period, or an onset's gap to the next onset)
MAX_ONSETS_PER_BEAT = 8
TRIPLET_PLACES = {2: (0.0, 2 / 3)}  # with ``triplets``: a beat's onsets (by count) at these shares of the beat


def panel_durations(areas: Sequence[float], text_coverages: Sequence[float], seconds: float) -> list[float]:
    """Seconds per panel (in the given order) from their page-area fractions and text coverages; sum = seconds."""
    text = np.clip(np.asarray(text_coverages, dtype=np.float64), 0.0, 1.0)
    weights = np.clip(np.asarray(areas, dtype=np.float64), 1e-6, None) * (1 + TEXT_FACTOR * text)
    weights /= weights.sum()
    floor = min(MIN_SEGMENT_S, seconds / len(weights))
    durations = floor + (seconds - floor * len(weights)) * weights
    return durations.tolist()


def overlap_add(pieces: Sequence[torch.Tensor], starts: Sequence[int], length: int, fade: int) -> torch.Tensor:
    """(..., length): ``pieces`` (..., n_i) placed at ``starts``, cross-faded over up to ``fade`` steps where
    they meet a neighbour (linear ramps), normalised by the summed weights."""
    total = pieces[0].new_zeros(*pieces[0].shape[:-1], length)
    norm = pieces[0].new_zeros(length)
    last = len(pieces) - 1
    for index, (piece, start) in enumerate(zip(pieces, starts)):
        size = piece.shape[-1]
        weight = piece.new_ones(size)
        ramp_size = min(fade, size)
        ramp = (torch.arange(ramp_size, device=piece.device, dtype=piece.dtype) + 0.5) / ramp_size
        if index > 0 and ramp_size:
            weight[:ramp_size] *= ramp
        if index < last and ramp_size:
            weight[size - ramp_size :] *= ramp.flip(0)
        total[..., start : start + size] += piece * weight
        norm[start : start + size] += weight
    return total / norm.clamp_min(1e-8)


def beat_period(tempo_bpm: float) -> float:
    """Seconds between beats at ``tempo_bpm`` (tempos under 1 BPM count as 1)."""
    return 60.0 / max(tempo_bpm, 1.0)


def onset_times(seconds: float, tempo_bpm: float, onset_rate: float, max_onsets_per_beat: int = MAX_ONSETS_PER_BEAT,
                triplets: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(onset times in s, True where the onset is a beat) of a pulse at ``tempo_bpm`` with ``onset_rate`` onsets/s,
    up to one beat past ``seconds``.

    Beat ``b`` carries ``floor((b + 1) k) - floor(b k)`` evenly spaced onsets, ``k = onset_rate x beat period``
    (at least 1, at most ``max_onsets_per_beat``): every beat sounds and the average rate is ``onset_rate``. With
    ``triplets`` a beat of two onsets places the second on the last third of the beat (``TRIPLET_PLACES``), not
    on the half beat, so that a slow pulse with one onset between beats is not heard at twice its tempo.
    """
    period = beat_period(tempo_bpm)
    per_beat = float(np.clip(onset_rate * period, 1.0, max_onsets_per_beat))
    times, beats = [], []
    for beat in range(int(np.ceil(seconds / period)) + 1):
        count = int(np.floor((beat + 1) * per_beat) - np.floor(beat * per_beat))
        places = TRIPLET_PLACES.get(count) if triplets else None
        times += [(beat + place) * period for place in places or [k / count for k in range(count)]]
        beats += [k == 0 for k in range(count)]
    return np.asarray(times), np.asarray(beats, dtype=bool)


def pulse_gains(frames: int, frames_per_second: float, tempo_bpm: float, onset_rate: float,
                pulse_depth_db: float = PULSE_DEPTH_DB, offbeat_db: float = OFFBEAT_DB,
                decay_share: float = DECAY_SHARE, max_onsets_per_beat: int = MAX_ONSETS_PER_BEAT,
                triplets: bool = False) -> torch.Tensor:
    """Natural-log power gains (frames,) imposing the pulse of ``onset_times`` on a log-mel: 0 dB at each beat
    (the shape's settings default to the module's constants; the neural path reads them from the audio VAE's
    ``config.inference``)."""
    times, beats = onset_times(frames / frames_per_second, tempo_bpm, onset_rate, max_onsets_per_beat, triplets)
    t = np.arange(frames) / frames_per_second
    beat_times = times[beats]
    beat = beat_times[np.searchsorted(beat_times, t, side="right") - 1]  # the last beat at or before each frame
    level_db = -pulse_depth_db * (1 - np.exp(-(t - beat) / (decay_share * beat_period(tempo_bpm))))
    current = np.searchsorted(times, t, side="right") - 1  # the last onset, a beat or one between beats
    gap = times[current + 1] - times[current]
    bump = np.where(beats[current], 0.0, offbeat_db * np.exp(-(t - times[current]) / (decay_share * gap)))
    return torch.from_numpy((level_db + bump) * np.log(10) / 10).float()


TEXTURE_STREAM = 0x7E27  # the texture's random stream: np.random.default_rng([seed, TEXTURE_STREAM])


def check_level(name: str, value_db: float) -> None:
    """A sound's pulse or texture setting (``offbeat_db``, ``texture_db``) must lie within 0-20 dB."""
    if not 0.0 <= value_db <= 20.0:
        raise ValueError(f"{name} must be within 0-20 dB, got {value_db}")


def onset_texture(bands: int, frames: int, frames_per_second: float, tempo_bpm: float, onset_rate: float,
                  std_db: float, rng: np.random.Generator, max_onsets_per_beat: int = MAX_ONSETS_PER_BEAT,
                  triplets: bool = False) -> torch.Tensor:
    """Natural-log power offsets (bands, frames) that change only at the onsets of ``onset_times``: one draw of
    N(0, ``std_db``²) per band and onset, held until the next onset. A decoder's log-mel is the mean of what a
    latent could sound like, smoother than any recording, whose fine spectral structure changes from event to
    event; drawn at the pulse's own onsets, the change adds no onset the pulse does not already make."""
    times, _ = onset_times(frames / frames_per_second, tempo_bpm, onset_rate, max_onsets_per_beat, triplets)
    first = np.round(times * frames_per_second).astype(np.int64)
    current = np.clip(np.searchsorted(first, np.arange(frames), side="right") - 1, 0, None)
    draws = rng.standard_normal((bands, len(times))) * std_db * np.log(10) / 10
    return torch.from_numpy(draws[:, current]).float()


def onset_textures(bands: int, lengths: Sequence[int], rhythms: Sequence[tuple[float, float]],
                   frames_per_second: float, std_db: float, seed: int,
                   max_onsets_per_beat: int = MAX_ONSETS_PER_BEAT) -> list[torch.Tensor]:
    """The ``onset_texture`` of each segment of a track (``lengths`` frames, ``rhythms`` (tempo, onset rate)), in
    order from one generator on the track ``seed``'s texture stream."""
    rng = np.random.default_rng([seed, TEXTURE_STREAM])
    return [onset_texture(bands, frames, frames_per_second, tempo, rate, std_db, rng, max_onsets_per_beat)
            for frames, (tempo, rate) in zip(lengths, rhythms)]


def frame_power_db(log_mel: torch.Tensor) -> torch.Tensor:
    """Each frame's power (the bands summed) of a natural-log power mel (n_mels, frames), in dB: (frames,)."""
    return torch.logsumexp(log_mel.float(), dim=0) * 10 / math.log(10)


def loudness_gain(audio: torch.Tensor) -> float:
    """Gain that brings ``audio``'s RMS level, when under ``LEVEL_KNEE_DBFS``, to ``LEVEL_RATIO`` times closer to
    it (quieter tracks stay quieter), and keeps its peak under ``PEAK_DBFS``."""
    rms = audio.square().mean().sqrt().item()
    peak = audio.abs().max().item()
    if peak == 0.0:
        return 1.0
    lift_db = max(0.0, (LEVEL_KNEE_DBFS - 20 * np.log10(max(rms, 1e-12))) * (1 - 1 / LEVEL_RATIO))
    return float(min(10 ** (lift_db / 20), 10 ** (PEAK_DBFS / 20) / peak))


def normalise_loudness(audio: torch.Tensor, sample_rate: int) -> tuple[torch.Tensor, float]:
    """(track, gain): DC removed, faded in and out over ``EDGE_FADE_S``, the ``loudness_gain`` applied."""
    audio = audio - audio.mean()
    fade = min(int(EDGE_FADE_S * sample_rate), audio.shape[-1] // 2)
    ramp = torch.linspace(0.0, 1.0, fade, device=audio.device, dtype=audio.dtype)
    audio = audio.clone()
    audio[..., :fade] *= ramp
    audio[..., audio.shape[-1] - fade :] *= ramp.flip(0)
    gain = loudness_gain(audio)
    return audio * gain, gain
