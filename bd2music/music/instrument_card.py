"""The instrument bank's ``README.md``: what it holds, where every sample comes from, its licence, how to rebuild it.

Written by ``build_instruments`` from the bank's settings. From beside the SoundFont it copies where the
SoundFont comes from (``README.md``), its licence and credits (``COPYRIGHT.debian``, ``COPYRIGHT`` or
``LICENSE``) and each preset's sample credit (``*_Sample_Sources.csv``), so that attribution travels with
everything derived from its samples.
"""

from __future__ import annotations

import csv
import textwrap
from pathlib import Path

from bd2music.bank.card import _table
from bd2music.music.score import is_kit

LICENCE_FILES = ("COPYRIGHT.debian", "COPYRIGHT", "LICENSE", "LICENSE.txt")


def sample_credits(soundfont: Path) -> dict[tuple[int, int], str]:
    """(bank, preset) -> the sample credit of the SoundFont's sample-sources sheet, when it has one."""
    credits = {}
    for sheet in soundfont.parent.glob("*Sample_Sources.csv"):
        with open(sheet, newline="", encoding="utf-8-sig") as stream:
            lines = [line for line in stream if not line.startswith("sep=")]
        for row in csv.DictReader(lines):
            credit = " ".join((row.get("Sample Credit") or "").split())
            if credit and (row.get("Bank #") or "").isdigit() and (row.get("Preset #") or "").isdigit():
                credits[int(row["Bank #"]), int(row["Preset #"])] = credit
    return credits


def licence_text(soundfont: Path) -> str:
    """The licence section of the licence file beside the SoundFont (from its ``Licence:`` line on)."""
    for name in LICENCE_FILES:
        if (soundfont.parent / name).is_file():
            text = (soundfont.parent / name).read_text(encoding="utf-8")
            start = text.find("Licence:")
            return text[start + len("Licence:"):].strip() if start >= 0 else text.strip()
    return f"No licence file was found beside {soundfont.name}: add its licence and credits here before sharing."


def source_text(soundfont: Path) -> str:
    """The first paragraph after the title of the ``README.md`` beside the SoundFont (where it comes from)."""
    readme = soundfont.parent / "README.md"
    if not readme.is_file():
        return ""
    paragraphs = [p for p in readme.read_text(encoding="utf-8").split("\n\n") if p.strip() and
                  not p.startswith("#")]
    return " ".join(paragraphs[0].split()) if paragraphs else ""


def write_card(folder: Path, settings: dict, soundfont: Path) -> Path:
    """Write ``folder/README.md`` for a bank with ``config.json`` ``settings`` rendered from ``soundfont``."""
    instruments, build = settings["instruments"], settings["build"]
    credits = sample_credits(soundfont)
    size = (folder / "samples.safetensors").stat().st_size / 1e6
    count = sum(len(entry["samples"]) for entry in instruments.values())
    rows = [[name, f"{entry['bank']}:{entry['program']} {entry['preset']}", entry["description"],
             f"{entry['low']}-{entry['high']}", "sustained" if entry["sustained"] else "decaying", entry["role"],
             entry.get("style", "acoustic"), len({s["root"] for s in entry["samples"]}),
             len({s["velocity"] for s in entry["samples"]}),
             f"{entry['release']:.2f}", credits.get((entry["bank"], entry["program"]), "")]
            for name, entry in instruments.items()]
    made = textwrap.fill(
        f"Rendered with TinySoundFont at {settings['sample_rate']} Hz and mixed to mono: root notes every "
        f"{build['root_step']} semitones over each instrument's range (a note is resampled by at most "
        f"{build['root_step'] // 2} semitones), at velocities {', '.join(map(str, build['velocities']))}, each a "
        f"held note then its release. Sustained instruments keep their attack and a loop of "
        f"{build['loop_min']:g}-{build['loop_max']:g} s found by cross-correlation at a zero crossing, with a "
        f"crossfade baked into its end, so that a note lasts as long as it is held; decaying ones ring until "
        f"{-build['decay_floor_db']:g} dB under their peak (drums {build['drum_max']:g} s at most); those still "
        f"ringing after {build['decay_max']:g} s end on a loop that repeats ever quieter, at the decay rate of their "
        f"last {build['decay_fit']:g} s, so that a long note goes on decaying. The release after the note-off "
        f"gives each instrument's release time (to {-build['release_floor_db']:g} dB). A velocity layer whose "
        f"spectrum is the loud one's within {build['same_layer_db']:g} dB (a preset without velocity samples) is "
        "kept once. Layers follow one velocity curve, level ~ velocity^"
        f"{build['velocity_exponent']:g}; instruments are levelled to the same median RMS over a note's first half "
        f"second at the same velocity, and the loudest note at velocity 127 peaks at {build['peak']:g}.", 115)
    kits = sum(is_kit(name) for name in instruments)
    kit = f" and {kits} drum kit{'s' if kits > 1 else ''}" if kits else ""
    intro = textwrap.fill(
        f"{count} int16 mono samples ({size:.1f} MB, `samples.safetensors`) of "
        f"{len(instruments) - kits} instruments{kit} rendered from the General MIDI SoundFont "
        f"`{settings['soundfont']['file']}` (sha256 `{settings['soundfont']['sha256'][:16]}...`), played by "
        "bd2music's sampler (`bd2music/music/instruments.py`): nearest root and layer, pitch by resampling, loops, "
        "envelopes, panning. `config.json` describes each instrument (GM program, family, description for "
        "audio-text matching, playable range, sustained or decaying, role, style: acoustic or electronic, release "
        "time) and each sample (root, "
        "velocity, gain, loop points and the gain of each repetition of the loop); a tensor is named "
        "`instrument/root/velocity`. A drum kit's samples are GM percussion keys.", 115)
    text = f"""# Instrument bank

{intro}

{_table(["name", "bank:preset", "description", "range", "kind", "role", "style", "roots", "layers", "release s",
         "sample credit"], rows)}

## How it was made

{made}

## Licence and credits

{textwrap.fill(source_text(soundfont), 115)}

The SoundFont is under the MIT licence, with parts CC0 or public domain, as below (its licence file, verbatim).
These samples are derived from it: keep this card with them.

```
{licence_text(soundfont)}
```

## Rebuild

TinySoundFont is needed only here (`pip install --no-deps tinysoundfont==0.3.7`: its wheel declares pyaudio,
which is never used to render):

```
{build['command'] or 'bd2music instruments build --soundfont SF --out OUT'}
```
"""
    path = folder / "README.md"
    path.write_text(text)
    return path
