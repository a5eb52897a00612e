"""How low can the Fréchet distance go for audio that follows these pages? An oracle made of REAL windows.

For every page of an evaluation report (``bd2music evaluate --json``), take real clip windows whose descriptors
(the audio VAE's descriptor head on their latents) stand where the page's features stand (quantile distance over
the structural pairs, the matching cost of the mapper's training), ``per_page`` windows drawn among the ``k``
best for each page, and report the Fréchet distance of those real windows to all real windows, with the
Spearman rho each pair keeps. Small ``k``: audio that follows the page closely; large ``k``: nearly random real
audio. The generated tracks of the report sit on this curve if they follow the pages as much as real audio can.

    python benchmarks/frechet_oracle.py --report docs/eval_soundtracks.json --sounds ../shared/data/sounds
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr

from bd2music.evaluation.soundtrack import frechet_distance, real_clips, sound_files, window_latents
from bd2music.models.audio_vae import AudioVAE
from bd2music.models.mapper import CONDITION_NAMES, STRUCTURAL_PAIRS, LatentMapper, quantile_transform
from bd2music.training.mapper import empirical_quantiles


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--report", type=Path, default=Path("docs/eval_soundtracks.json"))
    parser.add_argument("--sounds", type=Path, default=Path("../shared/data/sounds"))
    parser.add_argument("--weights", type=Path, default=Path("weights"))
    parser.add_argument("--per-page", type=int, default=3, help="windows per page (a 10 s track has 3)")
    parser.add_argument("--k", type=int, nargs="+", default=[3, 10, 30, 100, 300, 1000])
    parser.add_argument("--json", type=Path, help="write the curve here")
    args = parser.parse_args()

    report = json.loads(args.report.read_text())
    mapper = LatentMapper.from_pretrained(args.weights / "mapper")
    audio_vae = AudioVAE.from_pretrained(args.weights / "audio_vae").eval()
    real, _ = window_latents(audio_vae, real_clips(sound_files(args.sounds)))
    with torch.inference_mode():
        predicted = audio_vae.predict_descriptors(real.view(-1, *mapper.config.audio_latent_shape))
    descriptors = torch.stack([predicted[name] for _, name in STRUCTURAL_PAIRS], dim=1)
    descriptor_q = empirical_quantiles(descriptors, descriptors)
    names = [feature for feature, _ in STRUCTURAL_PAIRS]
    columns = [CONDITION_NAMES.index(feature) for feature in names]
    features = torch.tensor([[row["features"][f] for f, _ in STRUCTURAL_PAIRS] for row in report["rows"]])
    feature_q = quantile_transform(features, mapper.condition_knots[columns])
    ranking = torch.cdist(feature_q, descriptor_q).argsort(dim=1)
    rows = real.double().numpy()
    rng = np.random.default_rng(0)
    curve = []
    for k in args.k:
        picks = np.stack([rng.choice(ranking[i, :k].numpy(), args.per_page, replace=False) for i in range(len(features))])
        mean_descriptor = descriptors[torch.from_numpy(picks)].mean(dim=1)  # (pages, pairs)
        rhos = [float(spearmanr(features[:, j], mean_descriptor[:, j])[0]) for j in range(len(STRUCTURAL_PAIRS))]
        fd = frechet_distance(rows[picks.ravel()], rows)
        curve.append({"k": k, "frechet": fd, "rho": dict(zip(names, rhos))})
        print(f"k {k:5d}  FD {fd:7.1f}  " + "  ".join(f"{f} {r:+.2f}" for f, r in zip(names, rhos)))
    generated = report["frechet"]
    print(f"generated: FD {generated['trained']:.1f}, untrained mapper {generated['untrained']:.1f}")
    if args.json:
        args.json.write_text(json.dumps({"report": str(args.report), "per_page": args.per_page, "curve": curve,
                                         "generated": generated}, indent=1) + "\n")


if __name__ == "__main__":
    main()
