"""``bd2music text-to-audio "PROMPT" --out DIR``: the sound a prompt describes, sampled by the latent diffusion
model (``weights/diffusion``) and mastered: ``DIR/<prompt slug>_<seed>.wav`` (44.1 kHz stereo) and ``.json``
(prompt, settings, cue, loudness). The same prompt and seed give the same audio.

    bd2music text-to-audio "rain on a tin roof" --out runs/sounds --seconds 8 --seed 3 --steps 20
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bd2music.commands.outputs import all_or_none, output_folder
from bd2music.inputs import check_seed
from bd2music.inputs import prompt as check_prompt
from bd2music.text_to_audio import slug


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("prompt", help="what the sound should be, in words (1-300 characters)")
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="folder for the WAV and JSON files")
    parser.add_argument("--seconds", type=float, default=10.0, help="length (1-60 s, default 10)")
    parser.add_argument("--seed", type=int, default=0, help="noise seed: same seed, same audio")
    parser.add_argument("--steps", type=int, help="denoising steps (1-200; default: the model's, few)")
    parser.add_argument("--device", help="cpu, cuda or cuda:N (default: cuda when available)")
    parser.add_argument("--weights", help="folder of component weights or Hub repo id (default: weights/)")
    parser.add_argument("--revision", help="Hub revision (commit) of --weights")


def run(args: argparse.Namespace) -> int:
    from bd2music.audio.load import write_wav
    from bd2music.models.diffusion import check_sampling
    from bd2music.pipeline import Pipeline, check_seconds

    prompt = check_prompt(args.prompt)  # every argument is checked before the models load
    check_seconds(args.seconds)
    check_seed(args.seed)
    if args.steps is not None:
        check_sampling("ddim", args.steps, 1.0)
    output_folder(args.out)
    pipeline = Pipeline.from_pretrained(args.weights, args.revision, device=args.device)
    result = pipeline.text_to_audio(prompt, seconds=args.seconds, seed=args.seed, steps=args.steps)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"{slug(prompt)}_{args.seed}"
    with all_or_none() as new:
        write_wav(new(stem.with_suffix(".wav")), result.audio, result.sample_rate)
        new(stem.with_suffix(".json")).write_text(json.dumps(result.to_dict(), indent=1) + "\n")
    print(f"{stem.with_suffix('.wav')}: {result.duration:.1f} s, {result.mastered.lufs:.1f} LUFS, "
          f"{result.settings['steps']} steps" + (f", sounds like {'; '.join(result.sounds_like[:4])} ..." if
                                                  result.sounds_like else ""))
    return 0
