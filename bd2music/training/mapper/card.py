"""The mapper's model card: its first paragraph and the section on the comic training data."""

from __future__ import annotations

from bd2music.models.mapper import CONDITION_NAMES
from bd2music.training.mapper.config import LOSSES, MapperTrainConfig
from bd2music.training.mapper.data import ComicPages


def summary(config: MapperTrainConfig, parameters: str, semantic: bool, steps: int) -> str:
    """The model card's first paragraph (``parameters``: the mapper's size, e.g. ``0.61 M parameters``)."""
    c = config.model
    switched = [name for name in LOSSES if getattr(config, f"{name}_weight") > 0 and (name != "semantic" or semantic)]
    pairs = ", ".join(f"{f} -> {d}" for f, d in config.pairs)
    return (
        f"Latent CycleGAN generator for bd2music: a comic-VAE latent ({c.comic_latent_dim}-d) + {c.condition_dim} page "
        f"features ({', '.join(CONDITION_NAMES)}) + {c.noise_dim} noise numbers -> one audio-VAE window latent "
        f"{tuple(c.audio_latent_shape)}, and its inverse. Losses: {', '.join(switched)}. Structural pairs: {pairs}. "
        f"Components: comic VAE `{config.comic_vae}`, audio VAE `{config.audio_vae}`"
        + (f", audio-text `{config.audio_text}`" if semantic else "")
        + f". {parameters}, {steps} steps. The held-out "
        "metrics use the audio VAE's descriptor head on generated latents (no audio decoded): Spearman rho/p per "
        "pair, diversity ratio (mean pairwise distance generated / real held-out windows), Frechet distance in the "
        "latent for this mapper and for an untrained one with the same statistics."
    )


def comic_card(pages: ComicPages) -> str:
    """The model card's section on the comic training data."""
    real = [n for n, p in zip(pages.names, pages.paths) if p is not None]
    heldout = [n for n, s in zip(pages.names, pages.splits) if s == "heldout"]
    return "\n".join([
        "",
        "## Comic data",
        "",
        f"{len(real)} real pages of `shared/data/comics` ({len(heldout)} held out, every 10th by name, with their "
        f"panels) and {len(pages.names) - len(real)} synthetic pages drawn from the training pages. Licences: "
        "OpenMantra and xkcd pages CC BY-NC, Climate Frogs CC BY-SA 4.0, Pepper&Carrot CC BY 4.0 (David Revoy); see "
        "`shared/data/comics/README.md`. The evaluation pages (`eval_pages`) are never used.",
        "",
    ])
