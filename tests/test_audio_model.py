"""Audio model groundwork: mel vs librosa, Griffin-Lim, Hub-style weights, tiling, and smoke training."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import librosa
import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from bd2music.__main__ import main
from bd2music.audio.descriptors import FrameConfig, reference_frames
from bd2music.audio.griffin_lim import mel_to_waveform
from bd2music.audio.load import Clip, load_audio
from bd2music.audio.mel import MEL, MelSpectrogram, mel_spectrogram
from bd2music.data.sounds import SoundCache
from bd2music.errors import InputError
from bd2music.evaluation.audio import evaluate_vocoder, multi_resolution_stft_distance
from bd2music.models import AudioVAE, AudioVAEConfig, Vocoder, VocoderConfig
from bd2music.models.audio_vae import DiagonalGaussian, TiledLatent, tile_starts
from bd2music.models.base import merge_config
from bd2music.training.audio_vae import SMOKE as VAE_SMOKE
from bd2music.training.audio_vae import AudioVAESolver, AudioVAETrainConfig, losses, split_windows, train_audio_vae
from bd2music.training.vocoder import SMOKE as VOCODER_SMOKE
from bd2music.training.vocoder import VocoderTrainConfig, reconstruction_loss, sample_batch, train_vocoder

SR = MEL.sample_rate


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def clips(sound_clips: dict[str, Path]) -> list[Clip]:
    """4 made-up clips: music, foley, animal and ambience, cut to 3 s."""
    clips = [load_audio(sound_clips[c], c) for c in ("music", "foley", "animal", "ambience")]
    return [Clip(c.samples[: 3 * SR], SR, c.name, c.silent) for c in clips]


def tiny_vocoder() -> Vocoder:
    torch.manual_seed(0)
    return Vocoder(VocoderConfig(dim=32, num_layers=2)).eval()


def tiny_vae(**overrides) -> AudioVAE:
    torch.manual_seed(0)
    config = merge_config(AudioVAEConfig(), VAE_SMOKE["model"] | overrides)
    model = AudioVAE(config).eval()
    n, d = config.mel.n_mels, len(config.descriptors)
    model.set_statistics(torch.randn(n) - 6, torch.rand(n) + 3, torch.randn(d), torch.rand(d) + 0.5)
    return model


# -- mel --------------------------------------------------------------------------------------------------------


def test_mel_matches_librosa(clips: list[Clip]) -> None:
    module = MelSpectrogram()
    for clip in clips:
        reference = librosa.feature.melspectrogram(
            y=clip.samples,
            sr=SR,
            n_fft=MEL.n_fft,
            hop_length=MEL.hop_length,
            n_mels=MEL.n_mels,
            fmin=MEL.fmin,
            fmax=MEL.fmax,
        )
        power = module.power_mel(torch.from_numpy(clip.samples)).numpy()
        assert power.shape == reference.shape == (MEL.n_mels, MEL.num_frames(len(clip.samples)))
        np.testing.assert_allclose(power, reference, rtol=1e-3, atol=1e-5 * reference.max())
        log_ref = np.log(np.maximum(reference, MEL.log_floor))
        loud = reference > 1e3 * MEL.log_floor  # float32 rounding only matters near the floor
        assert np.abs(mel_spectrogram(clip.samples).numpy() - log_ref)[loud].max() < 1e-3, clip.name


def test_mel_shares_the_analysis_framing_and_batches(clips: list[Clip]) -> None:
    frames = FrameConfig()
    assert (MEL.sample_rate, MEL.n_fft, MEL.hop_length, MEL.n_mels) == (
        frames.sample_rate,
        frames.n_fft,
        frames.hop_length,
        frames.n_mels,
    )
    clip = clips[0]
    mel_db = reference_frames(clip.samples, frames)[0]["mel_db"]  # the toolkit's dB mel (floored top_db below max)
    ours = 10 * np.log10(MelSpectrogram().power_mel(torch.from_numpy(clip.samples)).numpy())
    above = mel_db > mel_db.max() - frames.top_db + 1
    assert np.abs(ours - mel_db)[above].max() < 0.01
    batch = torch.from_numpy(np.stack([c.samples[: 2 * SR] for c in clips[:3]]))
    batched = mel_spectrogram(batch.view(3, 1, -1))
    assert batched.shape == (3, 1, MEL.n_mels, MEL.num_frames(2 * SR))
    torch.testing.assert_close(batched[1, 0], mel_spectrogram(batch[1]), rtol=0, atol=1e-4)


def test_griffin_lim_round_trip_converges(clips: list[Clip]) -> None:
    def convergence(n_iter: int, samples: np.ndarray) -> float:
        log_mel = mel_spectrogram(samples)
        waveform = mel_to_waveform(log_mel, n_iter=n_iter, length=len(samples))
        assert waveform.shape == (len(samples),)
        target, rebuilt = log_mel.exp().sqrt(), mel_spectrogram(waveform).exp().sqrt()
        return float((rebuilt - target).norm() / target.norm())

    for clip in clips[:2]:
        samples = clip.samples[: 2 * SR]
        converged, random_phase = convergence(32, samples), convergence(0, samples)
        assert converged < 0.2, clip.name
        assert converged < 0.6 * random_phase, clip.name  # the iterations do the work


def test_stft_distance_is_zero_only_for_identical_audio(clips: list[Clip]) -> None:
    reference = torch.from_numpy(clips[0].samples[:SR])
    assert float(multi_resolution_stft_distance(reference, reference)["total"]) == pytest.approx(0.0, abs=1e-6)
    noisy = reference + 0.01 * torch.randn_like(reference)
    assert float(multi_resolution_stft_distance(noisy, reference)["total"]) > 0.05


# -- weights ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("build", [tiny_vocoder, tiny_vae])
def test_save_and_load_pretrained_give_identical_outputs(build, tmp_path: Path) -> None:
    model = build()
    folder = model.save_pretrained(tmp_path / "weights")
    loaded = type(model).from_pretrained(folder)
    assert loaded.config == model.config and not loaded.training
    mel = torch.randn(2, MEL.n_mels, 64) - 6
    with torch.inference_mode():
        if isinstance(model, Vocoder):
            assert torch.equal(loaded(mel, length=64 * 256), model(mel, length=64 * 256))
        else:
            mel = mel[..., : model.config.window_frames]
            a, b = model(mel, sample=False), loaded(mel, sample=False)
            assert torch.equal(a.reconstruction, b.reconstruction) and torch.equal(a.descriptors, b.descriptors)
            assert torch.equal(model.mel_std, loaded.mel_std)
    config = json.loads((folder / "config.json").read_text())
    assert config["model_type"] == type(model).__name__ and config["mel"]["hop_length"] == 256
    assert not list(folder.glob("*.bin")) and not list(folder.glob("*.pt"))


def test_loading_is_strict_and_checks_the_model_type(tmp_path: Path) -> None:
    folder = tiny_vocoder().save_pretrained(tmp_path / "vocoder")
    state = load_file(str(folder / "model.safetensors"))
    with pytest.raises(InputError, match="is a Vocoder|holds a Vocoder"):
        AudioVAE.from_pretrained(folder)
    state.pop(next(iter(state)))
    save_file(state, str(folder / "model.safetensors"))
    with pytest.raises(InputError, match="do not match"):
        Vocoder.from_pretrained(folder)


def test_from_pretrained_resolves_a_hub_repo_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = tiny_vocoder()
    model.save_pretrained(tmp_path / "snapshot" / "vocoder")
    asked = {}

    def snapshot(repo_id: str, revision: str | None, patterns: list[str]) -> Path:
        asked.update(repo=repo_id, revision=revision, patterns=sorted(patterns))
        return tmp_path / "snapshot"

    monkeypatch.setattr("bd2music.hub._snapshot", snapshot)
    loaded = Vocoder.from_pretrained("owner/bd2music", revision="a" * 40)
    assert asked == {"repo": "owner/bd2music", "revision": "a" * 40,
                     "patterns": ["vocoder/*.json", "vocoder/*.safetensors"]}
    assert loaded.config == model.config
    with pytest.raises(InputError, match="weights not found: /missing"):  # an absolute path is never a repo id
        Vocoder.from_pretrained("/missing")


def test_inference_never_imports_training() -> None:
    code = (
        "import sys, bd2music.models, bd2music.audio.griffin_lim, bd2music.evaluation.audio; "
        "sys.exit(any(name.startswith('bd2music.training') for name in sys.modules))"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


# -- tiling -----------------------------------------------------------------------------------------------------


class IdentityVAE(AudioVAE):
    """Encode and decode are the identity: ``reconstruct`` must give back its input exactly."""

    def encode(self, log_mel: torch.Tensor) -> DiagonalGaussian:
        return DiagonalGaussian(log_mel, torch.zeros_like(log_mel))

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        return latent


@pytest.mark.parametrize("length", [5, 32, 33, 57, 150, 1001])
def test_tiling_reconstructs_any_length_exactly(length: int) -> None:
    identity = IdentityVAE(merge_config(AudioVAEConfig(), VAE_SMOKE["model"]))
    window, overlap = identity.config.window_frames, identity.config.overlap_frames
    mel = torch.randn(MEL.n_mels, length)
    torch.testing.assert_close(identity.reconstruct(mel), mel)
    starts = tile_starts(length, window, overlap)
    assert starts[0] == 0 and starts[-1] == max(0, length - window)
    assert all(0 < b - a <= window - overlap for a, b in zip(starts, starts[1:]))
    model = tiny_vae()
    with torch.inference_mode():
        tiled = model.encode_long(mel - 6)
        assert tiled.latents.shape == (len(starts), *model.config.latent_shape)
        assert model.decode_long(tiled).shape == (MEL.n_mels, length)


def test_decode_long_cross_fades_tiles_only_where_they_overlap() -> None:
    model = tiny_vae()
    window, overlap = model.config.window_frames, model.config.overlap_frames
    starts = tile_starts(2 * window, window, overlap)
    latents = torch.randn(len(starts), *model.config.latent_shape)
    with torch.inference_mode():
        long = model.decode_long(TiledLatent(latents, starts, 2 * window))
        first, second, last = (model.decode(latents[i : i + 1])[0] for i in (0, 1, len(starts) - 1))
    alone = 2 * window - (starts[-2] + window)  # frames after the second-last tile: the last tile alone
    assert starts[1] > 0 and alone > 0
    torch.testing.assert_close(long[:, : starts[1]], first[:, : starts[1]])
    torch.testing.assert_close(long[:, -alone:], last[:, -alone:])
    a, b = first[:, starts[1] :], second[:, : window - starts[1]]  # the overlap in each tile's own frames
    mixed = long[:, starts[1] : window]
    assert torch.all(mixed >= torch.minimum(a, b) - 1e-5) and torch.all(mixed <= torch.maximum(a, b) + 1e-5)
    assert not torch.allclose(mixed, a) and not torch.allclose(mixed, b)


def test_long_audio_round_trip_has_the_exact_input_length(clips: list[Clip]) -> None:
    vae, vocoder = tiny_vae(), tiny_vocoder()
    samples = clips[0].samples[: 2 * SR + 123]
    with torch.inference_mode():
        log_mel = mel_spectrogram(samples)
        waveform = vocoder(vae.reconstruct(log_mel), length=len(samples))
    assert log_mel.shape[-1] > vae.config.window_frames and waveform.shape == (len(samples),)


# -- training ---------------------------------------------------------------------------------------------------


def test_vocoder_smoke_training_learns_and_resumes(
    data_dir: Path, tmp_path: Path, clips: list[Clip], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = merge_config(
        VocoderTrainConfig(),
        VOCODER_SMOKE | {"steps": 30, "checkpoint_every": 10, "eval_every": 30, "random_gain_db": 0.0},
    )
    metrics = train_vocoder(config, data_dir, tmp_path / "out", tmp_path / "work")
    assert len(torch.load(tmp_path / "work" / "checkpoint.pt", weights_only=True)["losses"]) == 30
    cache = SoundCache(tmp_path / "work" / "cache")
    batch = sample_batch(
        cache, cache.clip_indices("train"), np.random.default_rng(123), merge_config(config, {"batch_size": 8})
    )
    torch.manual_seed(config.seed)
    untrained = Vocoder(config.model)
    with torch.inference_mode():
        before = reconstruction_loss(untrained, MelSpectrogram(), batch, config)[2]
        after = reconstruction_loss(Vocoder.from_pretrained(tmp_path / "out"), MelSpectrogram(), batch, config)[2]
    assert after < 0.8 * before
    assert {"mrstft_total", "mel_l1", "griffin_lim_mrstft_total", "real_time_factor"} <= metrics.keys()
    out = tmp_path / "out"
    assert {p.name for p in out.iterdir()} >= {
        "config.json",
        "model.safetensors",
        "README.md",
        "attribution.csv",
        "heldout.txt",
        "train_config.json",
        "metrics.json",
    }
    vocoder = Vocoder.from_pretrained(out)
    assert evaluate_vocoder(vocoder, [clips[1].samples[:SR]])["mrstft_total"] > 0
    assert "Copyleft" in (out / "README.md").read_text() or "No copyleft" in (out / "README.md").read_text()

    # a run interrupted after its step-10 checkpoint and resumed ends where the uninterrupted run ended
    calls = []

    def interrupted(*args):
        calls.append(1)
        if len(calls) > 12:
            raise KeyboardInterrupt
        return sample_batch(*args)

    monkeypatch.setattr("bd2music.training.vocoder.sample_batch", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train_vocoder(config, data_dir, tmp_path / "out2", tmp_path / "work2")
    assert torch.load(tmp_path / "work2" / "checkpoint.pt", weights_only=True)["step"] == 10
    monkeypatch.setattr("bd2music.training.vocoder.sample_batch", sample_batch)
    train_vocoder(config, data_dir, tmp_path / "out2", tmp_path / "work2", resume=True)
    resumed = load_file(str(tmp_path / "out2" / "model.safetensors"))
    for name, tensor in load_file(str(out / "model.safetensors")).items():
        torch.testing.assert_close(resumed[name], tensor, rtol=1e-4, atol=1e-6)


def test_audio_vae_smoke_training_learns(data_dir: Path, tmp_path: Path) -> None:
    config = merge_config(AudioVAETrainConfig(), VAE_SMOKE | {"steps": 40, "checkpoint_every": 40, "eval_every": 40})
    metrics = train_audio_vae(config, data_dir, tmp_path / "out", tmp_path / "work")
    trained = AudioVAE.from_pretrained(tmp_path / "out")
    torch.manual_seed(config.seed)
    untrained = AudioVAE(config.model)
    untrained.load_state_dict(
        {k: v for k, v in trained.state_dict().items() if "mean" in k or "std" in k}, strict=False
    )  # same statistics, initial weights
    cache = SoundCache(tmp_path / "work" / "cache")
    windows = cache.window_indices("train")
    mels, targets = cache.window_mels(windows), cache.descriptor_targets(config.model.descriptors)[windows]
    with torch.inference_mode():
        before = losses(untrained, mels, targets, None, config, config.beta, sample=False)
        after = losses(trained, mels, targets, None, config, config.beta, sample=False)
    assert after["l1"] < 0.7 * before["l1"] and after["descriptors"] < before["descriptors"]
    assert {"heldout_mel_l1_nats", "heldout_kl", "r2_mean", "r2_tempo"} <= metrics.keys()
    model = trained
    assert model.mel_std.min() > 0.1 and torch.all(model.descriptor_std > 0)
    with torch.inference_mode():
        latent = model.encode(torch.full((1, MEL.n_mels, 32), MEL.log_min)).mean
        predicted = model.predict_descriptors(latent)
    assert list(predicted) == list(model.config.descriptors) and predicted["rms_mean"].shape == (1,)


def test_audio_vae_decoder_fine_tune_keeps_the_encoder(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """init_from + freeze_encoder: the decoder learns, the encoder, heads and statistics stay bit-identical, the
    scored windows are training clips kept out of the updates, and a resumed run ends where an unbroken one does."""
    cache = {"data": {"max_clips": 4, "cache": str(tmp_path / "cache")}}
    base = merge_config(AudioVAETrainConfig(), VAE_SMOKE | cache | {"steps": 4})
    train_audio_vae(base, data_dir, tmp_path / "base", tmp_path / "work_base")
    tune = {"init_from": str(tmp_path / "base"), "freeze_encoder": True, "validation_every": 2, "music_weight": 3.0,
            "time_contrast_weight": 0.5, "model": {"latent_channels": 2}}  # `model` is replaced by the folder's
    config = merge_config(AudioVAETrainConfig(), VAE_SMOKE | cache | tune | {"steps": 6, "checkpoint_every": 3})
    train_audio_vae(config, data_dir, tmp_path / "tuned", tmp_path / "work")
    before = load_file(str(tmp_path / "base" / "model.safetensors"))
    after = load_file(str(tmp_path / "tuned" / "model.safetensors"))
    assert before.keys() == after.keys()
    moved = {name for name in before if not torch.equal(before[name], after[name])}
    assert moved and all(name.startswith("decoder.") for name in moved)
    assert len(moved) == len([name for name in before if name.startswith("decoder.")])
    saved = json.loads((tmp_path / "tuned" / "train_config.json").read_text())
    assert saved["model"]["latent_channels"] == VAE_SMOKE["model"]["latent_channels"] and saved["freeze_encoder"]

    shared = SoundCache(tmp_path / "cache")
    trained, scored = split_windows(shared, 2)
    clips = set(shared.window_clip[trained].tolist()), set(shared.window_clip[scored].tolist())
    assert clips[0] and clips[1] and not clips[0] & clips[1]
    assert clips[0] | clips[1] == set(shared.clip_indices("train"))
    listed = (tmp_path / "tuned" / "validation.txt").read_text().split()
    assert listed == [shared.clips[i]["name"] for i in sorted(clips[1])]

    step, calls = AudioVAESolver.train_step, []

    def interrupted(self, rng):  # stops the run after its step-3 checkpoint
        calls.append(1)
        if len(calls) > 4:
            raise KeyboardInterrupt
        return step(self, rng)

    monkeypatch.setattr(AudioVAESolver, "train_step", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train_audio_vae(config, data_dir, tmp_path / "part", tmp_path / "work2")
    monkeypatch.setattr(AudioVAESolver, "train_step", step)
    train_audio_vae(config, data_dir, tmp_path / "resumed", tmp_path / "work2", resume=True)
    for name, tensor in load_file(str(tmp_path / "resumed" / "model.safetensors")).items():
        torch.testing.assert_close(tensor, after[name], rtol=1e-4, atol=1e-6)
    with pytest.raises(InputError, match="init_from"):
        train_audio_vae(merge_config(base, {"freeze_encoder": True}), data_dir, tmp_path / "x", tmp_path / "w")


def test_cli_trains_the_audio_vae_smoke_preset(data_dir: Path, tmp_path: Path) -> None:
    overrides = tmp_path / "run.json"
    overrides.write_text(json.dumps({"steps": 3, "model": {"semantic_dim": 0}}))
    code = main(
        [
            "train",
            "audio-vae",
            "--smoke",
            "--config",
            str(overrides),
            "--data",
            str(data_dir),
            "--out",
            str(tmp_path / "vae"),
            "--work",
            str(tmp_path / "work"),
        ]
    )
    assert code == 0
    saved = json.loads((tmp_path / "vae" / "train_config.json").read_text())
    assert saved["steps"] == 3 and saved["model"]["semantic_dim"] == 0 and saved["model"]["window_frames"] == 32
    assert AudioVAE.from_pretrained(tmp_path / "vae").semantic_head is None
    overrides.write_text(json.dumps({"model": {"no_such_knob": 1}}))
    assert main(["train", "vocoder", "--smoke", "--config", str(overrides), "--out", str(tmp_path / "x")]) == 2


def test_vocoder_gan_option_trains_and_checkpoints_the_discriminator(data_dir: Path, tmp_path: Path) -> None:
    config = merge_config(
        VocoderTrainConfig(), VOCODER_SMOKE | {"steps": 2, "checkpoint_every": 2, "eval_every": 2, "gan": True}
    )
    metrics = train_vocoder(config, data_dir, tmp_path / "out", tmp_path / "work")
    state = torch.load(tmp_path / "work" / "checkpoint.pt", weights_only=True)
    assert "discriminator" in state and np.isfinite(state["losses"]).all() and np.isfinite(metrics["mrstft_total"])
    assert "discriminator" not in "".join(load_file(str(tmp_path / "out" / "model.safetensors")))
