"""Batched torch descriptors: the librosa reference's numbers for many clips at once, on CPU or CUDA.

Clips are sorted by length and zero-padded into batches; every frame-level descriptor of a batch comes from one
``torch.stft`` and a few tensor products (the filter banks are librosa's, so both backends share them). Frames
past a clip's end are cut off, and the two steps that see past it use each clip's own length: the edge padding
of the zero-crossing rate and the ramp padding and frame average of the tempogram. The per-clip decisions on
tiny arrays (onset peak picking, tempo prior) are shared with the reference (``descriptors.rhythm``).

Agreement with the reference is checked clip by clip on real sounds in ``tests/test_audio_descriptors.py``:
every summary column satisfies ``|torch - librosa| <= atol + rtol * |librosa|`` with ``TOLERANCES[name]``
(``atol`` in the descriptor's unit), and ``mel_db`` frame by frame. The torch path runs in float32 (the tempogram
in float64). How close the two backends come on the shared clips, column by column: ``docs/BENCHMARKS.md``
(``benchmarks/bench_descriptor_agreement.py``).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import librosa
import numpy as np
import scipy.fft
import torch
import torch.nn.functional as F

from bd2music.audio.descriptors import FrameConfig, descriptor_table
from bd2music.errors import InputError

AMIN = 1e-10  # power floor of librosa's power_to_db and spectral_flatness
CONTRAST_TOP_DB = 80.0  # librosa.feature.spectral_contrast's fixed power_to_db floor
ZERO_THRESHOLD = 1e-10  # librosa.zero_crossings: samples this close to 0 count as 0 (positive)


@dataclass(frozen=True)
class Tolerance:
    """Allowed |torch - librosa| on a summary value: ``atol`` (descriptor unit) + ``rtol`` * |librosa|."""

    atol: float
    rtol: float = 0.0


TOLERANCES = {
    "duration": Tolerance(0.0),
    "onset_rate": Tolerance(0.0),
    "tempo": Tolerance(0.0),
    "mel_db": Tolerance(0.01),  # not summarised: checked frame by frame
    "mfcc": Tolerance(0.05, 1e-3),
    "chroma": Tolerance(1e-3),
    "zero_crossing_rate": Tolerance(1e-6),
    "spectral_centroid": Tolerance(0.5, 1e-4),
    "spectral_bandwidth": Tolerance(0.5, 1e-4),
    "spectral_contrast": Tolerance(0.3),  # valleys at the float32 noise floor (e.g. above 6.4 kHz in a bass loop)
    "spectral_rolloff": Tolerance(16.0),  # one STFT bin
    "spectral_flatness": Tolerance(1e-4, 1e-3),
    "tonnetz": Tolerance(1e-3),
    "rms": Tolerance(1e-6, 1e-4),
    "onset_strength": Tolerance(0.01, 1e-3),
}


def tolerance_of(column: str) -> tuple[str, Tolerance]:
    """The descriptor of a summary column and its tolerance (``spectral_contrast_3_p90`` -> spectral_contrast)."""
    name = next(name for name in TOLERANCES if column == name or column.startswith(name + "_"))
    return name, TOLERANCES[name]


@dataclass(frozen=True)
class _Banks:
    """Constant tensors for one config on one device."""

    window: torch.Tensor  # (n_fft,) periodic Hann
    mel_chroma: torch.Tensor  # (bins, n_mels + 12): Slaney mel and A440 chroma filters, applied in one product
    moments: torch.Tensor  # (bins, 3): 1, f, f² per bin, for magnitude sums, centroids and spreads in one product
    dct: torch.Tensor  # (n_mfcc, n_mels) orthonormal DCT-II rows
    tonnetz: torch.Tensor  # (6, 12) tonal centroid projection
    freqs: torch.Tensor  # (bins,) Hz
    contrast: tuple[tuple[int, int, int], ...]  # (first bin, end bin, quantile count) per band
    tempo_window: torch.Tensor  # (tempo_window,) periodic Hann, float64


def _contrast_bands(config: FrameConfig) -> tuple[tuple[int, int, int], ...]:
    """The bins of each contrast band and how many are averaged, as librosa.feature.spectral_contrast picks them."""
    freqs = librosa.fft_frequencies(sr=config.sample_rate, n_fft=config.n_fft)
    edges = [0.0] + [config.contrast_fmin * 2**k for k in range(config.contrast_bands + 1)]
    if edges[-2] >= config.sample_rate / 2:
        raise ValueError("spectral contrast bands exceed Nyquist: lower contrast_fmin or contrast_bands")
    bands = []
    for k, (low, high) in enumerate(zip(edges[:-1], edges[1:])):
        inside = np.flatnonzero((freqs >= low) & (freqs <= high))
        first = inside[0] - 1 if k > 0 else inside[0]  # librosa adds the bin below each band but the first
        top = k == config.contrast_bands
        last = len(freqs) if top else inside[-1] + 1  # the top band runs to Nyquist
        count = max(1, int(np.rint(config.contrast_quantile * (last - first))))
        bands.append((int(first), int(last if top else last - 1), count))  # and drops the last bin of the others
    return tuple(bands)


@functools.lru_cache(maxsize=4)
def _banks(config: FrameConfig, device: str) -> _Banks:
    sr, n_fft = config.sample_rate, config.n_fft
    mel = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=config.n_mels)
    chroma = librosa.filters.chroma(sr=sr, n_fft=n_fft, tuning=0.0)
    freqs = librosa.fft_frequencies(sr=sr, n_fft=n_fft)

    def tensor(array: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(np.asarray(array, dtype=np.float32), device=device)

    return _Banks(
        window=torch.hann_window(n_fft, periodic=True, device=device),
        mel_chroma=tensor(np.concatenate([mel, chroma]).T),
        moments=tensor(np.stack([np.ones_like(freqs), freqs, freqs**2], axis=1)),
        dct=tensor(scipy.fft.dct(np.eye(config.n_mels), type=2, norm="ortho", axis=0)[: config.n_mfcc]),
        tonnetz=tensor(librosa.feature.tonnetz(chroma=np.eye(12))),  # unit chroma vectors give the projection
        freqs=tensor(freqs),
        contrast=_contrast_bands(config),
        tempo_window=torch.hann_window(config.tempo_window, periodic=True, dtype=torch.float64, device=device),
    )


def check_device(device: str) -> None:
    """Raise :class:`InputError` unless ``device`` is ``cpu`` or an available CUDA device."""
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError):
        parsed = None
    if parsed is None or parsed.type not in ("cpu", "cuda"):
        raise InputError(f"unknown device {device!r}, expected cpu, cuda or cuda:N")
    if parsed.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"device {device!r} was requested but no CUDA GPU is available")
    if parsed.type == "cuda" and (parsed.index or 0) >= torch.cuda.device_count():
        raise InputError(f"device {device!r} was requested but this machine has {torch.cuda.device_count()} GPU(s)")


def _divide(x: torch.Tensor, norm: torch.Tensor) -> torch.Tensor:
    """``x / norm``, leaving ``x`` as it is where ``norm`` is below the float's tiny (librosa's normalize rule)."""
    return x / torch.where(norm < torch.finfo(norm.dtype).tiny, 1.0, norm)


def _power_to_db(power: torch.Tensor, top_db: float) -> torch.Tensor:
    """``librosa.power_to_db`` (ref 1) of a (batch, ...) tensor, floored ``top_db`` below each clip's max."""
    db = 10.0 * torch.log10(power.clamp_min(AMIN))
    return torch.maximum(db, db.flatten(1).amax(dim=1).view(-1, *[1] * (db.ndim - 1)) - top_db)


def _zero_crossing_rate(y: torch.Tensor, lengths: torch.Tensor, n_fft: int, hop: int) -> torch.Tensor:
    """Sign changes per sample in each frame, each clip edge-padded at its own ends like librosa.

    Counts are exact: differences of a running integer count of sign changes at each frame's first and last sample.
    """
    half = n_fft // 2
    positions = torch.arange(-half, y.shape[1] + half, device=y.device).clamp_min(0)
    negative = y.gather(1, torch.minimum(positions[None, :], lengths[:, None] - 1)) < -ZERO_THRESHOLD
    changes = F.pad((negative[:, 1:] != negative[:, :-1]).cumsum(1, dtype=torch.int32), (1, 0))  # changes before j
    starts = torch.arange(0, changes.shape[1] - n_fft + 1, hop, device=y.device)
    return (changes[:, starts + n_fft - 1] - changes[:, starts]).float() / n_fft


def _extreme_mean(values: torch.Tensor, count: int, largest: bool) -> torch.Tensor:
    """Mean of the ``count`` largest (or smallest) values along the last dim (repeated max/min: faster than topk)."""
    if count == 1:
        return values.amax(dim=-1) if largest else values.amin(dim=-1)
    pick, taken = (torch.max, -math.inf) if largest else (torch.min, math.inf)
    values = values.clone()
    total = torch.zeros_like(values[..., :1])
    for step in range(count):
        extreme, index = pick(values, dim=-1, keepdim=True)
        total += extreme
        if step + 1 < count:
            values.scatter_(-1, index, taken)
    return total[..., 0] / count


def _spectral_contrast(magnitude: torch.Tensor, bands: tuple[tuple[int, int, int], ...]) -> torch.Tensor:
    """Peak minus valley (dB) per band of a (batch, frames, bins) magnitude: means of its largest and smallest bins."""
    peaks = torch.stack([_extreme_mean(magnitude[..., first:end], count, True) for first, end, count in bands], -1)
    valleys = torch.stack([_extreme_mean(magnitude[..., first:end], count, False) for first, end, count in bands], -1)
    return _power_to_db(peaks, CONTRAST_TOP_DB) - _power_to_db(valleys, CONTRAST_TOP_DB)


def _tempogram(onset: torch.Tensor, n_frames: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
    """Mean over each clip's frames of the normalised, windowed autocorrelation of its onset strength.

    librosa normalises each frame's autocorrelation by its largest value, the lag-0 energy, then averages; as the
    inverse FFT is linear, the energy-weighted power spectra are averaged first and inverted once per clip. Runs
    in float64 like librosa: float32 rounding leaves ~1e-9 at lags with no periodicity, enough to move the tempo
    pick (``log1p(1e6 * tempogram)`` + prior) by a lag on clips shorter than the window.
    """
    onset = onset.double()
    win, half = len(window), len(window) // 2
    steps = torch.arange(-half, onset.shape[1] + half, device=onset.device, dtype=onset.dtype)
    past_end = steps - n_frames[:, None]  # >= 0 after the clip's last frame
    last = onset.gather(1, n_frames[:, None] - 1)
    padded = torch.where(  # np.pad(mode="linear_ramp", end_values=0) of each clip's own envelope
        steps < 0,
        onset[:, :1] * (steps + half) / half,
        torch.where(past_end < 0, F.pad(onset, (half, half)), last * (half - 1 - past_end).clamp_min(0) / half),
    )
    n_pad = 1 << (2 * win - 2).bit_length()  # a power of two >= 2 win - 1: linear, not circular, correlation
    # Every frame windowed and zero-padded to n_pad in one product with the zero-padded window, written into a
    # contiguous buffer: the product of an unfolded view would come out frame-major and rfft would copy it first.
    windows = F.pad(padded, (0, n_pad - win)).unfold(1, n_pad, 1)[:, : onset.shape[1]]
    frames = torch.mul(windows, F.pad(window, (0, n_pad - win)), out=windows.new_empty(windows.shape))
    spectrum = torch.fft.rfft(frames)
    inside = torch.arange(onset.shape[1], device=onset.device)[None, :] < n_frames[:, None]
    energy = torch.linalg.vector_norm(frames[..., :win], dim=-1).square()  # lag-0 autocorrelation of each frame
    weights = _divide(inside.to(frames.dtype), energy) / n_frames[:, None]
    squares = torch.view_as_real(spectrum).flatten(2).square_()  # (batch, frames, 2 * bins): re², im² interleaved
    mean_power = (weights[:, None, :] @ squares)[:, 0].unflatten(-1, (-1, 2)).sum(dim=-1)
    return torch.fft.irfft(mean_power, n=n_pad)[..., :win]


@torch.inference_mode()
def _batch_frames(
    y: torch.Tensor, lengths: torch.Tensor, banks: _Banks, config: FrameConfig
) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Frame arrays (batch, [rows,] frames) and mean tempograms (batch, lags) of a zero-padded batch."""
    n_fft, hop = config.n_fft, config.hop_length
    spectrum = torch.stft(y, n_fft, hop, window=banks.window, center=True, pad_mode="constant", return_complex=True)
    spectrum = spectrum.transpose(1, 2)  # (batch, frames, bins), contiguous as torch.stft lays it out
    power = spectrum.real.square() + spectrum.imag.square()
    magnitude = power.sqrt()
    mel, chroma = (power @ banks.mel_chroma).split([config.n_mels, 12], dim=-1)
    mel_db = _power_to_db(mel, config.top_db)
    chroma = _divide(chroma, chroma.amax(dim=-1, keepdim=True))
    total, first, second = (magnitude @ banks.moments).split(1, dim=-1)  # sums of m, m f, m f²
    centroid = _divide(first, total)
    spread = (_divide(second, total) - centroid.square()).clamp_min(0)  # variance as E f² - centroid²
    cumulative = magnitude.cumsum(dim=-1)
    below = torch.searchsorted(cumulative, config.rolloff_percent * cumulative[..., -1:])[..., 0]  # first bin >= share
    floored = power.clamp_min(AMIN)
    onset = F.pad((mel_db[:, 1:] - mel_db[:, :-1]).clamp_min(0).mean(dim=-1), (1 + n_fft // (2 * hop), 0))
    frames_last = {  # (batch, frames[, rows]) while computing, returned as (batch, [rows,] frames)
        "mel_db": mel_db,
        "mfcc": mel_db @ banks.dct.T,
        "chroma": chroma,
        "spectral_centroid": centroid[..., 0],
        "spectral_bandwidth": spread[..., 0].sqrt(),
        "spectral_contrast": _spectral_contrast(magnitude, banks.contrast),
        "spectral_rolloff": banks.freqs[below],
        "spectral_flatness": floored.log().mean(dim=-1).exp() / floored.mean(dim=-1),
        "tonnetz": _divide(chroma, chroma.sum(dim=-1, keepdim=True)) @ banks.tonnetz.T,
        "onset_strength": onset[:, : mel_db.shape[1]],
    }
    frames = {name: values.transpose(1, 2) if values.ndim == 3 else values for name, values in frames_last.items()}
    frames["zero_crossing_rate"] = _zero_crossing_rate(y, lengths, n_fft, hop)
    frames["rms"] = F.avg_pool1d(F.pad(y.square(), (n_fft // 2, n_fft // 2))[:, None], n_fft, hop)[:, 0].sqrt()
    return frames, _tempogram(frames["onset_strength"], 1 + lengths // hop, banks.tempo_window)


def torch_frames(
    signals: Sequence[np.ndarray], config: FrameConfig, device: str, batch_size: int
) -> list[tuple[dict[str, np.ndarray], np.ndarray]]:
    """Per signal, the reference's ``(frames, mean tempogram)``, computed in zero-padded batches of similar lengths."""
    banks = _banks(config, device)
    names = [name for name, descriptor in descriptor_table(config).items() if descriptor.level == "frame"]
    order = sorted(range(len(signals)), key=lambda i: len(signals[i]))
    results = {}
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        lengths = np.array([len(signals[i]) for i in chunk])
        padded = np.zeros((len(chunk), lengths.max()), dtype=np.float32)
        for row, i in enumerate(chunk):
            padded[row, : lengths[row]] = signals[i]
        frames, tempogram = _batch_frames(
            torch.from_numpy(padded).to(device), torch.from_numpy(lengths).to(device), banks, config
        )
        arrays = {name: values.cpu().numpy() for name, values in frames.items()}
        tempogram_rows = tempogram.cpu().numpy()
        for row, (i, n_frames) in enumerate(zip(chunk, 1 + lengths // config.hop_length)):
            clip_frames = {name: arrays[name][row, ..., :n_frames].copy() for name in names}
            results[i] = ({"waveform": signals[i]} | clip_frames, tempogram_rows[row])
    return [results[i] for i in range(len(signals))]
