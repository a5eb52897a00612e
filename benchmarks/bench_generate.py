"""End-to-end speed: page -> 10 s of mastered audio (detection, features, plan, render, master) for each sound,
median milliseconds per page and per stage, next to an AudioLDM-architecture pipeline timed in the same run.

The reference is diffusers' ``AudioLDMPipeline`` built from the published component configs of
``cvssp/audioldm-s-full-v2`` (embedded below, from diffusers' ``scripts/convert_original_audioldm_to_diffusers.py``
``DEFAULT_CONFIG``) with random weights: same device, same length, DDIM with AudioLDM's default 200 steps
(diffusers' own default, 10 steps, is reported too) and classifier-free guidance 2.5. Nothing is downloaded; the
CLAP tokenizer is replaced by a whitespace tokenizer padding to the same 512 tokens. Where running every step
is too slow (``--audioldm-steps-measured``, CPU by default), the run is timed at two small step counts and
extrapolated linearly to 200 steps (the table says so).

    pip install diffusers   # the AudioLDM reference only; diffusers is not a bd2music requirement
    python benchmarks/bench_generate.py --pages ../shared/data/eval_pages --limit 10 --threads 2 --json out.json
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch

from bd2music.io import IMAGE_SUFFIXES, expand_inputs
from bd2music.pipeline import STAGES, Pipeline

AUDIOLDM_STEPS, DIFFUSERS_DEFAULT_STEPS = 200, 10
AUDIOLDM_UNET = {  # model_channels 128, channel_mult (1, 2, 3, 5), attention at 2, 4, 8, FiLM dim 512
    "sample_size": 128, "in_channels": 8, "out_channels": 8, "layers_per_block": 2,
    "block_out_channels": (128, 256, 384, 640), "cross_attention_dim": (128, 256, 384, 640),
    "down_block_types": ("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
    "up_block_types": ("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
    "class_embed_type": "simple_projection", "projection_class_embeddings_input_dim": 512, "class_embeddings_concat": True,
}
AUDIOLDM_VAE = {  # ch 128, ch_mult (1, 2, 4), z 8, one-channel mel "image"
    "sample_size": 512, "in_channels": 1, "out_channels": 1, "latent_channels": 8, "layers_per_block": 2,
    "block_out_channels": (128, 256, 512), "down_block_types": ("DownEncoderBlock2D",) * 3,
    "up_block_types": ("UpDecoderBlock2D",) * 3,
}
AUDIOLDM_VOCODER = {  # HiFi-GAN, 64 mels at 16 kHz, hop 160
    "model_in_dim": 64, "sampling_rate": 16000, "upsample_initial_channel": 1024, "upsample_rates": [5, 4, 2, 2, 2],
    "upsample_kernel_sizes": [16, 16, 8, 4, 4], "resblock_kernel_sizes": [3, 7, 11],
    "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5], [1, 3, 5]], "normalize_before": False,
}
CLAP_TEXT = {  # laion/clap-htsat-unfused text tower: RoBERTa-base + 512-d projection
    "vocab_size": 50265, "hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072,
    "max_position_embeddings": 514, "type_vocab_size": 1, "pad_token_id": 1, "projection_dim": 512, "projection_hidden_act": "relu",
}
AUDIOLDM_SCHEDULER = {
    "num_train_timesteps": 1000, "beta_start": 0.0015, "beta_end": 0.0195, "beta_schedule": "scaled_linear", "steps_offset": 1,
    "clip_sample": False, "set_alpha_to_one": False, "prediction_type": "epsilon",
}
PROMPT = "a calm evening in a small town, footsteps, distant music"


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def build_audioldm(device: str):
    """AudioLDMPipeline of the published architecture with random weights (seeded), on ``device``."""
    from diffusers import AudioLDMPipeline, AutoencoderKL, DDIMScheduler, UNet2DConditionModel
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import (
        ClapTextConfig,
        ClapTextModelWithProjection,
        PreTrainedTokenizerFast,
        SpeechT5HifiGan,
        SpeechT5HifiGanConfig,
    )

    torch.manual_seed(0)
    words = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3} | {w: 4 + i for i, w in enumerate(sorted(set(PROMPT.split())))}
    backend = Tokenizer(models.WordLevel(words, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="<pad>", unk_token="<unk>",
                                        model_max_length=512)
    pipe = AudioLDMPipeline(
        vae=AutoencoderKL(**AUDIOLDM_VAE),
        text_encoder=ClapTextModelWithProjection(ClapTextConfig(**CLAP_TEXT)),
        tokenizer=tokenizer,
        unet=UNet2DConditionModel(**AUDIOLDM_UNET),
        scheduler=DDIMScheduler(**AUDIOLDM_SCHEDULER),
        vocoder=SpeechT5HifiGan(SpeechT5HifiGanConfig(**AUDIOLDM_VOCODER)),
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device)


def time_audioldm(pipe, device: str, seconds: float, steps: int) -> float:
    """Wall seconds of one AudioLDM generation of ``seconds`` of audio with ``steps`` DDIM steps."""
    generator = torch.Generator(device).manual_seed(0)
    sync(device)
    start = time.perf_counter()
    pipe(PROMPT, audio_length_in_s=seconds, num_inference_steps=steps, generator=generator)
    sync(device)
    return time.perf_counter() - start


def audioldm_seconds(device: str, seconds: float, measured: tuple[int, int] | None,
                     counts: tuple[int, ...] = (AUDIOLDM_STEPS, DIFFUSERS_DEFAULT_STEPS)) -> tuple[dict, bool]:
    """Seconds per generation at each of ``counts`` steps; with ``measured`` (a, b), extrapolated from those two."""
    pipe = build_audioldm(device)
    with torch.inference_mode():
        time_audioldm(pipe, device, seconds, 2)  # warm-up
        if measured is None:
            return {n: time_audioldm(pipe, device, seconds, n) for n in counts}, False
        few, more = (min(time_audioldm(pipe, device, seconds, n) for _ in range(2)) for n in measured)
    per_step = (more - few) / (measured[1] - measured[0])
    if per_step <= 0:
        raise SystemExit(f"AudioLDM timings did not grow with steps ({few:.2f} s, {more:.2f} s): rerun on a quiet machine")
    fixed = few - measured[0] * per_step
    return {n: fixed + n * per_step for n in counts}, True


def time_pipeline(pipe: Pipeline, pages: list[Path], seconds: float, sound: str) -> dict[str, float]:
    """Median milliseconds per stage and in total (page file to mastered waveform) over ``pages``."""
    pipe(pages[0], seconds=seconds, sound=sound)  # warm-up
    stages: dict[str, list[float]] = {stage: [] for stage in (*STAGES, "total")}
    for path in pages:
        start = time.perf_counter()
        result = pipe(path, seconds=seconds, sound=sound)
        stages["total"].append(time.perf_counter() - start)
        for stage, value in result.timings.items():
            stages[stage].append(value)
    return {stage: 1000 * statistics.median(values) for stage, values in stages.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/eval_pages")
    parser.add_argument("--limit", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--threads", type=int, default=2, help="torch threads on the CPU")
    parser.add_argument("--devices", nargs="+", default=["cpu"] + (["cuda"] if torch.cuda.is_available() else []))
    parser.add_argument("--weights", help="bd2music weights folder (default: weights/)")
    parser.add_argument("--sounds", nargs="+", default=["scene", "neural"], help="the sounds to time, side by side")
    parser.add_argument("--audioldm-steps-measured", type=int, nargs=2, metavar=("A", "B"), default=None,
                        help="time AudioLDM at A and B steps and extrapolate (default: 2 6 on CPU, best of 2 each; all 200 on CUDA)")
    parser.add_argument("--no-audioldm", action="store_true", help="time bd2music only")
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    pages = expand_inputs([args.pages], IMAGE_SUFFIXES)[: args.limit]
    rows = []
    for device, sound in ((device, sound) for device in args.devices for sound in args.sounds):
        pipe = Pipeline.from_pretrained(args.weights, device=device)
        row = {"device": device, "sound": sound, "bd2music_ms": time_pipeline(pipe, pages, args.seconds, sound)}
        if device.startswith("cuda"):
            row["gpu"] = torch.cuda.get_device_name()
        if not args.no_audioldm and sound == args.sounds[0]:
            measured = args.audioldm_steps_measured or ((2, 6) if device == "cpu" else None)
            reference, row["audioldm_extrapolated"] = audioldm_seconds(device, args.seconds,
                                                                       tuple(measured) if measured else None)
            row["audioldm_ms"] = {f"{steps}_steps": 1000 * value for steps, value in reference.items()}
            row["speedup"] = row["audioldm_ms"][f"{AUDIOLDM_STEPS}_steps"] / row["bd2music_ms"]["total"]
        rows.append(row)
    print(f"{len(pages)} pages from {args.pages.name}, {args.seconds:g} s of audio each; {platform.machine()}, "
          f"torch {torch.__version__}, {args.threads} CPU threads; median ms per page\n")
    print("| device | sound | " + " | ".join(STAGES) + " | bd2music total | AudioLDM 200 steps | AudioLDM 10 steps "
          "| speed-up |")
    print("|---" * (len(STAGES) + 6) + "|")
    for row in rows:
        ms = row["bd2music_ms"]
        reference = row.get("audioldm_ms", {})
        mark = " (extrapolated)" if row.get("audioldm_extrapolated") else ""
        print(f"| {row.get('gpu', row['device'])} | {row['sound']} | " + " | ".join(f"{ms[s]:.1f}" for s in STAGES)
              + f" | **{ms['total']:.0f}** | "
              + (f"{reference[f'{AUDIOLDM_STEPS}_steps']:.0f}{mark} | {reference[f'{DIFFUSERS_DEFAULT_STEPS}_steps']:.0f}"
                 f"{mark} | **{row['speedup']:.0f}×** |" if reference else "- | - | - |"))
    if args.json is not None:
        args.json.write_text(json.dumps({"pages": len(pages), "seconds": args.seconds, "threads": args.threads,
                                         "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
