"""Phase from the STFT magnitude (``bd2music.audio.phase``): no comb at the frame rate, clicks kept in place, and a
vocoder built on it (random weights: the structure, not the training)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from bd2music.audio.mel import MEL, MelSpectrogram
from bd2music.audio.phase import lobe_peaks, phase_from_magnitude
from bd2music.evaluation.listening import frame_rate_buzz_db
from bd2music.models import Vocoder, VocoderConfig

SR, HOP = MEL.sample_rate, MEL.hop_length
STFT = MelSpectrogram(MEL)


def resynthesise(magnitude: torch.Tensor, phase: torch.Tensor, length: int) -> np.ndarray:
    window = STFT.window
    return torch.istft(torch.polar(magnitude, phase), MEL.n_fft, HOP, window=window, center=True,
                       length=length).numpy()


def magnitude_of(audio: np.ndarray) -> torch.Tensor:
    return STFT.spectrogram(torch.from_numpy(audio)).abs()


@pytest.mark.parametrize("jitter", [0.0, 1.0])
def test_integrated_phase_has_no_frame_rate_comb(harmonic_tone: np.ndarray, jitter: float) -> None:
    """A harmonic tone rebuilt from its magnitude stays as comb-free as the tone; the same phases in every frame
    (what a per-frame phase predictor can fall into) make the 62.5 Hz comb the metric is there to catch."""
    tone = harmonic_tone
    magnitude = magnitude_of(tone)
    rebuilt = resynthesise(magnitude, phase_from_magnitude(magnitude.clamp_min(1e-5).log(), jitter=jitter), len(tone))
    frame_locked = resynthesise(magnitude, torch.zeros_like(magnitude) - math.pi * torch.arange(513)[:, None],
                                len(tone))
    assert frame_rate_buzz_db(tone, SR, HOP) < 1.0
    assert frame_rate_buzz_db(rebuilt, SR, HOP) < 2.0
    assert frame_rate_buzz_db(frame_locked, SR, HOP) > 10.0
    error = float((magnitude_of(rebuilt) - magnitude).abs().sum() / magnitude.sum())
    assert error < 0.25  # the rebuilt STFT keeps the magnitude it was given


def test_jitter_keeps_a_static_noise_spectrum_from_becoming_a_comb() -> None:
    """A smooth spectrum that never changes (a generated drone) has no sinusoid to follow: integrated as such its
    peaks ring at their bins' centres, multiples of 15.6 Hz; jittered they stay noise, and reproducibly so."""
    generator = torch.Generator().manual_seed(0)
    smooth = torch.nn.functional.avg_pool1d(torch.randn(1, 1, 521, generator=generator), 9, 1)[0, 0]
    log_magnitude = (2 * smooth - 3)[:, None].expand(513, 188).contiguous()

    def buzz(jitter: float) -> float:
        phase = phase_from_magnitude(log_magnitude, jitter=jitter)
        return frame_rate_buzz_db(resynthesise(log_magnitude.exp(), phase, 187 * HOP), SR, HOP)

    assert buzz(0.0) > 8.0
    assert buzz(1.0) < 2.0
    assert torch.equal(phase_from_magnitude(log_magnitude, jitter=1.0), phase_from_magnitude(log_magnitude, jitter=1.0))


@pytest.mark.parametrize("jitter", [0.0, 1.0])
def test_clicks_stay_in_place(jitter: float) -> None:
    clicks = np.zeros(3 * SR, dtype=np.float32)
    where = [8000, 20111, 33333]
    clicks[where] = 1.0
    clicks += np.random.default_rng(0).normal(0, 1e-4, len(clicks)).astype(np.float32)  # a recording's floor
    magnitude = magnitude_of(clicks)
    rebuilt = resynthesise(magnitude, phase_from_magnitude(magnitude.clamp_min(1e-5).log(), jitter=jitter),
                           len(clicks))
    for sample in where:
        around = np.abs(rebuilt[sample - 600 : sample + 600])
        assert abs(int(np.argmax(around)) - 600) < 64  # within 4 ms (a quarter hop)
        assert np.sum(around**2) > 0.4  # most of the click's energy is there, not smeared over the frame


def test_lobe_peaks_walk_uphill() -> None:
    spectrum = torch.tensor([0.0, 1.0, 3.0, 2.0, 0.5, 1.0, 4.0, 1.0])[:, None]
    assert lobe_peaks(spectrum)[:, 0].tolist() == [2, 2, 2, 2, 6, 6, 6, 6]


def test_phase_batches_and_is_deterministic(harmonic_tone: np.ndarray) -> None:
    magnitude = torch.stack([magnitude_of(harmonic_tone[:SR]), magnitude_of(harmonic_tone[SR : 2 * SR] ** 2)])
    log_magnitude = magnitude.clamp_min(1e-5).log()
    phase = phase_from_magnitude(log_magnitude)
    assert phase.shape == magnitude.shape and torch.isfinite(phase).all()
    assert torch.equal(phase[1], phase_from_magnitude(log_magnitude[1]))


def test_gradient_vocoder_runs_and_refuses_unknown_phase() -> None:
    torch.manual_seed(0)
    vocoder = Vocoder(VocoderConfig(dim=32, num_layers=1, phase="gradient")).eval()
    assert vocoder.head.out_features == MEL.n_fft // 2 + 1
    with torch.inference_mode():
        waveform = vocoder(torch.randn(2, MEL.n_mels, 40) - 6.0, length=39 * HOP)
    assert waveform.shape == (2, 39 * HOP) and torch.isfinite(waveform).all()
    with pytest.raises(ValueError, match="phase must be one of"):
        VocoderConfig(phase="random")
