"""``bd2music generate``: a soundtrack per page: ``<page stem>.wav`` + ``<page stem>.json`` (panels, features,
settings, segment times). A ``.cbz`` album gives one track per page (``<album>_<page stem>``, pages in natural
order) and the whole album as one track (``<album>.wav``, pages cross-faded). When music plays, its score is
written beside each WAV as ``<stem>.mid`` (and ``<stem>.musicxml`` with ``--musicxml``). Bad pages are reported
and skipped.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from bd2music.commands.outputs import all_or_none, output_folder
from bd2music.errors import InputError
from bd2music.io import IMAGE_SUFFIXES, PageSource, expand_inputs
from bd2music.music.score import Score
from bd2music.vision.detect import DETECTORS

ALBUM_CROSSFADE_S = 0.5  # overlap between consecutive pages of an album track
MAX_ENTRY_BYTES = 200_000_000  # a CBZ entry larger than this (uncompressed) is refused


@dataclass
class PageJob:
    """One page to render: its output stem, the name shown in messages, how to read it, its album if any."""

    stem: str
    name: str
    read: Callable[[], PageSource]
    album: str | None = None


def natural_key(name: str) -> list:
    """Sort key that puts ``page2`` before ``page10``."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def cbz_jobs(path: Path) -> list[PageJob]:
    """The image entries of a CBZ (zip) album in natural order, as jobs named ``<album>_<page stem>``."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError):
        raise InputError(f"{path.name}: not a readable .cbz (zip) archive") from None
    with archive:
        entries = [
            info
            for info in archive.infolist()
            if not info.is_dir()
            and PurePosixPath(info.filename).suffix.lower() in IMAGE_SUFFIXES
            and not any(part.startswith((".", "__MACOSX")) for part in PurePosixPath(info.filename).parts)
        ]
    if not entries:
        raise InputError(f"{path.name}: the archive holds no page images")

    def reader(info: zipfile.ZipInfo) -> Callable[[], PageSource]:
        def read() -> bytes:
            if info.file_size > MAX_ENTRY_BYTES:
                raise InputError(f"{path.name}/{info.filename}: entry is {info.file_size / 1e6:.0f} MB, too large")
            try:
                with zipfile.ZipFile(path) as archive:
                    return archive.read(info)
            except (zipfile.BadZipFile, OSError, EOFError):
                raise InputError(f"{path.name}/{info.filename}: the archive entry is corrupt") from None

        return read

    entries.sort(key=lambda info: natural_key(info.filename))
    return [
        PageJob(f"{path.stem}_{PurePosixPath(info.filename).stem}", f"{path.name}/{info.filename}", reader(info), path.stem)
        for info in entries
    ]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", type=Path, metavar="PAGE_OR_DIR_OR_CBZ", help="pages, folders, .cbz albums")
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="folder for the WAV and JSON files")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each page's track (1-60 s)")
    parser.add_argument("--per-panel", action="store_true", help="one segment per panel, in reading order")
    parser.add_argument("--seed", type=int, default=0, help="noise seed: same seed, same audio")
    parser.add_argument("--sound", help="how the plan is rendered: scene, neural, ... (default: the weights' own; "
                        "an unknown name lists the known ones)")
    parser.add_argument("--bank", type=Path, metavar="DIR", help="another sound bank (bd2music bank build)")
    parser.add_argument("--stems", action="store_true", help="also write one WAV per layer (<stem>.<layer>.wav)")
    parser.add_argument("--musicxml", action="store_true",
                        help="music sounds: also write the score as MusicXML (<stem>.musicxml) beside its MIDI")
    parser.add_argument("--no-pulse", dest="pulse", action="store_false",
                        help="neural sound: leave the decoded sound without the tempo and onsets of the plan")
    parser.add_argument("--device", help="cpu, cuda or cuda:N (default: cuda when available)")
    parser.add_argument("--rtl", action="store_true", help="right-to-left reading order (manga)")
    parser.add_argument("--detector", choices=DETECTORS, default="yolo", help="panel/balloon detector")
    parser.add_argument("--text", action=argparse.BooleanOptionalAction, default=True,
                        help="read the lettering and let its words shape the sound (default: on)")
    parser.add_argument("--weights", help="folder of component weights or Hub repo id (default: weights/)")
    parser.add_argument("--revision", help="Hub revision (commit) of --weights")


def write_track(out: Path, stem: str, audio, sample_rate: int, record: dict, stems: dict | None = None,
                score: Score | None = None, musicxml: bool = False) -> None:
    """``out/<stem>.wav`` (16-bit PCM), ``out/<stem>.<layer>.wav`` per stem, the score (when music played) as
    ``out/<stem>.mid`` (and ``.musicxml``), and ``out/<stem>.json``."""
    from bd2music.audio.load import write_wav

    with all_or_none() as new:
        write_wav(new(out / f"{stem}.wav"), audio, sample_rate)
        for layer, samples in (stems or {}).items():
            write_wav(new(out / f"{stem}.{layer}.wav"), samples, sample_rate)
        files = {"wav": f"{stem}.wav"}
        if score is not None:
            files |= {kind: new(path).name for kind, path in Score.paths(out / stem, musicxml).items()}
            score.write(out / stem, musicxml=musicxml)
        new(out / f"{stem}.json").write_text(json.dumps(record | files, indent=1) + "\n")


def write_album(out: Path, album: str, tracks: list[tuple[str, object, Score | None]], sample_rate: int,
                settings: dict, musicxml: bool = False) -> None:
    """The album's page tracks cross-faded over ``ALBUM_CROSSFADE_S`` into ``out/<album>.wav`` + its JSON."""
    import torch

    from bd2music.soundtrack import overlap_add

    fade = int(ALBUM_CROSSFADE_S * sample_rate)
    pieces = [torch.from_numpy(audio) for _, audio, _ in tracks]
    starts, position = [], 0
    for piece in pieces:
        starts.append(position)
        position += piece.shape[-1] - fade
    length = starts[-1] + pieces[-1].shape[-1]
    audio = overlap_add(pieces, starts, length, fade).numpy()
    listing = [
        {"track": f"{stem}.wav", "start": round(start / sample_rate, 4), "end": round((start + p.shape[-1]) / sample_rate, 4)}
        for (stem, _, _), start, p in zip(tracks, starts, pieces)
    ]
    record = {"album": album, "tracks": listing, "settings": settings, "sample_rate": sample_rate,
              "duration": round(length / sample_rate, 4)}
    scores = [score for _, _, score in tracks]
    score = Score.joined(scores, [start / sample_rate for start in starts]) if all(scores) else None
    write_track(out, album, audio, sample_rate, record, score=score, musicxml=musicxml)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from bd2music.io import load_page
    from bd2music.pipeline import Pipeline, check_seconds

    check_seconds(args.seconds)
    jobs, failed = [], 0
    for path in expand_inputs(args.inputs, IMAGE_SUFFIXES + (".cbz",)):
        if path.suffix.lower() != ".cbz":
            jobs.append(PageJob(path.stem, path.name, lambda path=path: path))
            continue
        try:
            jobs.extend(cbz_jobs(path))
        except InputError as error:
            print(f"skipped: {error}", file=sys.stderr)
            failed += 1
    if not jobs:
        raise InputError("no pages found in " + ", ".join(map(str, args.inputs)))
    output_folder(args.out)
    pipeline = Pipeline.from_pretrained(args.weights, args.revision, device=args.device, bank=args.bank)
    pipeline.check_inputs(args.seconds, args.seed, args.sound, args.detector)
    args.out.mkdir(parents=True, exist_ok=True)
    albums: dict[str, list[tuple[str, object]]] = {}
    settings, sample_rate, written = {}, 0, 0
    for job in tqdm(jobs, desc="pages", unit="page", disable=len(jobs) == 1):
        try:
            page = load_page(job.read(), job.name)
            result = pipeline(page, args.seconds, args.seed, args.per_panel, args.rtl, args.detector, args.sound,
                              pulse=args.pulse, stems=args.stems, text=args.text)
            write_track(args.out, job.stem, result.audio, result.sample_rate, result.to_dict(), result.mastered.stems,
                        result.score, args.musicxml)
        except InputError as error:
            tqdm.write(f"skipped: {error}", file=sys.stderr)
            failed += 1
            continue
        settings, sample_rate, written = result.settings, result.sample_rate, written + 1
        if job.album is not None:
            albums.setdefault(job.album, []).append((job.stem, result.audio, result.score))
    albums_written = 0
    for album, tracks in albums.items():
        try:
            write_album(args.out, album, tracks, sample_rate, settings, args.musicxml)
        except InputError as error:
            print(f"skipped: {error}", file=sys.stderr)
            failed += 1
            continue
        albums_written += 1
    print(f"{written} page track(s) and {albums_written} album track(s) written to {args.out}, {failed} skipped")
    return 1 if failed else 0
