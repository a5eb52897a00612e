"""The scene backend on the shipped bank and weights (no shared data): every clip credited, seeds, the plan's
targets heard in the audio, a bank of one kind, and the sound choice in the CLI."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from pathlib import Path

import librosa
import numpy as np
import pytest
import torch

from bd2music.__main__ import main
from bd2music.backends import backend_class
from bd2music.errors import InputError
from bd2music.pipeline import Pipeline

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
PAGE = EXAMPLES / "peppercarrot_ep03_en_002.jpg"


@pytest.fixture(scope="module")
def pipe(one_torch_thread) -> Pipeline:
    return Pipeline.from_pretrained(device="cpu")


@pytest.fixture(scope="module")
def plan(pipe: Pipeline):
    analysis = pipe.analyze(PAGE)
    from bd2music.io import load_page

    return pipe.planner(analysis, load_page(PAGE).image, 6.0, 0, True)


@pytest.fixture(scope="module")
def scene(pipe: Pipeline):
    return pipe.backend("scene")


def test_every_clip_heard_is_credited_and_seeds_choose(scene, plan) -> None:
    [layer] = scene.render(plan, seed=0)
    assert layer.name == "scene" and layer.audio.shape == (1, round(6.0 * scene.sample_rate))
    assert np.isfinite(layer.audio).all() and np.abs(layer.audio).max() > 1e-3
    for cue in layer.cues:
        info = next(c for c in scene.bank.clips if c.id == cue.clip)
        assert (cue.license, cue.author, cue.source) == (info.license, info.author, info.source) and cue.license
        assert 0 <= cue.start < cue.end and cue.start < 6.0
    beds = [c for c in layer.cues if c.trigger.endswith("(bed)")]
    assert len(beds) == len(plan.segments) and all(a.clip != b.clip for a, b in zip(beds, beds[1:]))
    events = [c for c in layer.cues if not c.trigger.endswith("(bed)")]
    assert all(a.clip != b.clip for a, b in zip(events, events[1:]) if a.trigger == b.trigger), "a clip twice in a row"
    [again] = scene.render(plan, seed=0)
    [other] = scene.render(plan, seed=1)
    assert np.array_equal(again.audio, layer.audio)
    assert {c.clip for c in other.cues} != {c.clip for c in layer.cues}


def _measured(scene, plan, **targets) -> tuple[float, float]:
    """(spectral centroid, onset rate as the listening evaluation measures it) of the scene rendered with every
    segment's targets replaced."""
    from bd2music.evaluation.listening import audio_measures

    segments = [replace(s, **targets) for s in plan.segments]
    [layer] = scene.render(replace(plan, segments=segments), seed=0)
    y, rate = layer.audio[0], scene.sample_rate
    centroid = float(librosa.feature.spectral_centroid(y=y, sr=rate).mean())
    return centroid, audio_measures(y, rate)["onset_rate"]


def test_the_plan_targets_are_heard(scene, plan) -> None:
    dark, _ = _measured(scene, plan, centroid=600.0)
    bright, _ = _measured(scene, plan, centroid=3000.0)
    assert dark < 1000 < 2000 < bright
    _, sparse = _measured(scene, plan, tempo=70.0, onset_rate=0.5)
    _, busy = _measured(scene, plan, tempo=150.0, onset_rate=5.0)
    assert busy > 1.5 * sparse


def test_the_event_curve_adds_events_low_in_the_range_and_keeps_its_ends(scene, plan) -> None:
    """``event_curve`` < 1 plays more events per beat for a low onset target (the cue sheet shows them), the same
    1 at the bottom of the range and ``max_events_per_beat`` at its top."""
    steep, flat = (replace(scene, config=replace(scene.config, event_curve=curve)) for curve in (0.5, 1.0))
    assert steep.events_per_beat(0.3) == flat.events_per_beat(0.3) == 1.0
    assert steep.events_per_beat(6.0) == pytest.approx(flat.events_per_beat(6.0))
    assert steep.events_per_beat(0.6) > 1.5 * flat.events_per_beat(0.6)
    low = replace(plan, segments=[replace(s, onset_rate=0.6, effects=[]) for s in plan.segments])

    def events(backend) -> int:
        [layer] = backend.render(low, seed=0)
        return sum(not c.trigger.endswith("(bed)") for c in layer.cues)

    assert events(steep) > 1.3 * events(flat)


def test_triplets_put_one_event_between_beats_on_the_last_third(scene, plan) -> None:
    """With ``triplets`` a beat with one event after it places that event two thirds into the beat (the cue sheet
    shows it), not on the half beat; the count of events is the same."""
    from bd2music.soundtrack import onset_times

    times, beats = onset_times(6.0, 80.0, 2.0, triplets=True)  # 1.5 onsets per beat: beats of 1 and 2 onsets
    between = (times[~beats] / 0.75) % 1.0
    assert len(between) > 3 and np.allclose(between, 2 / 3)
    assert len(times) == len(onset_times(6.0, 80.0, 2.0)[0])
    straight, swung = (replace(scene, config=replace(scene.config, triplets=on, event_curve=1.0))
                       for on in (False, True))
    segments = [replace(s, tempo=80.0, onset_rate=0.6, effects=[]) for s in plan.segments[:1]]
    one = replace(plan, segments=[replace(segments[0], start=0.0, end=plan.seconds)])

    def places(backend) -> np.ndarray:
        [layer] = backend.render(one, seed=0)
        cues = [c for c in layer.cues if not c.trigger.endswith(("(bed)", "(beat)"))]
        return np.array([(c.start / 0.75) % 1.0 for c in cues])

    even, third = places(straight), places(swung)
    assert len(even) == len(third) > 2
    assert np.allclose(even, 0.5, atol=0.01) and np.allclose(third, 2 / 3, atol=0.01)


def test_the_main_recording_follows_the_targets_by_rank(scene, plan) -> None:
    """A busier and faster target chooses a busier main recording among every kind of clip; no clip twice."""
    chooser = replace(scene, config=replace(scene.config, top_k=1, main_kinds=("bed", "event"),
                                            match=("onset_rate", "tempo"),
                                            descriptor_weight=10.0))
    column = scene.bank.descriptor_names.index("onset_rate")

    def chosen(**targets) -> int:
        [bed], _ = chooser.choose(replace(plan.segments[0], **targets), np.random.default_rng(0))
        return bed

    sparse, busy = chosen(onset_rate=0.3, tempo=80.0), chosen(onset_rate=6.0, tempo=140.0)
    assert scene.bank.descriptors[busy, column] > 4 * scene.bank.descriptors[sparse, column]
    [other], _ = chooser.choose(replace(plan.segments[0], onset_rate=6.0, tempo=140.0), np.random.default_rng(0),
                                previous_bed=busy)
    assert other != busy


def test_the_main_recording_can_follow_the_targets_as_played(scene, plan) -> None:
    """``match_as="played"`` ranks by what a clip plays over a segment (the bank's played descriptors): a busier
    target chooses a clip that plays busier; a bank without those descriptors is one line."""
    chooser = replace(scene, config=replace(scene.config, top_k=1, main_kinds=("bed", "event"), match=("onset_rate",),
                                            match_as="played", descriptor_weight=10.0))
    column = scene.bank.descriptor_names.index("played_onset_rate")

    def chosen(backend, **targets) -> int:
        [bed], _ = backend.choose(replace(plan.segments[0], **targets), np.random.default_rng(0))
        return bed

    sparse, busy = chosen(chooser, onset_rate=0.3), chosen(chooser, onset_rate=6.0)
    assert scene.bank.descriptors[busy, column] > 4 * scene.bank.descriptors[sparse, column]
    middle, everything = replace(plan.segments[0], onset_rate=1.5), torch.ones(len(scene.bank), dtype=torch.bool)
    assert chooser._rank(middle, everything, "played")[:10] != chooser._rank(middle, everything)[:10]  # another order
    events = replace(chooser, config=replace(chooser.config, events_match_as="recorded", palette=1, top_k=1))
    segment = replace(plan.segments[0], onset_rate=6.0)
    assert events.choose(segment, np.random.default_rng(0))[1] == events._rank(segment, scene.bank.mask(kind="event"))[:1]
    old = copy.copy(scene.bank)
    old.descriptor_names = [name for name in old.descriptor_names if not name.startswith("played_")]
    with pytest.raises(InputError, match="no played_onset_rate descriptor"):
        replace(chooser, bank=old).choose(plan.segments[0], np.random.default_rng(0))
    with pytest.raises(ValueError, match="match_as"):
        replace(scene.config, match_as="heard")


def test_a_long_recording_plays_without_a_loop(scene) -> None:
    clip = next(i for i, c in enumerate(scene.bank.clips) if c.kind == "bed" and c.duration >= 9.0)
    length = 4 * scene.sample_rate
    played = scene._bed(clip, length, 0.0, np.random.default_rng(0))
    source = np.asarray(scene.bank.audio(clip))
    start = int(np.argmax(np.correlate(source, played[:1000], mode="valid")))
    excerpt = source[start : start + length]
    assert len(excerpt) == length and np.corrcoef(excerpt, played)[0, 1] > 0.999


def test_the_main_recording_can_be_brought_to_the_segments_tempo(scene) -> None:
    """``tempo_stretch``: the bed plays faster or slower (its pitch kept) so that its own tempo as played, or its
    half or double, meets the segment's, never by more than the limit; at 1 it plays as recorded."""
    column = scene.bank.descriptor_names.index("played_tempo")
    clip = next(i for i, c in enumerate(scene.bank.clips) if c.kind == "event" and 0.3 < c.duration < 1.0
                and scene.bank.descriptors[i, column] > 0)  # repeated whole: its attacks set its tempo
    own = float(scene.bank.descriptors[clip, column])
    stretcher = replace(scene, config=replace(scene.config, tempo_stretch=1.25))
    assert stretcher.tempo_ratio(clip, own * 1.1) == pytest.approx(1.1)
    assert stretcher.tempo_ratio(clip, own * 2.2) == pytest.approx(1.1)  # the double of its tempo, 1.1 times
    assert stretcher.tempo_ratio(clip, own * 1.6) == pytest.approx(0.8)  # twice 0.8 is nearer than 1.6
    assert stretcher.tempo_ratio(clip, own * 1.4) == pytest.approx(1.25)  # 1.4 (nearer than 0.7): the limit
    plain_scene = replace(scene, config=replace(scene.config, tempo_stretch=1.0))
    assert plain_scene.tempo_ratio(clip, own * 1.1) == 1.0  # a limit of 1: as recorded
    length, rate = 6 * scene.sample_rate, scene.sample_rate

    def attacks_per_second(audio: np.ndarray) -> float:  # the period of the envelope's autocorrelation
        envelope = librosa.feature.rms(y=audio, frame_length=256, hop_length=64)[0]
        envelope = envelope - envelope.mean()
        correlation = np.correlate(envelope, envelope, mode="full")[len(envelope) - 1 :]
        lag = 8 + int(np.argmax(correlation[8 : len(envelope) // 2]))
        return rate / 64 / lag

    plain = stretcher._bed(clip, length, 0.0, np.random.default_rng(0))
    faster = stretcher._bed(clip, length, 0.0, np.random.default_rng(0), tempo=own * 1.2)
    assert len(faster) == len(plain) == length and np.abs(faster[-rate:]).max() > 0  # filled to its end
    assert attacks_per_second(faster) / attacks_per_second(plain) == pytest.approx(1.2, rel=0.06)
    assert np.array_equal(plain_scene._bed(clip, length, 0.0, np.random.default_rng(0), tempo=own * 1.2), plain)
    with pytest.raises(ValueError, match="tempo_stretch"):
        replace(scene.config, tempo_stretch=0.8)


def test_the_beats_can_fall_on_the_main_recordings_own_onsets(scene, plan) -> None:
    """``beat_on_recording``: the beat grid (the pulse's peaks and the events) starts where the recording's onsets
    are; off, it starts with the segment."""
    rate, period = scene.sample_rate, 0.5  # 120 BPM
    segment = replace(plan.segments[0], tempo=120.0, onset_rate=0.3)
    length = 4 * rate
    clicks = np.zeros(length, dtype=np.float32)
    for start in (np.arange(0.2, 4.0, period) * rate).astype(int):  # a recording whose onsets are 0.2 s into a beat
        clicks[start : start + 400] = np.random.default_rng(start).standard_normal(400) * np.linspace(1, 0, 400)
    lead = scene._lead(clicks, segment.tempo)
    assert abs((period * rate - lead) / rate - 0.2) < 0.03  # the first beat at 0.2 s, as a listener hears it
    starts = (np.arange(0.2, 3.5, period) * rate).astype(int)

    def at_clicks(envelope: np.ndarray) -> float:  # the pulse's level within 40 ms of each click
        return float(np.mean([envelope[start : start + 640].max() for start in starts]))

    assert at_clicks(scene._pulse(segment, length, lead)) > at_clicks(scene._pulse(segment, length)) + 0.3
    cues, palette = [], [next(i for i, c in enumerate(scene.bank.clips) if c.kind == "event")]
    events = scene._events(palette, segment, length, np.random.default_rng(0), 0.0, cues, "plan")
    shifted = scene._events(palette, segment, length, np.random.default_rng(0), 0.0, [], "plan", lead)
    first = [int(np.argmax(np.abs(audio) > 0)) / rate for audio in (events, shifted)]
    assert first[0] < 0.02 and abs(first[1] - (period - lead / rate)) < 0.02 and cues


def test_under_the_music_the_scene_takes_no_music_clip_as_its_main_recording(scene, plan) -> None:
    """``main_music`` lets a music clip be a segment's main recording, but never where the scene is a bed under
    the music (``as_bed``; the pipeline plays every backend after the first as ``bed_of`` it)."""
    from bd2music.backends import bed_of

    wide = replace(scene, config=replace(scene.config, main_music=True, top_k=len(scene.bank)))
    music = {i for i, clip in enumerate(scene.bank.clips) if clip.category == "music"}

    def mains(backend) -> set[int]:
        return {backend.choose(plan.segments[0], np.random.default_rng(draw))[0][0] for draw in range(300)}

    assert mains(wide) & music and not mains(bed_of(wide)) & music
    assert bed_of(wide).config == replace(wide.config, main_music=False) and bed_of(wide).bank is wide.bank
    assert bed_of(plan) is plan  # anything without ``as_bed`` plays as it is


def test_the_pipeline_plays_the_scene_under_the_music_as_a_bed(pipe: Pipeline) -> None:
    played = []

    class Spy:  # the shipped scene, noting which variant renders
        name = "scene"

        def __init__(self, backend, role: str) -> None:
            self.backend, self.role = backend, role

        def as_bed(self) -> Spy:
            return Spy(self.backend.as_bed(), "bed")

        def render(self, plan, seed, progress=None):
            played.append(self.role)
            return self.backend.render(plan, seed)

    shipped = pipe.backend("scene")
    pipe.backends["scene"] = Spy(shipped, "lead")
    try:
        result = pipe(PAGE, seconds=2.0, sound="soundtrack", text=False)
        pipe(PAGE, seconds=2.0, sound="scene", text=False)
    finally:
        pipe.backends["scene"] = shipped
    assert played == ["bed", "lead"] and [layer.role for layer in result.layers][-1] == "bed"


def test_the_scene_plays_through_its_matching_eq(scene, plan) -> None:
    """``match_db``: the whole scene goes through the matching EQ (``bd2music.audio.eq``), its clips unchanged."""
    from bd2music.evaluation import listening as L

    [plain] = replace(scene, config=replace(scene.config, match_db=())).render(plan, 0)
    [darker] = replace(scene, config=replace(scene.config, match_db=((500.0, 0.0), (2000.0, -12.0)))).render(plan, 0)
    assert plain.cues == darker.cues  # the same clips, only their tone changes
    centroid = [L.audio_measures(layer.audio, layer.sample_rate)["spectral_centroid"] for layer in (plain, darker)]
    assert centroid[1] < 0.8 * centroid[0]
    with pytest.raises(ValueError, match="match_db"):
        replace(scene.config, match_db=((-5.0, 1.0),))


def test_a_length_weight_chooses_longer_recordings_and_a_chain_plays_several(scene, plan) -> None:
    """``main_length_weight`` favours main recordings that cover the segment unlooped; with ``chain`` a shorter one
    plays in turn with others of its kind (none twice, not the previous segment's), each credited as a bed."""
    kinds = replace(scene.config, main_kinds=("bed", "event"), match=("onset_rate", "tempo"), descriptor_weight=1.5,
                    top_k=3, main_length_weight=0.0, chain=1)
    segments = [replace(plan.segments[0], onset_rate=rate, tempo=tempo, start=0.0, end=10.0,
                             effects=[])
                for rate in (0.5, 2.0, 5.0) for tempo in (70.0, 140.0)]

    def durations(backend) -> list[float]:
        return [backend.bank.clips[backend.choose(segment, np.random.default_rng(seed))[0][0]].duration
                for segment in segments for seed in range(3)]

    short, long = durations(replace(scene, config=kinds)), durations(replace(scene, config=replace(
        kinds, main_length_weight=2.0)))
    assert np.mean(long) > 1.5 * np.mean(short) and sum(d >= 10.0 for d in long) > sum(d >= 10.0 for d in short)

    chained = replace(scene, config=replace(kinds, chain=3))
    for segment in segments:
        single = replace(scene, config=kinds).choose(segment, np.random.default_rng(0), previous_bed=7)
        bed, events = chained.choose(segment, np.random.default_rng(0), previous_bed=7)
        assert bed[0] == single[0][0] and events == single[1]  # the chain draws nothing from the seed's stream
        clips = [chained.bank.clips[i] for i in bed]
        assert len(set(bed)) == len(bed) <= 3 and 7 not in bed and {c.kind for c in clips} == {clips[0].kind}
        assert len(bed) == 1 or sum(c.duration for c in clips[:-1]) < 10.0
    segment = next(replace(s, end=plan.seconds) for s in segments
                   if len(chained.choose(replace(s, end=plan.seconds), np.random.default_rng([0, 0]))[0]) > 1)
    [layer] = chained.render(replace(plan, segments=[segment]), seed=0)
    beds = [c.clip for c in layer.cues if c.trigger.endswith("(bed)")]
    assert beds == [chained.bank.clips[i].id for i in chained.choose(segment, np.random.default_rng([0, 0]))[0]]


def test_voices_can_play_several_clips_of_their_label_in_turn(scene, plan) -> None:
    """With ``voices_chain`` the voices of a dialogue shorter than their segment play in turn with others of their
    label (each credited) instead of looping one clip."""
    from bd2music.text_cues import DIALOGUE, SoundEffect

    crowd = scene.bank.mask(label="crowd").nonzero().flatten().tolist()
    voices = SoundEffect(DIALOGUE, "people talking", "crowd", 0.0, scene.bank.embeddings[crowd[0]])
    one = replace(plan, segments=[replace(plan.segments[0], start=0.0, end=plan.seconds, effects=[voices])])

    def heard(backend) -> list[str]:
        [layer] = backend.render(one, seed=0)
        return [c.clip for c in layer.cues if c.trigger == voices.trigger]

    single, chained = (heard(replace(scene, config=replace(scene.config, voices_chain=links))) for links in (1, 3))
    lasts = sum(next(c.duration for c in scene.bank.clips if c.id == clip) for clip in chained[:-1])
    assert len(single) == 1 and chained[0] == single[0] and len(set(chained)) == len(chained) > 1
    assert lasts < plan.seconds and {scene.bank.clips[i].id for i in crowd} >= set(chained)


def test_events_can_be_excerpts_of_the_main_recording(scene, plan) -> None:
    """With ``events_from_main`` every event is the segment's main recording (the cue sheet shows it), a steady
    one heard from other offsets each time; the same seed gives the same audio, the shipped default is unchanged."""
    one = replace(plan, segments=[replace(plan.segments[0], start=0.0, end=plan.seconds, effects=[])])
    config = replace(scene.config, main_kinds=("bed",), events_from_main=True)
    backend = replace(scene, config=config)
    [layer] = backend.render(one, seed=0)
    [bed] = [c.clip for c in layer.cues if c.trigger.endswith("(bed)")]
    events = [c.clip for c in layer.cues if not c.trigger.endswith("(bed)")]
    assert len(events) > 3 and set(events) == {bed}
    assert np.array_equal(backend.render(one, seed=0)[0].audio, layer.audio) and np.abs(layer.audio).max() > 1e-3
    [palette] = scene.render(one, seed=0)  # the shipped settings: events from the palette, not the bed
    assert {c.clip for c in palette.cues if not c.trigger.endswith("(bed)")} - {bed}
    clip = scene.bank.clips.index(next(c for c in scene.bank.clips if c.id == bed))
    rng = np.random.default_rng(0)
    first, second = backend._stretch(clip, rng), backend._stretch(clip, rng)
    assert len(first) == round(config.event_max_s * scene.sample_rate) and not np.array_equal(first, second)


def test_a_slower_pulse_falls_less_between_beats_and_keeps_its_beats(scene, plan) -> None:
    """``pulse_decay_share`` sets how fast the bed falls after an onset: a longer one leaves it higher between
    beats, at full level on every beat either way."""
    segment = replace(plan.segments[0], tempo=93.75, onset_rate=0.3)  # a beat every 0.64 s: 40 envelope frames
    length = 3 * scene.sample_rate
    fast, slow = (replace(scene, config=replace(scene.config, pulse_decay_share=share))._pulse(segment, length)
                  for share in (0.4, 1.0))
    beats = (np.arange(4) * 0.64 * scene.sample_rate).astype(int)
    assert np.allclose(fast[beats], 1.0, atol=0.02) and np.allclose(slow[beats], 1.0, atol=0.02)
    assert np.mean(20 * np.log10(slow)) > np.mean(20 * np.log10(fast)) + 4


def test_a_busy_segment_can_fall_slower_than_a_sparse_one(scene, plan) -> None:
    """``pulse_decay_dense``: a sparse segment (one event per beat) keeps ``pulse_decay_share``'s fall, a busy one
    falls slower (its bed stays higher between beats), the busiest at ``pulse_decay_dense``."""
    backend = replace(scene, config=replace(scene.config, pulse_decay_share=0.4, pulse_decay_dense=2.0,
                                            pulse_dense_from=2.0))
    sparse, busy, busiest = (replace(plan.segments[0], tempo=93.75, onset_rate=rate) for rate in (0.3, 4.0, 50.0))
    assert backend.events_per_beat(busy.onset_rate) > 2.0
    assert backend.decay_share(sparse) == 0.4 and backend.decay_share(busiest) == pytest.approx(2.0)
    assert 0.4 < backend.decay_share(busy) < 2.0
    length = 3 * scene.sample_rate
    neutral = replace(scene, config=replace(backend.config, pulse_decay_dense=None))
    assert np.array_equal(backend._pulse(sparse, length), neutral._pulse(sparse, length))
    assert np.mean(np.log(backend._pulse(busy, length))) > np.mean(np.log(neutral._pulse(busy, length))) + 0.1


def test_the_main_recording_can_weigh_the_descriptors_apart(scene, plan) -> None:
    """``main_descriptor_weight`` ranks the main recording alone by another descriptor weight: a large one chooses
    the clip nearest the targets, the events' palette stays as it was."""
    segment = replace(plan.segments[0], onset_rate=6.0, tempo=140.0)
    base = replace(scene, config=replace(scene.config, top_k=1, match=("onset_rate", "tempo"), descriptor_weight=0.0))
    heavy = replace(scene, config=replace(base.config, main_descriptor_weight=10.0))
    everything = replace(scene, config=replace(base.config, descriptor_weight=10.0))
    bed, events = base.choose(segment, np.random.default_rng(0))
    heavy_bed, heavy_events = heavy.choose(segment, np.random.default_rng(0))
    assert heavy_bed != bed and heavy_events == events
    assert heavy_bed == everything.choose(segment, np.random.default_rng(0))[0]


def test_a_bank_with_one_kind_still_sounds(scene, plan) -> None:
    from bd2music.bank import SoundBank

    bank = copy.copy(SoundBank.load())  # load() shares one bank per process: relabel a copy, not the shared one
    events_only = [i for i, c in enumerate(bank.clips) if c.kind == "event"][:4]
    bank.clips = [bank.clips[i] if i in events_only else replace(bank.clips[i], kind="none")
                  for i in range(len(bank.clips))]
    [layer] = backend_class("scene")(bank).render(plan, seed=0)
    assert np.abs(layer.audio).max() > 1e-3 and {c.clip for c in layer.cues} <= {bank.clips[i].id for i in events_only}


def test_the_cli_renders_a_sound_and_refuses_an_unknown_one(tmp_path: Path, capsys) -> None:
    assert main(["generate", str(PAGE), "--out", str(tmp_path), "--seconds", "2", "--sound", "buzz"]) == 2
    assert "unknown sound 'buzz', expected one of soundtrack, music, scene, neural" in capsys.readouterr().err
    assert main(["generate", str(PAGE), "--out", str(tmp_path), "--seconds", "2", "--sound", "scene", "--stems"]) == 0
    record = json.loads((tmp_path / f"{PAGE.stem}.json").read_text())
    assert record["layers"] == ["scene"] and record["cues"] and record["plan"]["segments"]
    assert -24.5 <= record["loudness_lufs"] <= -13.5 and record["true_peak_dbtp"] <= -1.0
    assert (tmp_path / f"{PAGE.stem}.scene.wav").is_file()


def test_a_missing_bank_is_one_line_and_the_other_sounds_still_work(tmp_path: Path, capsys) -> None:
    broken = Pipeline.from_pretrained(device="cpu", bank=tmp_path / "no_bank")
    usable, problems = broken.usable_sounds()
    assert usable == ["music", "neural", "diffusion"] and len(problems) == 2  # soundtrack and scene need the bank
    assert all("no sound bank in" in problem for problem in problems)
    code = main(["generate", str(PAGE), "--out", str(tmp_path / "out"), "--seconds", "2", "--bank",
                 str(tmp_path / "no_bank")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "no sound bank in" in err and not (tmp_path / "out").exists()


def test_settings_come_from_the_pipeline_index_and_unknown_ones_are_one_line(pipe: Pipeline) -> None:
    assert pipe.backend("scene").config.bed_pulse_db == pipe.index.settings["scene"]["bed_pulse_db"]
    assert pipe.master_config.limiter_threshold_db == pipe.index.settings["master"]["limiter_threshold_db"]
    with pytest.raises(InputError, match="scene settings: unknown loudnesss"):
        backend_class("scene").from_components(pipe.components, {"loudnesss": 3})
    with pytest.raises(InputError, match="scene settings: match: unknown targets"):
        backend_class("scene").from_components(pipe.components, {"match": ["brightness"]})
    with pytest.raises(InputError, match="neural settings: unknown pulse"):
        backend_class("neural").from_components(pipe.components, {"pulse": 1})
