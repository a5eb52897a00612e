"""The shipped audio VAE and vocoder (weights/) on real held-out clips: reconstruction, prior, heads, round trip."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from bd2music.__main__ import main
from bd2music.audio.descriptors import compute_descriptors
from bd2music.audio.load import load_audio
from bd2music.audio.mel import MEL, MelSpectrogram
from bd2music.commands.reconstruct import sample_prior
from bd2music.evaluation.audio import evaluate_vocoder
from bd2music.evaluation.listening import frame_rate_buzz_db, silent_or_clipped
from bd2music.models import AudioVAE, Vocoder

WEIGHTS = Path(__file__).resolve().parents[1] / "weights"
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def vae() -> AudioVAE:
    return AudioVAE.from_pretrained()


@pytest.fixture(scope="module")
def vocoder() -> Vocoder:
    return Vocoder.from_pretrained()


@pytest.fixture(scope="module")
def heldout_clips(data_dir: Path) -> list[np.ndarray]:
    """12 held-out clips (the split recorded beside the weights), spread over the list, first 4 s of each."""
    names = (WEIGHTS / "audio_vae" / "heldout.txt").read_text().split()
    picked = [names[i] for i in np.linspace(0, len(names) - 1, 12).astype(int)]
    return [load_audio(data_dir / "sounds" / name).samples[: 4 * MEL.sample_rate] for name in picked]


def test_heldout_split_is_the_shipped_one(data_dir: Path) -> None:
    """The weights were held out from exactly the split the data module assigns today."""
    from bd2music.data.sounds import load_sounds

    heldout = sorted(item.name for item in load_sounds(data_dir / "sounds") if item.split == "heldout")
    assert heldout == (WEIGHTS / "audio_vae" / "heldout.txt").read_text().split()


@torch.inference_mode()
def test_vae_reconstructs_heldout_clips(vae: AudioVAE, heldout_clips: list[np.ndarray]) -> None:
    """Mel L1 of the round trip stays far below that of the training-set mean spectrum (what a collapsed model
    gives): about 1.1 vs 3.1 nats per mel bin for the shipped weights."""
    mel = MelSpectrogram(vae.config.mel)
    errors, baselines = [], []
    for samples in heldout_clips:
        log_mel = mel(torch.from_numpy(samples))
        errors.append(float((vae.reconstruct(log_mel) - log_mel).abs().mean()))
        baselines.append(float((vae.mel_mean[:, None] - log_mel).abs().mean()))
    assert np.mean(errors) < 0.5 * np.mean(baselines), (np.mean(errors), np.mean(baselines))
    assert np.mean(errors) < 1.4  # nats per mel bin


@torch.inference_mode()
def test_vocoder_beats_griffin_lim_speed_and_resynthesises(vocoder: Vocoder, heldout_clips: list[np.ndarray]) -> None:
    """The trained vocoder resynthesises real held-out clips: MR-STFT distance below a floor (silence scores ~2.5)."""
    metrics = evaluate_vocoder(vocoder, heldout_clips[:6])
    silence = evaluate_vocoder(lambda log_mel, length: torch.zeros(length), heldout_clips[:6])
    assert metrics["mrstft_total"] < 0.7 * silence["mrstft_total"], (metrics, silence)
    assert metrics["mel_l1"] < 1.5


@torch.inference_mode()
def test_vocoder_adds_no_frame_rate_comb(vocoder: Vocoder, heldout_clips: list[np.ndarray],
                                        harmonic_tone: np.ndarray) -> None:
    """Real held-out mels and a harmonic tone come back without the comb at every multiple of the vocoder's frame
    rate (62.5 Hz) that per-frame phases produce: under the 4 dB that recordings stay under, on every clip."""
    for clip in [*heldout_clips, harmonic_tone]:
        audio = vocoder(MelSpectrogram(MEL)(torch.from_numpy(clip))[None], length=len(clip))[0].numpy()
        assert frame_rate_buzz_db(audio, MEL.sample_rate, MEL.hop_length) < 4.0


@torch.inference_mode()
def test_prior_samples_are_audible_and_rarely_clip(vae: AudioVAE, vocoder: Vocoder) -> None:
    """Audio decoded from latents drawn from the fitted prior is never silent, its level lies in the range of real
    clips (held-out clips: 10th-90th percentile RMS -35 to -16 dBFS), and few draws peak above full scale before
    the output limiter. One of these 8 draws decodes to a mel louder than full scale (Griffin-Lim voices it at
    +4 dBFS): the vocoder with predicted phases lost 14 dB of it and hid that, the shipped one loses 8 dB, so
    one draw may sit above -6 dBFS (the prior's loud draws are the audio VAE's to fix, issue 23)."""
    generator = torch.Generator().manual_seed(0)
    rms_db, peaks = [], []
    for _ in range(8):
        waveform = sample_prior(vae, vocoder, 4.0, generator)
        assert waveform.shape == (4 * MEL.sample_rate,)
        rms_db.append(20 * np.log10(float(waveform.square().mean().sqrt()) + 1e-12))
        peaks.append(float(waveform.abs().max()))
    assert all(-45 < level < 0 for level in rms_db), rms_db
    assert sum(level >= -6 for level in rms_db) <= 1, rms_db
    assert -35 < float(np.median(rms_db)) < -16, rms_db  # the middle of the real range
    assert sum(peak >= 1.0 for peak in peaks) <= 2, peaks


@torch.inference_mode()
def test_descriptor_head_predicts_heldout_descriptors(vae: AudioVAE, data_dir: Path) -> None:
    """R^2 of the descriptor head on half of the held-out clips (each looped or cut to one window) is clearly
    positive for energy and brightness, descriptors the mapper is trained to follow."""
    window = vae.config.window_frames * vae.config.mel.hop_length - vae.config.mel.hop_length  # exactly one window
    names = (WEIGHTS / "audio_vae" / "heldout.txt").read_text().split()
    clips = [np.resize(load_audio(data_dir / "sounds" / name).samples, window) for name in names[::2]]
    truth = compute_descriptors([load_audio((c, vae.sample_rate)) for c in clips], "torch")
    mel = MelSpectrogram(vae.config.mel)
    latents = torch.stack([vae.encode(mel(torch.from_numpy(c))[None]).mean[0] for c in clips])
    predicted = vae.predict_descriptors(latents)
    for name, floor in (("rms_mean", 0.4), ("spectral_centroid_mean", 0.7)):  # shipped: 0.59, 0.88
        target = np.array([row.summary[name] for row in truth])
        guess = predicted[name].numpy()
        if name == "rms_mean":
            target, guess = np.log(target + 1e-6), np.log(np.clip(guess, 0, None) + 1e-6)
        r2 = 1 - np.mean((guess - target) ** 2) / np.var(target)
        assert r2 > floor, (name, r2)


@torch.inference_mode()
def test_save_load_round_trip_identical(vae: AudioVAE, vocoder: Vocoder, tmp_path: Path) -> None:
    """save_pretrained -> from_pretrained gives bit-identical outputs (buffers and statistics included)."""
    log_mel = torch.randn(1, MEL.n_mels, vae.config.window_frames) * 3 - 6
    vae.save_pretrained(tmp_path / "audio_vae")
    vocoder.save_pretrained(tmp_path / "vocoder")
    again, voc_again = AudioVAE.from_pretrained(tmp_path), Vocoder.from_pretrained(tmp_path)
    latent = vae.encode(log_mel).mean
    assert torch.equal(again.encode(log_mel).mean, latent)
    assert torch.equal(again.decode(latent), vae.decode(latent))
    assert torch.equal(voc_again(log_mel), vocoder(log_mel))


def test_reconstruct_cli(tmp_path: Path, sound_clips: dict[str, Path]) -> None:
    """`bd2music reconstruct` keeps each clip's length and rate, writes prior clips, and skips a broken file."""
    clip = tmp_path / "in" / "clip.wav"
    clip.parent.mkdir()
    sf.write(clip, load_audio(sound_clips["music"]).samples[: 3 * MEL.sample_rate], MEL.sample_rate)
    (tmp_path / "in" / "broken.wav").write_bytes(b"RIFF not really")
    code = main(["reconstruct", str(tmp_path / "in"), "--prior", "1", "--seconds", "2", "--out", str(tmp_path / "out")])
    assert code == 1  # one input failed, the rest were written
    out, rate = sf.read(tmp_path / "out" / "clip.wav")
    assert rate == MEL.sample_rate and len(out) == 3 * MEL.sample_rate
    prior, _ = sf.read(tmp_path / "out" / "prior_000.wav")
    assert len(prior) == 2 * MEL.sample_rate and np.abs(prior).max() > 1e-3
    assert main(["reconstruct", "--out", str(tmp_path / "none")]) == 2
    assert main(["reconstruct", str(clip), "--vae", str(tmp_path / "in"), "--out", str(tmp_path / "none")]) == 2


@torch.inference_mode()
def test_the_neural_sounds_vae_prior_samples_are_neither_silent_nor_clipped(neural_vae_folder: Path,
                                                                            tmp_path: Path) -> None:
    """Issue 23's target for the audio VAE the neural sound decodes with (the pipeline's ``neural_vae``), on 8 of
    its 48 draws, through the CLI's ``--vae``."""
    assert main(["reconstruct", "--prior", "8", "--vae", str(neural_vae_folder), "--out", str(tmp_path)]) == 0
    for path in sorted(tmp_path.glob("prior_*.wav")):
        audio, rate = sf.read(path)
        assert rate == MEL.sample_rate and len(audio) == 4 * rate and silent_or_clipped(audio) is None, path.name
    assert len(list(tmp_path.glob("prior_*.wav"))) == 8


def test_model_cards_state_data_licences_and_metrics() -> None:
    """Each audio weights folder has its card, config, training config and metrics."""
    for component in ("audio_vae", "vocoder"):
        folder = WEIGHTS / component
        card = (folder / "README.md").read_text()
        assert "licen" in card.lower() and "bd2music train" in card
        assert json.loads((folder / "metrics.json").read_text())
        assert (folder / "train_config.json").is_file()
