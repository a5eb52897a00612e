"""Train the mapper once per config of ``configs/mapper`` (``cpu.json`` and each ``no_<loss>.json``) and tabulate.

    python -m bd2music.training.mapper_ablation --out runs/mapper-ablation
    python -m bd2music.training.mapper_ablation --out runs/mapper-ablation --components paths.json
    python -m bd2music.training.mapper_ablation --out runs/mapper-ablation --pages ../shared/data/eval_pages

``--components`` is a JSON object merged into every config (e.g. ``{"audio_vae": "runs/export/audio_vae"}``).
Each run writes its weights to ``OUT/<name>`` and works in ``OUT/<name>-work``; the data caches of the first run
(page features, comic and audio latents, window embeddings) are copied to the others so that only training repeats.
The held-out metrics of every run end up in ``OUT/ablation.md`` (a Markdown table) and ``OUT/ablation.json``.

With ``--pages``, every run is also scored on DECODED audio by the evaluation harness
(``bd2music.evaluation.soundtrack``: the shipped pipeline with that run's mapper, same seed, same real clips):
``OUT/ablation_decoded.md`` and ``OUT/ablation_decoded.json``. ``--no-train`` scores runs already in ``OUT``.
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


def table(results: dict[str, dict[str, float]], columns: tuple[str, ...] = COLUMNS) -> str:
    """Markdown table: one row per run, the given metrics as columns."""
    header = "| run | " + " | ".join(columns) + " |"
    rows = [f"| {name} | " + " | ".join(f"{metrics.get(c, float('nan')):.3g}" for c in columns) + " |"
            for name, metrics in results.items()]
    return "\n".join([header, "|" + "---|" * (len(columns) + 1), *rows]) + "\n"


def decoded_metrics(report: dict) -> dict[str, float]:
    """The flat numbers of an evaluation report: ρ (and p) per pair, diversity ratio, FD, silent/clipped."""
    metrics: dict[str, float] = {}
    for row in report["structure"]:
        name = f"{row['feature']}_{row['descriptor']}"
        metrics[f"rho_{name}"] = float("nan") if row["rho"] is None else row["rho"]
        metrics[f"p_{name}"] = float("nan") if row["p_value"] is None else row["p_value"]
    frechet, outputs = report["frechet"], report["outputs"]
    return metrics | {"diversity_ratio": report["diversity"]["ratio"], "frechet": frechet["trained"],
                      "frechet_untrained": frechet["untrained"], "frechet_reduction": frechet["reduction"],
                      "silent_or_clipped": outputs["silent"] + outputs["clipped"]}


def evaluate_runs(runs: dict[str, Path], pages: Path, sounds: Path, seed: int = 0) -> dict[str, dict[str, float]]:
    """Score each mapper folder of ``runs`` on decoded audio with the shipped pipeline's other components."""
    from bd2music.evaluation.soundtrack import evaluate_soundtracks, page_files, real_clips, sound_files
    from bd2music.models.mapper import LatentMapper
    from bd2music.pipeline import Pipeline

    pipeline = Pipeline.from_pretrained()
    page_paths, real = page_files(pages), real_clips(sound_files(sounds))
    results = {}
    for name, folder in runs.items():
        pipeline.mapper = LatentMapper.from_pretrained(folder, device=pipeline.device)
        results[name] = decoded_metrics(evaluate_soundtracks(pipeline, page_paths, real, seed=seed))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--configs", type=Path, default=CONFIGS)
    parser.add_argument("--components", type=Path, help="JSON merged into every config (component folders)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--pages", type=Path, help="also score every run on decoded audio of these pages")
    parser.add_argument("--sounds", type=Path, help="real clips for --pages (default: DATA/sounds)")
    parser.add_argument("--no-train", dest="train", action="store_false", help="score the runs already in OUT")
    args = parser.parse_args()
    components = json.loads(args.components.read_text()) if args.components else {}
    paths = [args.configs / "cpu.json", *sorted(args.configs.glob("no_*.json"))]
    results: dict[str, dict[str, float]] = {}
    first_work: Path | None = None
    for path in paths if args.train else []:
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
    if results:
        print(table(results))
    if args.pages is not None:
        runs = {path.stem: args.out / path.stem for path in paths}
        decoded = evaluate_runs(runs, args.pages, args.sounds or args.data / "sounds")
        columns = (*(c for c in next(iter(decoded.values())) if c.startswith("rho_")), "diversity_ratio", "frechet",
                   "frechet_reduction", "silent_or_clipped")
        (args.out / "ablation_decoded.json").write_text(json.dumps(decoded, indent=2) + "\n")
        (args.out / "ablation_decoded.md").write_text(table(decoded, columns))
        print(table(decoded, columns))


if __name__ == "__main__":
    main()
