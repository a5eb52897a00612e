"""Text to sound on TUNING prompts (never ``bench_diffusion.py``'s): clips in their prompt's category.

    python benchmarks/tune_prompts.py --guidance 1.5 3 5 8
    python benchmarks/tune_prompts.py --weights runs/weights_try --templates "some {category}" "{category} clip"
    python benchmarks/tune_prompts.py --templates "some {category}" "{category} clip" --prompt-clips 0 32
    python benchmarks/tune_prompts.py --templates "some {category}" "{category} clip" --prompt-temperature 0.05

Prompts: the ``--labels`` most common labels of each category's training clips ("rain", "dog" ...), plus each
``--templates`` filled with the category name; ``SEEDS`` seeds each, ``bench_diffusion.TEXT_SECONDS`` s. The
category classifier of ``bench_diffusion.category_classifier`` (trained on the training clips) labels every clip;
the share in the prompt's category is printed per guidance scale and ``--prompt-clips`` (the diffusion settings'
``prompt_clips``: 0 conditions on the prompt's own embedding), overall and per category.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import torch

from bench_diffusion import CATEGORIES, DATA, TEXT_SECONDS, category_classifier

SEEDS = (0, 1)


def tuning_prompts(labels: int, templates: list[str]) -> list[tuple[str, str]]:
    """(category, prompt): the most common training labels of each category, then the category templates."""
    from bd2music.data.sounds import load_sounds

    counts = Counter((item.category, item.label) for item in load_sounds(DATA / "sounds") if item.split == "train")
    chosen = defaultdict(list)
    for (category, label), _ in counts.most_common():
        if len(chosen[category]) < labels:
            chosen[category].append(label)
    return [(category, prompt) for category in CATEGORIES
            for prompt in chosen[category] + [template.format(category=category) for template in templates]]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--weights", type=Path, help="a weights folder (default: the shipped one)")
    parser.add_argument("--guidance", type=float, nargs="+", default=[None], help="scales (default: the model's)")
    parser.add_argument("--labels", type=int, default=6, help="training labels per category")
    parser.add_argument("--templates", nargs="*", default=[], help='category templates, e.g. "some {category}"')
    parser.add_argument("--prompt-clips", type=int, nargs="+", default=[None],
                        help="bank clips nearest the prompt to condition on (default: the settings')")
    parser.add_argument("--prompt-temperature", type=float, help="their softmax temperature (default: the settings')")
    args = parser.parse_args()
    from bd2music.evaluation.listening import clip_features
    from bd2music.pipeline import Pipeline

    torch.set_num_threads(1)
    pipeline = Pipeline.from_pretrained(args.weights, device="cpu") if args.weights else Pipeline.from_pretrained(
        device="cpu")
    classifier, accuracy = category_classifier(44_100)
    print(f"category classifier on held-out clips: {accuracy:.2f}")
    backend, prompts = pipeline.backend("diffusion"), tuning_prompts(args.labels, args.templates)
    if args.prompt_temperature is not None:
        backend.settings.prompt_temperature = args.prompt_temperature
    for guidance, clips in [(g, k) for g in args.guidance for k in args.prompt_clips]:
        backend.settings.guidance = guidance
        if clips is not None:
            backend.settings.prompt_clips = clips
        hits = defaultdict(list)
        for category, prompt in prompts:
            for seed in SEEDS:
                result = pipeline.text_to_audio(prompt, seconds=TEXT_SECONDS, seed=seed)
                hits[category].append(classifier.predict(clip_features(result.audio, result.sample_rate)[None])[0]
                                      == category)
        share = np.mean([hit for rows in hits.values() for hit in rows])
        each = ", ".join(f"{category} {np.mean(rows):.2f}" for category, rows in hits.items())
        print(f"guidance {guidance or 'default'}, prompt_clips {backend.settings.prompt_clips}: {share:.3f} in the "
              f"prompt's category ({each})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
