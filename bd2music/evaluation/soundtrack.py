"""Soundtrack evaluation: does the generated audio follow the page, is it varied, does it sound like real clips?

For every page the pipeline generates a track (one seed for all pages, so differences come from the pages), and:

* structure: for each pair of ``STRUCTURAL_PAIRS`` (page feature, audio descriptor), Spearman's rho between the
  page's normalised feature and the descriptor measured on the decoded audio with the analysis toolkit (torch
  backend), with a two-sided permutation p-value (``(1 + #{|rho_perm| >= |rho|}) / (1 + permutations)``, seeded),
  and the ceiling that ties in the feature put on rho (``rho_ceiling``);
* diversity: mean Euclidean distance between audio-VAE latents (flattened posterior means of the track's
  windows, re-encoded from the final audio) of different pages, over the same quantity between different real
  clips (windows of the clips of ``--sounds``);
* Fréchet distance between Gaussians fitted to the generated and the real window latents, for the mapper under
  test and for an untrained mapper (same config and training-set statistics, random weights from a fixed seed)
  in the same pipeline;
* the share of silent (RMS below ``SILENT_DBFS``) and clipped (a sample at ``CLIP_LEVEL`` or above) tracks;
* with the pulse, whether it is heard: the share of tracks whose measured tempo is the asked one (within
  ``TEMPO_HEARD_TOLERANCE``; a miss is usually the tempogram taking half or double the beat) and the median
  relative gap between measured and asked onset rates.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from bd2music.audio.descriptors import compute_descriptors
from bd2music.audio.load import ANALYSIS_SAMPLE_RATE, AUDIO_SUFFIXES, Clip, load_audio
from bd2music.audio.mel import MEL, mel_spectrogram
from bd2music.errors import InputError
from bd2music.evaluation import listening
from bd2music.io import IMAGE_SUFFIXES, expand_inputs
from bd2music.models.audio_vae import AudioVAE
from bd2music.models.mapper import STRUCTURAL_PAIRS, LatentMapper

SILENT_DBFS = -50.0
CLIP_LEVEL = 0.999
PERMUTATIONS = 2000
UNTRAINED_SEED = 0
TEMPO_HEARD_TOLERANCE = 0.04  # |measured / asked tempo - 1| below this: the pulse's tempo is heard
TARGETS = {"rho": 0.6, "p_value": 0.01, "diversity_ratio": 0.5, "frechet_reduction": 0.5}


def page_files(folder: Path) -> list[Path]:
    """Page images of ``folder``: the ``image`` of each eval_pages JSON, or the images themselves without JSONs."""
    annotations = sorted(folder.glob("*.json"))
    images = [folder / json.loads(path.read_text())["image"] for path in annotations if path.stem != "README"]
    return images or expand_inputs([folder], IMAGE_SUFFIXES)


def _standardised_ranks(values: np.ndarray) -> np.ndarray | None:
    """Average ranks (ties share one), centred and scaled to unit norm; None for constant values."""
    from scipy.stats import rankdata

    ranks = rankdata(values)
    ranks = ranks - ranks.mean()
    norm = np.linalg.norm(ranks)
    return None if norm == 0 else ranks / norm


def spearman(x: np.ndarray, y: np.ndarray, permutations: int = PERMUTATIONS, seed: int = 0) -> tuple[float, float]:
    """Spearman's rho and its two-sided permutation p-value ``(1 + #{|rho_perm| >= |rho|}) / (1 + permutations)``;
    both NaN when either side is constant."""
    rx, ry = _standardised_ranks(np.asarray(x, float)), _standardised_ranks(np.asarray(y, float))
    if rx is None or ry is None:
        return float("nan"), float("nan")
    rho = float(np.clip(rx @ ry, -1.0, 1.0))
    rng = np.random.default_rng(seed)
    shuffled = ry[np.argsort(rng.random((permutations, len(ry))), axis=1)] @ rx
    return rho, float((1 + np.sum(np.abs(shuffled) >= abs(rho) - 1e-12)) / (1 + permutations))


def rho_ceiling(feature: np.ndarray) -> float:
    """The highest Spearman rho any descriptor without ties can reach against ``feature``: ties in the feature
    (e.g. colourfulness exactly 0 on black-and-white pages) cap it below 1."""
    from scipy.stats import rankdata

    return spearman(feature, rankdata(feature, method="ordinal"), permutations=0)[0]


def mean_distance_between_items(vectors: torch.Tensor, owners: Sequence[int]) -> float:
    """Mean Euclidean distance between rows that belong to different items."""
    owner = torch.as_tensor(owners)
    different = owner[:, None] != owner[None, :]
    return float(torch.cdist(vectors.double(), vectors.double())[different].mean())


def _covariance_factor(rows: np.ndarray) -> np.ndarray:
    """F with F^T F = the covariance of ``rows``: the scaled centred rows when there are fewer rows than columns,
    else the symmetric square root of the covariance."""
    centred = rows - rows.mean(axis=0)
    if len(rows) <= rows.shape[1]:
        return centred / np.sqrt(len(rows) - 1)
    values, vectors = np.linalg.eigh(centred.T @ centred / (len(rows) - 1))
    return (vectors * np.sqrt(values.clip(0))) @ vectors.T


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to the rows of ``a`` and ``b``:
    ``|mu_a - mu_b|^2 + tr(C_a) + tr(C_b) - 2 tr((C_a C_b)^1/2)``, the last trace being the nuclear norm of
    ``F_a F_b^T`` for covariance factors ``C = F^T F`` (exact, and fast with few rows in many dimensions)."""
    fa, fb = _covariance_factor(a.astype(np.float64)), _covariance_factor(b.astype(np.float64))
    shift = np.sum((a.mean(axis=0) - b.mean(axis=0)) ** 2)
    return float(shift + np.sum(fa**2) + np.sum(fb**2) - 2 * np.linalg.norm(fa @ fb.T, ord="nuc"))


@torch.inference_mode()
def window_latents(audio_vae: AudioVAE, clips: Sequence[np.ndarray]) -> tuple[torch.Tensor, list[int]]:
    """Flattened posterior means of every window of every clip (rows) and the clip index of each row."""
    device = audio_vae.mel_mean.device
    rows, owners = [], []
    for index, samples in enumerate(clips):
        latents = audio_vae.encode_long(mel_spectrogram(torch.from_numpy(samples).to(device))).latents
        rows.append(latents.flatten(1).cpu())
        owners += [index] * len(latents)
    return torch.cat(rows), owners


@dataclass
class Generated:
    """The tracks of one mapper over the pages, with their names and page features."""

    names: list[str]
    features: list[dict[str, float]]
    audio: list[np.ndarray]
    sample_rate: int
    asked: list[dict[str, float]]  # the pulse's tempo and onset rate per track (empty without the pulse)
    made_at: int = 0  # the rate the pipeline wrote the tracks at, before they were brought to ``sample_rate``


def listening_report(tracks: Sequence[np.ndarray], real: Sequence[np.ndarray], rate: int,
                     features: Sequence[dict], made_at: int | None = None) -> dict:
    """``bd2music.evaluation.listening`` on the tracks (at ``rate``, made at ``made_at``, default ``rate``) against
    the real clips (at the analysis rate): realism (and, as a diagnostic, with the tracks taking the real clips'
    resampling round trip too: ``listening.realism_c2st``'s ``round_trip_generated``; and both figures' spread over
    seeds, ``listening.c2st_spread``: one seed's figure on 20 tracks moves by a few tracks), buzz at the neural
    vocoder's frame rate, staticness, page distinctness and the structure links on the audio, with their ceilings
    on these pages."""
    made_at = made_at or rate
    # listening.realism_c2st's two sides, each computed once for the c2st, its spread and its round trip
    real_rows = listening.real_features(real, ANALYSIS_SAMPLE_RATE, made_at)
    rows = listening.generated_features(tracks, rate, ANALYSIS_SAMPLE_RATE, made_at)
    round_trip_rows = listening.generated_features(tracks, rate, ANALYSIS_SAMPLE_RATE, made_at, round_trip=True)
    return {
        "realism_c2st": listening.c2st_accuracy(rows, real_rows),
        "realism_c2st_spread": listening.c2st_spread(rows, real_rows),
        "realism_c2st_round_trip": listening.c2st_accuracy(round_trip_rows, real_rows),
        "realism_c2st_round_trip_spread": listening.c2st_spread(round_trip_rows, real_rows),
        "buzz_db_median": float(np.median([listening.frame_rate_buzz_db(t, rate, rate / MEL.frames_per_second)
                                           for t in tracks])),
        "staticness_median": float(np.median([listening.staticness(t, rate) for t in tracks])),
        "page_distinctness_db": listening.distinctness_db(tracks, rate),
        "links": listening.structure_links(features, tracks, rate),
        "link_ceilings": listening.link_ceilings(features),
    }


def generate_all(pipeline, pages: Sequence[Path], seconds: float, seed: int, desc: str, pulse: bool = True,
                 sound: str | None = None) -> Generated:
    """Run ``pipeline`` on every page in ``sound`` (pages that cannot be read are reported and left out); the
    tracks are kept as mono at the analysis rate."""
    import sys

    from tqdm import tqdm

    generated = Generated([], [], [], 0, [])
    for path in tqdm(pages, desc=desc, unit="page"):
        try:
            result = pipeline(path, seconds=seconds, seed=seed, pulse=pulse, sound=sound)
        except InputError as error:
            tqdm.write(f"skipped: {error}", file=sys.stderr)
            continue
        generated.names.append(path.name)
        generated.features.append(result.analysis.features.normalised_scalars())
        generated.audio.append(listening.mono(result.audio, result.sample_rate))
        generated.sample_rate, generated.made_at = ANALYSIS_SAMPLE_RATE, result.sample_rate
        if pulse:
            generated.asked.append(asked_pulse(result))
    return generated


def untrained_mapper(mapper: LatentMapper) -> LatentMapper:
    """A randomly initialised mapper (seed ``UNTRAINED_SEED``) with ``mapper``'s config and its training-set
    statistics (so its latents have the right scale: only what training learned is missing)."""
    torch.manual_seed(UNTRAINED_SEED)
    untrained = LatentMapper(mapper.config)
    for name, buffer in mapper.named_buffers():
        untrained.get_buffer(name).copy_(buffer)
    return untrained.to(buffer.device).eval()


def level_dbfs(audio: np.ndarray) -> float:
    return float(20 * np.log10(max(np.sqrt(np.mean(np.square(audio, dtype=np.float64))), 1e-12)))


def real_clips(paths: Sequence[Path]) -> list[np.ndarray]:
    """The samples (at the analysis rate) of the readable clips of ``paths``, each unreadable one reported in one
    line and skipped; InputError when fewer than 2 are left."""
    real = []
    for path in paths:
        try:
            real.append(load_audio(path).samples)
        except InputError as error:
            print(f"skipped: {error}", file=sys.stderr)
    if len(real) < 2:
        raise InputError(f"need at least 2 readable real clips, got {len(real)}")
    return real


def evaluate_soundtracks(
    pipeline, pages: Sequence[Path], real: Sequence[np.ndarray], seconds: float = 10.0, seed: int = 0,
    pulse: bool = True, sound: str = "neural",
) -> dict:
    """The report described in the module doc, as JSON-able data (summary numbers, targets, per-page rows), against
    the ``real`` clips (``real_clips``)."""
    trained = generate_all(pipeline, pages, seconds, seed, "pages", pulse, sound)
    if len(trained.audio) < 3:
        raise InputError(f"need at least 3 readable pages, got {len(trained.audio)}")
    clips = [Clip(a, trained.sample_rate, name, False) for a, name in zip(trained.audio, trained.names)]
    descriptors = [d.summary for d in compute_descriptors(clips, backend="torch", device=str(pipeline.device))]

    structure = []
    for index, (feature, descriptor) in enumerate(STRUCTURAL_PAIRS):
        x = np.array([f[feature] for f in trained.features], dtype=float)
        y = np.array([d[descriptor] for d in descriptors], dtype=float)
        rho, p = spearman(x, y, seed=seed + index)
        structure.append({"feature": feature, "descriptor": descriptor, "rho": _finite(rho), "p_value": _finite(p),
                          "rho_ceiling": _finite(rho_ceiling(x))})

    generated_latents, generated_owners = window_latents(pipeline.audio_vae, trained.audio)
    real_latents, real_owners = window_latents(pipeline.audio_vae, real)
    diversity_generated = mean_distance_between_items(generated_latents, generated_owners)
    diversity_real = mean_distance_between_items(real_latents, real_owners)
    fd_trained = frechet_distance(generated_latents.double().numpy(), real_latents.double().numpy())

    mapper = pipeline.mapper
    pipeline.mapper = untrained_mapper(mapper)
    try:
        untrained = generate_all(pipeline, pages, seconds, seed, "pages, untrained mapper", pulse, sound)
    finally:
        pipeline.mapper = mapper
    fd_untrained = frechet_distance(window_latents(pipeline.audio_vae, untrained.audio)[0].double().numpy(),
                                    real_latents.double().numpy())

    levels = [level_dbfs(a) for a in trained.audio]
    peaks = [float(np.abs(a).max()) for a in trained.audio]
    silent = sum(level < SILENT_DBFS for level in levels)
    clipped = sum(peak >= CLIP_LEVEL for peak in peaks)
    report = {
        "pages": len(trained.audio),
        "real_clips": len(real),
        "seconds": seconds,
        "seed": seed,
        "pulse": pulse,
        "structure": structure,
        "diversity": {"generated": diversity_generated, "real": diversity_real,
                      "ratio": diversity_generated / diversity_real},
        "frechet": {"trained": fd_trained, "untrained": fd_untrained, "reduction": 1 - fd_trained / fd_untrained},
        "outputs": {"silent": silent, "clipped": clipped, "silent_share": silent / len(levels),
                    "clipped_share": clipped / len(levels)},
        "pulse_heard": pulse_heard(trained.asked, descriptors) if pulse and sound == "neural" else None,
        "sound": sound,
        "listening": listening_report(trained.audio, real, trained.sample_rate, trained.features, trained.made_at),
    }
    report["targets"] = {
        "structure": all(
            row["rho"] is not None and row["rho"] >= TARGETS["rho"] and row["p_value"] < TARGETS["p_value"]
            for row in structure
        ),
        "diversity": report["diversity"]["ratio"] >= TARGETS["diversity_ratio"],
        "frechet": report["frechet"]["reduction"] >= TARGETS["frechet_reduction"],
        "outputs": silent == 0 and clipped == 0,
    }
    names = sorted({descriptor for _, descriptor in STRUCTURAL_PAIRS})
    report["rows"] = [
        {"image": name, "features": {f: features[f] for f, _ in STRUCTURAL_PAIRS},
         "descriptors": {d: summary[d] for d in names}, "rms_dbfs": level, "peak": peak}
        | ({"asked": trained.asked[index]} if pulse else {})
        for index, (name, features, summary, level, peak)
        in enumerate(zip(trained.names, trained.features, descriptors, levels, peaks))
    ]
    return report


def asked_pulse(result) -> dict[str, float]:
    """The tempo and onset rate the neural backend's pulse plays in a page-mode ``Result`` (the heads' raw
    readings of its one segment)."""
    raw = result.segments[0].raw
    return {"tempo": raw["tempo"], "onset_rate": raw["onset_rate"]}


def pulse_heard(asked: Sequence[dict[str, float]], measured: Sequence[dict[str, float]]) -> dict[str, float]:
    """How well the decoded audio carries the pulse: the share of tracks whose measured tempo is within
    ``TEMPO_HEARD_TOLERANCE`` of the asked one, and the median relative gap of the onset rate."""
    tempo = np.array([m["tempo"] / a["tempo"] for a, m in zip(asked, measured)])
    onsets = np.array([m["onset_rate"] / a["onset_rate"] for a, m in zip(asked, measured)])
    return {"tempo_share": float(np.mean(np.abs(tempo - 1) < TEMPO_HEARD_TOLERANCE)),
            "onset_rate_median_gap": float(np.median(np.abs(onsets - 1)))}


def _finite(value: float) -> float | None:
    return None if np.isnan(value) else value


def sound_files(folder: Path) -> list[Path]:
    """Audio files under ``folder`` (recursive, sorted)."""
    return expand_inputs([folder], AUDIO_SUFFIXES)
