"""Sound datasets for the audio models: the shared clips (``manifest.csv``) and FSD50K, a fixed held-out split,
and a cache of compact training tensors.

* ``load_sounds(root)``: ``shared/data/sounds`` (``manifest.csv``: file, category, label, source, source_path,
  license, author, duration_s).
* ``load_fsd50k(root)``: FSD50K as distributed (``FSD50K.dev_audio/``, ``FSD50K.eval_audio/``,
  ``FSD50K.ground_truth/{dev,eval}.csv``, optional ``FSD50K.metadata/{dev,eval}_clips_info_FSD50K.json`` for
  licences). FSD50K keeps its own split: dev ``train`` -> train, dev ``val`` -> heldout, eval -> eval. Clips under
  a non-commercial or Sampling+ licence are dropped unless asked for (as they were from ESC-50).
* ``assign_splits``: the held-out split of the shared clips, ~10% of each category. Clips cut from one recording
  (the two windows of a music track, the A/B takes of one ESC-50 freesound id) form a group that stays on one
  side; groups are ranked within their category by the SHA-1 of the group name and held out in that order
  until the category's 10% is reached. Deterministic, no state; ``tests/data/sounds_heldout.txt`` records it.
* ``build_cache(items, folder)``: every clip as 16-bit PCM (``audio.i16``), fixed windows of
  ``window_frames`` log-mel frames as float16 (``mels.f16``, the window's own audio zero-padded to the window,
  so mel and descriptors see the same samples), all per-window summary descriptors (``windows.safetensors``)
  and ``index.json`` (clips, splits, licences, configs). ``SoundCache(folder)`` memory-maps it back, so a
  cache larger than memory (FSD50K: ~12 GB of PCM) trains fine and the folder can be carried to a GPU machine.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from bd2music.audio.descriptors import compute_descriptors, summary_columns
from bd2music.audio.load import Clip, load_audio
from bd2music.audio.mel import MEL, MelConfig, MelSpectrogram
from bd2music.errors import InputError
from bd2music.models.audio_vae import tile_starts

HELDOUT_FRACTION = 0.1
CACHE_VERSION = 1
MANIFEST_COLUMNS = ("file", "category", "label", "source", "source_path", "license", "author")  # what load_sounds reads
WINDOW_SUFFIX = re.compile(r" \[[^]]*\]$")  # "track.ogg [10.0s-20.0s]": the window cut from a source file
FSD50K_NONFREE = ("by-nc", "sampling+")  # licence URL parts dropped by default
FSD50K_CATEGORIES = {  # coarse category of an FSD50K clip: the first entry one of its labels is in (else foley)
    "music": "Music Musical_instrument",
    "animal": "Animal Domestic_animals_and_pets Livestock_and_farm_animals_and_working_animals Wild_animals Bird "
    "Insect Frog",
    "human": "Human_voice Human_group_actions Speech Laughter Breathing Cough Sneeze Crying_and_sobbing Screaming "
    "Singing Applause Clapping Cheering Walk_and_footsteps",
    "machine": "Vehicle Engine Mechanisms Tools Alarm Motor_vehicle_(road) Rail_transport Aircraft Power_tool "
    "Mechanical_fan Printer Computer_keyboard Typing Clock",
    "ambience": "Natural_sounds Rain Wind Thunderstorm Thunder Ocean Waves_and_surf Stream Fire Crackle Crowd "
    "Traffic_noise_and_roadway_noise Water",
}


@dataclass(frozen=True)
class SoundItem:
    """One audio file of a dataset and what we know about it."""

    path: Path  # the audio file
    name: str  # unique id: the manifest's ``file``, or ``fsd50k/dev/<fname>.wav``
    category: str  # ambience, animal, foley, human, machine or music
    label: str  # short description (FSD50K: its labels, comma-separated)
    license: str
    author: str
    source: str
    group: str  # clips of one recording share a group, and so a split
    split: str = ""  # train, heldout or eval ("" until assigned)


def _group(row: dict[str, str]) -> str:
    """The recording a manifest row comes from: ESC-50 fold + freesound id, else the source file (no window)."""
    source_path = row["source_path"]
    if esc := re.match(r"(?:.*/)?(\d+-\d+)-[A-Za-z]-\d+\.\w+$", source_path):
        return f"esc50:{esc.group(1)}"
    return row["source"] + ":" + WINDOW_SUFFIX.sub("", source_path)


def load_sounds(root: str | Path) -> list[SoundItem]:
    """The clips of ``root/manifest.csv`` (shared/data/sounds), with their held-out split assigned."""
    root = Path(root)
    manifest = root / "manifest.csv"
    if not manifest.is_file():
        raise InputError(f"no manifest.csv in {root}")
    with open(manifest, newline="") as file:
        reader = csv.DictReader(file)
        rows = list(reader)
    if missing := [column for column in MANIFEST_COLUMNS if column not in (reader.fieldnames or ())]:
        raise InputError(f"{manifest}: no {', '.join(missing)} column (expected {', '.join(MANIFEST_COLUMNS)})")
    items = [
        SoundItem(
            root / row["file"],
            row["file"],
            row["category"],
            row["label"],
            row["license"],
            row["author"],
            row["source"],
            _group(row),
        )
        for row in rows
    ]
    return assign_splits(items)


def _fsd50k_category(labels: Sequence[str]) -> str:
    for category, names in FSD50K_CATEGORIES.items():
        if set(names.split()).intersection(labels):
            return category
    return "foley"


def load_fsd50k(root: str | Path, allow_nonfree: bool = False) -> list[SoundItem]:
    """FSD50K's dev and eval clips with its own split (dev train/val -> train/heldout, eval -> eval).

    With ``FSD50K.metadata/*_clips_info_FSD50K.json`` present, each clip gets its licence URL and uploader and
    CC-BY-NC / Sampling+ clips are dropped unless ``allow_nonfree``; without it the licence reads ``unknown``.
    """
    root = Path(root)
    truth = root / "FSD50K.ground_truth"
    if not (truth / "dev.csv").is_file():
        raise InputError(f"no FSD50K.ground_truth/dev.csv in {root}")
    items = []
    for part, audio_dir in (("dev", "FSD50K.dev_audio"), ("eval", "FSD50K.eval_audio")):
        if not (truth / f"{part}.csv").is_file():
            continue
        info_file = root / "FSD50K.metadata" / f"{part}_clips_info_FSD50K.json"
        info = json.loads(info_file.read_text()) if info_file.is_file() else {}
        with open(truth / f"{part}.csv", newline="") as file:
            for row in csv.DictReader(file):
                fname = row["fname"]
                clip_info = info.get(fname, {})
                license_url = clip_info.get("license", "unknown")
                if not allow_nonfree and any(part_ in license_url.lower() for part_ in FSD50K_NONFREE):
                    continue
                labels = row["labels"].split(",")
                split = "eval" if part == "eval" else {"train": "train", "val": "heldout"}[row["split"]]
                items.append(
                    SoundItem(
                        root / audio_dir / f"{fname}.wav",
                        f"fsd50k/{part}/{fname}.wav",
                        _fsd50k_category(labels),
                        row["labels"],
                        license_url,
                        clip_info.get("uploader", "unknown") + " (freesound.org, FSD50K)",
                        "FSD50K (Fonseca et al. 2020, doi:10.5281/zenodo.4060432)",
                        f"fsd50k:{fname}",
                        split,
                    )
                )
    return items


def load_dataset(root: str | Path) -> list[SoundItem]:
    """``load_sounds`` or ``load_fsd50k``, whichever layout ``root`` has."""
    root = Path(root)
    if (root / "manifest.csv").is_file():
        return load_sounds(root)
    if (root / "FSD50K.ground_truth").is_dir():
        return load_fsd50k(root)
    raise InputError(f"{root}: neither a sounds folder (manifest.csv) nor FSD50K (FSD50K.ground_truth/)")


def _rank(group: str) -> str:
    return hashlib.sha1(group.encode()).hexdigest()


def assign_splits(items: Iterable[SoundItem], fraction: float = HELDOUT_FRACTION) -> list[SoundItem]:
    """Set ``split`` of items that have none: per category, whole groups in hash order until ``fraction``."""
    items = list(items)
    members: dict[str, list[SoundItem]] = defaultdict(list)
    for item in items:
        if not item.split:
            members[item.group].append(item)
    by_category: dict[str, list[str]] = defaultdict(list)
    for group, group_items in members.items():
        by_category[group_items[0].category].append(group)
    heldout = set()
    for groups in by_category.values():
        target, count = round(fraction * sum(len(members[g]) for g in groups)), 0
        for group in sorted(groups, key=_rank):
            if count >= target:
                break
            heldout.add(group)
            count += len(members[group])
    return [
        item if item.split else replace(item, split="heldout" if item.group in heldout else "train") for item in items
    ]


# -- cache ---------------------------------------------------------------------------------------------------------


def _item_record(item: SoundItem) -> dict[str, str]:
    return {k: str(v) for k, v in asdict(item).items() if k != "path"}


def build_cache(
    items: Sequence[SoundItem],
    folder: str | Path,
    window_frames: int = 256,
    hop_frames: int = 192,
    mel: MelConfig = MEL,
    descriptors: bool = True,
    windows: bool = True,
    device: str = "cpu",
    batch_size: int = 16,
) -> Path:
    """Decode ``items`` once and write the training cache (see the module docstring) into ``folder``.

    ``windows=False`` caches the audio only (the vocoder's needs); ``descriptors=False`` skips the descriptor
    targets. An existing cache built from the same items and settings is kept as it is.
    """
    descriptors = descriptors and windows
    folder = Path(folder)
    settings = {
        "version": CACHE_VERSION,
        "mel": asdict(mel),
        "window_frames": window_frames,
        "hop_frames": hop_frames,
        "descriptors": descriptors,
        "windows": windows,
    }
    records = [_item_record(item) for item in items]
    index_file = folder / "index.json"
    if index_file.is_file():
        index = json.loads(index_file.read_text())
        if (
            index["settings"] == settings
            and [{k: v for k, v in clip.items() if k not in ("offset", "samples")} for clip in index["clips"]]
            == records
        ):
            return folder
    folder.mkdir(parents=True, exist_ok=True)
    index_file.unlink(missing_ok=True)  # written last: a half-built cache is never taken for a complete one
    spectrogram = MelSpectrogram(mel).to(device)
    window_samples = window_frames * mel.hop_length
    columns = summary_columns() if descriptors else []
    clips, window_clip, window_start, rows = [], [], [], []
    offset = 0
    with open(folder / "audio.i16", "wb") as audio_file, open(folder / "mels.f16", "wb") as mel_file:
        for clip_index, (item, record) in enumerate(zip(tqdm(items, desc="caching clips", unit="clip"), records)):
            samples = load_audio(item.path, item.name, sample_rate=mel.sample_rate).samples
            pcm = np.clip(np.round(samples * 32768), -32768, 32767).astype("<i2")
            audio_file.write(pcm.tobytes())
            clips.append(record | {"offset": offset, "samples": len(pcm)})
            offset += len(pcm)
            if not windows:
                continue
            audio = pcm.astype(np.float32) / 32768  # the cached samples, so the tensors match what training reads
            starts = tile_starts(mel.num_frames(len(audio)), window_frames, window_frames - hop_frames)
            segments = np.zeros((len(starts), window_samples), dtype=np.float32)
            for row, start in enumerate(starts):
                piece = audio[start * mel.hop_length : start * mel.hop_length + window_samples]
                segments[row, : len(piece)] = piece
            with torch.inference_mode():
                mels = spectrogram(torch.from_numpy(segments).to(device))[..., :window_frames]
            mel_file.write(mels.to(torch.float16).cpu().numpy().astype("<f2").tobytes())
            if descriptors:
                window_clips = [
                    Clip(segment, mel.sample_rate, f"{item.name}@{start}", False)
                    for segment, start in zip(segments, starts)
                ]
                results = compute_descriptors(window_clips, "torch", device, batch_size=batch_size)
                rows += [[result.summary[column] for column in columns] for result in results]
            window_clip += [clip_index] * len(starts)
            window_start += starts
    tensors = {
        "clip": torch.tensor(window_clip, dtype=torch.int32),
        "start": torch.tensor(window_start, dtype=torch.int32),
        "descriptors": torch.tensor(rows, dtype=torch.float32).reshape(len(window_clip), len(columns)),
    }
    save_file(tensors, str(folder / "windows.safetensors"))
    heldout = sorted(item.name for item in items if item.split == "heldout")
    (folder / "heldout.txt").write_text("".join(f"{name}\n" for name in heldout))
    index_file.write_text(json.dumps({"settings": settings, "columns": columns, "clips": clips}, indent=1) + "\n")
    return folder


class SoundCache:
    """A cache written by ``build_cache``, memory-mapped: clips' PCM, window mels and descriptor targets."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        if not (self.folder / "index.json").is_file():
            raise InputError(f"no training cache in {self.folder} (index.json missing)")
        index = json.loads((self.folder / "index.json").read_text())
        settings = index["settings"]
        self.mel = MelConfig(**settings["mel"])
        self.window_frames: int = settings["window_frames"]
        self.columns: list[str] = index["columns"]
        self.clips: list[dict] = index["clips"]
        self.audio = np.memmap(self.folder / "audio.i16", dtype="<i2", mode="r")
        windows = load_file(str(self.folder / "windows.safetensors"))
        self.window_clip = windows["clip"].long()
        self.window_start = windows["start"].long()
        self.descriptors = windows["descriptors"]
        shape = (len(self.window_clip), self.mel.n_mels, self.window_frames)
        self.mels = (
            np.memmap(self.folder / "mels.f16", dtype="<f2", mode="r", shape=shape)
            if shape[0]
            else np.zeros(shape, dtype="<f2")
        )

    def clip_indices(self, split: str) -> list[int]:
        """Indices of the clips in ``split``, in cache order."""
        return [i for i, clip in enumerate(self.clips) if clip["split"] == split]

    def window_indices(self, split: str) -> torch.Tensor:
        """Indices of the windows whose clip is in ``split`` (train, heldout or eval)."""
        in_split = torch.tensor([clip["split"] == split for clip in self.clips], dtype=torch.bool)
        return torch.nonzero(in_split[self.window_clip]).flatten()

    def clip_audio(self, index: int) -> np.ndarray:
        """Float32 samples of clip ``index``."""
        clip = self.clips[index]
        return self.audio[clip["offset"] : clip["offset"] + clip["samples"]].astype(np.float32) / 32768

    def window_mels(self, indices: torch.Tensor) -> torch.Tensor:
        """Float32 log-mels (len(indices), n_mels, window_frames)."""
        return torch.from_numpy(np.asarray(self.mels[indices.numpy()], dtype=np.float32))

    def descriptor_targets(self, names: Sequence[str]) -> torch.Tensor:
        """(windows, len(names)) descriptor values in their units."""
        if missing := [name for name in names if name not in self.columns]:
            raise InputError(f"descriptors not in the cache: {', '.join(missing)}")
        return self.descriptors[:, [self.columns.index(name) for name in names]]
