"""Train the latent mapper (``bd2music.models.mapper``): a latent CycleGAN between comic and audio latents.

    bd2music train mapper --config configs/mapper/cpu.json --out runs/mapper    # minutes, one CPU thread
    bd2music train mapper --config configs/mapper/no_cycle.json --out OUT --work runs/mapper-no_cycle  # one ablation
    python -m bd2music.training.mapper_ablation --out runs/mapper-ablation          # all of them + a table
    bd2music train mapper --smoke --config smoke.json --out /tmp/m --work /tmp/run   # seconds; smoke.json names
                                                                                    # tiny comic_vae/audio_vae folders

Components (frozen, folders in the config): ``comic_vae``, ``audio_vae`` and, for the semantic loss, ``audio_text``
(without it the semantic loss is switched off and the run says so).

Data (cached in the work folder, nothing is decoded to audio):

* comic side: every page of ``DATA/comics`` (the comic VAE's fixed page split, ``bd2music.data.comic_images``;
  never ``eval_pages``) and ``comics.synthetic_pages`` generated pages (content cut from the training pages), each
  page and each of its first ``comics.max_panels`` panel crops an item: its comic-VAE posterior mean, its condition
  (``page_condition`` / ``panel_condition``) and its description (``bd2music.vision.description``). Panels and
  balloons come from ``comics/labels`` where present (manga: right-to-left), from the YOLO detector otherwise,
  from the generator for synthetic pages.
* audio side: the audio-VAE posterior means of the sound cache's windows (``data.cache``: an existing cache is
  only read, never rebuilt; its ``window_frames`` must be the audio VAE's) with their real descriptors.

Losses of G (generator), F (inverse) and the identity projections P (audio latent -> comic latent size) and
Q (comic latent -> audio latent size), each weighted in the config (0 switches it off); latents are compared
standardised (the mapper's statistics):

* ``adversarial``: LSGAN in both latent spaces, D_a(G(z)) and D_c(F(a)) against real latents.
* ``cycle``: |F(G(z, c, n)) - z| and |G(F(a), c_a, 0) - a|, where c_a is a batch page's condition whose
  structural features are set to the quantiles of the window's own descriptors (its audio-side condition).
* ``identity``: |G(P(a), c_a, 0) - a| and |F(Q(z)) - z| through the learned projections (training only).
* ``structural``: for each pair of ``pairs`` (page feature -> descriptor), 1 - Spearman correlation over the batch
  between the feature and the audio VAE descriptor head's prediction on G(z) (soft ranks: pairwise sigmoids).
* ``semantic``: 1 - cos(embed(G(z)), audio_text.embed_text(description)); ``embed`` is the audio VAE's semantic
  head when it was trained, else a latent -> embedding head fitted here on the real windows' audio-text
  embeddings (``semantic_head_steps``).
* ``moments``: per-element mean and std of G(z) over the batch against a pool of real latents.
* ``sliced`` (optional, off by default): sliced 2-Wasserstein distance between G(z) and the pool of real latents
  (``sliced_directions`` random projections per step), a whole-distribution match beyond per-element moments
  (what it did in a CPU run: ``docs/BENCHMARKS.md``).
* ``matching``: G(z) is pulled (MSE) to a real latent chosen for it by an optimal assignment (Hungarian, batch
  against a pool of ``pool_size`` real windows) whose cost is ``matching_structure_cost`` x the squared distance
  between the page's feature quantiles and the window's descriptor quantiles over ``pairs`` plus the latent
  distance: a conditional IMLE that keeps G(z) on real latents (decodable audio) with descriptors that rank like
  the features, and keeps the noise meaningful (variety).

``min_window_fill`` (off by default) keeps real windows that are a few events in near silence (``window_fill``)
out of the pool of targets (its effect on decoded audio: ``docs/BENCHMARKS.md``).

Metrics (held-out comic items, never decoded): Spearman rho and p of each pair on the descriptor head's predictions
of G(z); diversity ratio (mean pairwise distance of generated latents / that of real held-out windows); Frechet
distance between generated and real held-out latents (flattened) for the trained mapper and an untrained one.

The package, by role: ``config`` (``MapperTrainConfig``, ``SMOKE``), ``data`` (comic items, audio windows),
``semantic`` (the semantic loss's embedder), ``losses`` (the terms above, the discriminators, ``Objective``),
``metrics``, ``card`` (the model card's mapper sections) and ``trainer`` (``MapperSolver`` on
``bd2music.training.solver``, ``train_mapper``).
"""

from bd2music.training.mapper.config import LOSSES, SMOKE, ComicDataConfig, MapperTrainConfig
from bd2music.training.mapper.data import empirical_quantiles, features_from_boxes, window_fill
from bd2music.training.mapper.losses import structural_loss
from bd2music.training.mapper.trainer import MapperSolver, train_mapper

__all__ = [
    "LOSSES",
    "SMOKE",
    "ComicDataConfig",
    "MapperSolver",
    "MapperTrainConfig",
    "empirical_quantiles",
    "features_from_boxes",
    "structural_loss",
    "train_mapper",
    "window_fill",
]
