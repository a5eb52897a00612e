"""``bd2music evaluate``: generate a track per page and score them (``bd2music.evaluation.soundtrack``): structure
(Spearman rho + permutation p per page-feature/audio-descriptor pair, on the decoded audio), diversity against
real clips, Fréchet distance against real clips for the mapper and an untrained one, silent/clipped share.

    bd2music evaluate --pages ../shared/data/eval_pages --sounds ../shared/data/sounds --json docs/eval_soundtracks.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bd2music.commands.outputs import output_file
from bd2music.errors import InputError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--pages", type=Path, required=True, metavar="DIR", help="eval_pages-style folder or images")
    parser.add_argument("--sounds", type=Path, required=True, metavar="DIR", help="real clips (searched recursively)")
    parser.add_argument("--json", type=Path, required=True, metavar="OUT.json", help="where to write the report")
    parser.add_argument("--limit", type=int, help="only the first N pages (sorted; at least 3)")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each generated track")
    parser.add_argument("--seed", type=int, default=0, help="noise seed, the same for every page")
    parser.add_argument("--sound", default="neural", help="the sound to evaluate (scene, neural, ...)")
    parser.add_argument("--no-pulse", dest="pulse", action="store_false",
                        help="leave out the pulse (tempo and onsets read from the latents): the decoder alone")
    parser.add_argument("--weights", help="folder of component weights or Hub repo id (default: weights/)")
    parser.add_argument("--mapper", type=Path, metavar="DIR", help="evaluate this mapper instead (e.g. an ablation)")
    parser.add_argument("--device", help="cpu, cuda or cuda:N (default: cuda when available)")


def run(args: argparse.Namespace) -> int:
    from bd2music.evaluation.soundtrack import evaluate_soundtracks, page_files, real_clips, sound_files
    from bd2music.models.mapper import LatentMapper
    from bd2music.pipeline import Pipeline, check_seconds

    check_seconds(args.seconds)
    if args.limit is not None and args.limit < 3:
        raise InputError(f"--limit must be at least 3 (pages to rank), got {args.limit}")
    for folder in (args.pages, args.sounds):
        if not folder.is_dir():
            raise InputError(f"{folder}: not a folder")
    output_file(args.json, "--json")
    pages = page_files(args.pages)[: args.limit]
    if len(pages) < 3:
        raise InputError(f"{args.pages}: need at least 3 page images, found {len(pages)}")
    real = real_clips(sound_files(args.sounds))  # read (and any unreadable clip reported) before the pages render
    pipeline = Pipeline.from_pretrained(args.weights, device=args.device)
    if args.mapper is not None:
        pipeline.mapper = LatentMapper.from_pretrained(args.mapper, device=pipeline.device)
    pipeline.check_inputs(args.seconds, args.seed, args.sound, "yolo")
    report = evaluate_soundtracks(pipeline, pages, real, args.seconds, args.seed, args.pulse, args.sound)
    report["weights"] = pipeline.weights
    report["mapper"] = str(args.mapper or pipeline.weights)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=1) + "\n")
    for row in report["structure"]:
        print(f"{row['feature']:>18} -> {row['descriptor']:<24} rho {_num(row['rho'])}  p {_num(row['p_value'])}"
              f"  (ceiling {_num(row['rho_ceiling'])})")
    diversity, frechet, outputs = report["diversity"], report["frechet"], report["outputs"]
    print(f"diversity {diversity['generated']:.3f} vs real {diversity['real']:.3f} (ratio {diversity['ratio']:.2f})")
    print(f"Frechet distance {frechet['trained']:.1f} vs untrained {frechet['untrained']:.1f} "
          f"({100 * frechet['reduction']:.0f} % lower)")
    heard = report["listening"]
    print(f"realism c2st {heard['realism_c2st']:.2f}, buzz {heard['buzz_db_median']:.1f} dB, staticness "
          f"{heard['staticness_median']:.3f}, page distinctness {heard['page_distinctness_db']:.1f} dB")
    print(f"silent {outputs['silent']}, clipped {outputs['clipped']} of {report['pages']} pages -> {args.json}")
    return 0


def _num(value: float | None) -> str:
    return "  n/a" if value is None else f"{value:.3f}"
