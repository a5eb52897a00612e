"""The prompt index: the training clips' audio-text embeddings with their labels and credits, and no audio.

Text to sound conditions on the mean audio embedding of the clips whose captions lie nearest a prompt
(``bd2music.bank.captions``). The sound bank holds only what the scene can play within its size budget (few music
clips among them); the diffusion model was trained on the embeddings of every training clip, and those need no
audio: one row of the audio-text model's embedding size per clip. Held-out clips (``tests/data/sounds_heldout.txt``,
what the evaluation listens against) are never indexed.

    bd2music bank prompt-index ../shared/data/sounds --out weights/prompt_index
    index = PromptIndex.load("weights/prompt_index")
"""

from __future__ import annotations

import csv
import json
import sys
from collections import Counter
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from bd2music.audio.load import load_audio
from bd2music.audio.mel import MEL, mel_spectrogram
from bd2music.bank.card import _counts, _table
from bd2music.data.sounds import load_dataset
from bd2music.errors import InputError
from bd2music.hub import PROMPT_INDEX_FILES, file_sha256, resolve_component
from bd2music.io import check_replaceable
from bd2music.models.audio_text import AudioTextModel


@dataclass(frozen=True)
class IndexedClip:
    """One indexed clip: its file in the sounds folder, what it is, and whose it is (a cue's credits)."""

    id: str
    category: str
    label: str
    license: str
    author: str
    source: str


@dataclass
class PromptIndex:
    """Clips (``clips``) and their unit audio-text embeddings (``embeddings``, one row each)."""

    clips: list[IndexedClip]
    embeddings: torch.Tensor

    @classmethod
    def load(cls, folder: str | Path) -> PromptIndex:
        """The index in ``folder``; one-line :class:`InputError` if it is missing, corrupt or its files disagree."""
        root = Path(folder)
        if missing := [name for name in PROMPT_INDEX_FILES if not (root / name).is_file()]:
            raise InputError(f"no prompt index in {root} (missing {', '.join(missing)}; build one: bd2music bank "
                             "prompt-index)")
        try:
            with open(root / "clips.csv", newline="") as table:
                clips = [IndexedClip(**{f.name: row[f.name] for f in fields(IndexedClip)})
                         for row in csv.DictReader(table)]
            embeddings = load_file(str(root / "index.safetensors"))["embeddings"].float()
        except (OSError, KeyError, ValueError, TypeError, SafetensorError) as error:
            detail = " ".join(str(error).split())[:200]
            raise InputError(f"prompt index {root} is corrupt ({type(error).__name__}: {detail})") from None
        if embeddings.ndim != 2 or len(embeddings) != len(clips) or not clips:
            raise InputError(f"prompt index {root} is corrupt: embeddings {tuple(embeddings.shape)} vs {len(clips)} "
                             "clips")
        return cls(clips, embeddings)


def build_prompt_index(folder: str | Path, out: str | Path, components: str | Path | None = None,
                       overwrite: bool = False, command: str = "") -> Path:
    """Embed every training clip of ``folder`` (a sounds folder or FSD50K: ``load_dataset``) with the audio-text
    model of ``components`` (None: weights/) into a prompt index at ``out``, card included; returns ``out``. A clip
    that cannot be decoded is named in one line on stderr and skipped."""
    folder, out = Path(folder), Path(out)
    check_replaceable(out, overwrite, "index.safetensors", "a prompt index")
    items = [item for item in load_dataset(folder) if item.split == "train"]
    model = AudioTextModel.from_pretrained(components).eval()
    clips, embeddings = [], []
    with torch.inference_mode():
        for item in tqdm(items, desc="embedding clips", unit="clip", file=sys.stderr):
            try:
                clip = load_audio(item.path, item.name, sample_rate=MEL.sample_rate)
            except InputError as error:
                print(f"warning: {error}; skipped", file=sys.stderr)
                continue
            if clip.silent:
                print(f"warning: {item.name}: silent; skipped", file=sys.stderr)
                continue
            embeddings.append(model.embed_audio(mel_spectrogram(torch.from_numpy(clip.samples))[None])[0])
            clips.append(IndexedClip(item.name, item.category, item.label, item.license, item.author, item.source))
    if not clips:
        raise InputError(f"{folder}: no training clip could be decoded; no prompt index written")
    out.mkdir(parents=True, exist_ok=True)
    save_file({"embeddings": torch.stack(embeddings).float().contiguous()}, str(out / "index.safetensors"))
    with open(out / "clips.csv", "w", newline="") as table:
        writer = csv.DictWriter(table, [f.name for f in fields(IndexedClip)])
        writer.writeheader()
        writer.writerows(asdict(clip) for clip in clips)
    weights = resolve_component("audio_text", components) / "model.safetensors"
    config = {"clips": len(clips), "embed_dim": int(embeddings[0].numel()), "split": "train",
              "build": {"source": folder.name, "command": command,
                        "components": {"audio_text/model.safetensors": file_sha256(weights)}}}
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    write_card(out, clips, config)
    return out


def write_card(folder: Path, clips: list[IndexedClip], config: dict) -> Path:
    """``folder/README.md``: what the index holds, how it was made, every licence and source."""
    licences = Counter(clip.license for clip in clips)
    card = f"""---
library_name: bd2music
license: other
license_name: mixed-source-clips-see-card
tags: [audio, text-to-audio, bd2music]
---

# bd2music prompt index

The audio-text embeddings ({config['embed_dim']} numbers each) of the {len(clips)} training clips of
`{config['build']['source']}`, with each clip's label, category, licence, author and source, and no audio. Text to
sound (`--sound diffusion`, `bd2music text-to-audio`) conditions on the mean embedding of the clips whose captions
("{{label}}, a {{category}} sound") lie nearest the prompt, and credits each of them in the cue sheet. Held-out clips
(`tests/data/sounds_heldout.txt`) are not indexed.

Categories: {_counts(Counter(clip.category for clip in clips))}.

## Licences of the indexed clips

The embeddings are derived from these clips; each clip's own terms are in `clips.csv`.

{_table(["licence", "clips"], [[name, count] for name, count in licences.most_common()])}

Sources: {_counts(Counter(clip.source.split(" (")[0] for clip in clips))}.

## How to rebuild

    {config['build']['command'] or 'bd2music bank prompt-index ../shared/data/sounds --out weights/prompt_index'}

Made with the audio-text model whose weights have sha256
`{config['build']['components']['audio_text/model.safetensors']}`.
"""
    path = folder / "README.md"
    path.write_text(card)
    return path
