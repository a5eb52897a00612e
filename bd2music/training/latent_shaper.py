"""Fit the latent shaper's tables (``bd2music.models.latent_shaper``) on the training clips; no gradient steps.

    bd2music train latent-shaper --out runs/latent_shaper [--config run.json] [--smoke]

Every training clip of the shared sounds (held-out clips never) is cut into the audio VAE's windows and encoded
(posterior means, ``encode_long``); each window is decoded and its quiet share measured as the shaper's guard
measures it. Dense windows (quiet share at most ``dense_share``) are the donors, up to ``max_donors`` spread over
the list; the silence direction is the mean dense window latent minus the mean sparse one (quiet share over
``sparse_share``), per channel. With ``plan_vae`` (the plan's audio VAE, when the sound is decoded by another one,
``audio_vae``) every window is also encoded by the plan's VAE, and the donors keep those channel means as their
keys (a keyed shaper). Written to ``--out``: config.json + model.safetensors (tables), train_config.json,
metrics.json (counts), attribution.csv (the clips the donors come from), donors.json (each donor's clip, in the
tables' order: the neural sound credits the clips it decodes) and the card README.md.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from tqdm import tqdm

from bd2music.audio.load import load_audio
from bd2music.audio.mel import mel_spectrogram
from bd2music.data.sounds import SoundItem
from bd2music.errors import InputError
from bd2music.models.audio_vae import AudioVAE
from bd2music.models.latent_shaper import LatentShaper, LatentShaperConfig, quiet_share
from bd2music.training.card import licence_family, write_attribution
from bd2music.training.common import DataConfig, _spread, select_items


@dataclass
class LatentShaperFitConfig:
    """Everything that decides a fit (saved as ``train_config.json``)."""

    shaper: LatentShaperConfig = field(default_factory=LatentShaperConfig)  # settings; donors set by the fit
    audio_vae: str | None = None  # the folder of the audio VAE that decodes the donors (None: weights/audio_vae)
    plan_vae: str | None = None  # the plan's audio VAE when it is another one (None: the same; not keyed)
    data: DataConfig = field(default_factory=DataConfig)
    dense_share: float = 0.02  # windows with at most this quiet share are donors
    sparse_share: float = 0.3  # windows with more than this quiet share are the silent side of the direction
    max_donors: int = 4096  # donors kept, spread over the dense windows


SMOKE = {"data": {"max_clips": 8}, "shaper": {"neighbours": 2}, "dense_share": 0.2, "sparse_share": 0.2}


@torch.inference_mode()
def window_latents(items: list[SoundItem], vaes: list[AudioVAE]) -> tuple[list[torch.Tensor], list[int]]:
    """Encoder means of every window of ``items`` by each of ``vaes`` (one (windows, channels, frames) tensor per
    VAE; each clip is read and turned into a mel once) and each window's item index."""
    latents, owners = [[] for _ in vaes], []
    for index, item in enumerate(tqdm(items, desc="clips", unit="clip")):
        mel = mel_spectrogram(torch.from_numpy(load_audio(item.path).samples))
        for kept, vae in zip(latents, vaes):
            tiled = vae.encode_long(mel.to(vae.latent_mean))
            kept.append(tiled.latents.cpu())
        owners += [index] * len(tiled.starts)
    return [torch.cat(kept) for kept in latents], owners


@torch.inference_mode()
def fit_latent_shaper(config: LatentShaperFitConfig, data_root: Path, out: Path, work: Path | None = None,
                      device: str = "cpu", resume: bool = False) -> dict[str, float]:
    """Fit the tables on the training clips and write the shaper folder ``out``; returns its counts."""
    del work, resume  # nothing to cache or resume: the fit takes about a minute
    torch.manual_seed(0)
    vae = AudioVAE.from_pretrained(config.audio_vae, device=device)
    vaes = [vae]
    if config.plan_vae is not None:  # keyed: the same windows encoded by the plan's VAE give the donors' keys
        vaes.append(AudioVAE.from_pretrained(config.plan_vae, device=device))
        if (vaes[1].config.window_frames, vaes[1].config.overlap_frames) != (vae.config.window_frames,
                                                                            vae.config.overlap_frames):
            raise InputError("the plan's audio VAE and the decoding one must cut the same windows")
    items = [item for item in select_items(data_root, config.data) if item.split == "train"]
    if not items:
        raise InputError(f"no training clips under {data_root}")
    encoded, owners = window_latents(items, vaes)
    latents = encoded[0]
    keys = encoded[1].mean(dim=2) if len(encoded) > 1 else None
    shares = torch.tensor([quiet_share(mel, config.shaper.quiet_db, config.shaper.silent_log_mel)
                           for chunk in latents.split(64) for mel in vae.decode(chunk.to(device))])
    dense, sparse = shares <= config.dense_share, shares > config.sparse_share
    if dense.sum() < config.shaper.neighbours or not sparse.any():
        raise InputError(f"{int(dense.sum())} dense and {int(sparse.sum())} sparse windows: too few to fit")
    kept = _spread(torch.nonzero(dense).flatten().tolist(), config.max_donors)
    direction = latents[dense].mean(dim=(0, 2)) - latents[sparse].mean(dim=(0, 2))
    key_channels = None if keys is None else keys.shape[1]
    shaper = LatentShaper(LatentShaperConfig(**{**asdict(config.shaper), "donors": len(kept), "key_channels":
                                                key_channels, "latent_shape": tuple(vae.config.latent_shape)}))
    shaper.set_tables(latents[kept], direction, None if keys is None else keys[kept])
    donors = sorted({owners[i] for i in kept})
    metrics = {"clips": len(items), "windows": len(latents), "dense_windows": int(dense.sum()),
               "sparse_windows": int(sparse.sum()), "donors": len(kept), "donor_clips": len(donors),
               "silence_direction_norm": float(direction.norm())}
    out.mkdir(parents=True, exist_ok=True)
    shaper.save_pretrained(out, dtype=torch.float16)  # tables: half precision is plenty
    (out / "train_config.json").write_text(json.dumps(asdict(config), indent=2) + "\n")
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    records = [{"name": items[i].name, "license": items[i].license, "author": items[i].author,
                "source": items[i].source} for i in donors]
    write_attribution(records, out / "attribution.csv")
    (out / "donors.json").write_text(json.dumps([items[owners[i]].name for i in kept], indent=0) + "\n")
    (out / "README.md").write_text(card(metrics, Counter(licence_family(r["license"]) for r in records), config))
    return metrics


def card(metrics: dict, families: Counter, config: LatentShaperFitConfig) -> str:
    """The model card of a fitted shaper."""
    licences = ", ".join(f"{name} {count}" for name, count in sorted(families.items()))
    decoder = config.audio_vae or "weights/audio_vae"
    space = (f"windows of the audio VAE `{decoder}`, found by the plan's latents (`{config.plan_vae}`): each donor "
             "keeps its window's channel means in the plan's space as its key, and the neural sound decodes the "
             "drawn donors' own windows" if config.plan_vae else
             f"encoder means of real training clips in the plan's latent space, `{decoder}`")
    section = ("The neural sound decoded by the wider latent (issue 23; session 27)" if config.plan_vae else
               "Vocoder without the frame-rate buzz (issue 23)")
    return f"""---
library_name: bd2music
license: other
license_name: mixed-training-data-see-card
tags:
- audio
- latent
---

# Latent shaper (neural sound)

Tables the neural backend uses on the plan's audio-VAE latents before decoding them
(`bd2music.models.latent_shaper`): {metrics['donors']} donor windows ({space}) whose
frame-to-frame motion a generated window borrows, drawn with the seed among its nearest, and the silence direction
(mean dense minus mean sparse window latent, norm {metrics['silence_direction_norm']:.2f}) that the guard shifts
a segment along when its decoded frames are quiet. No trained weights: statistics of the audio VAE's encoder on
real clips. Only the neural rendering reads them; the plan (every backend's input) is unchanged.

## Data

The {metrics['clips']} training clips of `shared/data/sounds` (the held-out clips of
`tests/data/sounds_heldout.txt` are never read), {metrics['windows']} windows: {metrics['dense_windows']} dense,
{metrics['sparse_windows']} sparse. The donors come from {metrics['donor_clips']} clips, listed with their
licences and authors in `attribution.csv` (licence families: {licences}); their latents are derived from those
recordings, so the attribution and share-alike terms of the listed clips apply. `donors.json` names each donor's
clip, so that the neural sound's cue sheet credits the clips whose windows a track draws.

## Metrics

How the neural sound changes with the shaper: `docs/BENCHMARKS.md`, "{section}", measured with
`python benchmarks/bench_sound.py --sound neural`.

## Rebuild

`bd2music train latent-shaper --config train_config.json --out runs/latent_shaper` (about a minute on one CPU
core, deterministic), then copy `runs/latent_shaper` to `weights/latent_shaper`.
"""
