"""The music backend on the shipped instruments and pieces (no shared data): a score in the page's key played by
credited instruments, pieces fitted to the plan, seeds, orchestration that changes with the panels, the default
soundtrack (music over a ducked scene), MIDI and MusicXML beside the WAV, and missing assets."""

from __future__ import annotations

import json
from dataclasses import replace
import shutil
from pathlib import Path

import librosa
import numpy as np
import pytest

from bd2music.__main__ import main
from bd2music.backends import backend_class
from bd2music.errors import InputError
from bd2music.evaluation.listening import harmonic_share, key_clarity
from bd2music.io import fingerprint, load_page
from bd2music.music.arrange import ArrangerConfig, arrange, choose_piece, excerpt, page_hash
from bd2music.music.compose import MELODY, ComposerConfig
from bd2music.music.export import read_midi
from bd2music.music.found import FOUND_PROGRAMS, mix_found
from bd2music.music.perform import PANS
from bd2music.music.intent import IntentConfig, choose_key, plan_sections
from bd2music.music.library import PieceLibrary
from bd2music.pipeline import Pipeline

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
PAGE = EXAMPLES / "peppercarrot_ep03_en_002.jpg"
WEIGHTS = Path(__file__).resolve().parents[1] / "weights"


@pytest.fixture(scope="module")
def pipe(one_torch_thread) -> Pipeline:
    return Pipeline.from_pretrained(device="cpu")


@pytest.fixture(scope="module")
def plans(pipe: Pipeline):
    page = load_page(PAGE)
    analysis = pipe.analyze(page)
    return {per_panel: pipe.planner(analysis, page.image, 8.0, 0, per_panel) for per_panel in (False, True)}


@pytest.fixture(scope="module")
def music(pipe: Pipeline):
    return pipe.backend("music")


def test_the_score_is_in_the_pages_key_played_by_credited_instruments(music, plans) -> None:
    plan = plans[False]
    [layer] = music.render(plan, seed=0)
    assert layer.name == "music" and layer.sample_rate == 44_100 and layer.audio.shape[0] == 2
    assert layer.audio.shape[1] >= round(8.0 * 44_100) and np.isfinite(layer.audio).all()
    score = layer.score
    assert score.key == choose_key(plan, music.config.intent).name and len(score.notes) > 10
    _, clarity = key_clarity(layer.audio, layer.sample_rate)
    assert clarity > 0.5 and harmonic_share(layer.audio, layer.sample_rate) > 0.25  # a busy page: drums take a share
    key = choose_key(plan, music.config.intent)
    chroma = librosa.feature.chroma_stft(y=layer.audio.mean(axis=0), sr=layer.sample_rate).mean(axis=1)
    in_key = [chroma[[(tonic + step) % 12 for step in key.scale]].sum() for tonic in range(12)]
    assert sorted(in_key, reverse=True).index(in_key[key.tonic]) <= 1  # the page's scale holds the most energy
    # (or the second most, after a neighbour on the circle of fifths, which shares all its notes but one)
    instruments = {n.instrument for n in score.notes if not n.instrument.startswith("found: ")}
    credited = {c.clip.removeprefix("instrument: ") for c in layer.cues if c.clip.startswith("instrument: ")}
    assert instruments <= credited and all("MIT" in c.license for c in layer.cues if c.clip.startswith("instr"))
    if score.source != "procedural":
        [piece] = [c for c in layer.cues if c.clip.startswith("piece: ")]
        assert piece.license and piece.source.startswith("music21 corpus")


def test_same_seed_same_music_other_seed_other_music(music, plans) -> None:
    plan = plans[True]
    [a], [b], [c] = music.render(plan, 0), music.render(plan, 0), music.render(plan, 1)
    assert np.array_equal(a.audio, b.audio) and a.score.notes == b.score.notes
    assert a.score.notes != c.score.notes


def test_the_pages_draw_does_not_move_with_the_number_of_cpu_threads(pipe, music, plans) -> None:
    """The piece and instruments are drawn with ``page_hash``, which names the page by its pixels: the head
    readings, which move in their last digits with the thread count, do not enter it (on this page they moved
    across a 4th-decimal rounding between 1 and 2 threads, which changed the former hash of the readings)."""
    import torch

    page = load_page(EXAMPLES / "openmantra_tojime_no_siora_007.jpg")
    threaded = {}
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            threaded[threads] = pipe.planner(pipe.analyze(page), page.image, 8.0, 0, False)
    finally:
        torch.set_num_threads(1)
    one, two = threaded[1], threaded[2]
    assert one.page_id == two.page_id == fingerprint(page.image) and page_hash(one) == page_hash(two)

    def draw(plan) -> tuple:
        score = music.render(plan, seed=0)[0].score
        return score.source, [sorted(s["instruments"].items()) for s in score.sections]

    assert draw(one) == draw(two)
    nudged = replace(one, segments=[replace(s, raw={k: v + 1e-6 for k, v in s.raw.items()}) for s in one.segments])
    assert page_hash(nudged) == page_hash(one)
    other = load_page(PAGE)
    assert fingerprint(other.image) != one.page_id
    assert page_hash(replace(one, page_id=fingerprint(other.image))) != page_hash(one)
    assert json.loads(json.dumps(one.to_dict()))["page_id"] == one.page_id


def test_a_plan_without_a_page_is_named_by_its_coarsely_rounded_readings(plans) -> None:
    def shifted(plan, shift):
        return replace(plan, segments=[replace(s, raw={k: round(v, 2) + shift for k, v in s.raw.items()})
                                       for s in plan.segments])

    bare = replace(plans[True], page_id="")  # a plan made without a page (built by hand)
    assert page_hash(shifted(bare, 1e-6)) == page_hash(shifted(bare, 0.0)) == page_hash(shifted(bare, -1e-6))
    assert page_hash(shifted(bare, 0.5)) != page_hash(shifted(bare, 0.0))


def test_each_panel_changes_the_orchestration(music, plans) -> None:
    [layer] = music.render(plans[True], seed=0)
    sections = layer.score.sections
    assert len(sections) == len(plans[True].segments) > 1
    melodies = [s["instruments"]["melody"] for s in sections]
    assert all(a != b for a, b in zip(melodies, melodies[1:]))


def test_the_band_stays_together_while_the_melody_moves(pipe, plans) -> None:
    def changes(keep_weight: float) -> int:
        backend = replace(pipe.backend("music"))
        backend.config = replace(backend.config, keep_weight=keep_weight)
        count = 0
        for seed in range(4):
            sections = [s["instruments"] for s in backend.render(plans[True], seed)[0].score.sections]
            count += sum(a.get(role) != b.get(role) for a, b in zip(sections, sections[1:]) for role in ("harmony", "bass"))
        return count

    assert changes(keep_weight=5.0) < changes(keep_weight=0.0)


def test_a_piece_is_chosen_in_the_pages_mode_and_fitted_to_the_plan(music, plans) -> None:
    plan = plans[False]
    key = choose_key(plan, IntentConfig())
    sections = plan_sections(plan, IntentConfig())
    library = PieceLibrary.load(WEIGHTS / "pieces")
    piece, reason = choose_piece(library, key, sections, plan, 0, ArrangerConfig(max_misfit=10.0), 1.0)
    assert piece is not None and reason == "" and piece.mode == key.mode
    total = sum(s.beats for s in sections)
    passage = excerpt(piece, total, ArrangerConfig())
    assert len(passage) and passage.onset.min() >= 0 and passage.onset.max() < total
    events = arrange(piece, key, sections, ArrangerConfig(), ComposerConfig())
    scale = {(key.tonic + step) % 12 for step in key.scale}
    melody = [e for e in events if e.role == MELODY]
    assert melody and np.mean([e.pitch % 12 in scale for e in melody]) > 0.8  # transposed into the page's key
    last = max(melody, key=lambda e: e.beat)
    assert last.pitch % 12 in {key.tonic, (key.tonic + key.scale[2]) % 12}  # ends on the tonic chord
    assert all(0 <= e.beat < total for e in events)


def test_no_piece_fits_the_composer_plays_and_the_score_says_why(pipe, plans) -> None:
    components = dict(pipe.components, pieces=Path("/nonexistent/pieces"))
    with pytest.warns(UserWarning, match="no piece library"):
        backend = backend_class("music").from_components(components, {"composer_share": 0.0})
    [layer] = backend.render(plans[False], seed=0)
    assert layer.score.source == "procedural" and "no piece library" in layer.score.fallback


def test_a_missing_or_corrupt_instrument_bank_disables_music_with_one_line(pipe, tmp_path) -> None:
    broken = tmp_path / "instruments"
    shutil.copytree(WEIGHTS / "instruments", broken)
    (broken / "samples.safetensors").write_bytes(b"not safetensors")
    for folder in (tmp_path / "nothing", broken):
        with pytest.raises(InputError) as error:
            backend_class("music").from_components(dict(pipe.components, instruments=folder))
        assert "\n" not in str(error.value) and str(folder) in str(error.value)


def test_the_default_soundtrack_is_music_over_the_ducked_scene(pipe) -> None:
    result = pipe(PAGE, seconds=6.0, seed=0)
    record = result.to_dict()
    assert record["settings"]["sound"] == "soundtrack" and record["layers"] == ["music", "scene"]
    assert [layer.role for layer in result.layers] == ["main", "bed"]
    assert record["music"]["key"] and record["music"]["notes"] > 0
    assert {c["layer"] for c in record["cues"]} == {"music", "scene"}


def test_generate_writes_the_score_as_midi_and_musicxml_beside_the_wav(tmp_path) -> None:
    out = tmp_path / "out"
    assert main(["generate", str(PAGE), "--out", str(out), "--seconds", "5", "--sound", "music", "--musicxml"]) == 0
    record = json.loads((out / f"{PAGE.stem}.json").read_text())
    assert record["midi"] == f"{PAGE.stem}.mid" and record["musicxml"] == f"{PAGE.stem}.musicxml"
    notes = read_midi(out / record["midi"])
    assert len(notes) == record["music"]["notes"]
    assert (out / record["musicxml"]).read_text().lstrip().startswith("<?xml")
    scene = tmp_path / "scene"
    assert main(["generate", str(PAGE), "--out", str(scene), "--seconds", "4", "--sound", "scene"]) == 0
    assert not list(scene.glob("*.mid")) and "music" not in json.loads((scene / f"{PAGE.stem}.json").read_text())


def test_the_scenes_sound_sources_suggest_instruments(pipe, plans) -> None:
    backend = backend_class("music").from_components(pipe.components, {"source_weight": 100.0, "top_k": 1})
    plan = plans[False]
    shares = backend.source_shares(backend.source_clips(plan.segments[0]))
    assert shares and sum(shares.values()) == pytest.approx(1.0)
    [layer] = backend.render(plan, seed=0)
    [section] = layer.score.sections
    assert section["sound_sources"] == {k: round(v, 3) for k, v in shares.items()}
    top = max(shares, key=shares.get)
    from bd2music.backends.music import SOURCE_INSTRUMENTS

    assert section["instruments"]["melody"] in SOURCE_INSTRUMENTS[top]


def test_a_pitched_clip_of_the_scene_joins_the_band_on_the_strong_beats(music, plans) -> None:
    plan = plans[False]
    ranked = [music.source_clips(segment) for segment in plan.segments]
    found = music.found_sounds.choose(ranked)
    assert found is not None and found.clip in ranked[0] and found.clip in music.found_sounds.runs
    assert music.sources.clips[found.clip].category in FOUND_PROGRAMS  # an object of the scene, not a track
    [layer] = music.render(plan, seed=0)
    played = [n for n in layer.score.notes if n.instrument == found.name]
    melody = [n for n in layer.score.notes if n.instrument == layer.score.sections[0]["instruments"]["melody"]]
    assert played and all(any(abs(m.start - n.start) < 0.05 and m.pitch % 12 == n.pitch % 12 for m in melody)
                          for n in played)  # it doubles the melody (timing jitter apart)
    assert len(played) < len([n for n in layer.score.notes if n.pan == PANS[MELODY]]) / 2  # on its strong beats
    [cue] = [c for c in layer.cues if c.trigger.endswith("(found sound)")]
    clip = music.sources.clips[found.clip]
    assert (cue.clip, cue.license, cue.author) == (clip.id, clip.license, clip.author)
    assert layer.score.programs[found.name] == FOUND_PROGRAMS[clip.category]
    assert layer.score.sections[0]["instruments"]["found"] == found.name
    assert music.found_sounds.choose([[i for i in ranked[0] if i not in music.found_sounds.runs]]) is None


def test_a_found_sound_stays_an_ornament_under_the_band() -> None:
    band, loud = np.full((2, 100), 0.1, np.float32), np.full((2, 100), 0.5, np.float32)
    mixed = mix_found(band, loud, level_db=-10.0)
    assert np.sqrt(np.mean((mixed - band) ** 2)) == pytest.approx(0.1 * 10 ** (-10 / 20), rel=1e-4)
    quiet = np.full((2, 100), 0.001, np.float32)
    assert np.allclose(mix_found(band, quiet, -10.0), band + quiet)  # never turned up


def test_a_plucked_or_struck_instrument_plays_the_arpeggio_from_its_density(pipe, plans) -> None:
    backend = replace(pipe.backend("music"))
    busy = replace(backend.config.composer, arpeggio_from=0.0)
    backend.config = replace(backend.config, composer=busy)
    [layer] = backend.render(plans[True], seed=0)
    players = {s["instruments"].get("arpeggio") for s in layer.score.sections} - {None}
    assert players and all(not backend.instruments.info(name)["sustained"] for name in players)
    credited = {c.clip.removeprefix("instrument: ") for c in layer.cues}
    assert players <= credited
    backend.config = replace(backend.config, composer=replace(busy, arpeggio_from=99.0))
    [plain] = backend.render(plans[True], seed=0)
    assert all("arpeggio" not in s["instruments"] for s in plain.score.sections)
    assert len(layer.score.notes) > len(plain.score.notes)


def test_the_arpeggio_can_prefer_the_clearest_attacks_and_a_sub_can_double_the_bass(pipe, plans) -> None:
    backend = replace(pipe.backend("music"))
    composer = replace(backend.config.composer, arpeggio_from=0.0)
    backend.config = replace(backend.config, composer=composer, attack_weight=50.0, sub_bass="acoustic_bass")
    [layer] = backend.render(plans[True], seed=0)
    assert set(backend.attack) == set(backend.players["arpeggio"])
    arpeggios = [s["instruments"] for s in layer.score.sections if s["instruments"].get("arpeggio")]
    assert arpeggios
    last = None
    for played in arpeggios:  # drawn from the clearest players the section's other roles leave free
        taken = {played.get(role) for role in ("melody", "harmony", "bass", "counter")}
        free = sorted(set(backend.attack) - taken, key=backend.attack.get)[-backend.config.top_k:]
        assert played["arpeggio"] in set(free) | {last}  # (or the last section's, which it leans to keep)
        last = played["arpeggio"]
    subs = [s for s in layer.score.sections if s["instruments"].get("sub")]
    assert subs and all(s["instruments"]["sub"] == "acoustic_bass" != s["instruments"]["bass"] for s in subs)
    assert "acoustic_bass" in {n.instrument for n in layer.score.notes}


def test_the_band_bus_chorus_and_pump_change_the_band_and_keep_the_drums(pipe, plans) -> None:
    backend = replace(pipe.backend("music"))
    drummed = replace(backend.config.composer, drums_from=0.0)
    backend.config = replace(backend.config, composer=drummed)
    [plain] = backend.render(plans[False], seed=0)
    backend.config = replace(backend.config, production=replace(backend.config.production, pump_db=8.0))
    [pumped] = backend.render(plans[False], seed=0)
    assert pumped.score.notes == plain.score.notes and not np.allclose(pumped.audio, plain.audio, atol=1e-3)
    assert np.corrcoef(pumped.audio.mean(axis=0), plain.audio.mean(axis=0))[0, 1] > 0.8  # the same music


def test_an_electronic_page_is_played_on_synthesizers_and_a_drum_machine(pipe, plans, tmp_path) -> None:
    def played(share: float) -> tuple[set[str], set[str], set[str]]:
        backend = replace(pipe.backend("music"))
        backend.config = replace(backend.config, electronic_share=(share, share), style_weight=5.0)
        [layer] = backend.render(plans[True], seed=0)
        styles = {s["style"] for s in layer.score.sections}
        pitched = {name for s in layer.score.sections for role, name in s["instruments"].items()
                   if role not in ("found", "kit", "drums", "arpeggio")}  # the arpeggio: the clearest attacks
        # weigh more than the style, and few synthesizers play it (the draw takes the top_k best left free)
        kits = {s["instruments"]["kit"] for s in layer.score.sections if s["instruments"].get("drums")}
        return styles, {backend.instruments.info(name)["style"] for name in pitched}, kits

    assert played(1.0)[:2] == ({"electronic"}, {"electronic"}) and played(0.0)[:2] == ({"acoustic"}, {"acoustic"})
    busy = replace(pipe.backend("music"))
    busy.config = replace(busy.config, electronic_share=(1.0, 1.0), style_weight=5.0,
                          composer=replace(busy.config.composer, drums_from=0.0))
    [layer] = busy.render(plans[False], seed=0)
    kits = {n.instrument for n in layer.score.notes if n.instrument.startswith("drums")}
    assert len(kits) == 1 and kits <= {"drums_electronic", "drums_808"}
    credited = {c.clip.removeprefix("instrument: ") for c in layer.cues}
    assert kits <= credited
    written = layer.score.write(tmp_path / "page", musicxml=True)
    assert "drums" in {n.instrument for n in read_midi(written["midi"])}  # the kit on MIDI channel 10



def test_a_rooms_tone_comes_from_a_steady_bed_of_the_bank_and_is_credited(pipe, plans) -> None:
    backend = replace(pipe.backend("music"))
    [plain] = backend.render(plans[False], seed=0)
    backend.config = replace(backend.config, production=replace(backend.config.production, room_tone_db=-30.0))
    [roomed] = backend.render(plans[False], seed=0)
    rooms = [c for c in roomed.cues if c.trigger == "production: room tone"]
    assert len(rooms) == 1 and not [c for c in plain.cues if c.trigger == "production: room tone"]
    clip = next(c for c in backend.sources.clips if c.id == rooms[0].clip)
    assert clip.category == "ambience" and clip.kind == "bed" and clip.label in backend.config.production.room_labels
    row = backend.sources.descriptors[backend.sources.clips.index(clip)]
    assert float(row[backend.sources.descriptor_names.index("spectral_centroid_mean")]) >= 1000.0  # no rumble
    assert (rooms[0].license, rooms[0].author, rooms[0].start, rooms[0].end) == (clip.license, clip.author, 0.0,
                                                                                 plans[False].seconds)
    assert roomed.score.notes == plain.score.notes and not np.allclose(roomed.audio, plain.audio, atol=1e-4)
    assert np.array_equal(backend.render(plans[False], seed=0)[0].audio, roomed.audio)  # the same seed, room


def test_the_samplers_settings_come_from_the_music_settings(pipe) -> None:
    settings = pipe.index.settings.get("music")
    try:
        pipe.index.settings["music"] = (settings or {}) | {"sampler": {"double_cents": 8.0}}
        pipe.backends.pop("music", None)
        assert pipe.backend("music").instruments.config.double_cents == 8.0
    finally:
        pipe.index.settings["music"] = settings
        pipe.backends.pop("music", None)
    assert pipe.backend("music").instruments.config.double_cents == 0.0
