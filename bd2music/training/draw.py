"""``bd2music train draw``: the learned reading of drawings (``bd2music.models.draw_reader``), trained on generated
drawings with known labels (``bd2music.data.drawings``).

    bd2music train draw --out runs/draw            # a few minutes on 2 CPU cores

Data: ``train_drawings`` drawings of the series ``seed`` and ``heldout_drawings`` of the series ``seed + 1`` (each
drawing a pure function of its series and index, so the two never share a drawing). Each drawing is read as the
app reads it (strokes found, measured, read classically); a stroke found is labelled with the drawn stroke that
holds at least ``min_purity`` of its ink, when it holds at least ``min_found`` of that stroke's visible ink and
later strokes cover at most ``1 - min_visible`` of that one. The tables are cached in ``WORK/strokes_*.npz``.

Training: each head's L1 error on its label, AdamW, cosine LR; evaluation on the held-out strokes: the learned
and the classical reading's mean absolute error and Spearman rho against the labels, per reading. The export
also measures the pitch of every clip of the sound bank (``bank_pitches.json``, ``bd2music.draw.bank_pitch``),
which the drawing's bank sound matches strokes against.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from scipy.stats import spearmanr
from tqdm import tqdm

from bd2music.bank import SoundBank
from bd2music.data.drawings import DrawingConfig, SyntheticDrawing, random_drawing
from bd2music.draw.bank_pitch import TABLE, BankPitches
from bd2music.draw.measure import FEATURES, classical, features, measure
from bd2music.draw.readings import READINGS
from bd2music.draw.strokes import Stroke, StrokeConfig, find_strokes
from bd2music.errors import InputError
from bd2music.models.base import config_to_dict
from bd2music.models.draw_reader import StrokeReader, StrokeReaderConfig
from bd2music.training.solver import Solver, cosine_lr


@dataclass
class DrawTrainConfig:
    """A run of ``bd2music train draw``."""

    model: StrokeReaderConfig = field(default_factory=StrokeReaderConfig)
    drawing: DrawingConfig = field(default_factory=DrawingConfig)
    strokes: StrokeConfig = field(default_factory=StrokeConfig)
    train_drawings: int = 4000  # drawings of the series ``seed``
    heldout_drawings: int = 600  # drawings of the series ``seed + 1``
    min_purity: float = 0.85  # a found stroke is labelled when this share of its ink is one drawn stroke's,
    min_found: float = 0.7  # it holds this share of that stroke's visible ink,
    min_visible: float = 0.7  # and later strokes leave this share of that stroke's ink visible
    steps: int = 4000
    batch_size: int = 256
    lr: float = 2e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 100
    min_lr_ratio: float = 0.05
    grad_clip: float = 1.0
    eval_every: int = 1000
    seed: int = 0
    threads: int = 2
    bank: str | None = None  # the sound bank whose clips' pitches are measured (None: the shipped weights/bank)
    bank_pitches: bool = True  # measure them (bd2music.draw.bank_pitch) into the weights folder


SMOKE = {"train_drawings": 24, "heldout_drawings": 12, "steps": 20, "eval_every": 10, "batch_size": 32,
         "bank_pitches": False}


def _reading_size(drawing: SyntheticDrawing, size: tuple[int, int]) -> list[np.ndarray]:
    """Each drawn stroke's visible coverage (later strokes laid over it) at the reading size."""
    out = []
    for i, stroke in enumerate(drawing.strokes):
        visible = stroke.coverage.copy()
        for later in drawing.strokes[i + 1:]:
            visible *= 1 - later.coverage
        out.append(np.asarray(Image.fromarray(visible).resize(size, Image.Resampling.BOX)))
    return out


def labelled_strokes(drawing: SyntheticDrawing, config: DrawTrainConfig) -> list[tuple[Stroke, int]]:
    """The strokes found in ``drawing`` that match a drawn one (see the module doc), with its index."""
    try:
        strokes = find_strokes(drawing.image, config.strokes)
    except InputError:  # a drawing whose only strokes are too faint to be found
        return []
    size = strokes[0].canvas
    visible = _reading_size(drawing, size)
    whole = [np.asarray(Image.fromarray(s.coverage).resize(size, Image.Resampling.BOX)).sum()
             for s in drawing.strokes]
    pairs = []
    for stroke in strokes:
        x0, y0, x1, y1 = stroke.box
        overlap = np.array([(v[y0:y1, x0:x1] * (stroke.alpha > 0)).sum() for v in visible])
        best = int(overlap.argmax())
        shown = visible[best].sum()
        if (overlap[best] >= config.min_purity * max(overlap.sum(), 1e-9) and overlap[best] >= config.min_found * shown
                and shown >= config.min_visible * whole[best]):
            pairs.append((stroke, best))
    return pairs


def stroke_table(series: int, count: int, config: DrawTrainConfig, cache: Path) -> dict[str, np.ndarray]:
    """Features (``<reading>``), labels (``label_<reading>``) and classical readings (``classical_<reading>``)
    of the labelled strokes of ``count`` drawings of ``series``; read from ``cache`` when it was made alike."""
    key = json.dumps({"series": series, "count": count, "drawing": config_to_dict(config.drawing),
                      "strokes": config_to_dict(config.strokes), "match": [config.min_purity, config.min_found,
                                                                          config.min_visible]}, sort_keys=True)
    if cache.is_file():
        with np.load(cache) as saved:
            if str(saved["key"]) == key:
                return {name: saved[name] for name in saved.files if name != "key"}
    rows: dict[str, list] = {name: [] for name in (*READINGS, *(f"label_{n}" for n in READINGS),
                                                   *(f"classical_{n}" for n in READINGS))}
    rows["drawn"], rows["found"] = [], []
    for index in tqdm(range(count), desc=f"drawings {series}", unit="drawing"):
        drawing = random_drawing(series, index, config.drawing)
        pairs = labelled_strokes(drawing, config)
        rows["drawn"].append(len(drawing.strokes))
        rows["found"].append(len(pairs))
        for stroke, drawn in pairs:
            measured = measure(stroke)
            plain = classical(measured)
            vectors = features(measured, plain)
            label = drawing.strokes[drawn]
            for name in READINGS:
                rows[name].append(vectors[name])
                rows[f"label_{name}"].append(getattr(label, name))
                rows[f"classical_{name}"].append(plain[name])
    table = {name: np.asarray(values, np.float32) for name, values in rows.items()}
    for name in READINGS:
        table[name] = table[name].reshape(-1, FEATURES[name])
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, key=np.array(key), **table)
    return table


def scores(predicted: dict[str, np.ndarray], table: dict[str, np.ndarray], prefix: str) -> dict[str, float]:
    """``mae_<reading>_<prefix>`` and ``rho_<reading>_<prefix>`` of ``predicted`` against the table's labels."""
    out = {}
    for name in READINGS:
        label = table[f"label_{name}"]
        out[f"mae_{name}_{prefix}"] = float(np.abs(predicted[name] - label).mean())
        out[f"rho_{name}_{prefix}"] = float(spearmanr(predicted[name], label)[0])
    return out


class DrawSolver(Solver):
    """The three heads on the labelled strokes of the training drawings."""

    name = "draw"
    postfix = ("total", "height", "loudness", "brightness")

    def __init__(self, config: DrawTrainConfig, data_root: Path, out: Path, work: Path, device: str = "cpu"):
        super().__init__(config, data_root, out, work, device)
        self.train = stroke_table(config.seed, config.train_drawings, config, self.work / "strokes_train.npz")
        self.heldout = stroke_table(config.seed + 1, config.heldout_drawings, config, self.work / "strokes_heldout.npz")
        if not len(self.train["label_height"]) or not len(self.heldout["label_height"]):
            raise InputError("no labelled strokes: generate more drawings (train_drawings, heldout_drawings)")
        config.model.inputs = dict(FEATURES)
        self.model = StrokeReader(config.model).to(self.device)
        for name, head in self.model.heads.items():  # inputs standardised with the training strokes' statistics
            values = torch.from_numpy(self.train[name])
            head.mean.copy_(values.mean(dim=0))
            head.std.copy_(values.std(dim=0).clamp_min(1e-4))
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        self.schedule = cosine_lr(self.optimizer, config)

    def tensors(self, table: dict[str, np.ndarray], rows: np.ndarray | slice) -> dict[str, torch.Tensor]:
        return {name: torch.from_numpy(table[name][rows]).to(self.device) for name in READINGS}

    def train_step(self, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        rows = rng.integers(0, len(self.train["label_height"]), self.config.batch_size)
        predicted = self.model(self.tensors(self.train, rows))
        terms = {name: (predicted[name] - torch.from_numpy(self.train[f"label_{name}"][rows]).to(self.device))
                 .abs().mean() for name in READINGS}
        terms["total"] = sum(terms.values())
        self.update(terms["total"])
        return terms

    def predict(self, table: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        self.model.eval()
        out = {name: value.cpu().numpy() for name, value in self.model.read(self.tensors(table, slice(None))).items()}
        self.model.train()
        return out

    def evaluate(self) -> dict[str, float]:
        learned = scores(self.predict(self.heldout), self.heldout, "learned")
        baseline = scores({name: self.heldout[f"classical_{name}"] for name in READINGS}, self.heldout, "classical")
        return learned | baseline

    def export(self) -> dict[str, float]:
        metrics = self.final_metrics() | {
            "heldout_strokes": len(self.heldout["label_height"]), "train_strokes": len(self.train["label_height"]),
            "heldout_found_share": float(self.heldout["found"].sum() / self.heldout["drawn"].sum()),
        }
        self.model.save_pretrained(self.out)
        (self.out / "train_config.json").write_text(json.dumps(config_to_dict(self.config), indent=2) + "\n")
        (self.out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
        (self.out / "README.md").write_text(model_card(self.config, metrics, self.parameter_count()))
        if self.config.bank_pitches:
            BankPitches.write(SoundBank.load(self.config.bank), self.out / TABLE)
        return metrics


def model_card(config: DrawTrainConfig, metrics: dict[str, float], size: str) -> str:
    """The weights folder's README.md: what the heads read, the data, the held-out metrics, how to retrain."""
    rows = [f"| {name} | {metrics[f'mae_{name}_learned']:.4f} | {metrics[f'mae_{name}_classical']:.4f} | "
            f"{metrics[f'rho_{name}_learned']:.4f} | {metrics[f'rho_{name}_classical']:.4f} |" for name in READINGS]
    return "\n".join([
        "---", "library_name: bd2music", "license: agpl-3.0", "tags:", "- drawing", "- sketch-to-sound", "---", "",
        "# Drawing reader", "",
        f"Three small residual MLPs ({size}) that read a drawn stroke's height (-> pitch), loudness (-> volume) and "
        "brightness (-> timbre) from its measurements, as corrections to the classical reading "
        "(`bd2music/models/draw_reader.py`; the readings are defined in `bd2music/draw/readings.py`). The app's "
        "Draw tab, the `/draw` endpoint and `bd2music draw` use them. `bank_pitches.json` holds, for every clip "
        "of the shipped sound bank, its voiced share, its longest steady voiced run (start and end, s) and that "
        "run's pitch (MIDI; pYIN, `bd2music/draw/bank_pitch.py`): the drawing's bank sound matches strokes "
        "against them and plays the run.", "",
        "```python", "from bd2music.draw.reading import DrawingReader",
        'reading = DrawingReader.from_pretrained("weights/draw")(image)', "```", "",
        "## Training data", "",
        f"Generated drawings only (`bd2music/data/drawings.py`, no outside data, so no licence but the code's): "
        f"{config.train_drawings} drawings of series {config.seed} for training ({metrics['train_strokes']} "
        f"labelled strokes), {config.heldout_drawings} drawings of series {config.seed + 1} held out "
        f"({metrics['heldout_strokes']} labelled strokes; {metrics['heldout_found_share']:.1%} of the drawn strokes "
        "were found and labelled, the others were cut by later strokes or merged with a stroke they touch "
        "(of the same colour, or one that explains them as its own ink laid thinner)). Canvases of 320-900 px, "
        "white or tinted paper, 1-6 round-brush strokes (lines, waves, arcs, "
        "dabs), pressure, crayon texture, JPEG.", "",
        "## Metrics (held-out generated drawings)", "",
        "Mean absolute error (readings are 0-1) and Spearman rho against the labels, the learned reading beside "
        "the classical one:", "",
        "| reading | MAE learned | MAE classical | rho learned | rho classical |", "|---|---|---|---|---|",
        *rows, "",
        "## Retrain", "", "```bash", "bd2music train draw --out runs/draw", "```", "",
        "Fixed seeds; `train_config.json` holds the full configuration (pass it back with `--config`).", "",
    ])


def train_draw(config: DrawTrainConfig, data_root: Path, out: Path, work: Path, device: str = "cpu",
               resume: bool = False) -> dict[str, float]:
    """Train and export the drawing reader (``data_root`` is not used: the drawings are generated)."""
    return DrawSolver(config, data_root, out, work, device).run(resume)
