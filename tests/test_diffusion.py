"""The latent diffusion model, its training, the ``diffusion`` backend and text to audio: tiny random models."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from bd2music.__main__ import main
from bd2music.audio.griffin_lim import GriffinLim
from bd2music.backends.diffusion import DiffusionBackend, DiffusionSettings
from bd2music.bank.captions import CaptionIndex
from bd2music.bank.index import ClipInfo, SoundBank
from bd2music.bank.prompt_index import IndexedClip, PromptIndex
from bd2music.errors import InputError
from bd2music.models.audio_vae import AudioVAE, AudioVAEConfig
from bd2music.models.base import merge_config
from bd2music.models.diffusion import LatentDiffusion, LatentDiffusionConfig
from bd2music.plan import Plan, SegmentPlan
from bd2music.text_to_audio import CONDITION, TextToAudioResult
from bd2music.training.audio_vae import SMOKE as VAE_SMOKE

TINY = {"latent_channels": 4, "latent_frames": 16, "downsampling": 2, "overlap_frames": 4, "embed_dim": 8,
        "width": 16, "depth": 1, "heads": 2, "inference": {"steps": 4}}  # fits the audio VAE's smoke preset


def tiny_model(**overrides) -> LatentDiffusion:
    """A tiny denoiser whose zero-initialised layers are made random, so that conditions change its output."""
    torch.manual_seed(0)
    model = LatentDiffusion(merge_config(LatentDiffusionConfig(), TINY | overrides)).eval()
    with torch.no_grad():
        for parameter in model.parameters():
            if not parameter.any():
                parameter.normal_(0.0, 0.3)
    config = model.config
    model.set_statistics(torch.randn(20, *config.latent_shape) * 2 + 1, torch.rand(20, len(config.descriptors)) * 100 + 1)
    return model


def tiny_vae() -> AudioVAE:
    torch.manual_seed(0)
    return AudioVAE(merge_config(AudioVAEConfig(), VAE_SMOKE["model"])).eval()


def plan(seconds: float = 2.0) -> Plan:
    half, generator = seconds / 2, torch.Generator().manual_seed(0)
    segments = [SegmentPlan(panel, start, start + half, tempo, 2.0, centroid, -20.0, 0.2, "a page",
                            embedding=torch.nn.functional.normalize(torch.randn(8, generator=generator), dim=0), latents=None)
                for panel, start, tempo, centroid in ((0, 0.0, 90.0, 800.0), (1, half, 130.0, 3000.0))]
    return Plan(seconds, 0, segments, "a page", 0.5)


@pytest.fixture
def backend(tmp_path: Path) -> DiffusionBackend:
    tiny_model().save_pretrained(tmp_path / "diffusion")
    vae = tiny_vae()
    audio_text = type("AudioText", (), {"config": type("Config", (), {"embed_dim": 8})()})()
    components = {"audio_vae": vae, "audio_text": audio_text, "vocoder": GriffinLim(vae.config.mel, 4),
                  "diffusion": tmp_path / "diffusion"}
    return DiffusionBackend.from_components(components, {"griffin_lim_iterations": 4})


def test_shapes_and_conditions() -> None:
    model = tiny_model()
    x, t = torch.randn(3, 4, 16), torch.tensor([10, 500, 990])
    embedding, descriptors = torch.randn(3, 8), torch.rand(3, 4) * 100
    full = model.condition(embedding, descriptors)
    assert full.shape == (3, 16) and model(x, t, full).shape == x.shape
    dropped = model.condition(embedding, descriptors, torch.tensor([True, False, True]), torch.zeros(3, dtype=bool))
    null = model.condition(None, None, keep_embedding=torch.ones(3, dtype=bool))
    assert torch.allclose(dropped[1], null[1]) and not torch.allclose(dropped[0], null[0])
    assert torch.allclose(model.condition(embedding, None), model.condition(embedding, descriptors,
                                                                            keep_descriptors=torch.zeros(3, dtype=bool)))
    latents = model.sample(3, embedding[0], descriptors[0], torch.Generator().manual_seed(0))
    assert latents.shape == (3, 4, 16) and torch.isfinite(latents).all()
    assert model.config.windows_for(32) == 1 and model.config.windows_for(33) == 2  # 16 latent frames = 32 mel


def test_guidance_scheduler_steps_and_seeds(monkeypatch: pytest.MonkeyPatch) -> None:
    model = tiny_model()
    embedding = torch.randn(8)
    calls = []
    forward = LatentDiffusion.forward
    monkeypatch.setattr(LatentDiffusion, "forward", lambda self, x, t, c: calls.append(len(x)) or forward(self, x, t, c))

    def sample(seed=0, **kwargs):
        return model.sample(2, embedding, None, torch.Generator().manual_seed(seed), **kwargs)

    for scheduler in ("ddim", "dpm++"):
        calls.clear()
        sample(steps=5, scheduler=scheduler)
        assert calls == [4] * 5  # one batched call per step: 2 windows, conditional and unconditional
    calls.clear()
    plain = sample(guidance=1.0)
    assert calls == [2] * 4  # the model's default steps; guidance 1: no unconditional pass
    assert not torch.allclose(plain, sample(guidance=4.0))
    assert torch.equal(sample(seed=3), sample(seed=3)) and not torch.allclose(sample(seed=3), sample(seed=4))
    assert not torch.allclose(sample(), model.sample(2, -embedding, None, torch.Generator().manual_seed(0)))
    for bad in ({"steps": 0}, {"guidance": 0.5}, {"scheduler": "euler"}):
        with pytest.raises(InputError):
            sample(**bad)


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    model = tiny_model()
    model.save_pretrained(tmp_path)
    loaded = LatentDiffusion.from_pretrained(tmp_path)
    assert loaded.config == model.config
    embedding = torch.randn(8)
    assert torch.equal(model.sample(2, embedding, None, torch.Generator().manual_seed(1)),
                       loaded.sample(2, embedding, None, torch.Generator().manual_seed(1)))


def test_backend_renders_a_plan_reproducibly(backend: DiffusionBackend) -> None:
    [layer] = backend.render(plan(), seed=0)
    assert layer.name == "diffusion" and layer.sample_rate == 16_000 and layer.audio.shape == (1, 32_000)
    assert np.isfinite(layer.audio).all() and 0 < np.abs(layer.audio).max() <= 1.0
    assert [cue.trigger for cue in layer.cues] == ["plan: panel 1", "plan: panel 2"]
    assert np.array_equal(backend.render(plan(), seed=0)[0].audio, layer.audio)
    assert not np.array_equal(backend.render(plan(), seed=1)[0].audio, layer.audio)
    mel = backend.log_mel(plan(3.3), seed=0)
    assert mel.shape == (64, 1 + round(3.3 * 16_000) // 256)


def test_warm_griffin_lim_starts_from_the_vocoders_phases() -> None:
    from bd2music.audio.griffin_lim import griffin_lim, mel_to_power
    from bd2music.models.vocoder import Vocoder, VocoderConfig, WarmGriffinLim

    torch.manual_seed(0)
    vocoder = Vocoder(VocoderConfig(dim=16, num_layers=1)).eval()
    mel = torch.randn(1, 64, 40) - 6
    with torch.inference_mode():
        warm = WarmGriffinLim(vocoder, 0)(mel, length=10_000)  # no iteration: the vocoder's phases as they are
        spectrum = vocoder.spectrum(mel)
        expected = griffin_lim(mel_to_power(mel).sqrt(), n_iter=0, length=10_000, angles=spectrum / spectrum.abs())
        cold = griffin_lim(mel_to_power(mel).sqrt(), n_iter=0, length=10_000)
    assert warm.shape == (1, 10_000) and torch.allclose(warm, expected, atol=1e-5)
    assert not torch.allclose(warm, cold, atol=1e-3)


def test_room_tone_lifts_silent_gaps_only(backend: DiffusionBackend) -> None:
    mel = torch.full((64, 100), -6.0)
    mel[:, 40:60] = -18.4  # a gap ~52 dB under the rest
    toned = backend.room_tone(mel)
    floor = -6.0 + np.log(0.8) - 3 * np.log(10)  # 30 dB under the band's mean power (80 % of it at -6)
    assert torch.equal(toned[:, :40], mel[:, :40]) and torch.allclose(toned[:, 40:60], torch.tensor(floor).float())
    backend.settings.floor_db = 0.0
    assert torch.equal(backend.room_tone(mel), mel)


def test_a_page_log_mel_is_lifted_to_voice_floor_db_before_voicing(backend: DiffusionBackend) -> None:
    heard = []

    def muting_vocoder(mel: torch.Tensor, length: int) -> torch.Tensor:  # mutes frames under -45 dB, as trained
        heard.append(mel[0])
        frames = torch.repeat_interleave(mel[0].exp().sum(dim=0) > 10 ** -4.5, length // mel.shape[-1] + 1)
        return torch.randn(length, generator=torch.Generator().manual_seed(0))[None] * frames[:length]

    backend.vocoder, backend.settings.floor_db = muting_vocoder, 0.0
    mel = torch.full((64, 100), -13.0)
    mel[:, 50:] = -16.0  # half the track about -40 dB, half -53 dB: muted

    def quiet_half(audio: np.ndarray) -> float:  # RMS of the quiet half over the loud half's (13 dB apart in the mel)
        return float(np.std(audio[10_000:14_000]) / np.std(audio[2_000:6_000]))

    assert quiet_half(backend.voice(mel, 16_000, page=True)) < 0.01  # voice_floor_db None: muted
    backend.settings.voice_floor_db = -40.0
    assert quiet_half(backend.voice(mel, 16_000)) < 0.01  # a prompt's sound: as sampled
    assert quiet_half(backend.voice(mel, 16_000, page=True)) > 0.1  # lifted: the quiet half voiced
    lift = heard[-1] - mel
    assert torch.allclose(lift, torch.full_like(mel, float(lift[0, 0])))  # one constant, the same sound
    assert 10 * torch.logsumexp(heard[-1][:, -1], 0).item() / math.log(10) == pytest.approx(-40.0, abs=0.01)
    loud = mel + 5.0  # already above the floor: never lowered
    backend.voice(loud, 16_000, page=True)
    assert torch.equal(heard[-1], loud)
    with pytest.raises(ValueError, match="voice_floor_db"):
        DiffusionSettings(voice_floor_db=30.0)


def test_backend_refuses_a_model_of_other_latents_or_settings(backend: DiffusionBackend, tmp_path: Path) -> None:
    tiny_model(latent_channels=6).save_pretrained(tmp_path / "other")
    components = {"audio_vae": backend.audio_vae, "audio_text": backend.audio_text, "vocoder": backend.vocoder}
    with pytest.raises(InputError, match="latents"):
        DiffusionBackend.from_components(components | {"diffusion": tmp_path / "other"})
    with pytest.raises(InputError, match="vocoder"):
        DiffusionBackend.from_components(components | {"diffusion": tmp_path / "diffusion"}, {"vocoder": "hifi"})
    with pytest.raises(InputError, match="no diffusion weights"):
        DiffusionBackend.from_components(components | {"diffusion": tmp_path / "absent"})
    assert DiffusionSettings().vocoder == "griffin-lim"


def test_backend_samples_the_audio_vae_the_pipeline_names_for_it(backend: DiffusionBackend, tmp_path: Path) -> None:
    torch.manual_seed(1)
    own = AudioVAE(merge_config(AudioVAEConfig(), VAE_SMOKE["model"] | {"latent_channels": 6})).eval()
    own.save_pretrained(tmp_path / "vae_six")
    tiny_model(latent_channels=6).save_pretrained(tmp_path / "six")
    components = {"audio_vae": backend.audio_vae, "audio_text": backend.audio_text, "vocoder": backend.vocoder,
                  "diffusion": tmp_path / "six"}
    with pytest.raises(InputError, match="latents"):  # the pipeline's audio VAE has 4 channels
        DiffusionBackend.from_components(components)
    made = DiffusionBackend.from_components(components | {"diffusion_vae": tmp_path / "vae_six"})
    assert made.audio_vae.config.latent_channels == 6 and made.audio_vae is not backend.audio_vae
    (layer,) = made.render(plan(), seed=0)
    assert np.abs(layer.audio).max() > 0 and layer.cues[0].source == "weights/six, weights/vae_six"
    with pytest.raises(InputError, match="no audio VAE weights for diffusion_vae"):
        DiffusionBackend.from_components(components | {"diffusion_vae": tmp_path / "absent"})


@pytest.mark.parametrize("argv, message", [
    (["   "], "prompt must not be empty"),
    (["x" * 301], "at most 300 characters"),
    (["rain", "--seconds", "0.5"], "seconds must be between 1 and 60"),
    (["rain", "--steps", "0"], "steps must be a whole number between 1 and 200"),
    (["rain", "--seed", "-1"], "seed must be between 0"),
])
def test_cli_refuses_bad_arguments_in_one_line(argv: list[str], message: str, tmp_path: Path, capsys) -> None:
    assert main(["text-to-audio", *argv, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and not list(tmp_path.iterdir())


def test_cli_writes_a_wav_and_its_json(tmp_path: Path) -> None:
    assert main(["text-to-audio", "a dog barking", "--out", str(tmp_path), "--seconds", "2", "--steps", "2",
                 "--seed", "4"]) == 0
    wav, record = tmp_path / "a-dog-barking_4.wav", json.loads((tmp_path / "a-dog-barking_4.json").read_text())
    import soundfile

    audio, rate = soundfile.read(wav)
    assert rate == 44_100 and audio.shape == (88_200, 2) and np.abs(audio).max() > 0.01
    assert record["prompt"] == "a dog barking" and record["settings"]["steps"] == 2 and record["cues"]
    if record["settings"]["prompt_clips"]:  # conditioned on the clips nearest the prompt, a dog first
        conditions = [cue for cue in record["cues"] if cue["trigger"] == CONDITION]
        assert len(conditions) == record["settings"]["prompt_clips"] and conditions[0]["label"] == "dog"


def test_smoke_training_exports_resumes_and_keeps_held_out_clips_out(data_dir: Path, tmp_path: Path) -> None:
    out, work = tmp_path / "out", tmp_path / "work"
    argv = ["train", "diffusion", "--smoke", "--data", str(data_dir), "--work", str(work)]
    assert main([*argv, "--out", str(out)]) == 0
    assert {"config.json", "model.safetensors", "README.md", "attribution.csv", "train_config.json",
            "metrics.json"} <= {path.name for path in out.iterdir()}
    model = LatentDiffusion.from_pretrained(out)
    assert model.config.width == 32 and model.latent_std.min() > 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert np.isfinite(metrics["heldout_loss_ema"]) and metrics["steps"] == 8
    heldout = set((Path(__file__).parent / "data" / "sounds_heldout.txt").read_text().split())
    trained = {line.split(",")[0] for line in (out / "attribution.csv").read_text().splitlines()[1:]}
    assert trained and not trained & heldout
    latents = (work / "latents" / "latents.safetensors").stat().st_mtime
    assert main([*argv, "--out", str(tmp_path / "again"), "--resume"]) == 0  # the checkpoint's last step: no step
    assert (work / "latents" / "latents.safetensors").stat().st_mtime == latents  # latents made once
    again = LatentDiffusion.from_pretrained(tmp_path / "again")
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))


def test_category_captions_condition_the_share_of_captioned_windows_they_are_given(
        data_dir: Path, tmp_path: Path) -> None:
    from bd2music.training.diffusion import SMOKE, DiffusionSolver, DiffusionTrainConfig

    config = merge_config(DiffusionTrainConfig(), SMOKE | {
        "text_share": 1.0, "drop_embedding": 0.0, "category_templates": ["{category}", "a recording of {category}"],
        "category_share": 1.0})
    solver = DiffusionSolver(config, data_dir, tmp_path / "out", tmp_path / "work")
    data, texts = solver.data, solver.data["category_captions"]
    assert texts.shape[:2] == (len({clip["category"] for clip in solver.cache.clips}), 2)
    seen = []
    solver.loss = lambda model, windows, times, noise, embeddings, *keep: seen.append((windows, embeddings)) or (
        model.latent_mean.sum() * 0 + next(model.parameters()).sum() * 0)
    solver.train_step(np.random.default_rng(0))
    windows, embeddings = seen[0]
    categories = data["clip_category"][data["clip"][windows]]
    for embedding, category in zip(embeddings, categories):  # each window: one of its own category's captions
        assert any(torch.allclose(embedding, caption) for caption in texts[category])
    with pytest.raises(InputError, match="category_share"):
        DiffusionSolver(merge_config(DiffusionTrainConfig(), SMOKE | {"category_share": 0.5}), data_dir,
                        tmp_path / "out", tmp_path / "work")


def test_app_text_tab_makes_a_sound_and_refuses_bad_requests_in_one_line() -> None:
    import gradio as gr

    import app

    def no_progress(fraction: float, desc: str | None = None) -> None:
        """Stands in for gr.Progress outside a request."""

    wav, figure, summary, downloads = app.text_to_sound("rain on a roof", 2, 1, 2, progress=no_progress)
    assert Path(wav).is_file() and figure is not None and "**rain on a roof**" in summary and "2 " in summary
    assert [Path(path).suffix for path in downloads] == [".wav", ".json"]
    assert json.loads(Path(downloads[1]).read_text())["settings"]["seed"] == 1
    assert ("recordings whose captions are nearest the prompt (rain" in summary) == bool(
        json.loads(Path(downloads[1]).read_text())["settings"]["prompt_clips"])
    for prompt, seconds, seed, steps, message in (("", 2, 0, 2, "prompt must not be empty"),
                                                  ("rain", 2, None, 2, "seed"), ("rain", 99, 0, 2, "seconds")):
        with pytest.raises(gr.Error, match=message):
            app.text_to_sound(prompt, seconds, seed, steps, progress=no_progress)
    for component, value, message in ((app.Prompt(), 5, "prompt must be text"), (app.Steps(1, 200), 2.5, "steps"),
                                      (app.Steps(1, 200), 500, "steps")):
        with pytest.raises(gr.Error, match=message):
            component.preprocess(value)
    names = {dep.get("api_name") for dep in app.build_demo().config["dependencies"]}
    assert {"text_to_audio", "analyze_sound", "generate"} <= names


def test_the_texture_is_seeded_and_follows_each_segments_onsets(backend: DiffusionBackend) -> None:
    from bd2music.soundtrack import onset_times

    track = plan()
    plain = backend.log_mel(track, 0)
    backend.settings.texture_db = 6.0
    mel = backend.log_mel(track, 0)
    assert torch.equal(backend.log_mel(track, 0), mel) and not torch.allclose(backend.log_mel(track, 1), mel)
    fps = backend.audio_vae.config.mel.frames_per_second
    first = (mel - plain)[:, : round(0.74 * fps)]  # the first segment, before the cross-fade
    steps = np.flatnonzero(first.diff(dim=-1).abs().amax(dim=0).numpy() > 1e-4) + 1
    onsets = {int(f) for f in np.round(onset_times(1.0, 90.0, 2.0)[0] * fps)}  # its pulse: 90 BPM, 2 onsets/s
    assert len(steps) and set(steps.tolist()) <= onsets


def test_the_pulse_can_follow_the_heads_readings(backend: DiffusionBackend) -> None:
    track = plan()
    for segment, tempo in zip(track.segments, (150.0, 70.0)):
        segment.raw = {"tempo": tempo, "onset_rate": 6.0}
    targets = backend.log_mel(track, 0)
    backend.settings.pulse_from = "readings"
    assert [backend.rhythm(s) for s in track.segments] == [(150.0, 6.0), (70.0, 6.0)]
    readings = backend.log_mel(track, 0)
    assert not torch.allclose(readings, targets)  # the same sample under another pulse
    with pytest.raises(ValueError, match="pulse_from"):
        DiffusionSettings(pulse_from="page")


def test_a_quiet_draw_is_drawn_again(backend: DiffusionBackend, monkeypatch) -> None:
    quiet, loud = torch.full((64, 40), -6.0), torch.full((64, 40), -6.0)
    quiet[:, 10:] = -18.0  # three quarters of the frames ~52 dB under the rest
    draws = iter([quiet, quiet, loud, quiet])
    monkeypatch.setattr(backend, "sample_mel", lambda *args, **options: next(draws))
    segment = plan().segments[0]
    assert torch.equal(backend.sample_segment(40, segment, torch.Generator())[0], quiet)  # redraws 0 by default
    backend.settings.redraws = 3
    assert torch.equal(backend.sample_segment(40, segment, torch.Generator())[0], loud)  # the third draw is kept
    with pytest.raises(ValueError, match="redraws"):
        DiffusionSettings(redraws=-1)


def test_a_faint_draw_is_drawn_again_on_its_descriptors_alone_unguided(backend: DiffusionBackend,
                                                                        monkeypatch) -> None:
    from bd2music.soundtrack import frame_power_db

    faint, audible = torch.full((64, 40), -17.0), torch.full((64, 40), -6.0)  # the floor's hiss; a sound
    faint[:, 5] = 0.0  # one loud event on the floor: its mean power is loud, its median frame faint
    assert frame_power_db(faint).median() < -45 < -20 < frame_power_db(audible).median()
    def mean_power(mel: torch.Tensor) -> torch.Tensor:  # dB
        return 10 * torch.log10((10 ** (frame_power_db(mel) / 10)).mean())

    assert mean_power(faint) > mean_power(audible)
    calls = []

    def sample_mel(frames, embedding, descriptors, generator, steps=None, guidance=None, reference=None):
        calls.append((embedding, descriptors, guidance))
        return audible if len(calls) > 1 else faint

    monkeypatch.setattr(backend, "sample_mel", sample_mel)
    segment = plan().segments[0]
    assert torch.equal(backend.sample_segment(40, segment, torch.Generator())[0], faint)  # faint_db None: kept
    backend.settings.faint_db, calls[:] = -37.0, []
    assert torch.equal(backend.sample_segment(40, segment, torch.Generator())[0], audible)
    (first, targets, guided), (none, again, unguided) = calls
    assert first is not None and guided is None and none is None and unguided == 1.0 and torch.equal(targets, again)
    calls[:] = [None]  # an audible first draw is kept
    assert torch.equal(backend.sample_segment(40, segment, torch.Generator())[0], audible) and len(calls) == 2
    quiet = torch.full((64, 40), -12.0)  # mostly quiet but not faint (its median frame near -34 dB): drawn again
    quiet[:, :10] = 0.0  # (redraws), and that draw, faint, once more
    draws = iter([quiet, faint, audible])
    calls[:] = []
    monkeypatch.setattr(backend, "sample_mel", lambda *args, **kwargs: calls.append(kwargs) or next(draws))
    backend.settings.redraws = 1
    assert torch.equal(backend.sample_segment(40, segment, torch.Generator())[0], audible)
    assert [kwargs.get("guidance") for kwargs in calls] == [None, None, 1.0]
    with pytest.raises(ValueError, match="faint_db"):
        DiffusionSettings(faint_db=5.0)


WORDS = ("rain", "dog", "jazz", "music", "animal", "ambience", "engine")


class WordEncoder:
    """A stand-in sentence encoder: unit bag-of-words vectors over ``WORDS`` (texts sharing words are near)."""

    def embed(self, texts: list[str]) -> torch.Tensor:
        rows = torch.tensor([[float(word in text.lower()) for word in WORDS] + [0.1] for text in texts])
        return torch.nn.functional.normalize(rows, dim=-1)


def tiny_bank() -> SoundBank:
    """Four clips (label, category, kind) with 8-d audio-text embeddings e0..e3, no audio behind them."""
    rows = [("rain", "ambience", "bed"), ("dog", "animal", "event"), ("jazz", "music", "bed"),
            ("engine", "machine", "event")]
    clips = [ClipInfo(f"{c}/{label}.flac", c, label, kind, "CC0-1.0", "someone", "test", 4.0)
             for label, c, kind in rows]
    tensors = {"latents": torch.zeros(4, 2), "embeddings": torch.eye(4, 8), "descriptors": torch.zeros(4, 1),
               "latent_mean": torch.zeros(1), "latent_std": torch.ones(1)}
    return SoundBank(Path("bank"), clips, tensors, {"sample_rate": 16_000, "descriptor_names": ["tempo"],
                                                    "log_descriptors": []})


def test_captions_find_the_clips_a_prompt_names() -> None:
    captions = CaptionIndex(tiny_bank(), WordEncoder())
    indices, similarity = captions.nearest("the sound of rain", 2)
    assert indices[0] == 0 and similarity[0] > similarity[1]
    assert captions.nearest("some music", 1)[0].tolist() == [2]  # through its category: "jazz, a music sound"
    assert len(captions.nearest("rain", 99)[0]) == 4
    embedding, clips = captions.condition("a dog, an animal", 1)
    assert clips == [1] and torch.equal(embedding, torch.eye(8)[1])
    plain, clips = captions.condition("jazz music in the rain", 2)  # jazz (two words), then rain (one)
    sharp, _ = captions.condition("jazz music in the rain", 2, temperature=0.05)
    assert clips == [2, 0]
    assert torch.allclose(plain, torch.nn.functional.normalize(torch.eye(8)[2] + torch.eye(8)[0], dim=0))
    assert sharp[2] > plain[2] and sharp[0] < plain[0]  # the nearer clip weighs more


def test_text_to_audio_can_sound_like_the_bank_clips_nearest_the_prompt(backend: DiffusionBackend,
                                                                        monkeypatch) -> None:
    conditions = []
    monkeypatch.setattr(backend, "sample_mel", lambda frames, embedding, *rest, **options: conditions.append(embedding)
                        or torch.full((64, frames), -4.0))
    backend.audio_text.embed_text = lambda texts: torch.ones(len(texts), 8) / 8 ** 0.5
    backend.text_to_audio("some rain", 0.5, 0)
    assert torch.equal(conditions[-1], torch.ones(8) / 8 ** 0.5)  # prompt_clips 0: the prompt's own embedding
    backend.settings.prompt_clips, backend.bank = 2, tiny_bank()
    backend._captions = CaptionIndex(backend.bank, WordEncoder())
    layer = backend.text_to_audio("jazz music in the rain", 0.5, 0)
    assert torch.allclose(conditions[-1], torch.nn.functional.normalize(torch.eye(8)[2] + torch.eye(8)[0], dim=0))
    credited = [(cue.clip, cue.label, cue.license) for cue in layer.cues if cue.trigger == CONDITION]
    assert credited == [("music/jazz.flac", "jazz", "CC0-1.0"), ("ambience/rain.flac", "rain", "CC0-1.0")]
    assert TextToAudioResult("p", None, [layer], {}).sounds_like == ["jazz", "rain"]
    with pytest.raises(ValueError, match="prompt_clips"):
        DiffusionSettings(prompt_clips=-1)


def test_a_prompt_index_is_read_before_the_bank(backend: DiffusionBackend, monkeypatch) -> None:
    conditions = []
    monkeypatch.setattr(backend, "sample_mel", lambda frames, embedding, *rest, **options: conditions.append(embedding)
                        or torch.full((64, frames), -4.0))
    clips = [IndexedClip(f"music/{label}.flac", "music", label, "GPL-2+", "a band", "test")
             for label in ("jazz", "rain")]
    backend.settings.prompt_clips, backend.bank = 1, tiny_bank()
    backend.prompts = PromptIndex(clips, torch.eye(8)[[5, 6]])
    assert backend.prompt_source is backend.prompts and backend.prompt_clips == 1
    backend._captions = CaptionIndex(backend.prompt_source, WordEncoder())
    layer = backend.text_to_audio("some jazz", 0.5, 0)
    assert torch.equal(conditions[-1], torch.eye(8)[5])  # the index's jazz row, not the bank's
    credited = [(cue.clip, cue.license) for cue in layer.cues if cue.trigger == CONDITION]
    assert credited == [("music/jazz.flac", "GPL-2+")]


def test_a_segment_quiet_after_its_redraws_is_drawn_toward_the_nearest_bed(backend: DiffusionBackend,
                                                                           monkeypatch) -> None:
    quiet, loud = torch.full((64, 40), -6.0), torch.full((64, 40), -6.0)
    quiet[:, 10:] = -18.0
    conditions = []

    def sample_mel(frames, embedding, *rest, **options):
        conditions.append(embedding)
        return loud if len(conditions) == 3 else quiet

    monkeypatch.setattr(backend, "sample_mel", sample_mel)
    segment = plan().segments[0]
    segment.embedding = torch.nn.functional.normalize(torch.eye(8)[1] + 0.5 * torch.eye(8)[2], dim=0)
    backend.settings.redraws, backend.settings.bed_fallback, backend.bank = 1, True, tiny_bank()
    assert torch.equal(backend.sample_segment(40, segment, torch.Generator())[0], loud)
    assert torch.equal(conditions[0], conditions[1])  # the redraw keeps the condition ...
    pulled = torch.nn.functional.normalize(segment.embedding + torch.eye(8)[2], dim=0)  # ... the last: the jazz bed
    assert torch.allclose(conditions[2], pulled)
    conditions.clear()
    backend.settings.bed_fallback = False
    assert torch.equal(backend.sample_segment(40, segment, torch.Generator())[0], quiet) and len(conditions) == 2


def test_without_a_bank_the_bank_settings_are_left_out(tmp_path: Path) -> None:
    tiny_model().save_pretrained(tmp_path / "diffusion")
    vae = tiny_vae()
    audio_text = type("AudioText", (), {"config": type("Config", (), {"embed_dim": 8})()})()
    components = {"audio_vae": vae, "audio_text": audio_text, "vocoder": None, "diffusion": tmp_path / "diffusion",
                  "bank": tmp_path / "no_bank"}
    with pytest.warns(UserWarning, match="no prompt index"):  # a named but missing index: said, then the bank's
        backend = DiffusionBackend.from_components(components | {"prompt_index": tmp_path / "no_index"},
                                                   {"prompt_clips": 8, "bed_fallback": True})
    assert backend.bank is None and backend.prompts is None and backend.prompt_clips == 0
    backend.audio_text.embed_text = lambda texts: torch.ones(len(texts), 8) / 8 ** 0.5
    embedding, clips = backend.prompt_condition("rain")
    assert torch.equal(embedding, torch.ones(8) / 8 ** 0.5) and clips == []
    quiet = torch.full((64, 40), -18.0)
    quiet[:, :10] = -6.0
    backend.sample_mel = lambda *args, **options: quiet
    assert torch.equal(backend.sample_segment(40, plan().segments[0], torch.Generator())[0], quiet)  # no bed to pull to
    backend.settings.reference_strength = 0.5  # no recording to start from: from noise
    assert backend.choose_reference(None, torch.zeros(4), torch.Generator()) is None


def test_sampling_can_start_from_given_latents_noised_to_a_share_of_the_steps() -> None:
    model = tiny_model(inference={"steps": 8})
    long = torch.randn(4, 28, generator=torch.Generator().manual_seed(1)) * 2 + 1  # two windows, 4 frames shared
    init = torch.stack([long[:, :16], long[:, 12:]])

    def error(**kwargs) -> float:
        out = model.sample(2, torch.ones(8), None, torch.Generator().manual_seed(0), **kwargs)
        return float((out - init).square().mean())

    kept, half, redrawn, noise = error(init=init, strength=0.125), error(init=init, strength=0.5), \
        error(init=init, strength=1.0), error()
    assert kept < 0.05 * noise and kept < half < redrawn  # the less of the steps, the more of init survives
    assert redrawn > 0.5 * noise  # all the steps: init is all but lost
    with pytest.raises(InputError, match="strength"):
        model.sample(2, init=init, strength=0.0)
    with pytest.raises(InputError, match="window latents"):
        model.sample(3, init=init, strength=0.5)


def audio_bank(folder: Path) -> SoundBank:
    """Three clips with audio: a low hum (2 s, an event), a hiss (2 s) and a short hiss (0.5 s), embeddings e0, e1,
    e2, tempo 100, 90 and 130."""
    import soundfile

    rate, rng = 16_000, np.random.default_rng(0)
    sounds = {"hum": 0.3 * np.sin(2 * np.pi * 110 * np.arange(2 * rate) / rate),
              "hiss": 0.3 * rng.standard_normal(2 * rate), "blip": 0.3 * rng.standard_normal(rate // 2)}
    clips = []
    for label, samples in sounds.items():
        (folder / "foley").mkdir(parents=True, exist_ok=True)
        soundfile.write(folder / "foley" / f"{label}.wav", samples.astype(np.float32), rate)
        clips.append(ClipInfo(f"foley/{label}.wav", "foley", label, "event" if label == "hum" else "bed",
                              "CC-BY-4.0", f"{label}'s author", "test", len(samples) / rate))
    tensors = {"latents": torch.zeros(3, 2), "embeddings": torch.eye(3, 8),
               "descriptors": torch.tensor([[100.0], [90.0], [130.0]]), "latent_mean": torch.zeros(1),
               "latent_std": torch.ones(1)}
    return SoundBank(folder, clips, tensors, {"sample_rate": rate, "descriptor_names": ["tempo"],
                                              "log_descriptors": []})


def test_a_page_draw_can_start_from_the_bank_recording_nearest_it(backend: DiffusionBackend, tmp_path: Path,
                                                                  monkeypatch) -> None:
    from bd2music.backends.diffusion import REFERENCE

    backend.bank = audio_bank(tmp_path / "bank")
    track = plan(4.0)
    track.segments[0].embedding = torch.eye(8)[0]
    track.segments[1].embedding = torch.nn.functional.normalize(torch.eye(8)[2] + 0.5 * torch.eye(8)[1], dim=0)
    assert not [cue for cue in backend.render(track, 0)[0].cues if cue.trigger == REFERENCE]  # off by default
    settings = backend.settings
    settings.reference_strength, settings.reference_top_k, settings.reference_min_s = 0.5, 1, 1.0
    inits, sample = [], backend.model.sample  # (init, strength) of each call
    monkeypatch.setattr(backend.model, "sample", lambda *args: inits.append(args[7:]) or sample(*args))
    layer = backend.render(track, 0)[0]
    credited = [(cue.clip, cue.author, cue.start) for cue in layer.cues if cue.trigger == REFERENCE]
    # the second segment's nearest clip, the blip, is shorter than reference_min_s: the next nearest, the hiss
    assert credited == [("foley/hum.wav", "hum's author", 0.0), ("foley/hiss.wav", "hiss's author", 2.0)]
    assert [strength for _, strength in inits] == [0.5, 0.5]
    windows = [i * backend.model.config.window_stride for i in range(len(inits[0][0]))]
    assert len(windows) > 1 and torch.allclose(inits[0][0], backend.reference_latents(0, windows))  # the hum's
    assert np.array_equal(backend.render(track, 0)[0].audio, layer.audio)
    settings.reference_top_k = 3  # seeded among the nearest
    drawn = {tuple(cue.clip for cue in backend.render(track, seed)[0].cues if cue.trigger == REFERENCE)
             for seed in range(6)}
    assert len(drawn) > 1
    settings.reference_top_k, settings.reference_descriptor_weight = 1, 20.0  # the first segment's tempo (90) first

    def first() -> str:
        return [cue.clip for cue in backend.render(track, 0)[0].cues if cue.trigger == REFERENCE][0]

    assert first() == "foley/hiss.wav"
    targets = torch.tensor([130.0, 2.0, 2000.0, 0.1])  # tempo 130: of the clips long enough, the hum (100) nearest
    assert backend.choose_reference(None, targets, torch.Generator()) == 0
    assert backend.choose_reference(None, targets, torch.Generator(), rhythm=(90.0, 2.0)) == 1  # the pulse's tempo
    settings.reference_descriptor_weight, settings.reference_kinds = 0.5, ("bed",)  # the hum is an event
    assert first() == "foley/hiss.wav"
    with pytest.raises(ValueError, match="reference_strength"):
        DiffusionSettings(reference_strength=1.5)


def test_a_short_reference_repeats_as_the_scene_plays_it(backend: DiffusionBackend, tmp_path: Path,
                                                         monkeypatch) -> None:
    backend.bank = audio_bank(tmp_path / "bank")
    heard, mel = [], backend._mel
    monkeypatch.setattr(backend, "_mel", lambda audio: heard.append(audio.numpy()) or mel(audio))
    starts = [i * backend.model.config.window_stride for i in range(12)]
    backend.reference_latents(0, starts)  # the hum (2 s), an event
    hum, rate = heard[-1], backend.audio_vae.config.mel.sample_rate
    assert len(hum) > 2 * rate + 1600

    def rms(at: int) -> float:
        return float(np.sqrt(np.mean(hum[at - 800 : at] ** 2)))

    assert rms(2 * rate) < 0.2 * rms(rate)  # its tail faded before it repeats ...
    assert np.allclose(hum[2 * rate : 2 * rate + 1600], hum[:1600])  # ... with its attack intact
