"""``bd2music audio-features``: descriptors of sound files into one CSV, one .npz per clip and optional figures.

    bd2music audio-features sounds/ extra.wav --out runs/features [--backend torch|librosa] [--device cpu|cuda]
                            [--batch-size 16] [--plots]

Folders are searched recursively for ``AUDIO_SUFFIXES`` files; files named directly are always tried. Under --out:

    features.csv        one row per clip: file, silent (0/1), then every column of ``summary_columns()``
    frames/NAME.npz     the clip's arrays keyed by descriptor name (``DESCRIPTORS``), plus sample_rate, hop_length
    plots/NAME.png      with --plots, the figure of ``plot_descriptors``

NAME is the file's path inside the folder it was found in, or its file name when given directly.
A file that cannot be read is reported on stderr in one line and skipped; the others are still processed.
Exit code: 0 when every clip was processed, 1 when some could not be (the rest are still written), 2 for bad parameters
(unknown device, --device cuda without a GPU, --batch-size below 1, no audio file found).
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections import Counter
from pathlib import Path

import numpy as np
from tqdm import tqdm

from bd2music.audio.descriptors import BACKENDS, ClipDescriptors, check_backend, compute_descriptors, summary_columns
from bd2music.audio.load import AUDIO_SUFFIXES, load_audio
from bd2music.commands.outputs import output_folder
from bd2music.errors import InputError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's options."""
    parser.add_argument(
        "inputs", nargs="+", type=Path, metavar="FILE_OR_DIR", help="sound files or folders (searched recursively)"
    )
    parser.add_argument("--out", type=Path, required=True, help="output folder (created)")
    parser.add_argument(
        "--backend", choices=BACKENDS, default="torch", help="torch (batched, default) or librosa (reference)"
    )
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda; the torch backend only")
    parser.add_argument("--batch-size", type=int, default=16, help="clips loaded and analysed together (default 16)")
    parser.add_argument("--plots", action="store_true", help="also write one PNG figure per clip")


def find_audio(inputs: list[Path]) -> list[tuple[Path, str]]:
    """Each file to analyse with a unique output name; folders give their audio files, files are taken as given."""
    found = []
    for item in inputs:
        if item.is_dir():
            paths = sorted(path for path in item.rglob("*") if path.suffix.lower() in AUDIO_SUFFIXES and path.is_file())
            found += [(path, path.relative_to(item).as_posix()) for path in paths]
        else:
            found.append((item, item.name))
    seen: Counter[str] = Counter()
    unique = []
    for path, name in found:
        seen[name] += 1
        unique.append((path, name if seen[name] == 1 else f"{name}~{seen[name]}"))
    return unique


def _write_outputs(result: ClipDescriptors, name: str, out: Path, plots: bool) -> None:
    """The clip's .npz of frame arrays and, when asked, its PNG figure."""
    npz = out / "frames" / f"{name}.npz"
    npz.parent.mkdir(parents=True, exist_ok=True)
    np.savez(npz, sample_rate=result.config.sample_rate, hop_length=result.config.hop_length, **result.frames)
    if plots:
        from bd2music.audio.plots import plot_descriptors, save_figure

        save_figure(plot_descriptors(result), out / "plots" / f"{name}.png")


def run(args: argparse.Namespace) -> int:
    """Analyse every file, skipping unreadable ones; exit code 1 when some clip could not be processed."""
    if args.batch_size < 1:
        raise InputError(f"--batch-size must be at least 1, got {args.batch_size}")
    check_backend(args.backend, args.device)
    files = find_audio(args.inputs)
    if not files:
        raise InputError(f"no audio files ({', '.join(AUDIO_SUFFIXES)}) in {', '.join(map(str, args.inputs))}")
    output_folder(args.out).mkdir(parents=True, exist_ok=True)
    columns = summary_columns()
    processed = 0
    with open(args.out / "features.csv", "w", newline="") as table, tqdm(total=len(files), unit="clip") as progress:
        writer = csv.writer(table)
        writer.writerow(["file", "silent", *columns])
        for start in range(0, len(files), args.batch_size):
            loaded = []
            for path, name in files[start : start + args.batch_size]:
                try:
                    loaded.append((path, name, load_audio(path, name)))
                except InputError as error:
                    tqdm.write(f"bd2music audio-features: skipped {error}", file=sys.stderr)
                    progress.update()
            results = compute_descriptors(
                [clip for *_, clip in loaded], args.backend, args.device, batch_size=args.batch_size
            )
            for (path, name, _), result in zip(loaded, results):
                writer.writerow([path, int(result.silent), *(f"{result.summary[column]:.7g}" for column in columns)])
                _write_outputs(result, name, args.out, args.plots)
                progress.update()
            processed += len(loaded)
    if not processed:
        print(f"bd2music audio-features: none of the {len(files)} files could be processed", file=sys.stderr)
        return 1
    print(f"{processed} of {len(files)} clips analysed: {args.out / 'features.csv'}", file=sys.stderr)
    return 1 if processed < len(files) else 0
