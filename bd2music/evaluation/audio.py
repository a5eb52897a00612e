"""Audio model metrics: multi-resolution STFT distance, mel L1, real-time factor, and evaluation on held-out clips.

The distances are differentiable, and the training losses are these same functions:

* ``multi_resolution_stft_distance``: per resolution (n_fft, hop, Hann window of n_fft), spectral convergence
  ``|| |Y| - |Y'| ||_F / || |Y| ||_F`` over the whole batch plus the mean L1 of log magnitudes floored at
  ``MAGNITUDE_FLOOR``; averaged over resolutions (Yamamoto et al. 2020). Lower is better, 0 for identical audio.
* ``mel_l1``: mean absolute difference of the log-mels of ``bd2music.audio.mel`` (nats; 1 nat ~ 4.3 dB).
* ``real_time_factor``: compute seconds per second of audio (0.02 = 50x faster than real time).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np
import torch

from bd2music.audio.mel import MEL, MelConfig, mel_spectrogram

STFT_RESOLUTIONS = ((2048, 512), (1024, 256), (512, 128), (256, 64))  # (n_fft, hop) at 16 kHz: 128 ms ... 16 ms
MAGNITUDE_FLOOR = 1e-5  # |STFT| floor before the log (16-bit quantisation noise is ~5e-6 per bin at n_fft 1024)


def stft_magnitude(waveform: torch.Tensor, n_fft: int, hop: int) -> torch.Tensor:
    """|STFT| (batch, n_fft // 2 + 1, frames) of waveforms (..., samples): centred, zero-padded, Hann of n_fft."""
    window = torch.hann_window(n_fft, periodic=True, device=waveform.device)
    return torch.stft(
        waveform.reshape(-1, waveform.shape[-1]),
        n_fft,
        hop,
        window=window,
        center=True,
        pad_mode="constant",
        return_complex=True,
    ).abs()


def multi_resolution_stft_distance(
    estimate: torch.Tensor, reference: torch.Tensor, resolutions: Sequence[tuple[int, int]] = STFT_RESOLUTIONS
) -> dict[str, torch.Tensor]:
    """``spectral_convergence``, ``log_magnitude`` and their sum ``total``, averaged over resolutions.

    ``estimate`` and ``reference``: waveforms (..., samples) of the same shape.
    """
    convergence, log_magnitude = [], []
    for n_fft, hop in resolutions:
        est, ref = stft_magnitude(estimate, n_fft, hop), stft_magnitude(reference, n_fft, hop)
        convergence.append(torch.linalg.vector_norm(ref - est) / torch.linalg.vector_norm(ref).clamp_min(1e-7))
        log_magnitude.append((est.clamp_min(MAGNITUDE_FLOOR).log() - ref.clamp_min(MAGNITUDE_FLOOR).log()).abs().mean())
    sc, lm = torch.stack(convergence).mean(), torch.stack(log_magnitude).mean()
    return {"spectral_convergence": sc, "log_magnitude": lm, "total": sc + lm}


def mel_l1(estimate: torch.Tensor, reference: torch.Tensor, config: MelConfig = MEL) -> torch.Tensor:
    """Mean |log-mel(estimate) - log-mel(reference)| of two waveforms (..., samples), in nats."""
    return (mel_spectrogram(estimate, config) - mel_spectrogram(reference, config)).abs().mean()


def real_time_factor(synthesise: Callable[[], object], audio_seconds: float, repeats: int = 3) -> float:
    """Best-of-``repeats`` wall time of ``synthesise()`` (after one warm-up call) per second of audio it makes."""
    synthesise()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        synthesise()
        best = min(best, time.perf_counter() - start)
    return best / audio_seconds


@torch.inference_mode()
def evaluate_vocoder(
    vocoder: Callable[..., torch.Tensor], clips: Sequence[np.ndarray], config: MelConfig = MEL, device: str = "cpu"
) -> dict[str, float]:
    """Mean MR-STFT distance and mel L1 of ``vocoder(log_mel, length=...)`` against the clips it resynthesises.

    Works for the trained ``Vocoder`` and the ``GriffinLim`` baseline alike. Also reports the real-time factor
    over all clips.
    """
    totals: dict[str, float] = {}
    seconds = compute = 0.0
    for samples in clips:
        reference = torch.as_tensor(samples, dtype=torch.float32, device=device)
        start = time.perf_counter()
        estimate = vocoder(mel_spectrogram(reference, config), length=len(reference))
        compute += time.perf_counter() - start
        seconds += len(reference) / config.sample_rate
        metrics = {k: float(v) for k, v in multi_resolution_stft_distance(estimate, reference).items()}
        metrics["mel_l1"] = float(mel_l1(estimate, reference, config))
        for key, value in metrics.items():
            totals[key] = totals.get(key, 0.0) + value / len(clips)
    return {f"mrstft_{k}" if k != "mel_l1" else k: v for k, v in totals.items()} | {
        "real_time_factor": compute / seconds
    }
