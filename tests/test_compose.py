"""From plan to score without any asset: the key and mode a page's look asks for, sections that fit their
segments, the composer's score (scale, cadence, density, register, seeds) and its performance."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from bd2music.music.compose import (ARPEGGIO, BASS, CLOSED_HAT, DRUMS, HARMONY, KICK, MELODY, OPEN_HAT, RIDE, SHAKER,
                                    ComposerConfig, arpeggio_rate, breakdown, compose, graces, grid, on_pulse,
                                    pulse)
from bd2music.music.harmony import chord_of, triad, voice
from bd2music.music.intent import IntentConfig, Key, choose_key, plan_sections
from bd2music.music.perform import PANS, SUB, Orchestration, PerformerConfig, perform
from bd2music.plan import Plan, SegmentPlan

MOOD = {"brightness": 0.7, "warmth": 0.6, "saturation": 0.5, "colourfulness_norm": 0.5, "contrast": 0.4,
        "edge_density": 0.3, "is_bw": 0.0, "hue": 0.0}
RANGES = {"lead": (55, 96, True), "keys": (36, 96, False), "low": (28, 60, False)}


def segment(panel=-1, start=0.0, end=10.0, tempo=110.0, onset_rate=2.0, centroid=1500.0, loudness=-18.0, **mood):
    return SegmentPlan(panel, start, end, tempo, onset_rate, centroid, loudness, 0.2, "a page",
                       embedding=torch.zeros(4), latents=None, mood=MOOD | mood)


def make_plan(*segments: SegmentPlan, layout=None) -> Plan:
    segments = segments or (segment(),)
    return Plan(segments[-1].end, 0, list(segments), "a page", 0.5, layout=layout or [])


def score(plan: Plan, seed: int = 0, config: ComposerConfig = ComposerConfig()):
    key = choose_key(plan, IntentConfig())
    sections = plan_sections(plan, IntentConfig())
    return key, sections, compose(sections, key, seed, config)


@pytest.mark.parametrize(("hue", "tonic"), [(0.0, 0), (1 / 12, 7), (2 / 12, 2), (4 / 12, 4), (8 / 12, 8)])
def test_the_hue_of_a_colour_page_picks_the_tonic_round_the_circle_of_fifths(hue, tonic) -> None:
    assert choose_key(make_plan(segment(hue=hue)), IntentConfig()).tonic == tonic


def test_black_and_white_pages_take_their_key_from_brightness_and_dark_cool_pages_are_minor() -> None:
    dark = choose_key(make_plan(segment(brightness=0.2, warmth=0.2, saturation=0.0, is_bw=1.0, hue=-1.0)),
                      IntentConfig())
    light = choose_key(make_plan(segment(brightness=0.9, warmth=0.7, saturation=0.0, is_bw=1.0, hue=-1.0)),
                       IntentConfig())
    assert dark.mode == "minor" and light.mode == "major"
    assert dark.tonic in (5, 10, 3, 8) and light.tonic in (7, 2, 9, 4)  # flats for dark, sharps for light


def test_each_section_holds_whole_beats_and_moves_its_bounds_to_the_nearest_beat() -> None:
    plan = make_plan(segment(0, 0.0, 2.3, tempo=97.0), segment(1, 2.3, 6.0, tempo=131.0, onset_rate=5.0))
    sections = plan_sections(plan, IntentConfig(tempo_glue=0.0))
    assert sections[0].start == 0.0 and sections[-1].end == 6.0
    for section, seg in zip(sections, plan.segments):
        assert isinstance(section.beats, int) and section.beats >= 1
        assert section.beats * 60 / section.tempo == pytest.approx(section.end - section.start)
        assert abs(section.start - seg.start) <= 0.5 * 60 / section.tempo + 1e-9
        assert abs(section.tempo - seg.tempo) / seg.tempo < 0.1
    assert sections[0].end == sections[1].start and sections[1].density > sections[0].density


def test_short_panels_keep_the_tempo_instead_of_squeezing_whole_beats_in() -> None:
    lengths = [2.4, 1.45, 0.4, 2.3, 1.6, 1.85]  # a 0.4 s panel held one whole beat at 150 BPM before
    edges = np.concatenate([[0.0], np.cumsum(lengths)])
    plan = make_plan(*(segment(k, a, b, tempo=104.0) for k, (a, b) in enumerate(zip(edges, edges[1:]))))
    sections = plan_sections(plan, IntentConfig())
    assert all(s.beats >= 1 for s in sections) and sum(s.beats for s in sections) == round(10.0 * 104 / 60)
    assert all(s.tempo == pytest.approx(104.0, rel=0.05) for s in sections)
    crowded = make_plan(*(segment(k, 0.1 * k, 0.1 * (k + 1), tempo=90.0) for k in range(12)))
    assert all(s.beats == 1 for s in plan_sections(crowded, IntentConfig()))  # too short: one beat each, faster


def test_panel_tempos_are_pulled_towards_the_pages_tempo_but_keep_their_order() -> None:
    plan = make_plan(segment(0, 0.0, 4.0, tempo=80.0), segment(1, 4.0, 8.0, tempo=160.0))
    apart = plan_sections(plan, IntentConfig(tempo_glue=0.0))
    glued = plan_sections(plan, IntentConfig(tempo_glue=0.5))
    assert apart[1].tempo / apart[0].tempo == pytest.approx(2.0, rel=0.15)
    assert 1.1 < glued[1].tempo / glued[0].tempo < 1.6  # about the square root of 2: closer, same order
    assert plan_sections(plan, IntentConfig(tempo_glue=1.0))[0].tempo == pytest.approx(113, rel=0.1)


def test_the_score_stays_in_its_key_ends_on_the_tonic_and_is_seeded() -> None:
    plan = make_plan(segment(hue=2 / 12, brightness=0.8))
    key, sections, events = score(plan)
    scale = {(key.tonic + step) % 12 for step in key.scale}
    pitched = [e for e in events if e.role != DRUMS]
    assert {e.role for e in pitched} == {MELODY, HARMONY, ARPEGGIO, BASS}
    assert all(e.pitch % 12 in scale for e in pitched)
    total = sum(s.beats for s in sections)
    assert all(0 <= e.beat < total and e.length > 0 for e in events)
    last_bass = max((e for e in pitched if e.role == BASS), key=lambda e: e.beat)
    assert last_bass.pitch % 12 == key.tonic
    last_melody = max((e for e in pitched if e.role == MELODY), key=lambda e: e.beat)
    assert last_melody.pitch % 12 in triad(key, 0)
    assert score(plan, seed=0)[2] == events
    assert score(plan, seed=1)[2] != events


def test_density_quickens_the_grid_and_brings_the_drums() -> None:
    calm = score(make_plan(segment(onset_rate=0.3)))[2]
    moving = score(make_plan(segment(onset_rate=0.6)))[2]
    busy = score(make_plan(segment(onset_rate=5.5)))[2]
    onsets = [len({e.beat for e in events}) for events in (calm, busy)]
    assert onsets[1] > 2 * onsets[0]
    kit = [{e.pitch for e in events if e.role == DRUMS} for events in (calm, moving, busy)]
    assert kit[0] == set() and kit[1] == {SHAKER} and {KICK, CLOSED_HAT} <= kit[2]


def test_the_onset_curve_spreads_the_calm_end_of_the_density_and_keeps_its_ends_and_ranks() -> None:
    rates = (0.3, 0.33, 0.4, 0.9, 2.0, 6.0)  # onset-rate targets; the first and the last: the range's ends

    def densities(curve: float) -> np.ndarray:
        config = IntentConfig(onsets_curve=curve)
        return np.array([plan_sections(make_plan(segment(onset_rate=r)), config)[0].density for r in rates])

    straight, bent = densities(1.0), densities(0.6)
    assert bent[[0, -1]] == pytest.approx(straight[[0, -1]])  # the ends of the music's onset range are kept
    assert np.all(np.diff(bent) > 0) and np.all(bent[1:-1] > straight[1:-1])  # ranks kept, the calm end denser...
    assert bent[2] / bent[1] > straight[2] / straight[1]  # ...and spread wider where calm targets crowd


def test_a_brighter_higher_segment_plays_higher() -> None:
    def mean_melody(**kwargs):
        events = score(make_plan(segment(**kwargs)))[2]
        return np.mean([e.pitch for e in events if e.role == MELODY])

    assert mean_melody(centroid=4000.0, brightness=0.9) > mean_melody(centroid=400.0, brightness=0.2) + 5


def test_panels_higher_on_the_page_raise_the_melody() -> None:
    segments = [segment(0, 0.0, 5.0), segment(1, 5.0, 10.0)]
    key, sections, events = score(make_plan(*segments, layout=[(0.5, 0.1, 0.5), (0.5, 0.9, 0.5)]))
    top = np.mean([e.pitch for e in events if e.role == MELODY and e.section == 0])
    bottom = np.mean([e.pitch for e in events if e.role == MELODY and e.section == 1])
    assert sections[0].contour > sections[1].contour and top > bottom


def test_grid_follows_density() -> None:
    config = ComposerConfig()
    sections = plan_sections(make_plan(segment(onset_rate=0.3)), IntentConfig())
    assert grid(sections[0], config) == 2.0
    sections = plan_sections(make_plan(segment(onset_rate=6.0)), IntentConfig())
    assert grid(sections[0], config) == 0.25


def test_voicings_move_little_and_chords_are_read_from_notes() -> None:
    key = Key(0, "major")
    first = voice(triad(key, 0), 60, None)
    second = voice(triad(key, 3), 60, first)  # C -> F: common tone C held
    assert sorted(p % 12 for p in first) == [0, 4, 7] and sum(abs(a - b) for a, b in zip(first, second)) <= 4
    assert chord_of(np.array([67, 71, 74, 62]), np.ones(4), key) == triad(key, 4)
    assert Key(9, "minor").name == "A minor" and triad(Key(9, "minor"), 4) == (4, 8, 11)  # E major in A minor


def _performed(level_loudness: float, seed: int = 0):
    plan = make_plan(segment(loudness=level_loudness, onset_rate=3.0))
    key, sections, events = score(plan)
    orchestration = [Orchestration("lead", "keys", "low", counter=None, drums=True)]
    return perform(events, sections, orchestration, seed, RANGES, PerformerConfig()), sections


def test_performance_is_in_range_louder_when_asked_and_rings_to_the_end() -> None:
    quiet, _ = _performed(-23.0)
    loud, sections = _performed(-15.0)
    for notes in (quiet, loud):
        assert all(1 <= n.velocity <= 127 and n.start >= 0 and n.duration > 0 for n in notes)
        for n in notes:
            if n.instrument in RANGES:
                low, high, _ = RANGES[n.instrument]
                assert low <= n.pitch <= high
    assert np.mean([n.velocity for n in loud]) > np.mean([n.velocity for n in quiet]) + 10
    last = max(n.start for n in loud if n.instrument != "drums")
    assert max(n.end for n in loud if n.start == last) >= sections[-1].end - 0.05
    again, _ = _performed(-15.0)
    other, _ = _performed(-15.0, seed=1)
    assert again == loud and other != loud
    starts = np.array([n.start for n in loud])
    assert np.all(np.diff(starts) >= 0)


def test_a_counter_voice_doubles_the_melody_an_octave_below() -> None:
    plan = make_plan(segment())
    key, sections, events = score(plan)
    plain = perform(events, sections, [Orchestration("lead", None, None)], 0, RANGES, PerformerConfig())
    doubled = perform(events, sections, [Orchestration("lead", None, None, counter="keys")], 0, RANGES,
                      PerformerConfig())
    melody = [e for e in events if e.role == MELODY]
    assert len(plain) == len(melody) and len(doubled) == 2 * len(melody)
    assert replace(plain[0], velocity=0) != plain[0]  # a dataclass: the comparison above means what it says


def test_a_sub_bass_doubles_the_bass_an_octave_below_inside_its_range() -> None:
    key, sections, events = score(make_plan(segment()))
    notes = perform(events, sections, [Orchestration("lead", None, "keys", sub="low")], 0, RANGES, PerformerConfig())
    bass_notes = sorted((n for n in notes if n.instrument == "keys"), key=lambda n: n.start)
    subs = sorted((n for n in notes if n.instrument == "low"), key=lambda n: n.start)
    assert len(subs) == len(bass_notes) == len([e for e in events if e.role == BASS]) > 0
    for sub in subs:  # each with its own timing noise, a bass note of the same pitch class above it
        bass_note = min(bass_notes, key=lambda b: abs(b.start - sub.start))
        assert abs(bass_note.start - sub.start) < 0.05 and sub.pitch % 12 == bass_note.pitch % 12
        assert sub.pitch in (bass_note.pitch - 12, bass_note.pitch) and 28 <= sub.pitch <= 60  # unison: range
        assert sub.pan == PANS[SUB]
    assert sum(s.pitch < 36 for s in subs) > len(subs) / 2  # mostly below the bass instrument's own range


def test_the_shaker_can_follow_the_pulse_and_loud_grooves_ride_and_open_the_hats() -> None:
    moving = make_plan(segment(onset_rate=0.6))
    on_grid = [e for e in score(moving)[2] if e.pitch == SHAKER]
    on_pulse = [e for e in score(moving, config=ComposerConfig(shaker_ratio=3.0))[2] if e.pitch == SHAKER]
    assert on_grid and len(on_pulse) > len(on_grid)
    key, sections, events = score(make_plan(segment(onset_rate=5.5, loudness=-14.0)))
    level = sections[0].level
    assert CLOSED_HAT in {e.pitch for e in events} and not {RIDE, OPEN_HAT} & {e.pitch for e in events}
    ride = {e.pitch for e in score(make_plan(segment(onset_rate=5.5, loudness=-14.0)),
                                   config=ComposerConfig(ride_from=level))[2]}
    assert RIDE in ride and CLOSED_HAT not in ride
    opened = [e for e in score(make_plan(segment(onset_rate=5.5, loudness=-14.0)),
                               config=ComposerConfig(open_hat_from=level))[2] if e.pitch == OPEN_HAT]
    assert opened and all(e.beat % 4 == 3.5 for e in opened)


def test_a_breakdown_thins_the_middle_bar_and_keeps_the_rest() -> None:
    config = ComposerConfig(breakdown_bars=1)
    key, sections, events = score(make_plan(segment(onset_rate=5.5)))
    thinned = breakdown(events, sections, config)
    gone = [e for e in events if e not in thinned]
    assert gone and {e.role for e in gone} == {DRUMS, BASS, ARPEGGIO}
    bars = sum(s.beats for s in sections) // config.meter
    assert all((bars // 2) * 4 <= e.beat < (bars // 2 + 1) * 4 for e in gone)
    assert {e.role for e in thinned if (bars // 2) * 4 <= e.beat < (bars // 2 + 1) * 4} >= {MELODY, HARMONY}
    assert breakdown(events, sections, ComposerConfig()) == events
    short = score(make_plan(segment(end=3.0, onset_rate=5.5)))
    assert breakdown(short[2], short[1], config) == short[2]  # no bar either side: nothing taken


def test_a_pulse_fills_beats_then_half_beats_then_sixteenths_evenly() -> None:
    counts = [len(pulse(0.0, 8.0, rate)) for rate in np.arange(1.0, 4.01, 0.125)]
    assert counts == [round(8 * rate) for rate in np.arange(1.0, 4.01, 0.125)]  # one more note per step of 1/8
    assert pulse(0.0, 4.0, 1.0) == [0.0, 1.0, 2.0, 3.0] and len(pulse(0.0, 4.0, 9.0)) == 16
    assert pulse(2.0, 4.0, 1.5) == [2.0, 2.5, 3.0, 4.0, 4.5, 5.0]  # every beat, half the half beats, spread
    assert pulse(0.0, 3.0, 2.5) == [0.0, 0.25, 0.5, 1.0, 1.5, 1.75, 2.0, 2.5] and pulse(0.0, 0.0, 2.0) == []


def test_an_arpeggio_breaks_the_chords_on_a_pulse_from_its_density() -> None:
    config = ComposerConfig(arpeggio_from=1.0, arpeggio_ratio=1.0)
    calm = score(make_plan(segment(onset_rate=0.3)), config=config)[2]
    assert not [e for e in calm if e.role == ARPEGGIO]
    key, sections, busy = score(make_plan(segment(onset_rate=1.5)), config=config)
    arp = sorted((e for e in busy if e.role == ARPEGGIO), key=lambda e: e.beat)
    rate = arpeggio_rate(sections[0], config)
    assert 1.0 < rate == sections[0].density < 4.0 and len(arp) > 8
    bars = {e.beat // config.meter for e in arp}
    assert len(arp) == len(bars) * round(rate * config.meter)  # every bar (but the cadence's) at the rate asked
    assert np.allclose(np.array([e.beat for e in arp]) * 4, np.round(np.array([e.beat for e in arp]) * 4))
    quicker = score(make_plan(segment(onset_rate=1.7)), config=config)[2]
    assert len([e for e in quicker if e.role == ARPEGGIO]) > len(arp)  # a little busier page, a few more notes
    harmony_notes = [e for e in busy if e.role == HARMONY]
    assert np.mean([e.pitch for e in arp]) > np.mean([e.pitch for e in harmony_notes])
    triads = {frozenset(triad(key, degree)) for degree in range(7)}
    for bar in {e.beat // config.meter for e in arp}:  # each bar breaks one chord of the key, on the bass's root
        tones = {e.pitch % 12 for e in arp if e.beat // config.meter == bar}
        root = min((e for e in busy if e.role == BASS and e.beat // config.meter == bar), key=lambda e: e.beat)
        assert tones in triads and root.pitch % 12 in tones
    last_bar = max(e.beat for e in busy if e.role == BASS)
    assert max(e.beat for e in arp) < last_bar  # the cadence is the harmony's
    orchestration = [Orchestration("lead", "keys", "low", arpeggio="keys")]
    notes = perform(busy, sections, orchestration, 0, RANGES, PerformerConfig())
    assert sum(n.pan == PANS[ARPEGGIO] and n.instrument == "keys" for n in notes) == len(arp)


def test_grace_notes_lead_into_the_melodys_notes_a_step_above_and_softer() -> None:
    key, sections, events = score(make_plan(segment(onset_rate=1.0)))
    config = ComposerConfig(grace_share=1.0, grace_beats=0.25, grace_accent=0.5)
    graced = graces(events, key, 0, config)
    added = [e for e in graced if e not in events]
    melody = sorted((e for e in events if e.role == MELODY), key=lambda e: e.beat)
    roomy = [e for e, before in zip(melody, [None] + melody) if e.beat >= 0.25
             and (before is None or e.beat - before.beat >= 0.5)]
    assert added and len(added) == len(roomy) and all(e.role == MELODY and e.length == 0.25 for e in added)
    scale = {(key.tonic + d) % 12 for d in key.scale}
    for grace, note in zip(sorted(added, key=lambda e: e.beat), roomy):
        assert grace.beat == note.beat - 0.25 and 0 < grace.pitch - note.pitch <= 2 and grace.pitch % 12 in scale
        assert grace.accent == pytest.approx(0.5 * note.accent)
    assert graces(events, key, 0, ComposerConfig()) == events
    some = [e for e in graces(events, key, 0, replace(config, grace_share=0.5)) if e not in events]
    assert 0 < len(some) < len(added) and some == [e for e in graces(events, key, 0, replace(config, grace_share=0.5))
                                                   if e not in events]  # drawn with the seed


def test_a_hand_percussion_follows_the_pulse_of_the_density_drummed_or_not() -> None:
    tambourine = 54
    for onset_rate in (0.6, 5.5):  # a shaker's section and a drummed one
        key, sections, events = score(make_plan(segment(onset_rate=onset_rate)))
        config = ComposerConfig(perc_ratio=2.0, perc_key=tambourine, perc_accent=0.3)
        played = [e for e in score(make_plan(segment(onset_rate=onset_rate)), config=config)[2]
                  if e.pitch == tambourine]
        rate = float(np.clip(2.0 * sections[0].density, 1.0, 4.0))
        assert [e.beat for e in played] == pulse(0.0, sections[0].beats, rate) and all(e.role == DRUMS for e in played)
        accents = {e.beat % 1 == 0: e.accent for e in played}
        assert accents[False] == 0.3 and accents[True] == pytest.approx(0.45)  # louder on the beats
        assert tambourine not in {e.pitch for e in events}  # off as shipped
    calm = make_plan(segment(onset_rate=0.3))
    assert not [e for e in score(calm, config=ComposerConfig(perc_ratio=2.0, perc_key=tambourine))[2]
                if e.pitch == tambourine]  # under perc_from
    busy = make_plan(segment(onset_rate=5.5))
    capped = [e.beat for e in score(busy, config=ComposerConfig(perc_ratio=2.0, perc_key=tambourine, perc_max=2.0))[2]
              if e.pitch == tambourine]
    assert capped and {beat % 1 for beat in capped} == {0.0, 0.5}  # the beats and half beats, no sixteenths
    kept = ComposerConfig(perc_ratio=2.0, perc_key=tambourine, perc_to=ComposerConfig().drums_from)
    assert not [e for e in score(busy, config=kept)[2] if e.pitch == tambourine and e.role == DRUMS]  # the kit's
    assert [e for e in score(make_plan(segment(onset_rate=0.6)), config=kept)[2]
            if e.pitch == tambourine and e.role == DRUMS]  # under perc_to, where the kit has no groove: it plays


def test_a_kick_can_mark_every_beat_under_the_hand_percussion_where_the_kit_has_no_groove() -> None:
    cabasa = 69
    config = ComposerConfig(perc_ratio=1.5, perc_key=cabasa, perc_accent=0.5, beat_key=KICK, beat_accent=0.6)
    key, sections, events = score(make_plan(segment(onset_rate=0.6)), config=replace(config, beat_key=0))
    assert sections[0].density < config.drums_from and KICK not in {e.pitch for e in events if e.role == DRUMS}
    kicks = [e for e in score(make_plan(segment(onset_rate=0.6)), config=config)[2]
             if e.pitch == KICK and e.role == DRUMS]
    assert [e.beat for e in kicks] == list(range(sections[0].beats)) and all(e.role == DRUMS for e in kicks)
    assert {e.beat % 4 == 0: e.accent for e in kicks} == {True: pytest.approx(0.75), False: 0.6}  # the bar's first
    busy = make_plan(segment(onset_rate=5.5))  # the kit's groove keeps its own kicks
    assert score(busy, config=config)[2] == score(busy, config=replace(config, beat_key=0))[2]
    calm = make_plan(segment(onset_rate=0.3))  # under perc_from: no percussion, no kick
    assert not [e for e in score(calm, config=config)[2] if e.role == DRUMS]


def test_chords_can_be_comped_on_the_pulse_voiced_wider_and_strummed() -> None:
    plan = make_plan(segment(onset_rate=3.0, loudness=-16.0))
    key, sections, events = score(plan)
    comped = score(plan, config=ComposerConfig(comp_ratio=2.0))[2]
    chords = sorted({e.beat for e in comped if e.role == HARMONY})
    last = max(chords)
    rate = float(np.clip(2.0 * sections[0].density, 1.0, 4.0))
    assert len(chords) - 1 == len([b for b in pulse(0.0, sections[0].beats, rate) if b < last])
    assert {e for e in comped if e.role != HARMONY} == {e for e in events if e.role != HARMONY}
    wide = [e for e in score(plan, config=ComposerConfig(comp_ratio=2.0, harmony_voices=5))[2] if e.role == HARMONY]
    assert {sum(e.beat == b for e in wide) for b in chords} == {5}
    assert {sum(e.beat == b for e in comped if e.role == HARMONY) for b in chords} <= {3, 4}
    orchestration = [Orchestration("lead", "keys", "low", drums=True)]
    plain = perform(comped, sections, orchestration, 0, RANGES, PerformerConfig())
    strummed = perform(comped, sections, orchestration, 0, RANGES, PerformerConfig(strum_ms=20.0))
    bar = 4 * sections[0].beat_s  # the second bar's chord (the first one's timing noise is clipped at 0)
    first = sorted((n for n in plain if n.instrument == "keys" and abs(n.start - bar) < 0.05), key=lambda n: n.pitch)
    rolled = sorted((n for n in strummed if n.instrument == "keys" and -0.05 < n.start - bar < 0.09),
                    key=lambda n: n.pitch)
    assert len(first) == len(rolled) >= 3
    steps = [round(b.start - a.start, 3) for a, b in zip(first, rolled)]
    assert steps == [round(0.02 * k, 3) for k in range(len(first))]
    assert [n for n in strummed if n.instrument != "keys"] == [n for n in plain if n.instrument != "keys"]


def test_on_the_pulse_the_voices_keep_only_the_pulses_onsets_and_tie_the_rest() -> None:
    plan = make_plan(segment(0, 0.0, 5.0, onset_rate=1.0), segment(1, 5.0, 10.0, onset_rate=8.0))
    key, sections, events = score(plan)
    assert on_pulse(events, sections, ComposerConfig()) == events  # off by default
    config = ComposerConfig(pulse_ratio=1.5)
    thinned = on_pulse(events, sections, config)
    starts = np.cumsum([0] + [s.beats for s in sections])
    places = {round(b * 4) for s, start in zip(sections, starts) for b in
              pulse(start, s.beats, float(np.clip(1.5 * s.density, 1.0, 4.0)))}
    voices = (MELODY, HARMONY, BASS)
    assert {round(e.beat * 4) for e in thinned if e.role in voices} <= places
    assert [e for e in thinned if e.role not in voices] == [e for e in events if e.role not in voices]
    for role in voices:  # every note kept; a dropped one's time held by the note before it
        before = sorted((e.beat, e.pitch) for e in events if e.role == role and round(e.beat * 4) in places)
        assert sorted((e.beat, e.pitch) for e in thinned if e.role == role) == before
        ends = max(e.beat + e.length for e in events if e.role == role)
        assert max(e.beat + e.length for e in thinned if e.role == role) == pytest.approx(ends)
    calm = [e for e in events if e.role in voices and e.beat < starts[1]]
    assert len({e.beat for e in calm}) > len({e.beat for e in thinned if e.role in voices and e.beat < starts[1]})
