"""Arranging a soundtrack: per-panel durations, cross-faded overlap-add, peak-safe loudness.

* ``panel_durations``: panel ``i`` gets a floor of ``MIN_SEGMENT_S`` (less when the page has many panels for few
  seconds) plus a share of the rest proportional to ``area x (1 + TEXT_FACTOR x text coverage)``: big panels and
  wordy panels are read longer. The durations sum to the asked seconds exactly.
* ``overlap_add``: pieces (log-mel frames or samples along the last axis) placed at their starts, linear ramps
  where a piece meets a neighbour, normalised by the summed weights (a weighted mean, so levels are kept).
* ``normalise_loudness``: DC removed, short fades at both ends (no click), and the level kept where the models
  put it (it carries the page: louder for more colourful pages) unless it is unsafe: a track quieter than
  ``MIN_RMS_DBFS`` is raised to it, and any track is lowered until its peak is at most ``PEAK_DBFS`` (never clips).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

MIN_SEGMENT_S = 1.0  # shortest panel segment when the seconds allow it
TEXT_FACTOR = 3.0  # a panel half covered by text is read 2.5x as long as a silent one of the same size
MIN_RMS_DBFS = -35.0  # quieter tracks are raised to this RMS level
PEAK_DBFS = -1.0  # peak ceiling
EDGE_FADE_S = 0.02  # fade-in / fade-out at the ends of a track


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


def loudness_gain(audio: torch.Tensor) -> float:
    """Gain that lifts ``audio``'s RMS to at least ``MIN_RMS_DBFS`` and keeps its peak under ``PEAK_DBFS``."""
    rms = audio.square().mean().sqrt().item()
    peak = audio.abs().max().item()
    if peak == 0.0:
        return 1.0
    return min(max(1.0, 10 ** (MIN_RMS_DBFS / 20) / max(rms, 1e-12)), 10 ** (PEAK_DBFS / 20) / peak)


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
