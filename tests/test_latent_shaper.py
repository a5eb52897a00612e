"""The latent shaper of the neural sound: seeded motion borrowed from real windows, the guard against decoded
silence, the shipped tables, the fit, and the plan left as it is."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from bd2music.backends.neural import DONOR, NeuralBackend, NeuralSettings, donor_credits, load_shaper
from bd2music.errors import InputError
from bd2music.hub import WEIGHTS_DIR
from bd2music.models.audio_vae import AudioVAE, AudioVAEConfig, TiledLatent, tile_starts
from bd2music.models.latent_shaper import LatentShaper, LatentShaperConfig, quiet_share, smoothed
from bd2music.plan import Plan, SegmentPlan, frame_span

SHAPE = (4, 8)
FIXTURES = Path(__file__).parent / "data"


def tiny_shaper(**settings) -> LatentShaper:
    """A shaper whose 12 donors are seeded noise and whose silence direction is +1 on channel 0."""
    generator = torch.Generator().manual_seed(0)
    shaper = LatentShaper(LatentShaperConfig(latent_shape=SHAPE, donors=12, neighbours=4, **settings))
    shaper.set_tables(torch.randn(12, *SHAPE, generator=generator), torch.tensor([1.0, 0.0, 0.0, 0.0]))
    return shaper


def test_quiet_share_counts_frames_far_under_the_mean_power():
    log_mel = torch.zeros(8, 10)
    log_mel[:, :3] = np.log(1e-4)  # 40 dB under the rest
    assert quiet_share(log_mel, 20.0) == pytest.approx(0.3)
    assert quiet_share(torch.zeros(8, 10), 20.0) == 0.0
    assert quiet_share(torch.full((8, 10), -18.0), 20.0, silent_log_mel=-13.8) == 1.0  # even silence throughout


def test_move_is_seeded_and_moves_each_window_its_own_way():
    shaper = tiny_shaper()
    latents = torch.zeros(3, *SHAPE)
    moved, donors = shaper.move(latents, seed=5)
    assert moved.shape == latents.shape and not torch.equal(moved, latents)
    assert torch.equal(moved, shaper.move(latents, seed=5)[0])  # reproducible
    assert not torch.equal(moved, shaper.move(latents, seed=6)[0])  # the seed changes the sound
    assert not torch.equal(moved, shaper.move(latents, seed=5, salt=1)[0])  # another segment, other donors
    assert latents.abs().sum() == 0  # the input (the plan's) is not changed in place
    assert torch.equal(donors, shaper.donors(latents, torch.Generator().manual_seed(5 * 1_000_003)))
    # each window takes one donor's motion: frame deviations of a real window, with the excursion to its mean
    motion = smoothed(shaper.donor_motion[donors], shaper.config.motion_smoothing)
    expected = shaper.config.motion * motion + shaper.config.excursion * shaper.donor_means[donors][..., None]
    assert torch.allclose(moved, expected)


def test_move_draws_donors_among_the_nearest():
    shaper = tiny_shaper()
    target = shaper.donor_means[7][None, :, None].expand(1, *SHAPE)
    nearest = set()
    for seed in range(40):
        nearest |= set(shaper.donors(target, torch.Generator().manual_seed(seed)).tolist())
    distance = (((shaper.donor_means - shaper.donor_means[7]) / shaper.scale) ** 2).sum(-1)
    assert 7 in nearest and nearest <= set(distance.topk(4, largest=False).indices.tolist())


def test_guard_takes_the_smallest_shift_that_makes_the_segment_loud_enough():
    shaper = tiny_shaper(max_quiet_share=0.1, max_shift=3.0, bisections=8)

    def decode(latents):  # frames are silent where channel 0 stays under 1.5, else loud
        level = latents[:, 0].reshape(-1)
        return torch.where(level < 1.5, -18.4, 0.0)[None].expand(4, -1)

    latents = torch.zeros(2, *SHAPE)
    latents[:, 0, :4] = 2.0  # half the frames loud: quiet share 0.5
    shifted, mel = shaper.guard(latents, decode)
    shift = (shifted - latents)[0, 0, 0].item()
    assert 1.5 <= shift <= 1.5 + 3.0 / 2**8 + 1e-6  # the smallest step found by the bisection
    assert torch.equal(shifted[:, 1:], latents[:, 1:])  # only along the silence direction
    assert quiet_share(mel, 20.0) <= 0.1
    loud = torch.full((2, *SHAPE), 2.0)
    assert torch.equal(shaper.guard(loud, decode)[0], loud)  # already loud: left alone


def test_render_leaves_the_plan_as_it_is():
    torch.manual_seed(0)
    vae = AudioVAE().eval()
    shaper = LatentShaper(LatentShaperConfig(latent_shape=vae.config.latent_shape, donors=4, neighbours=2))
    shaper.set_tables(torch.randn(4, *vae.config.latent_shape), torch.ones(vae.config.latent_shape[0]))
    from bd2music.audio.griffin_lim import GriffinLim

    latents = torch.randn(1, *vae.config.latent_shape)
    segment = SegmentPlan(-1, 0.0, 2.0, 120.0, 2.0, 1000.0, -20.0, 0.3, "", torch.zeros(1),
                          TiledLatent(latents.clone(), [0], 126), raw={"tempo": 120.0, "onset_rate": 2.0})
    plan = Plan(2.0, 0, [segment], "", 0.5)
    backend = NeuralBackend(vae, GriffinLim(vae.config.mel, 2), shaper)
    layer = backend.render(plan, seed=0)[0]
    assert torch.equal(plan.segments[0].latents.latents, latents)  # the plan every backend reads is unchanged
    assert layer.audio.shape[-1] == 2 * vae.config.mel.sample_rate
    unshaped = NeuralBackend(vae, GriffinLim(vae.config.mel, 2)).log_mel(plan)
    assert not torch.allclose(backend.log_mel(plan), unshaped)


def test_the_cue_sheet_credits_each_segments_donor_clips():
    from bd2music.audio.griffin_lim import GriffinLim

    torch.manual_seed(0)
    vae = AudioVAE().eval()
    shaper = LatentShaper(LatentShaperConfig(latent_shape=vae.config.latent_shape, donors=4, neighbours=4))
    shaper.set_tables(torch.randn(4, *vae.config.latent_shape), torch.ones(vae.config.latent_shape[0]))
    credits = (("rain/a.flac", "CC0-1.0", "A", "s1"), ("rain/a.flac", "CC0-1.0", "A", "s1"),
               ("animal/b.flac", "CC-BY-3.0", "B", "s2"), ("music/c.flac", "GPL-2+", "C", "s3"))
    fps, window = vae.config.mel.frames_per_second, vae.config.window_frames
    segments = []
    for start in (0.0, 6.0):  # two segments, each of two windows
        first, end = frame_span(start, start + 6.0, 0.5, fps, round(12.0 * fps) + 1)
        segments.append(SegmentPlan(-1, start, start + 6.0, 120.0, 2.0, 1000.0, -20.0, 0.3, "", torch.zeros(1),
                                    TiledLatent(torch.randn(2, *vae.config.latent_shape),
                                                tile_starts(end - first, window, vae.config.overlap_frames),
                                                end - first), raw={"tempo": 120.0, "onset_rate": 2.0}))
    plan = Plan(12.0, 0, segments, "", 0.5)
    backend = NeuralBackend(vae, GriffinLim(vae.config.mel, 2), shaper, credits=credits)
    cues = backend.render(plan, seed=1)[0].cues
    assert [c.label for c in cues[:2]] == ["learned sound"] * 2  # the model first
    drawn = backend.decode_track(plan, seed=1)[1]
    for segment, donors in zip(segments, drawn):
        heard = [(c.clip, c.license, c.author, c.source, c.label) for c in cues
                 if c.trigger == DONOR and (c.start, c.end) == (segment.start, segment.end)]
        expected = dict.fromkeys(credits[i] for i in donors.tolist())  # each clip once, in the order drawn
        assert heard == [(*credit, credit[0].split("/")[0]) for credit in expected]
    plain = NeuralBackend(vae, GriffinLim(vae.config.mel, 2), shaper).render(plan, seed=1)[0].cues
    assert len(plain) == 2  # no credits known: the model alone


def test_donor_credits_are_read_from_the_fit_and_checked(tmp_path):
    shaper = tiny_shaper()  # 12 donors
    folder = tmp_path / "shaper"
    folder.mkdir()
    assert donor_credits(folder, shaper) == ()  # an older fit: none
    (folder / "attribution.csv").write_text('file,license,author,source\na.flac,CC0-1.0,"Smith, J.",s1\n'
                                            "b.flac,CC-BY-3.0,K,s2\n")
    (folder / "donors.json").write_text(json.dumps(["a.flac", "b.flac"] * 6))
    credits = donor_credits(folder, shaper)
    assert credits[0] == ("a.flac", "CC0-1.0", "Smith, J.", "s1") and credits[11][0] == "b.flac"
    (folder / "donors.json").write_text(json.dumps(["a.flac"] * 11 + ["c.flac"]))
    with pytest.raises(InputError, match="cannot be read"):
        donor_credits(folder, shaper)
    (folder / "donors.json").write_text(json.dumps(["a.flac"] * 5))
    with pytest.raises(InputError, match="5 clips for 12 donors"):
        donor_credits(folder, shaper)


def test_the_texture_is_seeded_and_changes_the_log_mel_at_the_pulses_onsets_only():
    from bd2music.audio.griffin_lim import GriffinLim
    from bd2music.soundtrack import onset_times

    torch.manual_seed(0)
    vae = AudioVAE().eval()
    segment = SegmentPlan(-1, 0.0, 2.0, 120.0, 2.0, 1000.0, -20.0, 0.3, "", torch.zeros(1),
                          TiledLatent(torch.randn(1, *vae.config.latent_shape), [0], 126),
                          raw={"tempo": 100.0, "onset_rate": 4.0})
    plan = Plan(2.0, 0, [segment], "", 0.5)
    plain = NeuralBackend(vae, GriffinLim(vae.config.mel, 2)).log_mel(plan, seed=0)
    textured = NeuralBackend(vae, GriffinLim(vae.config.mel, 2), settings=NeuralSettings(texture_db=6.0))
    mel = textured.log_mel(plan, seed=0)
    assert torch.equal(textured.log_mel(plan, seed=0), mel) and not torch.allclose(textured.log_mel(plan, seed=1), mel)
    steps = (mel - plain).diff(dim=-1).abs().amax(dim=0) > 1e-4
    fps = vae.config.mel.frames_per_second
    onsets = {int(f) for f in np.round(onset_times(2.0, 100.0, 4.0)[0] * fps)}  # the raw readings' pulse
    assert steps.any() and set((np.flatnonzero(steps.numpy()) + 1).tolist()) <= onsets
    with pytest.raises(ValueError, match="texture_db"):
        NeuralSettings(texture_db=-1.0)


def test_load_shaper_checks_the_latent_shape(tmp_path):
    vae = AudioVAE()
    tiny_shaper().save_pretrained(tmp_path / "latent_shaper")
    with pytest.raises(InputError, match="do not fit the audio VAE"):
        load_shaper(tmp_path / "latent_shaper", vae)
    with pytest.warns(UserWarning, match="no latent shaper"):
        assert load_shaper(tmp_path / "absent", vae) is None


def test_shipped_shaper_lifts_the_decoders_silence(neural_vae_folder):
    """The mean sparse real window (donors' mean minus the silence direction) decodes mostly quiet with the audio
    VAE the neural sound decodes with; the guard brings it under the quiet share it allows."""
    vae = AudioVAE.from_pretrained(neural_vae_folder)
    shaper = LatentShaper.from_pretrained()
    assert tuple(shaper.config.latent_shape) == tuple(vae.config.latent_shape)
    frames = vae.config.latent_shape[1]
    sparse = (shaper.donor_means.mean(0) - shaper.silence_direction)[None, :, None].expand(3, -1, frames).clone()
    tiled = TiledLatent(sparse, [0, 192, 369], 625)
    with torch.inference_mode():
        before = quiet_share(vae.decode_long(tiled), shaper.config.quiet_db, shaper.config.silent_log_mel)
        _, mel = shaper.guard(sparse, lambda z: vae.decode_long(TiledLatent(z, tiled.starts, tiled.length)))
    assert before > 0.5
    assert quiet_share(mel, shaper.config.quiet_db, shaper.config.silent_log_mel) <= shaper.config.max_quiet_share


def test_the_shipped_shaper_credits_every_donor():
    shaper = LatentShaper.from_pretrained()
    credits = donor_credits(WEIGHTS_DIR / "latent_shaper", shaper)
    assert len(credits) == shaper.config.donors and all(all(field for field in credit[:2]) for credit in credits)


def test_fit_smoke(data_dir, tmp_path):
    from bd2music.training.common import load_config
    from bd2music.training.latent_shaper import SMOKE, LatentShaperFitConfig, fit_latent_shaper

    config = load_config(LatentShaperFitConfig, None, SMOKE)
    metrics = fit_latent_shaper(config, data_dir, tmp_path / "shaper")
    shaper = LatentShaper.from_pretrained(tmp_path / "shaper")
    assert shaper.config.donors == metrics["donors"] > 0
    assert json.loads((tmp_path / "shaper" / "metrics.json").read_text())["clips"] == metrics["clips"]
    attribution = (tmp_path / "shaper" / "attribution.csv").read_text().splitlines()
    heldout = {line.strip() for line in (FIXTURES / "sounds_heldout.txt").read_text().splitlines()}
    assert attribution[0] == "file,license,author,source" and len(attribution) > 1
    assert not {row.split(",")[0] for row in attribution[1:]} & heldout  # training clips only
    files = json.loads((tmp_path / "shaper" / "donors.json").read_text())  # each donor's clip, in order
    assert len(files) == shaper.config.donors and set(files) == {row.split(",")[0] for row in attribution[1:]}


def test_smoothed_motion_keeps_slow_changes_and_damps_fast_ones():
    ramp = torch.arange(8.0).expand(1, 2, 8)
    flicker = torch.tensor([1.0, -1.0] * 4).expand(1, 2, 8)
    assert torch.equal(smoothed(flicker, 1), flicker)
    assert torch.allclose(smoothed(ramp, 3)[..., 1:-1], ramp[..., 1:-1])  # a slow change passes
    assert smoothed(flicker, 3)[..., 1:-1].abs().max() < 0.34  # a frame-to-frame one is damped 3x
    assert smoothed(ramp, 5).shape == ramp.shape


def keyed_shaper(shape=SHAPE, key_channels: int = 3, **settings) -> LatentShaper:
    """A keyed shaper: 12 seeded donor windows of ``shape`` whose keys (the plan's channel means) are seeded noise."""
    generator = torch.Generator().manual_seed(1)
    shaper = LatentShaper(LatentShaperConfig(latent_shape=shape, key_channels=key_channels, donors=12, neighbours=4,
                                             **settings))
    direction = torch.zeros(shape[0])
    direction[0] = 1.0
    shaper.set_tables(torch.randn(12, *shape, generator=generator), direction,
                      torch.randn(12, key_channels, generator=generator))
    return shaper


def test_a_keyed_shaper_finds_donors_by_the_plans_means_and_gives_their_own_windows():
    shaper = keyed_shaper(motion=1.0, motion_smoothing=1)
    target = shaper.donor_keys[5][None, :, None].expand(2, 3, 6)  # plan windows: 3 channels, any frames
    moved, donors = shaper.move(target, seed=3)
    assert moved.shape == (2, *SHAPE)  # the decoding VAE's windows
    assert torch.allclose(moved, shaper.donor_means[donors][..., None] + shaper.donor_motion[donors])  # as recorded
    distance = (((shaper.donor_keys - shaper.donor_keys[5]) / shaper.key_scale) ** 2).sum(-1)
    assert set(donors.tolist()) <= set(distance.topk(4, largest=False).indices.tolist())  # by the keys
    assert torch.equal(moved, shaper.move(target, seed=3)[0])
    assert not torch.equal(moved, shaper.move(target, seed=4)[0])
    with pytest.raises(InputError, match=r"\(windows, 3, frames\)"):
        shaper.move(torch.zeros(2, *SHAPE), seed=0)  # the decoding space's windows are not the plan's
    with pytest.raises(ValueError, match="keyed"):
        shaper.set_tables(torch.zeros(12, *SHAPE), torch.zeros(4))
    with pytest.raises(ValueError, match="keyed"):
        tiny_shaper().set_tables(torch.zeros(12, *SHAPE), torch.zeros(4), torch.zeros(12, 3))


def test_the_neural_sound_decodes_with_the_vae_the_pipeline_names_through_a_keyed_shaper(tmp_path):
    from bd2music.audio.griffin_lim import GriffinLim

    torch.manual_seed(0)
    plan_vae = AudioVAE().eval()
    own = AudioVAE(AudioVAEConfig(channels=(16, 16, 16), blocks_per_stage=1, latent_channels=6, semantic_dim=0,
                                  head_dim=16)).eval()
    own.save_pretrained(tmp_path / "vae_six")
    keyed_shaper(own.config.latent_shape, plan_vae.config.latent_channels).save_pretrained(tmp_path / "keyed")
    components = {"audio_vae": plan_vae, "vocoder": GriffinLim(plan_vae.config.mel, 2),
                  "neural_vae": tmp_path / "vae_six", "latent_shaper": tmp_path / "keyed"}
    backend = NeuralBackend.from_components(components)
    assert backend.audio_vae.config.latent_channels == 6 and backend.shaper.keyed
    latents = torch.randn(1, *plan_vae.config.latent_shape)
    segment = SegmentPlan(-1, 0.0, 2.0, 120.0, 2.0, 1000.0, -20.0, 0.3, "", torch.zeros(1),
                          TiledLatent(latents.clone(), [0], 126), raw={"tempo": 120.0, "onset_rate": 2.0})
    (layer,) = backend.render(Plan(2.0, 0, [segment], "", 0.5), seed=0)
    assert np.abs(layer.audio).max() > 0 and layer.cues[0].source == "weights/vae_six, weights/vocoder"
    assert torch.equal(segment.latents.latents, latents)
    tiny_shaper().save_pretrained(tmp_path / "unkeyed")
    with pytest.raises(InputError, match="do not fit the audio VAE"):  # an unkeyed shaper of another shape
        NeuralBackend.from_components(components | {"latent_shaper": tmp_path / "unkeyed"})
    with pytest.warns(UserWarning), pytest.raises(InputError, match="needs a keyed latent shaper"):
        NeuralBackend.from_components(components | {"latent_shaper": tmp_path / "absent"})
    keyed_shaper(own.config.latent_shape, 5).save_pretrained(tmp_path / "five")
    with pytest.raises(InputError, match="keys have 5 channels"):
        NeuralBackend.from_components(components | {"latent_shaper": tmp_path / "five"})
    with pytest.raises(InputError, match="no audio VAE weights for neural_vae"):
        NeuralBackend.from_components(components | {"neural_vae": tmp_path / "absent"})


def test_a_keyed_fit_keeps_the_plans_means_as_keys(data_dir, tmp_path):
    from bd2music.training.common import load_config
    from bd2music.training.latent_shaper import SMOKE, LatentShaperFitConfig, fit_latent_shaper

    torch.manual_seed(0)
    AudioVAE(AudioVAEConfig(channels=(16, 16, 16), blocks_per_stage=1, latent_channels=6, semantic_dim=0,
                            head_dim=16)).save_pretrained(tmp_path / "plan_vae")
    config = load_config(LatentShaperFitConfig, None, SMOKE | {"plan_vae": str(tmp_path / "plan_vae")})
    metrics = fit_latent_shaper(config, data_dir, tmp_path / "shaper")
    shaper = LatentShaper.from_pretrained(tmp_path / "shaper")
    assert shaper.keyed and shaper.config.key_channels == 6 and shaper.donor_keys.shape == (metrics["donors"], 6)
    assert shaper.donor_keys.abs().sum() > 0 and tuple(shaper.config.latent_shape) == (32, 32)  # weights/audio_vae


def test_the_tilt_renders_the_plans_centroid_and_is_off_by_default():
    import librosa

    from bd2music.audio.griffin_lim import GriffinLim

    torch.manual_seed(0)
    vae = AudioVAE().eval()
    latents = torch.randn(1, *vae.config.latent_shape)

    def plan(centroid: float) -> Plan:
        segment = SegmentPlan(-1, 0.0, 2.0, 120.0, 2.0, centroid, -20.0, 0.3, "", torch.zeros(1),
                              TiledLatent(latents.clone(), [0], 126), raw={"tempo": 120.0, "onset_rate": 2.0})
        return Plan(2.0, 0, [segment], "", 0.5)

    plain = NeuralBackend(vae, GriffinLim(vae.config.mel, 8))
    assert torch.equal(plain.log_mel(plan(500.0)), plain.log_mel(plan(3000.0)))  # max_tilt_db 0: no tilt
    tilted = NeuralBackend(vae, GriffinLim(vae.config.mel, 8), settings=NeuralSettings(max_tilt_db=15.0))
    rate = vae.config.mel.sample_rate
    centroids = [float(np.mean(librosa.feature.spectral_centroid(y=tilted.render(plan(c), seed=0)[0].audio, sr=rate)))
                 for c in (1500.0, 3000.0, 4500.0)]  # untilted: about 3900 Hz; 1500 Hz lies beyond 15 dB
    assert centroids[0] < centroids[1] < centroids[2] and centroids[2] == pytest.approx(4500.0, rel=0.1)
    with pytest.raises(ValueError, match="tilt_pivot_hz"):
        NeuralSettings(tilt_pivot_hz=10.0)
    with pytest.raises(InputError, match="neural settings: max_tilt_db must be within 0-20 dB"):
        NeuralBackend.from_components({"audio_vae": vae, "vocoder": GriffinLim(vae.config.mel, 2)}, {"max_tilt_db": 25})
