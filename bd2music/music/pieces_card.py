"""The piece library's ``README.md``: what it holds, where it comes from, its licences, how to rebuild it.

Written by ``build_library`` from the index entries it wrote, so the card always matches the pieces.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from bd2music.bank.card import _counts, _table

TEMPO_BINS = (0, 70, 100, 140, 1000)  # quarter notes per minute
DENSITY_BINS = (0, 1, 2, 4, 100)  # notes per quarter note, all parts


def _binned(values: list[float], edges: tuple[float, ...], unit: str) -> str:
    counts = np.histogram(values, bins=edges)[0]
    labels = [f"under {edges[1]:g}"] + [f"{low:g}-{high:g}" for low, high in zip(edges[1:-2], edges[2:-1])]
    labels.append(f"{edges[-2]:g} and over")
    return ", ".join(f"{label} {unit}: {count}" for label, count in zip(labels, counts))


def write_card(folder: Path, entries: list[dict], settings: dict) -> Path:
    """Write ``folder/README.md`` for the library's index ``entries`` and its ``config.json`` ``settings``."""
    config = settings["config"]
    rows = []
    for name, about in settings["collections"].items():
        pieces = [entry for entry in entries if entry["collection"] == name]
        rows.append([f"{name}: {about['title']}", len(pieces),
                     f"{np.mean([entry['mode'] == 'minor' for entry in pieces]):.0%}",
                     f"{np.median([entry['tempo'] for entry in pieces]):.0f}",
                     f"{np.median([entry['density'] for entry in pieces]):.1f}",
                     _counts(Counter(entry["parts"] for entry in pieces))])
    contents = _table(["collection", "pieces", "minor", "median tempo (q/min)", "median notes per quarter",
                       "parts (pieces)"], rows)
    licences = "\n".join(f"- **{name}**: {about['licence']}." for name, about in settings["collections"].items())
    size = (folder / "notes.safetensors").stat().st_size
    minor = sum(entry["mode"] == "minor" for entry in entries)
    paragraphs = [
        f"{len(entries)} public-domain pieces ({minor} minor, {len(entries) - minor} major; "
        f"{sum(entry['notes'] for entry in entries)} notes, {size / 1e6:.1f} MB) for bd2music's music backend, read "
        f"from the corpus that ships inside the `music21` wheel ({settings['source']}). The arranger picks one by "
        "the page's mood, re-times it to the plan's tempo, transposes and re-orchestrates it "
        "(`bd2music/music/library.py` loads it; no music21 needed at run time).",
        contents,
        "Each piece keeps its first quarter notes up to its last phrase end between "
        f"{config['min_quarters']:g} and {config['max_quarters']:g} (the whole piece when shorter), repeats "
        "expanded, ties merged, at sounding pitch, as notes in quarter notes (onset, duration, MIDI pitch, part), "
        "with its bar starts and phrase ends (fermatas where the melody has them, as in the chorales; else every 4 "
        "bars, 8 under 3 quarters a bar, counted again after double bars). Parts: the score's first part is the "
        "melody, the others follow top to bottom, the lowest is the bass; pieces with more than "
        f"{config['max_parts']} sounding parts or under {config['min_notes']} notes are left out.",
        "Tags, computed once (`bd2music/music/tagging.py`): tonic and mode (a mode the score names; else the best "
        "of music21's Krumhansl-Schmuckler keys with a bonus for the score's signature and for ending on the "
        "tonic; church modes mapped to the nearer of major and minor), a suggested tempo (metronome mark, tempo "
        "words, dance rhythm as a note rate, or the collection's default), the dance a tune names, note density "
        "(all parts, melody alone, distinct onsets), pitch range, length, meter, pickup, parts and their roles, title, composer, "
        "corpus path, licence and the encoding's copyright line.",
        "\n".join([
            f"- modes: {_counts(Counter(entry['mode'] for entry in entries))}",
            f"- key from: {_counts(Counter(entry['key_source'] for entry in entries))}",
            f"- tempo: {_binned([entry['tempo'] for entry in entries], TEMPO_BINS, 'q/min')}",
            f"- tempo from: {_counts(Counter(entry['tempo_source'] for entry in entries))}",
            f"- dances: {_counts(Counter(entry['dance'] for entry in entries if entry['dance']))}",
            f"- density: {_binned([entry['density'] for entry in entries], DENSITY_BINS, 'notes/q')}",
            f"- parts: {_counts(Counter(entry['parts'] for entry in entries))}",
            f"- length: median {np.median([entry['length'] for entry in entries]):.0f} quarter notes",
        ]),
    ]
    skipped = len(settings["skipped"])
    text = "\n\n".join([
        "# Piece library", *paragraphs,
        "## Licences and credits",
        "All compositions are in the public domain (composers who died over a century ago; traditional tunes in "
        "collections printed 1778-1903). The encodings come with music21 (BSD-3-Clause software, "
        "Michael Scott Asato Cuthbert and contributors); music21's `corpus/license.txt` says they are "
        "distributed with their encoders' permission and that some may not be used commercially. Per collection:",
        licences,
        "Each piece's `licence` and `rights` (the copyright line its encoding carries, where any) are in "
        "`index.json`; keep them with anything made from a piece.",
        "## Rebuild",
        f"{skipped} candidates were skipped (unreadable, no notes, too many parts or too few notes); "
        "`config.json` lists each with its reason. Deterministic: the same music21 corpus gives the same files.",
        f"```\n{settings['command'] or 'bd2music pieces build --out weights/pieces'}\n```",
    ])
    (folder / "README.md").write_text(text + "\n")
    return folder / "README.md"
