"""The instrument bank and its sampler (the shipped weights/instruments), and the command that builds it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import librosa
import numpy as np
import pytest

from bd2music.__main__ import main
from bd2music.errors import InputError
from bd2music.music.instruments import DEFAULT_FOLDER, InstrumentBank, SamplerConfig
from bd2music.music.sampler import Sample, pitched
from bd2music.music.score import DRUMS, Note, is_kit

RATE = 22_050  # pYIN is faster here, and the sampler writes any rate


@pytest.fixture(scope="module")
def bank() -> InstrumentBank:
    return InstrumentBank.load()


def rms_db(audio: np.ndarray) -> float:
    return float(20 * np.log10(np.sqrt(np.mean(np.square(audio, dtype=np.float64))) + 1e-12))


def median_pitch(audio: np.ndarray) -> float:
    f0, voiced, _ = librosa.pyin(audio, fmin=40, fmax=2000, sr=RATE, frame_length=2048)
    return float(np.median(librosa.hz_to_midi(f0[voiced])))


@pytest.mark.parametrize(("instrument", "pitches"), [("piano", (45, 64, 83)), ("cello", (40, 57)),
                                                      ("flute", (67, 88)), ("trumpet", (58, 75)),
                                                      ("electric_bass", (31, 44))])
def test_notes_sound_at_the_pitch_asked(bank: InstrumentBank, instrument: str, pitches: tuple[int, ...]) -> None:
    for pitch in pitches:  # roots are 6 semitones apart: most of these are resampled
        audio = bank.render([Note(0.0, 1.2, pitch, 100, instrument)], RATE, seconds=1.2)[0]
        assert abs(median_pitch(audio[RATE // 10:]) - pitch) < 0.3, (instrument, pitch)


def test_a_found_sound_plays_at_any_pitch(bank: InstrumentBank) -> None:
    t = np.arange(RATE) / RATE
    tone = sum(np.sin(2 * np.pi * 220 * k * t) / k for k in (1, 2, 3)) * np.exp(-2 * t)
    found = InstrumentBank(dict(bank.instruments), bank.velocity_exponent)
    found.add_found("bottle", tone, RATE, root_pitch=57)
    assert "bottle" in found.names and "bottle" not in bank.names and found.info("bottle")["family"] == "found"
    for pitch in (50, 57, 66):
        audio = found.render([Note(0.0, 1.0, pitch, 110, "bottle")], RATE, seconds=1.0)[0]
        assert abs(median_pitch(audio) - pitch) < 0.3


def test_higher_velocity_is_louder(bank: InstrumentBank) -> None:
    for instrument in ("piano", "strings", "marimba", DRUMS):
        pitch = 38 if instrument == DRUMS else 64
        levels = [rms_db(bank.render([Note(0.0, 0.5, pitch, velocity, instrument)], RATE, seconds=0.5))
                  for velocity in (30, 64, 90, 127)]
        assert all(np.diff(levels) > 1.0), (instrument, levels)


def test_a_long_sustained_note_keeps_its_level_without_clicks(bank: InstrumentBank) -> None:
    for instrument, pitch in (("cello", 50), ("flute", 79), ("organ", 60), ("choir", 65)):
        audio = bank.render([Note(0.0, 6.0, pitch, 100, instrument)], RATE, seconds=6.0)[0]
        frames = [rms_db(frame) for frame in audio[RATE // 2: RATE // 2 + 22 * (RATE // 4)].reshape(22, -1)]
        assert max(frames) - min(frames) < 8, (instrument, frames)
        assert abs(np.mean(frames[-4:]) - np.mean(frames[:4])) < 3, instrument  # no decay while held
        jumps = np.abs(np.diff(audio))
        stored = len(bank._pitched(bank.instruments[instrument].pick(pitch, 100), pitch, RATE).audio)
        assert jumps[stored:].max() < 1.3 * jumps[:stored].max(), instrument  # the loop adds no larger step


def test_a_looped_found_tone_stays_smooth(bank: InstrumentBank) -> None:
    t = np.arange(RATE) / RATE
    sine = 0.5 * np.sin(2 * np.pi * 441 * t)
    found = InstrumentBank({}, bank.velocity_exponent)
    found.add_found("hum", sine, RATE, root_pitch=float(librosa.hz_to_midi(441)), sustained=True)
    for pitch in (45, 72, 93):  # two octaves down and up: soxr's filter reads further when downsampling
        audio = found.render([Note(0.0, 4.0, pitch, 127, "hum")], RATE, seconds=4.0)[0]
        steady = audio[RATE // 10: int(3.9 * RATE)]
        peak = np.abs(steady).max()
        assert np.abs(steady[RATE:]).max() > 0.9 * peak  # still sounding after the clip's own length
        jump_of_a_sine = 2 * np.sin(np.pi * librosa.midi_to_hz(pitch) / RATE) * peak
        assert np.abs(np.diff(steady)).max() < 1.05 * jump_of_a_sine, pitch


def test_a_loop_resampled_two_octaves_up_stays_a_clean_loop() -> None:
    rate = 8000  # noise, then a 250 Hz sine whose loop holds 50 periods: the noise must not leak into the loop
    noise = np.random.default_rng(0).uniform(-1, 1, 4000)
    sine = np.sin(2 * np.pi * 250 * np.arange(1600) / rate)
    audio = np.round(np.concatenate([noise, sine]) * 16000).astype(np.int16)
    sample = Sample("test/59/127", audio, rate, 59.0, 127, 1 / 16000, (4000, 5600))
    sound = pitched(sample, 83.0, rate)  # 1000 Hz
    start, end = sound.loop
    assert end - start == 400
    looped = np.tile(sound.audio[start:end], 3)
    assert np.abs(looped).max() < 1.001  # noise leaking in would raise the sine's peak
    assert np.abs(np.diff(looped)).max() < 1.01 * 2 * np.sin(np.pi * 1000 / rate)  # and no seam


def test_decaying_notes_decay_and_end(bank: InstrumentBank) -> None:
    for instrument, pitch in (("piano", 60), ("marimba", 72), ("nylon_guitar", 55), ("pizzicato", 60)):
        audio = bank.render([Note(0.0, 4.0, pitch, 100, instrument)], RATE)
        first = rms_db(audio[:, : RATE // 4])
        assert rms_db(audio[:, -RATE // 4:]) < first - 20, instrument
        assert audio.shape[1] < 5 * RATE


def test_a_long_decaying_note_goes_on_decaying_past_its_sample(bank: InstrumentBank) -> None:
    for instrument, pitch in (("electric_piano", 50), ("piano", 40), ("electric_bass", 36), ("harp", 45)):
        sample = bank.instruments[instrument].pick(pitch, 100)
        assert sample.loop is not None and sample.loop_gain <= 1, instrument  # still ringing when rendered
        audio = bank.render([Note(0.0, 7.0, pitch, 100, instrument)], RATE, seconds=7.0)[0]
        stored = len(bank._pitched(sample, pitch, RATE).audio)
        assert stored < 3.5 * RATE
        frames = np.array([rms_db(frame) for frame in audio[: 7 * RATE].reshape(70, -1)])
        assert frames[60:].max() > frames.max() - 60, instrument  # not cut where the sample ends
        assert np.diff(frames[10:]).max() < 1.5, instrument  # never swells back up at a loop
        jumps = np.abs(np.diff(audio))
        assert jumps[stored:].max() < 1.3 * jumps[RATE:stored].max(), instrument


def test_drums_are_unpitched_hits_at_their_times(bank: InstrumentBank) -> None:
    hits = {36: 0.5, 38: 1.0, 42: 1.5}  # kick, snare, closed hi-hat
    starts = {}
    centroids = {}
    for key, start in hits.items():
        audio = bank.render([Note(start, 0.1, key, 110, DRUMS)], RATE, seconds=2.5)[0]
        starts[key] = np.argmax(np.abs(audio) > 0.05 * np.abs(audio).max()) / RATE
        centroids[key] = librosa.feature.spectral_centroid(y=audio[int(start * RATE):], sr=RATE).mean()
        assert rms_db(audio[int((start + 0.5) * RATE):]) < rms_db(audio[int(start * RATE):]) - 10  # a hit
        _, voiced, _ = librosa.pyin(audio[int(start * RATE):], fmin=60, fmax=2000, sr=RATE)
        assert voiced.mean() < 0.5, key  # no steady pitch
    assert all(abs(starts[key] - start) < 0.01 for key, start in hits.items()), starts
    assert centroids[36] < centroids[38] < centroids[42]
    with pytest.raises(InputError, match="no GM key 100"):
        bank.render([Note(0.0, 0.1, 100, 100, DRUMS)])


def test_a_closed_hi_hat_cuts_an_open_one(bank: InstrumentBank) -> None:
    open_hat = [Note(0.0, 0.1, 46, 110, DRUMS)]
    alone = bank.render(open_hat, RATE, seconds=1.0)[0]
    cut = bank.render(open_hat + [Note(0.3, 0.1, 44, 1, DRUMS)], RATE, seconds=1.0)[0]
    assert rms_db(cut[int(0.45 * RATE):]) < rms_db(alone[int(0.45 * RATE):]) - 20


def test_pan_moves_energy_between_channels_at_constant_power(bank: InstrumentBank) -> None:
    energies = {}
    for pan in (-1.0, -0.5, 0.0, 0.5, 1.0):
        audio = bank.render([Note(0.0, 0.5, 60, 100, "clarinet", pan)], RATE).astype(np.float64)
        energies[pan] = (audio[0] ** 2).sum(), (audio[1] ** 2).sum()
    assert energies[-1.0][1] < 1e-9 * energies[-1.0][0] and energies[1.0][0] < 1e-9 * energies[1.0][1]
    assert energies[-0.5][0] > energies[-0.5][1] and energies[0.5][1] > energies[0.5][0]
    assert energies[0.0][0] == pytest.approx(energies[0.0][1])
    totals = [sum(pair) for pair in energies.values()]
    assert max(totals) == pytest.approx(min(totals), rel=1e-5)


def test_the_same_notes_render_bit_identically(bank: InstrumentBank) -> None:
    notes = [Note(0.1 * i, 0.3 + 0.05 * i, 48 + 3 * i, 30 + 5 * i, name, (i % 5 - 2) / 2)
             for i, name in enumerate(["piano", "strings", "harp", "cello", "flute", "warm_pad"] * 3)]
    notes += [Note(0.25 * i, 0.1, key, 100, DRUMS) for i, key in enumerate([36, 42, 38, 46, 36, 44, 38, 49])]
    first = bank.render(notes)
    assert first.dtype == np.float32 and first.shape[0] == 2 and np.abs(first).max() > 0.01
    assert np.array_equal(first, bank.render(notes))  # from the cache
    assert np.array_equal(first, InstrumentBank.load().render(list(reversed(notes))))  # fresh, other order
    small = InstrumentBank(bank.instruments, bank.velocity_exponent, SamplerConfig(cache_mb=0.5))
    assert np.array_equal(first, small.render(notes))  # resampled again after eviction: the same
    assert small._cached_bytes <= 0.5e6 or len(small._cache) == 1


def test_length_follows_seconds_or_the_last_release(bank: InstrumentBank) -> None:
    assert bank.render([], seconds=None).shape == (2, 0)
    assert bank.render([], 8000, seconds=1.5).shape == (2, 12000)
    long = bank.render([Note(1.0, 1.0, 60, 100, "warm_pad")], 8000)
    release = bank.info("warm_pad")["release"]
    assert long.shape[1] == round((2.0 + release) * 8000)
    cut = bank.render([Note(1.0, 1.0, 60, 100, "warm_pad")], 8000, seconds=1.5)
    assert np.array_equal(cut, long[:, :12000])


def test_bank_describes_its_instruments(bank: InstrumentBank) -> None:
    assert {"piano", "cello", "strings", "music_box", "brass", "warm_pad", DRUMS} <= set(bank.names)
    assert {"saw_lead", "synth_bass", "polysynth", "drums_808"} <= set(bank.names)  # a game's or a loop's synths
    for name in bank.names:
        info = bank.info(name)
        assert {"program", "family", "description", "low", "high", "sustained", "role", "release"} <= set(info)
        assert info["low"] < info["high"] and info["role"] in ("melody", "harmony", "bass", "percussion")
    assert bank.info("cello")["description"] == "a solo cello" and bank.info("cello")["sustained"]
    size = sum(path.stat().st_size for path in DEFAULT_FOLDER.iterdir())
    assert size < 45e6 and "MIT" in (DEFAULT_FOLDER / "README.md").read_text()


def test_bad_notes_and_found_sounds_are_one_line_errors(bank: InstrumentBank) -> None:
    with pytest.raises(InputError, match="unknown instrument 'kazoo'") as error:
        bank.render([Note(0.0, 1.0, 60, 100, "piano"), Note(0.0, 1.0, 60, 100, "kazoo")])
    assert "\n" not in str(error.value)
    for note, words in ((Note(0.0, 1.0, 60, 0, "piano"), "velocity"), (Note(0.0, 1.0, 128, 9, "piano"), "pitch"),
                        (Note(-1.0, 1.0, 60, 9, "piano"), "start"), (Note(0.0, 1.0, 60, 9, "piano", 2.0), "pan")):
        with pytest.raises(InputError, match=words):
            bank.render([note])
    with pytest.raises(InputError, match="sample rate"):
        bank.render([], sample_rate=0)
    found = InstrumentBank({}, 2.0)
    found.add_found("piano", np.ones(100), 8000, 60)
    for args, words in ((("piano", np.ones(100), 8000, 60), "name"), (("x", np.zeros(800), 8000, 60), "non-silent"),
                        (("x", np.ones(800), 0, 60), "sample rate"), (("x", np.ones(800), 8000, 200), "root pitch"),
                        (("x", np.random.default_rng(0).normal(size=900), 8000, 60, True), "too short to loop")):
        with pytest.raises(InputError, match=words):
            found.add_found(*args)


def test_missing_or_corrupt_bank_is_one_clear_line(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no instrument bank in"):
        InstrumentBank.load(tmp_path / "nowhere")
    broken = tmp_path / "broken"
    shutil.copytree(DEFAULT_FOLDER, broken)
    (broken / "samples.safetensors").write_bytes((DEFAULT_FOLDER / "samples.safetensors").read_bytes()[:5000])
    with pytest.raises(InputError, match="is corrupt") as error:
        InstrumentBank.load(broken)
    assert "\n" not in str(error.value)
    shutil.copy(DEFAULT_FOLDER / "samples.safetensors", broken)
    settings = json.loads((broken / "config.json").read_text())
    settings["instruments"]["cello"]["samples"][0]["key"] = "cello/0/0"
    (broken / "config.json").write_text(json.dumps(settings))
    with pytest.raises(InputError, match="corrupt: no 'cello/0/0'"):
        InstrumentBank.load(broken)
    (broken / "config.json").write_text("{not json")
    with pytest.raises(InputError, match="is corrupt"):
        InstrumentBank.load(broken)


def test_build_renders_instruments_from_the_soundfont(data_dir: Path, tmp_path: Path) -> None:
    pytest.importorskip("tinysoundfont", reason="building the bank needs tinysoundfont "
                        "(pip install --no-deps tinysoundfont==0.3.7)")
    soundfont = data_dir / "soundfonts" / "MuseScore_General_Lite.sf3"
    out = tmp_path / "instruments"
    args = ["instruments", "build", "--soundfont", str(soundfont), "--out", str(out), "--instruments", "cello,marimba"]
    assert main(args) == 0
    built = InstrumentBank.load(out)
    assert built.names == ["cello", "marimba"]
    settings = json.loads((out / "config.json").read_text())
    cello, marimba = settings["instruments"]["cello"]["samples"], settings["instruments"]["marimba"]["samples"]
    assert all(sample["loop"] for sample in cello) and not any(sample["loop"] for sample in marimba)
    assert len({sample["root"] for sample in cello}) >= 8  # every 5 semitones over 36-76
    card = (out / "README.md").read_text()
    assert "MIT" in card and "Frank Wen" in card and "--instruments cello,marimba" in card
    audio = built.render([Note(0.0, 1.0, 52, 100, "cello")], RATE)[0]
    assert abs(median_pitch(audio[RATE // 10: RATE]) - 52) < 0.3
    assert main(args) == 2  # an existing bank is kept without --overwrite
    assert main(args[:-1] + ["marimba", "--overwrite"]) == 0 and InstrumentBank.load(out).names == ["marimba"]
    assert main(["instruments", "build", "--soundfont", str(tmp_path / "none.sf3"), "--out", str(tmp_path / "x")]) == 2


def test_a_sustained_note_gets_a_detuned_late_double_and_a_plucked_one_does_not(bank: InstrumentBank) -> None:
    doubled = InstrumentBank(bank.instruments, bank.velocity_exponent,
                             SamplerConfig(double_cents=10.0, double_ms=20.0, double_db=0.0))
    cello, piano = [Note(0.0, 2.0, 57, 100, "cello")], [Note(0.0, 2.0, 57, 100, "piano")]
    plain, twice = (b.render(cello, RATE, seconds=2.0)[0] for b in (bank, doubled))
    late = round(0.02 * RATE)
    assert np.array_equal(plain[:late], twice[:late])  # the attack is the one voice's
    assert not np.allclose(plain[late:], twice[late:], atol=1e-3) and rms_db(twice) > rms_db(plain) + 2
    frames = [rms_db(frame) for frame in twice[RATE // 4: RATE // 4 + 30 * (RATE // 20)].reshape(30, -1)]
    steady = [rms_db(frame) for frame in plain[RATE // 4: RATE // 4 + 30 * (RATE // 20)].reshape(30, -1)]
    assert np.ptp(frames) > np.ptp(steady) + 1  # 10 cents at 220 Hz: the two voices beat about 1.3 times a second
    assert np.array_equal(bank.render(piano, RATE, seconds=2.0), doubled.render(piano, RATE, seconds=2.0))
