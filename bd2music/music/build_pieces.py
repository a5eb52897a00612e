"""Build the piece library from the music21 corpus: ``build_library(out)`` (CLI: ``bd2music pieces build``).

Each collection of :data:`bd2music.music.corpus.COLLECTIONS` is read in its fixed candidate order; a candidate
that does not parse, has no notes or too many parts is named in one line and skipped; the others are tagged
(:mod:`bd2music.music.tagging`) and kept until the collection's count is reached, minor and major pieces each
up to their quota. Written to ``out`` (format in :mod:`bd2music.music.library`): ``notes.safetensors``,
``index.json``, ``config.json`` and the card ``README.md``. Same corpus, same settings: same bytes.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file

from bd2music.errors import InputError
from bd2music.io import check_replaceable
from bd2music.music.corpus import COLLECTIONS, Collection, Reading, candidates, corpus_root, read_piece
from bd2music.music.library import ARRAYS, INDEX, NOTES, PieceLibrary
from bd2music.music.pieces_card import write_card
from bd2music.music.tagging import choose_key, dance, order_parts, suggest_tempo


@dataclass
class PiecesConfig:
    """How pieces are cut and tagged (saved in the library's ``config.json``)."""

    min_quarters: float = 64.0  # a longer piece is cut at its last phrase end between min and max quarters
    max_quarters: float = 96.0  # (30 s at 140 BPM is 70 quarters; the runtime loops a shorter piece)
    max_parts: int = 5  # pieces with more sounding parts are skipped (the arranger voices at most this many)
    min_notes: int = 24  # pieces with fewer kept notes are skipped
    signature_bonus: float = 0.1  # added to a key's correlation when it shares the score's key signature
    final_bonus: float = 0.15  # added when the whole piece ends on that key's tonic (lowest final pitch)
    bpm_range: tuple[float, float] = (40.0, 200.0)  # suggested tempi are clipped to this (quarter notes/min)


def _stderr(line: str) -> None:
    print(line, file=sys.stderr)


def tag(reading: Reading, collection: Collection, config: PiecesConfig) -> tuple[dict, dict[str, np.ndarray]]:
    """The index entry and the arrays of one piece read from the corpus."""
    count = len(reading.parts)
    part, order, roles = order_parts(reading.part, reading.pitch, count)
    onset, duration, pitch = reading.onset, reading.duration, reading.pitch
    rows = np.lexsort((part, pitch, onset))
    onset, duration, pitch, part = onset[rows], duration[rows], pitch[rows], part[rows]
    melody = part == 0
    density, melody_density = len(onset) / reading.length, int(melody.sum()) / reading.length
    onset_density = len(np.unique(onset)) / reading.length
    tonic, mode, key_source = choose_key(reading, config.signature_bonus, config.final_bonus)
    bpm, tempo_source = suggest_tempo(reading, collection.name, onset_density, config.bpm_range)
    entry = {
        "id": reading.id, "title": reading.title, "composer": reading.composer,
        "collection": collection.name, "licence": f"public-domain composition; {collection.licence}",
        "rights": reading.rights, "part_names": [reading.parts[index] for index in order], "roles": roles,
        "tonic": tonic, "mode": mode, "key_source": key_source, "tempo": round(bpm, 2), "tempo_source": tempo_source,
        "dance": dance(reading),
        "density": round(density, 4), "melody_density": round(melody_density, 4),
        "onset_density": round(onset_density, 4),
        "low": int(pitch.min()), "high": int(pitch.max()), "melody_low": int(pitch[melody].min()),
        "melody_high": int(pitch[melody].max()), "length": reading.length, "parts": count, "notes": len(onset),
        "bar_quarters": reading.bar_quarters, "beat_quarters": reading.beat_quarters, "pickup": reading.pickup,
    }
    arrays = {"onset": onset, "duration": duration, "pitch": pitch, "part": part,
              "bars": reading.bars.astype(np.float32), "phrases": reading.phrase_ends.astype(np.float32)}
    return entry, arrays


def select(collection: Collection, config: PiecesConfig, limit: int | None, log: Callable[[str], None],
           root: Path) -> tuple[list[tuple[dict, dict]], list[dict]]:
    """The kept pieces of a collection (entry, arrays) and the skipped candidates (id, reason)."""
    count = min(collection.count, limit) if limit is not None else collection.count
    minor = round(count * collection.minor_share) if collection.minor_share else count
    quota = {"minor": minor, "major": count - minor if collection.minor_share else count}  # no share: no quota
    kept, skipped = [], []
    for candidate in candidates(collection, root):
        if len(kept) == count:
            break
        try:
            reading = read_piece(candidate, config, root)
            if len(reading.onset) < config.min_notes:
                raise InputError(f"{candidate}: {len(reading.onset)} notes (at least {config.min_notes})")
            entry, arrays = tag(reading, collection, config)
        except Exception as error:  # noqa: BLE001 - music21 raises many kinds on odd encodings
            reason = str(error).splitlines()[0][:160] if str(error) else type(error).__name__
            log(f"skipped {candidate}: {reason}")
            skipped.append({"id": candidate, "reason": reason})
            continue
        if sum(piece["mode"] == entry["mode"] for piece, _ in kept) < quota[entry["mode"]]:
            kept.append((entry, arrays))
    return kept, skipped


def build_library(out: Path, overwrite: bool = False, limit: int | None = None,
                  collections: list[str] | None = None, config: PiecesConfig | None = None, command: str = "",
                  log: Callable[[str], None] = _stderr) -> PieceLibrary:
    """Read, tag and write the library to ``out``; refuses to replace an existing one without ``overwrite``.

    Args:
        limit: at most this many pieces per collection (quick builds, tests).
        collections: names of :data:`COLLECTIONS` to read (default all).
    """
    from bd2music.models.base import config_to_dict

    config = config or PiecesConfig()
    known = {collection.name: collection for collection in COLLECTIONS}
    if unknown := sorted(set(collections or []) - set(known)):
        raise InputError(f"unknown collection {', '.join(unknown)} (known: {', '.join(known)})")
    check_replaceable(out, overwrite, INDEX, "a piece library")
    root = corpus_root()
    pieces, skipped = [], []
    for collection in COLLECTIONS:
        if collections and collection.name not in collections:
            continue
        kept, failed = select(collection, config, limit, log, root)
        log(f"{collection.name}: {len(kept)} pieces kept, {len(failed)} skipped")
        pieces += kept
        skipped += failed
    if not pieces:
        raise InputError("no piece could be read from the music21 corpus")
    staging = out.parent / f".{out.name}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    save_file(_concatenate([arrays for _, arrays in pieces]), str(staging / NOTES))
    entries = [entry for entry, _ in pieces]
    (staging / INDEX).write_text(json.dumps({"pieces": entries}, indent=1, ensure_ascii=False) + "\n")
    import music21

    settings = {"pieces": len(entries), "source": f"music21 {music21.__version__} corpus",
                "command": command, "config": config_to_dict(config),
                "collections": {collection.name: {"title": collection.title, "licence": collection.licence}
                                for collection in COLLECTIONS if any(e["collection"] == collection.name
                                                                     for e in entries)},
                "skipped": skipped}
    (staging / "config.json").write_text(json.dumps(settings, indent=2, ensure_ascii=False) + "\n")
    write_card(staging, entries, settings)
    shutil.rmtree(out, ignore_errors=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging.rename(out)
    return PieceLibrary.load(out)


def _concatenate(pieces: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Each array of every piece end to end, with ``<group>_offsets`` (n + 1) saying where each piece starts."""
    tensors = {}
    for group, names in ARRAYS.items():
        sizes = [len(arrays[names[0]]) for arrays in pieces]
        tensors[f"{group}_offsets"] = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        for name in names:
            tensors[name] = np.ascontiguousarray(np.concatenate([arrays[name] for arrays in pieces]))
    return tensors
