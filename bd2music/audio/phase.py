"""STFT phase from the magnitude alone, without iterations: phase-gradient integration with peak locking.

For a Gaussian window the phase's time and frequency derivatives follow from the log-magnitude's frequency and
time derivatives (Portnoff 1979; Prusa, Balazs and Sondergaard 2017, "A noniterative method for reconstruction
of phase from STFT magnitude", PGHI; the Hann window is treated as the Gaussian with ``HANN_GAMMA``). Here they
are combined as a phase-locked vocoder does (Laroche and Dolson 1999) instead of by PGHI's heap, so that every
step but one short loop over frames is a whole-array operation:

1. ``phase_derivatives``: per bin and frame, the phase advance to the next frame (the bin's instantaneous
   frequency times the hop) and the phase step to the next bin (the local group delay), in the centred
   (zero-phase window) convention where a steady sinusoid has the same phase in all bins of its lobe.
2. ``lobe_peaks``: each bin's spectral peak, found by walking uphill along frequency in its frame.
3. ``phase_from_magnitude``: frame by frame, every peak advances its phase of the previous frame by its
   instantaneous frequency, and the other bins of its lobe take the peak's phase plus the group-delay steps
   between them; then the result is turned into ``torch.stft``'s convention (frames start at the window's edge).

Frames that continue each other therefore overlap in phase, which is what removes a vocoder's comb at its
frame rate; a click keeps its place within the frame through the group delay. A peak that is not a sinusoid's
lobe (flatter than the window's main lobe: noise) would otherwise become a steady sinusoid at its bin's centre
frequency, and a static noisy spectrum a comb at every multiple of ``sample_rate / n_fft``: such peaks get a random
phase advance, up to ``jitter`` x pi per frame, in proportion to how much flatter than a lobe they are and how
steady they are (a click's bins change fast and keep their group delay).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from bd2music.audio.mel import MEL, MelConfig

HANN_GAMMA = 0.25645  # Gaussian time-frequency ratio matching a Hann window of length L: gamma = 0.25645 L^2
ONSET_RISE = 1.0  # nats: a bin this far from a frame its window overlaps is a transient's, not jittered
LOG_RANGE = 11.5  # log-magnitudes more than this (100 dB) under the signal's maximum are floored there


def phase_derivatives(log_magnitude: torch.Tensor, config: MelConfig = MEL) -> tuple[torch.Tensor, torch.Tensor]:
    """(advance, step): the phase increase from frame ``t - 1`` to ``t`` of each bin (zero in the first frame)
    and the cumulative phase increase from bin 0 to each bin within its frame, both (..., bins, frames), centred
    convention, from the log-magnitude (..., bins, frames) by centred finite differences."""
    n_fft, hop = config.n_fft, config.hop_length
    gamma = HANN_GAMMA * n_fft**2
    bins = torch.arange(log_magnitude.shape[-2], dtype=log_magnitude.dtype, device=log_magnitude.device)[:, None]
    d_bin = torch.zeros_like(log_magnitude)
    d_bin[..., 1:-1, :] = (log_magnitude[..., 2:, :] - log_magnitude[..., :-2, :]) / 2
    d_frame = torch.zeros_like(log_magnitude)
    d_frame[..., 1:-1] = (log_magnitude[..., 2:] - log_magnitude[..., :-2]) / 2
    frequency = 2 * math.pi * hop / n_fft * (bins + n_fft**2 / (2 * math.pi * gamma) * d_bin)  # radians per frame
    delay = -gamma / (hop * n_fft) * d_frame  # radians per bin
    advance = torch.zeros_like(log_magnitude)
    advance[..., 1:] = (frequency[..., 1:] + frequency[..., :-1]) / 2  # trapezoids
    step = torch.zeros_like(log_magnitude)
    step[..., 1:, :] = torch.cumsum((delay[..., 1:, :] + delay[..., :-1, :]) / 2, dim=-2)
    return advance, step


def lobe_peaks(log_magnitude: torch.Tensor) -> torch.Tensor:
    """Index (..., bins, frames) of the peak each bin reaches by walking uphill along frequency in its frame."""
    bins = log_magnitude.shape[-2]
    edge = torch.full_like(log_magnitude[..., :1, :], -math.inf)
    padded = torch.cat([edge, log_magnitude, edge], dim=-2)
    below, here, above = padded[..., :-2, :], padded[..., 1:-1, :], padded[..., 2:, :]
    index = torch.arange(bins, device=log_magnitude.device)[:, None].expand_as(log_magnitude)
    is_peak = (here >= below) & (here > above)
    left = torch.where(is_peak, index, -1).cummax(dim=-2).values  # nearest peak at or below each bin
    right = torch.where(is_peak, index, bins).flip(-2).cummin(dim=-2).values.flip(-2)  # at or above
    uphill = torch.where((above > here) & (right < bins), right, left)
    return torch.where(uphill < 0, right, uphill).clamp(0, bins - 1)


def tonality(log_magnitude: torch.Tensor) -> torch.Tensor:
    """(..., bins, frames) in [0, 1]: the log-magnitude's curvature along frequency over that of the window's main
    lobe (1: as peaked as a sinusoid, 0: flat or a valley)."""
    lobe_curvature = 2 * math.pi * HANN_GAMMA  # -d2/dbin2 of a Gaussian lobe's log-magnitude (per bin squared)
    curvature = torch.zeros_like(log_magnitude)
    curvature[..., 1:-1, :] = 2 * log_magnitude[..., 1:-1, :] - log_magnitude[..., 2:, :] - log_magnitude[..., :-2, :]
    return (curvature / lobe_curvature).clamp(0, 1)


def largest_change(log_magnitude: torch.Tensor, config: MelConfig = MEL) -> torch.Tensor:
    """(..., bins, frames): the largest log-magnitude difference between each frame and the frames that overlap
    its window (``n_fft / hop - 1`` either side)."""
    reach = config.n_fft // config.hop_length - 1
    rows = log_magnitude.reshape(-1, 1, log_magnitude.shape[-1])
    padded = torch.nn.functional.pad(rows, (reach, reach), mode="replicate")
    highest = torch.nn.functional.max_pool1d(padded, 2 * reach + 1, stride=1)
    lowest = -torch.nn.functional.max_pool1d(-padded, 2 * reach + 1, stride=1)
    return torch.maximum(highest - rows, rows - lowest).reshape(log_magnitude.shape)


def phase_from_magnitude(
    log_magnitude: torch.Tensor, config: MelConfig = MEL, jitter: float = 0.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Phases (..., bins, frames) for the STFT log-magnitude (..., bins, frames) of ``config``'s framing, in
    ``torch.stft``'s convention (``center=True``), no iterations; with ``jitter``, non-tonal peaks advance by a
    random extra phase drawn from ``generator`` (default: seeded, so that a call is reproducible). Phases carry
    no gradient."""
    log_magnitude = log_magnitude.detach().float()
    floor = log_magnitude.amax(dim=(-2, -1), keepdim=True) - LOG_RANGE
    log_magnitude = torch.maximum(log_magnitude, floor)
    advance, step = phase_derivatives(log_magnitude, config)
    if jitter:
        generator = generator or torch.Generator(log_magnitude.device).manual_seed(0)
        noise = torch.rand(log_magnitude.shape, generator=generator, device=log_magnitude.device) * 2 - 1
        steady = 1 - (largest_change(log_magnitude, config) / ONSET_RISE).clamp(max=1)
        advance = advance + jitter * math.pi * noise * (1 - tonality(log_magnitude)) * steady
    peaks = lobe_peaks(log_magnitude)
    offset = step - torch.gather(step, -2, peaks)  # group-delay phase of each bin relative to its peak

    def by_frame(x: torch.Tensor) -> np.ndarray:  # (..., frames, bins), phases wrapped: float32 stays exact
        x = x.transpose(-1, -2)
        return (torch.remainder(x, 2 * math.pi) if x.is_floating_point() else x).cpu().numpy().copy()

    # the loop runs in numpy: hundreds of tiny steps, which torch's thread pool slows on a busy CPU
    advance, peaks, offset = by_frame(advance), by_frame(peaks), by_frame(offset)
    phase = np.empty_like(advance)
    previous = np.zeros_like(advance[..., 0, :])
    for frame in range(phase.shape[-2]):
        previous = np.take_along_axis(previous + advance[..., frame, :], peaks[..., frame, :], -1)
        previous += offset[..., frame, :]
        phase[..., frame, :] = previous
    phase = torch.from_numpy(phase).to(log_magnitude.device)
    bins = torch.arange(phase.shape[-1], device=phase.device)
    return torch.remainder(phase - math.pi * bins, 2 * math.pi).transpose(-1, -2)  # centre -> first sample
