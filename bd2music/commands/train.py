"""``bd2music train MODEL``: one reproducible command per model; the config is saved beside the weights.

    bd2music train detector --out runs/detector
    bd2music train detector-soup --config configs/detector/soup.json --out runs/detector --work runs
    bd2music train vocoder --out runs/vocoder [--config run.json] [--device cuda] [--resume] [--smoke]
    bd2music train audio-vae --out runs/audio_vae [--config run.json] [--device cuda] [--resume] [--smoke]
    bd2music train draw --out runs/draw [--smoke]
    bd2music train diffusion --out runs/diffusion [--config run.json] [--device cuda] [--resume] [--smoke]
    bd2music train latent-shaper --out runs/latent_shaper [--config run.json] [--smoke]

The data folder is ``--data`` (``draw`` generates its drawings and needs none), else ``$BD2MUSIC_DATA``, else ``../shared/data`` beside the clone. A folder that
already holds a model (``config.json`` or ``*.safetensors``, e.g. the shipped ``weights/<model>``) is never
written into unless ``--overwrite`` is given. Use a trained folder with ``--weights`` (``generate``), by copying it
into ``weights/`` or through ``BD2MUSIC_WEIGHTS`` (see the README).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from bd2music.errors import InputError

DEFAULT_DATA = Path(os.environ.get("BD2MUSIC_DATA") or Path(__file__).resolve().parents[2].parent / "shared" / "data")
AUDIO_MODELS = {  # name: (training module, config class, train function)
    "vocoder": ("bd2music.training.vocoder", "VocoderTrainConfig", "train_vocoder"),
    "audio-vae": ("bd2music.training.audio_vae", "AudioVAETrainConfig", "train_audio_vae"),
    "audio-text": ("bd2music.training.audio_text", "AudioTextTrainConfig", "train_audio_text"),
    "audio-heads": ("bd2music.training.audio_heads", "AudioHeadsTrainConfig", "train_audio_heads"),
    "comic-vae": ("bd2music.training.comic_vae", "ComicVAETrainConfig", "train_comic_vae"),
    "mapper": ("bd2music.training.mapper", "MapperTrainConfig", "train_mapper"),
    "draw": ("bd2music.training.draw", "DrawTrainConfig", "train_draw"),
    "diffusion": ("bd2music.training.diffusion", "DiffusionTrainConfig", "train_diffusion"),
    "latent-shaper": ("bd2music.training.latent_shaper", "LatentShaperFitConfig", "fit_latent_shaper"),
}
GENERATED = ("draw",)  # models trained on data they generate: no data folder needed


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", choices=["detector", "detector-soup", *AUDIO_MODELS], help="which model to train")
    parser.add_argument("--config", type=Path, help="JSON file overriding the default training config")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA,
                        help="the shared data folder (comics/, sounds/); default $BD2MUSIC_DATA or ../shared/data")
    parser.add_argument("--out", type=Path, required=True, help="folder for model.safetensors + config.json")
    parser.add_argument("--overwrite", action="store_true", help="replace the model that --out already holds")
    parser.add_argument("--work", type=Path, help="dataset/cache and checkpoints folder (default: runs/MODEL)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or a CUDA index")
    parser.add_argument("--resume", action="store_true", help="continue the last run in --work")
    parser.add_argument("--epochs", type=int, help="override the config's epochs")
    parser.add_argument("--synthetic", type=int, help="override the number of synthetic pages")
    parser.add_argument("--smoke", action="store_true", help="audio models and draw: a tiny preset (4 clips, a few drawings), runs in seconds")


def run_audio_model(args: argparse.Namespace) -> int:
    """Train the vocoder or the audio VAE: defaults, then ``--smoke``, then ``--config`` overrides."""
    import importlib

    from bd2music.training.common import load_config

    module_name, config_name, train_name = AUDIO_MODELS[args.model]
    module = importlib.import_module(module_name)
    config = load_config(getattr(module, config_name), args.config, module.SMOKE if args.smoke else None)
    work = args.work or Path("runs") / args.model
    metrics = getattr(module, train_name)(config, args.data, args.out, work, device=args.device, resume=args.resume)
    shown = ("mrstft_total", "mel_l1", "heldout_mel_l1", "r2_mean", "heldout_l1", "heldout_kl")
    shown += ("rho_", "diversity_ratio", "frechet")  # mapper
    shown += ("heldout_recall", "heldout_cosine")
    shown += ("mae_",)  # draw
    shown += ("heldout_loss",)  # diffusion
    print(f"{args.model} weights written to {args.out}: "
          + ", ".join(f"{k} {v:.4g}" for k, v in metrics.items() if k.startswith(shown)))
    return 0


def check_folders(args: argparse.Namespace) -> None:
    """Refuse, before any work, an ``--out`` that holds a model (unless ``--overwrite``) and a missing data folder."""
    if args.out.is_dir() and not args.overwrite:
        held = sorted(path.name for path in args.out.iterdir()
                      if path.name == "config.json" or path.suffix == ".safetensors")
        if held:
            raise InputError(f"{args.out} already holds a model ({', '.join(held)}): train into a new folder "
                             f"(e.g. runs/{args.model}) or pass --overwrite to replace it")
    if not args.data.is_dir() and args.model not in GENERATED:
        raise InputError(f"no data folder at {args.data}: put the shared data at ../shared/data beside the clone, "
                         "set BD2MUSIC_DATA or pass --data")


def run(args: argparse.Namespace) -> int:
    check_folders(args)
    if args.model in AUDIO_MODELS:
        return run_audio_model(args)
    from bd2music.training.common import load_config
    from bd2music.training.detector import (DetectorSoupConfig, DetectorTrainConfig, train_detector,
                                            train_detector_soup)

    comics = args.data / "comics"
    if not (comics / "labels").is_dir():
        raise InputError(f"no labelled comic pages in {comics}/labels")
    if args.model == "detector-soup":
        soup = load_config(DetectorSoupConfig, args.config)
        out = train_detector_soup(soup, comics, args.out, args.work or Path("runs"), args.device, args.resume)
        print(f"detector soup of {len(soup.members)} members written to {out}")
        return 0
    config = load_config(DetectorTrainConfig, args.config)
    if args.epochs is not None:
        config.epochs = args.epochs
    if args.synthetic is not None:
        config.synthetic_pages = args.synthetic
    work = args.work or Path("runs/detector")
    out = train_detector(config, comics, args.out, work, device=args.device, resume=args.resume)
    print(f"detector weights written to {out}")
    return 0
