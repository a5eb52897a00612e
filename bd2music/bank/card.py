"""The bank's ``README.md``: what it holds, how it was made, every licence and author, how to rebuild it.

Written by ``build_bank`` from the manifest rows it wrote, so the card always matches the clips.
"""

from __future__ import annotations

import textwrap
from collections import Counter, defaultdict
from pathlib import Path

COPYLEFT = ("GPL", "CC-BY-SA", "GFDL")  # licences whose terms reach derivatives


def _table(header: list[str], rows: list[list[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows])


def _counts(counter: Counter) -> str:
    return ", ".join(f"{name} ({count})" for name, count in counter.most_common())


def curation_text(curation: dict) -> str:
    shares = ", ".join(f"{name} {share:.0%}" for name, share in curation["shares"].items())
    return (
        f"Curated (`bd2music/bank/curate.py`) to {curation['budget_mb']:g} MB of audio, shared per category as "
        f"{shares}. Within a category clips are taken round-robin over sources, then over labels (seed "
        f"{curation['seed']}), a clip that would overflow its category's share passed over for smaller ones. "
        f"Never kept: clips of the splits {', '.join(curation['exclude_splits'])} (the held-out real clips the "
        f"evaluation measures realism against, `tests/data/sounds_heldout.txt`), unreadable or silent clips, "
        f"clips shorter than {curation['min_duration']:g} s, quieter than {curation['min_rms_dbfs']:g} dBFS RMS "
        f"or with more than {curation['max_clipped']:.1%} of samples at full scale."
    )


def write_card(folder: Path, rows: list[dict[str, str]], settings: dict) -> Path:
    """Write ``folder/README.md`` for a bank of manifest ``rows`` and its ``config.json`` ``settings``."""
    build, config = settings["build"], settings["build"]["config"]
    size = sum((folder / row["file"]).stat().st_size for row in rows if (folder / row["file"]).is_file())
    minutes = sum(float(row["duration_s"]) for row in rows) / 60
    per_category: dict[str, Counter] = defaultdict(Counter)
    seconds: Counter[str] = Counter()
    licences: dict[str, Counter] = defaultdict(Counter)
    authors: dict[str, Counter] = defaultdict(Counter)
    for row in rows:
        per_category[row["category"]][row["kind"]] += 1
        seconds[row["category"]] += float(row["duration_s"])
        licences[row["source"]][row["license"]] += 1
        authors[row["source"]][row["author"]] += 1
    contents = _table(
        ["category", "beds", "events", "minutes"],
        [[name, counts["bed"], counts["event"], f"{seconds[name] / 60:.1f}"] for name, counts in
         sorted(per_category.items())],
    )
    sources = _table(
        ["source", "clips", "licences (clips)"],
        [[source, sum(counter.values()), _counts(counter)] for source, counter in
         sorted(licences.items(), key=lambda item: -sum(item[1].values()))],
    )
    all_licences = Counter(row["license"] for row in rows)
    copyleft = sum(count for name, count in all_licences.items() if any(tag in name for tag in COPYLEFT))
    attribution = "\n".join(f"- {source}: {_counts(counter)}" for source, counter in sorted(authors.items()))
    rebuild = build["command"] or "bd2music bank build DIR --out OUT"
    made = curation_text(build["curation"]) if build["curation"] else "Every readable, non-silent clip of the folder."
    paragraphs = [
        f"{len(rows)} clips ({minutes:.1f} minutes, {size / 1e6:.1f} MB of {config['sample_rate'] // 1000} kHz mono "
        f"FLAC) of recorded and produced sound for bd2music's scene backend, from `{build['source']}`. Each clip is "
        f"a **bed** (at least {config['bed_min_duration']:g} s long and steady: frame-RMS std / mean at most "
        f"{config['bed_max_rms_cv']:g}, {config['ambience_max_rms_cv']:g} for "
        f"{', '.join(config['ambience_categories'])}), loopable under a scene, or an **event**.",
        f"{made} Clips were decoded, resampled to {config['sample_rate']} Hz mono and written as 16-bit FLAC; "
        "`manifest.csv` keeps each one's category, label, source, path in the source (`source_path`), licence, "
        "author, duration and kind. `index.safetensors` has one row per manifest row (see `bd2music/bank/index.py`):"
        " the audio-VAE latent pooled over the clip, the audio-text embedding and the descriptors "
        f"{', '.join(settings['descriptor_names'])}. `config.json` records the settings and the sha256 of the audio "
        "models that made the index: a bank is indexed once per model, so retrained audio models need a rebuild.",
        "Every clip keeps its own licence, author and source in `manifest.csv`; keep the manifest next to the audio "
        f"when redistributing. {copyleft} clips are under a copyleft licence (GPL, CC-BY-SA, GFDL), whose terms "
        "apply to them and to works derived from them.",
    ]
    intro, made, licence_text = (textwrap.fill(paragraph, 115) for paragraph in paragraphs)
    text = f"""# Sound bank

{intro}

{contents}

## How it was made

{made}

## Licences

{licence_text}

{sources}

{textwrap.fill(f"Licences over the bank: {_counts(all_licences)}.", 115)}

## Attribution

Authors per source (clips):

{attribution}

## Rebuild

```
{rebuild}
```
"""
    path = folder / "README.md"
    path.write_text(text)
    return path
