"""Audio model speed: mel, VAE encode, VAE decode, vocoder and Griffin-Lim on 10 s clips (CPU, and CUDA when present).

    python benchmarks/bench_audio_model.py --clips 8 --threads 2 --repeats 3 [--weights weights] [--json out.json]

Takes --clips real clips spread over shared/data/sounds/manifest.csv, tiles each to 10 s, and times every stage on
the same log-mels, one clip at a time (the app's case). Each figure is the best of --repeats passes over all clips,
after a warm-up, as milliseconds per 10 s clip and as "x real time" (audio seconds per second of compute).
Prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import torch

from bd2music.audio.griffin_lim import GriffinLim
from bd2music.audio.mel import MelSpectrogram
from bd2music.models.audio_vae import AudioVAE
from bd2music.models.vocoder import Vocoder

from bench_audio_features import CLIP_SECONDS, DATA, ten_second_clips  # noqa: E402  (same folder)


def best_ms(stage: Callable[[torch.Tensor], object], inputs: list[torch.Tensor], repeats: int, device: str) -> float:
    """Best-of-``repeats`` milliseconds per input of ``stage`` over ``inputs`` (one warm-up call first)."""
    def sync() -> None:
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    stage(inputs[0])
    sync()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for item in inputs:
            stage(item)
        sync()
        best = min(best, (time.perf_counter() - start) / len(inputs))
    return 1000 * best


@torch.inference_mode()
def time_device(device: str, clips: list[torch.Tensor], weights: str | None, repeats: int) -> dict[str, float]:
    """Milliseconds per 10 s clip of each stage on ``device``."""
    vae = AudioVAE.from_pretrained(weights, device=device)
    vocoder = Vocoder.from_pretrained(weights, device=device)
    mel = MelSpectrogram(vae.config.mel).to(device)
    griffin_lim = GriffinLim(vae.config.mel).to(device)
    waves = [clip.to(device) for clip in clips]
    mels = [mel(wave) for wave in waves]
    latents = [vae.encode_long(log_mel) for log_mel in mels]
    length = waves[0].shape[-1]
    return {
        "mel": best_ms(mel, waves, repeats, device),
        "vae encode": best_ms(vae.encode_long, mels, repeats, device),
        "vae decode": best_ms(vae.decode_long, latents, repeats, device),
        "vocoder": best_ms(lambda m: vocoder(m[None], length=length), mels, repeats, device),
        "griffin-lim (64 it.)": best_ms(lambda m: griffin_lim(m[None], length=length), mels, max(1, repeats // 3), device),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sounds", type=Path, default=DATA / "sounds")
    parser.add_argument("--clips", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--weights", help="folder holding audio_vae/ and vocoder/ (default: weights/)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    clips = [torch.from_numpy(clip.samples) for clip in ten_second_clips(args.sounds, args.clips)]
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    results = {device: time_device(device, clips, args.weights, args.repeats) for device in devices}
    names = {"cpu": f"CPU ({args.threads} threads, {platform.processor() or platform.machine()})"}
    if torch.cuda.is_available():
        names["cuda"] = torch.cuda.get_device_name()
    print(f"{date.today()}, {args.clips} clips of {CLIP_SECONDS:.0f} s, torch {torch.__version__}\n")
    print("| stage | " + " | ".join(f"{names[d]} ms / 10 s | x real time" for d in devices) + " |")
    print("|---|" + "---|---|" * len(devices))
    for stage in results["cpu"]:
        cells = [f"{results[d][stage]:.1f} | {1000 * CLIP_SECONDS / results[d][stage]:.0f}x" for d in devices]
        print(f"| {stage} | " + " | ".join(cells) + " |")
    if args.json:
        args.json.write_text(json.dumps({"devices": names, "ms_per_clip": results}, indent=1))


if __name__ == "__main__":
    main()
