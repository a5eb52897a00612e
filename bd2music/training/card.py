"""The weights folder a trainer exports: ``config.json`` + ``model.safetensors`` (``save_pretrained``),
``train_config.json``, ``metrics.json``, ``heldout.txt``, ``attribution.csv`` and the model card ``README.md``
with Hub front matter (data, licences inherited from the training clips, metrics, how to retrain).
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path
from typing import Any

from bd2music.data.sounds import SoundCache
from bd2music.models.base import config_to_dict

COPYLEFT = ("CC-BY-SA", "GPL", "GFDL", "/by-sa/")  # licence name or URL parts, checked in this order
ATTRIBUTION = ("CC-BY", "/licenses/by/")
PERMISSIVE = ("CC0", "MIT", "Expat", "publicdomain")


def licence_family(licence: str) -> str:
    """copyleft (share-alike), attribution or permissive, for the model card."""
    if any(key in licence for key in COPYLEFT):
        return "copyleft"
    if any(key in licence for key in ATTRIBUTION):
        return "attribution"
    if any(key in licence for key in PERMISSIVE):
        return "permissive"
    return "unknown"


def write_attribution(clips: list[dict[str, Any]], path: Path) -> None:
    """One row per training clip (cache records): file, licence, author, source (what CC-BY/GPL notices need)."""
    with open(path, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["file", "license", "author", "source"])
        for clip in clips:
            writer.writerow([clip["name"], clip["license"], clip["author"], clip["source"]])


def model_card(
    title: str,
    summary: str,
    model_config: Any,
    cache: SoundCache,
    metrics: dict[str, float],
    command: str,
    tags: list[str],
) -> str:
    """Markdown model card with Hub front matter: data, inherited licences, metrics, how to retrain."""
    train = [clip for clip in cache.clips if clip["split"] == "train"]
    heldout = [clip for clip in cache.clips if clip["split"] == "heldout"]
    seconds = sum(clip["samples"] for clip in train) / cache.mel.sample_rate
    licences = Counter(clip["license"] for clip in train)
    families = Counter(licence_family(clip["license"]) for clip in train)
    sources = Counter(clip["source"].split(" (")[0] for clip in train)
    copyleft = sorted(name for name in licences if licence_family(name) == "copyleft")
    lines = [
        "---",
        "library_name: bd2music",
        "license: other",
        "license_name: mixed-training-data-see-card",
        "tags:",
        *[f"- {tag}" for tag in tags],
        "---",
        "",
        f"# {title}",
        "",
        summary,
        "",
        "Load with `from_pretrained` (config.json + model.safetensors, strict):",
        "",
        "```python",
        f"from bd2music.models import {type(model_config).__name__.removesuffix('Config')}",
        f'model = {type(model_config).__name__.removesuffix("Config")}.from_pretrained("path/or/owner/repo")',
        "```",
        "",
        "## Training data",
        "",
        f"{len(train)} clips ({seconds / 3600:.2f} h) at {cache.mel.sample_rate} Hz; {len(heldout)} clips held out for "
        "the metrics below (`heldout.txt`, fixed split: see `bd2music.data.sounds`). Sources:",
        "",
        *[f"- {source}: {count} clips" for source, count in sources.most_common()],
        "",
        "## Licences inherited from the training clips",
        "",
        "| licence | clips |",
        "|---|---|",
        *[f"| {name} | {count} |" for name, count in licences.most_common()],
        "",
        f"Families: {', '.join(f'{k} {v}' for k, v in families.most_common())}. Whether trained weights are a "
        "derivative work of their training audio is legally unsettled; these weights are distributed as if they "
        "were. Attribution (CC-BY, CC-BY-SA, MIT/Expat, GPL notices): every training clip's licence, author and "
        "source is listed in `attribution.csv`, which must travel with the weights. "
        + (
            f"Copyleft: {', '.join(copyleft)} clips ask that derivatives be shared under the same terms; "
            "different copyleft licences (GFDL, GPL, CC-BY-SA-3.0) are not compatible with each other, so no "
            "single licence for the weights satisfies all of them. Before publishing, accept that and keep this "
            "notice, or retrain on a subset whose licences agree (e.g. CC0, MIT/Expat and GPL-2+/GPL-3+ clips, "
            "weights under GPL-3.0-or-later). "
            if copyleft
            else "No copyleft clips were used. "
        )
        + "ESC-50 clips are CC0 or CC-BY only (clip authors on freesound.org, cut by K. J. Piczak); FSD50K clips, "
        "when used, exclude CC-BY-NC and Sampling+ unless enabled.",
        "",
        "## Metrics (held-out clips)",
        "",
        "| metric | value |",
        "|---|---|",
        *[f"| {name} | {value:.4g} |" for name, value in metrics.items()],
        "",
        "## Retrain",
        "",
        "```bash",
        command,
        "```",
        "",
        "`train_config.json` holds the full configuration (pass it back with `--config`). Training never writes",
        "over a folder that holds a model unless `--overwrite` is given: use the new folder with `--weights DIR`",
        "(or `BD2MUSIC_WEIGHTS`), or copy it into `weights/` to ship it.",
        "",
        "## Configuration",
        "",
        "```json",
        json.dumps(config_to_dict(model_config), indent=2),
        "```",
        "",
    ]
    return "\n".join(lines)


def export(model: Any, out: Path, train_config: Any, cache: SoundCache, metrics: dict[str, float], card: str) -> Path:
    """Write the weights folder (see the module doc)."""
    model.save_pretrained(out)
    (out / "train_config.json").write_text(json.dumps(config_to_dict(train_config), indent=2) + "\n")
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    (out / "heldout.txt").write_text((cache.folder / "heldout.txt").read_text())
    write_attribution([clip for clip in cache.clips if clip["split"] == "train"], out / "attribution.csv")
    (out / "README.md").write_text(card)
    return out
