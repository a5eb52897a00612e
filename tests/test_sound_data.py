"""Sound datasets: the shared manifest, FSD50K's layout (a fake folder), the fixed held-out split, the cache."""

from __future__ import annotations

import json
import random
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from bd2music.audio.descriptors import summary_columns
from bd2music.audio.mel import MEL, mel_spectrogram
from bd2music.data.sounds import SoundCache, assign_splits, build_cache, load_dataset, load_fsd50k, load_sounds
from bd2music.errors import InputError

RECORDED_HELDOUT = Path(__file__).parent / "data" / "sounds_heldout.txt"


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def sounds(data_dir: Path):
    return load_sounds(data_dir / "sounds")


def test_heldout_split_is_the_recorded_one(sounds) -> None:
    recorded = [line for line in RECORDED_HELDOUT.read_text().splitlines() if not line.startswith("#")]
    assert sorted(item.name for item in sounds if item.split == "heldout") == recorded


def test_heldout_split_is_stratified_grouped_and_order_free(sounds) -> None:
    per_category = defaultdict(Counter)
    for item in sounds:
        per_category[item.category][item.split] += 1
    for category, counts in per_category.items():
        assert 0.08 <= counts["heldout"] / (counts["heldout"] + counts["train"]) <= 0.13, category
    sides = defaultdict(set)
    for item in sounds:
        sides[item.group].add(item.split)
    assert all(len(split) == 1 for split in sides.values())  # no recording on both sides
    music = [item for item in sounds if item.name.startswith("music/hyperrogue-hr3-motion-s")]
    assert len({item.group for item in music}) == 1 and len(music) >= 2  # two windows of one track: one group
    shuffled = [item.__class__(**{**item.__dict__, "split": ""}) for item in sounds]
    random.Random(0).shuffle(shuffled)
    again = {item.name: item.split for item in assign_splits(shuffled)}
    assert again == {item.name: item.split for item in sounds}


def write_fake_fsd50k(root: Path) -> None:
    """Five clips at 44.1 kHz: dev train, dev val, dev CC-BY-NC (dropped by default), eval, a dev clip w/o info."""
    rate = 44_100
    tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(rate // 2) / rate)).astype(np.float32)
    for folder, names in (("FSD50K.dev_audio", ["101", "102", "103", "105"]), ("FSD50K.eval_audio", ["104"])):
        (root / folder).mkdir(parents=True)
        for name in names:
            sf.write(root / folder / f"{name}.wav", tone, rate, subtype="PCM_16")
    (root / "FSD50K.ground_truth").mkdir()
    (root / "FSD50K.ground_truth" / "dev.csv").write_text(
        "fname,labels,mids,split\n"
        '101,"Bark,Dog,Domestic_animals_and_pets,Animal","/m/05tny_,/m/0bt9lr,/m/068hy,/m/0jbk",train\n'
        '102,"Electric_guitar,Guitar,Musical_instrument,Music","/m/02sgy,/m/0342h,/m/04szw,/m/04rlf",val\n'
        '103,"Rain,Water,Natural_sounds","/m/06mb1,/m/0838f,/m/059j3w",train\n'
        '105,"Door,Domestic_sounds_and_home_sounds","/m/02dgv,/t/dd00071",train\n'
    )
    (root / "FSD50K.ground_truth" / "eval.csv").write_text(
        'fname,labels,mids\n104,"Engine,Vehicle","/m/02mk9,/m/07yv9"\n'
    )
    (root / "FSD50K.metadata").mkdir()
    info = {
        "101": {"license": "http://creativecommons.org/publicdomain/zero/1.0/", "uploader": "alice"},
        "102": {"license": "http://creativecommons.org/licenses/by/3.0/", "uploader": "bob"},
        "103": {"license": "http://creativecommons.org/licenses/by-nc/3.0/", "uploader": "carol"},
    }
    (root / "FSD50K.metadata" / "dev_clips_info_FSD50K.json").write_text(json.dumps(info))


def test_a_manifest_without_a_needed_column_is_refused_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "manifest.csv").write_text("file,category,licence\nclip.wav,foley,CC0\n")
    with pytest.raises(InputError, match=r"no label, source, source_path, license, author column") as error:
        load_sounds(tmp_path)
    assert "\n" not in str(error.value)


def test_fsd50k_layout_loads_with_its_own_split(tmp_path: Path) -> None:
    root = tmp_path / "FSD50K"
    write_fake_fsd50k(root)
    items = {item.name: item for item in load_fsd50k(root)}
    assert set(items) == {"fsd50k/dev/101.wav", "fsd50k/dev/102.wav", "fsd50k/dev/105.wav", "fsd50k/eval/104.wav"}
    dog, guitar, door, engine = (items[f"fsd50k/{n}.wav"] for n in ("dev/101", "dev/102", "dev/105", "eval/104"))
    assert (dog.split, guitar.split, engine.split) == ("train", "heldout", "eval")
    assert (dog.category, guitar.category, engine.category, door.category) == ("animal", "music", "machine", "foley")
    assert dog.license.endswith("zero/1.0/") and dog.author.startswith("alice") and door.license == "unknown"
    assert dog.path.is_file() and engine.path.parent.name == "FSD50K.eval_audio"
    assert "fsd50k/dev/103.wav" in {item.name for item in load_fsd50k(root, allow_nonfree=True)}
    assert {item.name for item in load_dataset(root)} == set(items)
    with pytest.raises(InputError, match="neither"):
        load_dataset(tmp_path)

    cache = SoundCache(build_cache(list(items.values()), tmp_path / "cache", window_frames=32, hop_frames=24))
    assert [clip["samples"] for clip in cache.clips] == [MEL.sample_rate // 2] * 4  # resampled to 16 kHz
    assert len(cache.window_indices("eval")) and len(cache.window_indices("heldout"))


def test_cache_holds_the_windows_mels_and_descriptors(sounds, tmp_path: Path) -> None:
    items = [item for item in sounds if item.name.startswith("animal/")][:2]
    folder = build_cache(items, tmp_path / "cache", window_frames=64, hop_frames=48)
    cache = SoundCache(folder)
    assert cache.columns == summary_columns() and cache.descriptors.shape == (
        len(cache.window_clip),
        len(cache.columns),
    )
    assert torch.isfinite(cache.descriptors).all()
    for window in range(len(cache.window_clip)):
        clip, start = int(cache.window_clip[window]), int(cache.window_start[window])
        audio = cache.clip_audio(clip)
        segment = np.zeros(64 * MEL.hop_length, dtype=np.float32)
        piece = audio[start * MEL.hop_length : (start + 64) * MEL.hop_length]
        segment[: len(piece)] = piece
        expected = mel_spectrogram(segment)[:, :64]
        got = cache.window_mels(torch.tensor([window]))[0]
        assert (got - expected).abs().max() < 0.02  # float16 storage
    first = cache.clip_audio(0)
    original = items[0]
    from bd2music.audio.load import load_audio

    assert np.abs(first - load_audio(original.path).samples).max() <= 1 / 32768 + 1e-7  # 16-bit PCM
    stamp = (folder / "mels.f16").stat().st_mtime_ns
    build_cache(items, folder, window_frames=64, hop_frames=48)
    assert (folder / "mels.f16").stat().st_mtime_ns == stamp  # same items and settings: reused
    assert (folder / "heldout.txt").is_file() and (folder / "index.json").is_file()
