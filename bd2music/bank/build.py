"""Build a sound bank from a folder of clips: ``build_bank(folder, out)`` (CLI: ``bd2music bank build``).

The folder may be a sounds folder (``manifest.csv``: file, category, label, source, source_path, license,
author), FSD50K as distributed (``bd2music.data.sounds.load_fsd50k``: categories from its labels, licences from
``FSD50K.metadata`` when present) or any folder of audio files (category: the first sub-folder, licence
``unknown``). Every readable clip is decoded once at the bank's rate, written as 16-bit FLAC under
``<category>/`` (unless the bank is built in place), and indexed (``bd2music.bank.index``): audio-VAE latents,
audio-text embedding, descriptors (librosa, plus loudness in LUFS with pyloudnorm), its kind, bed or event, and
the descriptors of the clip as a scene plays it over a segment (``bd2music.bank.play``: looped or repeated,
measured with the listening evaluation's onset and beat trackers).
A clip that cannot be decoded or is silent is named in one warning line and skipped.
"""

from __future__ import annotations

import csv
import json
import math
import re
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyloudnorm
import torch
from safetensors.torch import save_file
from tqdm import tqdm

from bd2music.audio.descriptors import compute_descriptors
from bd2music.audio.load import ANALYSIS_SAMPLE_RATE, Clip, load_audio
from bd2music.audio.mel import mel_spectrogram
from bd2music.bank.card import write_card
from bd2music.bank.curate import CurationConfig, curate, flac_bytes
from bd2music.bank.index import MANIFEST_COLUMNS, pool_frames
from bd2music.bank.play import EVENT_FADE_S, LOOP_CROSSFADE_S, PLAYED, played_measures
from bd2music.data.sounds import SoundItem, load_dataset
from bd2music.errors import InputError
from bd2music.hub import file_sha256, resolve_component
from bd2music.io import check_replaceable
from bd2music.models.audio_text import AudioTextModel
from bd2music.models.audio_vae import AudioVAE
from bd2music.models.base import config_to_dict

LUFS_FLOOR = -70.0  # the BS.1770 absolute gate: silence and near-silence read as this


@dataclass
class BankConfig:
    """How clips are stored and sorted into beds and events (saved in the bank's ``config.json``)."""

    sample_rate: int = ANALYSIS_SAMPLE_RATE  # Hz: clips stored and indexed at the audio models' rate
    bed_min_duration: float = 3.0  # s: shorter clips are always events
    bed_max_rms_cv: float = 0.5  # frame-RMS std / mean at most this: steady enough to loop under a scene
    ambience_categories: tuple[str, ...] = ("ambience",)  # their long clips are beds up to ambience_max_rms_cv
    ambience_max_rms_cv: float = 1.0  # rain, fire and crowds flicker more, yet loop well
    played_seconds: float = 10.0  # the played descriptors (``bd2music.bank.play``) measure a clip over this long
    loop_crossfade_s: float = LOOP_CROSSFADE_S  # ... a bed looped as the scene loops it
    event_fade_s: float = EVENT_FADE_S  # ... an event repeated with its tail faded


def _stderr(line: str) -> None:
    print(line, file=sys.stderr)


def read_items(folder: Path, log: Callable[[str], None] = _stderr) -> list[tuple[SoundItem, str]]:
    """Every clip the folder offers with its ``source_path``, listed files that are absent left out (one line)."""
    from bd2music.commands.audio_features import find_audio

    if not folder.is_dir():
        raise InputError(f"{folder}: not a folder")
    if (folder / "manifest.csv").is_file() or (folder / "FSD50K.ground_truth").is_dir():
        items = load_dataset(folder)
        source_paths = {}
        if (folder / "manifest.csv").is_file():
            with open(folder / "manifest.csv", newline="") as manifest:
                source_paths = {row["file"]: row.get("source_path", "") for row in csv.DictReader(manifest)}
        found = [(item, source_paths.get(item.name) or item.path.relative_to(folder).as_posix()) for item in items]
    else:
        found = []
        for path, name in find_audio([folder]):
            parts = Path(name).parts
            category = parts[0] if len(parts) > 1 else "unknown"
            label = re.sub(r"[_\-]+", " ", path.stem).strip()
            item = SoundItem(path, name, category, label, "unknown", "unknown", f"folder:{folder.name}", name)
            found.append((item, name))
    if absent := [item.name for item, _ in found if not item.path.is_file()]:
        log(f"warning: {len(absent)} listed clips are not in {folder} (first: {absent[0]}); skipped")
    found = [(item, source_path) for item, source_path in found if item.path.is_file()]
    if not found:
        raise InputError(f"{folder}: no audio clips (expected manifest.csv, FSD50K.ground_truth/ or audio files)")
    return found


def loudness_lufs(samples: np.ndarray, sample_rate: int) -> float:
    """Integrated loudness (ITU-R BS.1770, pyloudnorm); a clip under one 400 ms block is looped to fill it."""
    block = int(0.4 * sample_rate) + 1
    if len(samples) < block:
        samples = np.tile(samples, math.ceil(block / len(samples)))
    value = pyloudnorm.Meter(sample_rate).integrated_loudness(samples.astype(np.float64))
    return max(LUFS_FLOOR, value) if math.isfinite(value) else LUFS_FLOOR


class ClipIndexer:
    """The audio models a bank is indexed with; ``indexer(clip)`` -> (pooled latent, embedding, summary), the
    summary holding every descriptor column but the played ones (which need the clip's kind), ``loudness_lufs``
    included."""

    def __init__(self, components: str | Path | None = None) -> None:
        self.vae = AudioVAE.from_pretrained(components)
        self.text = AudioTextModel.from_pretrained(components)
        self.descriptor_names = [*self.vae.config.descriptors, "loudness_lufs", "duration", *PLAYED.values()]
        self.log_descriptors = list(self.vae.config.log_descriptors)
        self.sha256 = {  # the weights that made the index (inference settings in config.json do not matter)
            f"{model.component}/model.safetensors": file_sha256(
                resolve_component(model.component, components) / "model.safetensors"
            )
            for model in (self.vae, self.text)
        }

    @torch.inference_mode()
    def __call__(self, clip: Clip) -> tuple[torch.Tensor, torch.Tensor, dict[str, float]]:
        log_mel = mel_spectrogram(torch.from_numpy(clip.samples))
        tiled = self.vae.encode_long(log_mel)
        valid = math.ceil(log_mel.shape[-1] / self.vae.config.downsampling)  # a padded window: its own frames only
        frames = tiled.latents[..., :valid].transpose(0, 1).flatten(1)
        latent = pool_frames(frames, self.vae.latent_mean, self.vae.latent_std)
        embedding = self.text.embed_audio(log_mel[None])[0]
        summary = compute_descriptors([clip])[0].summary
        summary["loudness_lufs"] = loudness_lufs(clip.samples, clip.sample_rate)
        return latent, embedding, summary


def clip_kind(category: str, summary: dict[str, float], config: BankConfig) -> str:
    """"bed" for a long steady clip (see :class:`BankConfig`), else "event"."""
    steadiness = summary["rms_std"] / max(summary["rms_mean"], 1e-12)
    limit = config.ambience_max_rms_cv if category in config.ambience_categories else config.bed_max_rms_cv
    return "bed" if summary["duration"] >= config.bed_min_duration and steadiness <= limit else "event"


def prepare_out(out: Path, in_place: bool, overwrite: bool) -> Path:
    """Where to write: ``out`` itself in place, else a fresh staging folder beside it; refuses to replace an
    existing bank without ``overwrite`` and anything that is not a bank at all."""
    check_replaceable(out, overwrite, None if in_place else "index.safetensors", "a sound bank")
    if in_place:
        return out
    staging = out.parent / f".{out.name}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    return staging


def build_bank(
    folder: str | Path,
    out: str | Path,
    components: str | Path | None = None,
    config: BankConfig = BankConfig(),
    curation: CurationConfig | None = None,
    overwrite: bool = False,
    command: str = "",
    log: Callable[[str], None] = _stderr,
) -> Path:
    """Index the clips of ``folder`` into a bank at ``out`` (see the module docstring); returns ``out``.

    Args:
        components: where the audio VAE and audio-text weights come from (``from_pretrained``; None: weights/).
        curation: keep only what :func:`bd2music.bank.curate.curate` selects (the shipped bank), else every clip.
        overwrite: replace an existing bank at ``out`` (building in place, ``out == folder``, needs it too).
        command: the command line, quoted in the bank's card.
        log: receives the warning lines (default: stderr).
    """
    folder, out = Path(folder), Path(out)
    in_place = out.resolve() == folder.resolve()
    found = read_items(folder, log)
    source_paths = {item.name: source_path for item, source_path in found}
    items = [item for item, _ in found]
    if curation is not None:
        items = curate(items, curation, config.sample_rate, log)
    target = prepare_out(out, in_place, overwrite)
    indexer = ClipIndexer(components)
    rows, latents, embeddings, descriptors, ids = [], [], [], [], set()
    for item in tqdm(items, desc="indexing clips", unit="clip", file=sys.stderr):
        try:
            clip = load_audio(item.path, item.name, sample_rate=config.sample_rate)
        except InputError as error:
            log(f"warning: {error}; skipped")
            continue
        if clip.silent:
            log(f"warning: {item.name}: silent; skipped")
            continue
        latent, embedding, summary = indexer(clip)
        kind = clip_kind(item.category, summary, config)
        summary |= played_measures(clip.samples, kind, config.sample_rate, config.played_seconds,
                                   config.loop_crossfade_s, config.event_fade_s)
        if in_place:
            clip_id = item.path.resolve().relative_to(folder.resolve()).as_posix()
        else:
            clip_id = unique_id(item, ids)
            (target / clip_id).parent.mkdir(parents=True, exist_ok=True)
            (target / clip_id).write_bytes(flac_bytes(clip.samples, config.sample_rate))
        ids.add(clip_id)
        rows.append({
            "file": clip_id, "category": item.category, "label": item.label, "source": item.source,
            "source_path": source_paths[item.name], "license": item.license, "author": item.author,
            "duration_s": f"{clip.duration_s:.3f}", "kind": kind,
        })
        latents.append(latent)
        embeddings.append(embedding)
        descriptors.append([summary[name] for name in indexer.descriptor_names])
    if not rows:
        if not in_place:
            shutil.rmtree(target)
        raise InputError(f"{folder}: none of the {len(items)} clips could be decoded; no bank written")
    tensors = {
        "latents": torch.stack(latents), "embeddings": torch.stack(embeddings),
        "descriptors": torch.tensor(descriptors, dtype=torch.float32),
        "latent_mean": indexer.vae.latent_mean.clone(), "latent_std": indexer.vae.latent_std.clone(),
    }
    save_file({name: tensor.float().contiguous() for name, tensor in tensors.items()}, str(target / "index.safetensors"))
    with open(target / "manifest.csv", "w", newline="") as manifest:
        writer = csv.DictWriter(manifest, MANIFEST_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    settings = {
        "sample_rate": config.sample_rate,
        "descriptor_names": indexer.descriptor_names,
        "log_descriptors": indexer.log_descriptors,
        "clips": len(rows),
        "build": {"source": folder.name, "command": command, "config": config_to_dict(config),
                  "curation": config_to_dict(curation) if curation else None, "components": indexer.sha256},
    }
    (target / "config.json").write_text(json.dumps(settings, indent=2) + "\n")
    write_card(target, rows, settings)
    if not in_place:
        shutil.rmtree(out, ignore_errors=True)
        target.rename(out)
    return out


def unique_id(item: SoundItem, taken: set[str]) -> str:
    """``<category>/<stem>.flac``, with ``-2``, ``-3``... when two clips share a name."""
    stem = re.sub(r"[^\w.\-]+", "-", Path(item.name).stem).strip("-") or "clip"
    category = re.sub(r"[^\w\-]+", "-", item.category) or "unknown"
    candidate, count = f"{category}/{stem}.flac", 1
    while candidate in taken:
        count += 1
        candidate = f"{category}/{stem}-{count}.flac"
    return candidate
