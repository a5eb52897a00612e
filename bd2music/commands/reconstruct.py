"""``bd2music reconstruct``: hear what the audio latent keeps (encode, decode, vocode) and what its prior holds.

    bd2music reconstruct clip.wav sounds/ --out runs/heard            # <name>.wav per clip, same length as the input
    bd2music reconstruct --prior 8 --seconds 4 --out runs/prior        # prior_000.wav ... from the latent prior
    bd2music reconstruct clip.wav --out runs/gl --vocoder griffin-lim  # the baseline vocoder instead of the trained one
    bd2music reconstruct clip.wav --out runs/p4 --vae weights/audio_vae_pitch4  # the VAE the neural sound decodes with

Each clip is loaded at the model's rate (mono), turned into the project log-mel, encoded to posterior means window
by window, decoded with cross-faded windows and vocoded to exactly the input's number of samples. Prior samples are
``--seconds`` long: one latent per window, drawn with ``--seed``. Outputs are 16-bit WAV at the model's rate,
peak-limited to -1 dBFS only when they would clip. An unreadable clip is reported in one line and skipped.
Exit code 0 when every clip was written, 1 when some failed, 2 for bad parameters.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from tqdm import tqdm

from bd2music.audio.load import load_audio, write_wav
from bd2music.audio.mel import MelSpectrogram
from bd2music.commands.audio_features import find_audio
from bd2music.commands.outputs import output_folder
from bd2music.errors import InputError
from bd2music.inputs import check_seed
from bd2music.models.audio_vae import AudioVAE, TiledLatent, tile_starts
from bd2music.models.vocoder import VOCODERS, load_vocoder

MAX_PRIOR = 1000  # prior samples one call may write


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's options."""
    parser.add_argument("inputs", nargs="*", type=Path, metavar="CLIP_OR_DIR", help="sound files or folders")
    parser.add_argument("--out", type=Path, required=True, help="output folder (created)")
    parser.add_argument("--prior", type=int, default=0, metavar="N",
                        help=f"also write N clips decoded from the prior (0-{MAX_PRIOR})")
    parser.add_argument("--seconds", type=float, default=4.0, help="length of each prior clip (default 4)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the prior draws (default 0)")
    parser.add_argument("--weights", help="folder or Hub repo holding audio_vae/ and vocoder/ (default weights/)")
    parser.add_argument("--vae", help="folder of another audio VAE (default: the weights' audio_vae/)")
    parser.add_argument("--vocoder", choices=VOCODERS, default="neural", help="trained vocoder or Griffin-Lim")
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")


@torch.inference_mode()
def reconstruct_clip(
    path: Path, mel: MelSpectrogram, vae: AudioVAE, vocoder: torch.nn.Module, device: str
) -> torch.Tensor:
    """The clip after a round trip through the audio latent, as many samples as the input."""
    clip = load_audio(path, sample_rate=vae.sample_rate)
    samples = torch.from_numpy(clip.samples).to(device)
    log_mel = mel(samples)
    return vocoder(vae.reconstruct(log_mel)[None], length=len(samples))[0]


@torch.inference_mode()
def sample_prior(vae: AudioVAE, vocoder: torch.nn.Module, seconds: float, generator: torch.Generator) -> torch.Tensor:
    """``seconds`` of audio decoded from latents drawn from the VAE's prior, one per window."""
    mel = vae.config.mel
    samples = int(round(seconds * mel.sample_rate))
    frames = mel.num_frames(samples)
    starts = tile_starts(frames, vae.config.window_frames, vae.config.overlap_frames)
    log_mel = vae.decode_long(TiledLatent(vae.sample_prior(len(starts), generator), starts, frames))
    return vocoder(log_mel[None], length=samples)[0]


def run(args: argparse.Namespace) -> int:
    """Reconstruct every clip and draw the prior samples; unreadable clips are reported and skipped."""
    if not 0 <= args.prior <= MAX_PRIOR or not 0.5 <= args.seconds <= 60:
        raise InputError(f"--prior must be between 0 and {MAX_PRIOR} and --seconds between 0.5 and 60")
    if not args.inputs and args.prior == 0:
        raise InputError("nothing to do: give clips or folders, or --prior N")
    check_seed(args.seed)
    clips = find_audio(args.inputs)
    if args.inputs and not clips:
        raise InputError("no audio file found in the given inputs")
    output_folder(args.out)
    vae = AudioVAE.from_pretrained(args.vae or args.weights, device=args.device)
    vocoder = load_vocoder(args.vocoder, args.weights, device=args.device)
    mel = MelSpectrogram(vae.config.mel).to(args.device)
    failed = 0
    for path, name in tqdm(clips, desc="reconstruct", unit="clip", disable=not clips):
        try:
            waveform = reconstruct_clip(path, mel, vae, vocoder, args.device)
            write_wav(args.out / Path(name).with_suffix(".wav"), waveform, vae.sample_rate)
        except InputError as error:
            print(f"skipped: {error}", file=sys.stderr)
            failed += 1
    generator = torch.Generator().manual_seed(args.seed)
    for index in tqdm(range(args.prior), desc="prior", unit="clip", disable=args.prior == 0):
        write_wav(args.out / f"prior_{index:03d}.wav", sample_prior(vae, vocoder, args.seconds, generator), vae.sample_rate)
    print(f"{len(clips) - failed} reconstructions and {args.prior} prior samples written to {args.out}")
    return 1 if failed else 0
