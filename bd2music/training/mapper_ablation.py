"""Train the mapper once per config of ``configs/mapper`` (``cpu.json`` and each ``no_<loss>.json``) and tabulate.

    python -m bd2music.training.mapper_ablation --out runs/mapper-ablation
    python -m bd2music.training.mapper_ablation --out runs/mapper-ablation --components paths.json

``--components`` is a JSON object merged into every config (e.g. ``{"audio_vae": "runs/export/audio_vae"}``).
Each run writes its weights to ``OUT/<name>`` and works in ``OUT/<name>-work``; the data caches of the first run
(page features, comic and audio latents, window embeddings) are copied to the others so that only training repeats.
The held-out metrics of every run end up in ``OUT/ablation.md`` (a Markdown table) and ``OUT/ablation.json``.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from bd2music.commands.train import DEFAULT_DATA
from bd2music.training.common import load_config
from bd2music.training.mapper import MapperTrainConfig, train_mapper

CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "mapper"
CACHED = ("comic_pages.json", "comic_latents-*", "audio_latents-*", "window_embeddings-*")
COLUMNS = ("rho_brightness_spectral_centroid_mean", "rho_colourfulness_norm_rms_mean", "rho_edge_density_onset_rate",
           "rho_panel_count_tempo", "diversity_ratio", "frechet", "frechet_ratio")


def table(results: dict[str, dict[str, float]]) -> str:
    """Markdown table: one row per run, the main held-out metrics as columns."""
    header = "| run | " + " | ".join(COLUMNS) + " |"
    rows = [f"| {name} | " + " | ".join(f"{metrics.get(c, float('nan')):.3g}" for c in COLUMNS) + " |"
            for name, metrics in results.items()]
    return "\n".join([header, "|" + "---|" * (len(COLUMNS) + 1), *rows]) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--configs", type=Path, default=CONFIGS)
    parser.add_argument("--components", type=Path, help="JSON merged into every config (component folders)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args()
    components = json.loads(args.components.read_text()) if args.components else {}
    paths = [args.configs / "cpu.json", *sorted(args.configs.glob("no_*.json"))]
    results: dict[str, dict[str, float]] = {}
    first_work: Path | None = None
    for path in paths:
        name = path.stem
        merged = args.out / f"{name}-config.json"
        args.out.mkdir(parents=True, exist_ok=True)
        merged.write_text(json.dumps(json.loads(path.read_text()) | components, indent=2))
        work = args.out / f"{name}-work"
        work.mkdir(parents=True, exist_ok=True)
        if first_work is not None:
            for pattern in CACHED:
                for file in first_work.glob(pattern):
                    shutil.copy(file, work / file.name)
        config = load_config(MapperTrainConfig, merged)
        results[name] = train_mapper(config, args.data, args.out / name, work)
        first_work = first_work or work
        (args.out / "ablation.json").write_text(json.dumps(results, indent=2) + "\n")
        (args.out / "ablation.md").write_text(table(results))
    print(table(results))


if __name__ == "__main__":
    main()
