"""Sound bank: build a tiny bank from synthesised clips with the shipped audio models, query it; the shipped bank."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from bd2music.__main__ import main
from bd2music.bank import DEFAULT_BANK, SoundBank, build_bank
from bd2music.errors import InputError
from bd2music.hub import file_sha256

pytestmark = pytest.mark.usefixtures("one_torch_thread")

RATE = 22_050  # written at another rate than the bank's, so building resamples
HELDOUT = Path(__file__).parent / "data" / "sounds_heldout.txt"
ROWS = {  # file: (category, licence, author, waveform)
    "music/sine.wav": ("music", "CC0-1.0", "a tone maker", "sine"),
    "foley/bursts.wav": ("foley", "CC-BY-3.0", "a knocker", "bursts"),
    "ambience/hiss.wav": ("ambience", "GPL-2+", "a hisser", "hiss"),
    "foley/broken.wav": ("foley", "MIT", "nobody", "corrupt"),
}


def waveform(kind: str, seconds: float = 4.0) -> np.ndarray:
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * RATE)) / RATE
    if kind == "sine":
        return 0.3 * np.sin(2 * np.pi * 440 * t)
    if kind == "hiss":
        return 0.1 * rng.standard_normal(len(t))
    gate = (t % 0.5) < 0.05  # 50 ms noise bursts twice a second
    return 0.5 * rng.standard_normal(len(t)) * gate


def write_folder(root: Path) -> Path:
    """A sounds folder (manifest.csv layout) of three clips and a corrupt one."""
    with open(root / "manifest.csv", "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["file", "category", "label", "source", "source_path", "license", "author", "duration_s"])
        for name, (category, licence, author, kind) in ROWS.items():
            (root / category).mkdir(exist_ok=True)
            if kind == "corrupt":
                (root / name).write_bytes(b"RIFF\x10\x00\x00\x00WAVEfmt garbage")
            else:
                sf.write(root / name, waveform(kind).astype(np.float32), RATE)
            writer.writerow([name, category, kind, "test:synth", f"synth/{kind}", licence, author, "4.0"])
    return root


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[SoundBank, list[str]]:
    folder = write_folder(tmp_path_factory.mktemp("sounds"))
    lines: list[str] = []
    out = build_bank(folder, tmp_path_factory.mktemp("banks") / "bank", log=lines.append)
    return SoundBank.load(out), lines


def test_index_shapes_licences_and_kinds(built) -> None:
    bank, _ = built
    assert [clip.id for clip in bank.clips] == ["music/sine.flac", "foley/bursts.flac", "ambience/hiss.flac"]
    assert bank.latents.shape == (3, 64) and bank.embeddings.shape == (3, 128)
    assert bank.descriptors.shape == (3, len(bank.descriptor_names)) and torch.isfinite(bank.descriptors).all()
    assert {"tempo", "onset_rate", "spectral_centroid_mean", "rms_mean", "spectral_flatness_mean",
            "loudness_lufs", "duration"} <= set(bank.descriptor_names)
    assert torch.allclose(bank.embeddings.norm(dim=1), torch.ones(3))
    for clip in bank.clips:
        category, licence, author, _ = ROWS[clip.id.replace(".flac", ".wav")]
        assert (clip.category, clip.license, clip.author, clip.source) == (category, licence, author, "test:synth")
        assert clip.duration == pytest.approx(4.0, abs=0.01)
        assert sf.info(bank.root / clip.id).samplerate == 16_000
    kinds = {clip.label: clip.kind for clip in bank.clips}
    assert kinds == {"sine": "bed", "bursts": "event", "hiss": "bed"}
    column = bank.descriptor_names.index("onset_rate")
    assert bank.descriptors[1, column] > bank.descriptors[0, column]  # the bursts have onsets, the tone none


def test_played_descriptors_measure_the_clip_as_a_scene_repeats_it(built) -> None:
    """The played columns are the evaluation's measures of the clip looped or repeated over a segment: the bursts
    play twice a second, and a short event repeated keeps one onset per repeat."""
    from bd2music.bank.play import PLAYED, played, played_measures

    bank, _ = built
    assert set(PLAYED.values()) <= set(bank.descriptor_names)
    bursts = bank.mask(label="bursts").nonzero()[0].item()
    assert bank.descriptors[bursts, bank.descriptor_names.index("played_onset_rate")] == pytest.approx(2.0, abs=0.5)
    click = np.zeros(8000, dtype=np.float32)  # half a second: one 50 ms burst, then silence
    click[:800] = np.random.default_rng(0).standard_normal(800)
    repeated = played(click, 4 * 16_000, "event", 16_000, 0, 0.4, 0.2)
    assert len(repeated) == 4 * 16_000 and np.array_equal(repeated[8000:8800], click[:800])
    measured = played_measures(click, "event", 16_000, 4.0, 0.4, 0.2)
    assert measured["played_onset_rate"] == pytest.approx(2.0, abs=0.5)
    assert measured["played_tempo"] == pytest.approx(120.0, rel=0.05)


def test_corrupt_clip_is_named_and_skipped(built) -> None:
    _, lines = built
    assert len(lines) == 1 and "broken.wav" in lines[0] and "skipped" in lines[0]


def test_rank_finds_each_clip_from_its_own_index_row(built) -> None:
    bank, _ = built
    for i in range(len(bank)):
        assert bank.rank(latent=bank.latents[i])[0] == i
        assert bank.rank(embedding=bank.embeddings[i])[0] == i
        own = dict(zip(bank.descriptor_names, bank.descriptors[i].tolist()))
        assert bank.rank(descriptors=own)[0] == i
    bright = bank.rank(descriptors={"spectral_centroid_mean": 6000.0, "spectral_flatness_mean": 0.9})
    assert bank.clips[bright[0]].label == "hiss"


def test_rank_masks_and_pools_window_latents(built) -> None:
    bank, _ = built
    assert bank.rank(embedding=bank.embeddings[0], mask=bank.mask(kind="event")) == [1]
    assert bank.rank(embedding=bank.embeddings[0], mask=bank.mask(category="animal")) == []  # no such category
    windows = torch.randn(2, 32, 32) * bank.latent_std[:, None] + bank.latent_mean[:, None]
    pooled = bank.pool_latent(windows)
    assert pooled.shape == (64,) and pooled[:32].abs().mean() < 0.5  # the prior's mean pools to about 0
    assert sorted(bank.rank(latent=windows)) == [0, 1, 2]
    with pytest.raises(InputError, match="unknown descriptors"):
        bank.rank(descriptors={"brightness": 1.0})


def test_a_bonus_reorders_the_ranking_and_neighbours_leave_the_clip_out(built) -> None:
    bank, _ = built
    order = bank.rank(embedding=bank.embeddings[0])
    bonus = torch.zeros(len(bank))
    bonus[order[-1]] = 10.0
    assert bank.rank(embedding=bank.embeddings[0], bonus=bonus) == [order[-1], *order[:-1]]
    for i in range(len(bank)):
        near = bank.neighbours(i)
        assert sorted(near) == sorted(set(range(len(bank))) - {i})
        assert near == [j for j in bank.rank(bank.latents[i], bank.embeddings[i]) if j != i]
    assert bank.neighbours(0, bank.mask(kind="event")) == [1]


def test_a_chain_of_clips_plays_each_in_turn(built) -> None:
    """``loopable`` of several clips: each bed's start cross-faded with the end of the one before it (the first's
    with the last's end), each event's tail faded; one clip as a list is that clip's own loop."""
    from bd2music.bank.play import loopable

    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(3000).astype(np.float32), rng.standard_normal(2000).astype(np.float32)
    assert np.array_equal(loopable([a], "bed", 1000, 0.4, 0.2), loopable(a, "bed", 1000, 0.4, 0.2))
    chain = loopable([a, b], "bed", 1000, 0.4, 0.2)  # 400-sample cross-fades
    assert len(chain) == len(a) + len(b) - 2 * 400
    ramp = np.linspace(0.0, 1.0, 400, dtype=np.float32)
    assert np.allclose(chain[:400], a[:400] * ramp + b[-400:] * (1 - ramp))
    assert np.array_equal(chain[400 : len(a) - 400], a[400:-400])
    assert np.allclose(chain[len(a) - 400 : len(a)], b[:400] * ramp + a[-400:] * (1 - ramp))
    events = loopable([a, b], "event", 1000, 0.4, 0.2)
    assert len(events) == len(a) + len(b) and np.array_equal(events[len(a) : len(a) + 1000], b[:1000])
    assert events[len(a) - 1] == 0.0 and events[-1] == 0.0  # each tail faded out


def test_quantile_of_a_descriptor_over_a_mask(built) -> None:
    bank, _ = built
    column = bank.descriptors[:, bank.descriptor_names.index("onset_rate")]
    assert bank.quantile("onset_rate", 0.0) == pytest.approx(float(column.min()))
    assert bank.quantile("onset_rate", 1.0) == pytest.approx(float(column.max()))
    one = bank.mask(label="bursts")
    assert bank.quantile("onset_rate", 0.3, one) == pytest.approx(float(column[one][0]))


def test_audio_is_resampled_and_cached(built) -> None:
    bank, _ = built
    samples = bank.audio(0, 44_100)
    assert samples.dtype == np.float32 and samples.ndim == 1
    assert len(samples) == pytest.approx(4.0 * 44_100, abs=2)
    assert bank.audio(0, 44_100) is samples and len(bank.audio(0)) == pytest.approx(4.0 * 16_000, abs=1)
    spectrum = np.abs(np.fft.rfft(samples))
    assert np.argmax(spectrum) * 44_100 / len(samples) == pytest.approx(440, abs=2)


def test_one_bank_per_folder_until_its_files_change(tmp_path: Path, built) -> None:
    copy = shutil.copytree(built[0].root, tmp_path / "copy")
    first = SoundBank.load(copy)
    assert SoundBank.load(copy) is first and SoundBank.load(copy / ".." / "copy") is first
    with open(copy / "manifest.csv", "a") as manifest:  # a changed file: read again, and refused here
        manifest.write("extra.flac,foley,x,s,p,CC0-1.0,a,1.0,event\n")
    with pytest.raises(InputError, match="manifest rows"):
        SoundBank.load(copy)


def test_missing_or_corrupt_bank_is_one_line(tmp_path: Path, built) -> None:
    with pytest.raises(InputError, match="no sound bank") as missing:
        SoundBank.load(tmp_path / "nowhere")
    assert "\n" not in str(missing.value)
    copy = shutil.copytree(built[0].root, tmp_path / "copy")
    (copy / "index.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(InputError, match="corrupt"):
        SoundBank.load(copy)
    shutil.copy(built[0].root / "index.safetensors", copy)
    with open(copy / "manifest.csv", "a") as manifest:
        manifest.write("extra.flac,foley,x,s,p,CC0-1.0,a,1.0,event\n")
    with pytest.raises(InputError, match="manifest rows"):
        SoundBank.load(copy)


def test_bad_folders_are_refused(tmp_path: Path, capsys) -> None:
    (tmp_path / "empty").mkdir()
    assert main(["bank", "build", str(tmp_path / "empty"), "--out", str(tmp_path / "bank")]) == 2
    assert "no audio clips" in capsys.readouterr().err
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "a.wav").write_bytes(b"nothing audible")
    with pytest.raises(InputError, match="none of the 1 clips"):
        build_bank(broken, tmp_path / "bank", log=lambda line: None)
    assert not (tmp_path / "bank").exists()


def test_plain_folder_and_overwrite(tmp_path: Path, capsys) -> None:
    (tmp_path / "clips" / "animal").mkdir(parents=True)
    sf.write(tmp_path / "clips" / "animal" / "tweet_01.wav", waveform("sine", 1.0).astype(np.float32), RATE)
    out = tmp_path / "bank"
    assert main(["bank", "build", str(tmp_path / "clips"), "--out", str(out)]) == 0
    clip = SoundBank.load(out).clips[0]
    assert (clip.id, clip.category, clip.label, clip.license, clip.kind) == (
        "animal/tweet_01.flac", "animal", "tweet 01", "unknown", "event")
    assert "unknown (1)" in (out / "README.md").read_text()
    assert main(["bank", "build", str(tmp_path / "clips"), "--out", str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main(["bank", "build", str(tmp_path / "clips"), "--out", str(out), "--overwrite"]) == 0
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "keep.txt").write_text("mine")
    with pytest.raises(InputError, match="not a sound bank"):
        build_bank(tmp_path / "clips", tmp_path / "notes", overwrite=True)
    assert (tmp_path / "notes" / "keep.txt").is_file()


def test_fsd50k_layout_keeps_licences(tmp_path: Path) -> None:
    (tmp_path / "FSD50K.dev_audio").mkdir()
    (tmp_path / "FSD50K.ground_truth").mkdir()
    (tmp_path / "FSD50K.metadata").mkdir()
    for fname in ("11", "12"):
        sf.write(tmp_path / "FSD50K.dev_audio" / f"{fname}.wav", waveform("bursts", 1.0).astype(np.float32), RATE)
    (tmp_path / "FSD50K.ground_truth" / "dev.csv").write_text(
        "fname,labels,mids,split\n11,\"Bark,Dog,Animal\",/m/a,train\n12,\"Rain,Water\",/m/b,train\n"
    )
    info = {"11": {"license": "http://creativecommons.org/publicdomain/zero/1.0/", "uploader": "someone"},
            "12": {"license": "http://creativecommons.org/licenses/by-nc/3.0/", "uploader": "other"}}
    (tmp_path / "FSD50K.metadata" / "dev_clips_info_FSD50K.json").write_text(json.dumps(info))
    bank = SoundBank.load(build_bank(tmp_path, tmp_path / "bank"))
    assert [(c.category, c.license) for c in bank.clips] == [("animal", info["11"]["license"])]  # no NC clip
    assert "someone" in bank.clips[0].author


# -- the shipped bank ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shipped() -> SoundBank:
    return SoundBank.load()


def test_shipped_bank_is_complete_licensed_and_small(shipped) -> None:
    files = [path for path in DEFAULT_BANK.rglob("*") if path.is_file()]
    assert sum(path.stat().st_size for path in files) <= 40e6
    assert len(shipped) == shipped.latents.shape[0] == shipped.embeddings.shape[0] == shipped.descriptors.shape[0]
    assert len({clip.id for clip in shipped.clips}) == len(shipped) >= 300
    assert {path.relative_to(DEFAULT_BANK).as_posix() for path in files if path.suffix == ".flac"} == {
        clip.id for clip in shipped.clips}
    assert all(clip.license.strip() and clip.author.strip() and clip.source.strip() for clip in shipped.clips)
    for category in ("ambience", "animal", "foley", "human", "machine", "music"):
        assert shipped.mask(category).sum() >= 10, category
    assert shipped.mask("ambience", "bed").sum() >= 50 and shipped.mask(kind="event").sum() >= 200


def test_shipped_bank_has_no_heldout_clip(shipped) -> None:
    heldout = {line for line in HELDOUT.read_text().splitlines() if line and not line.startswith("#")}
    assert len(heldout) > 50 and not heldout & {clip.id for clip in shipped.clips}


def test_shipped_bank_has_no_heldout_recording(shipped, sound_rows) -> None:
    heldout = set(HELDOUT.read_text().splitlines())
    sources = {(row["source"], row["source_path"]) for row in sound_rows if row["file"] in heldout}
    with open(DEFAULT_BANK / "manifest.csv", newline="") as manifest:
        assert not sources & {(row["source"], row["source_path"]) for row in csv.DictReader(manifest)}


def test_shipped_index_matches_the_shipped_audio_models(shipped) -> None:
    """A bank is indexed once per model: retrained audio models need ``bd2music bank build`` again."""
    pinned = shipped.config["build"]["components"]
    assert pinned and all(file_sha256(DEFAULT_BANK.parent / name) == digest for name, digest in pinned.items())


def test_shipped_bank_ranks_a_clip_first_from_its_own_row(shipped) -> None:
    for i in range(0, len(shipped), 97):
        own = dict(zip(shipped.descriptor_names, shipped.descriptors[i].tolist()))
        assert shipped.rank(shipped.latents[i], shipped.embeddings[i], own)[0] == i
