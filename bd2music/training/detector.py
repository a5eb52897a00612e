"""Train the panel/balloon detector: build a YOLO dataset (real labelled pages + procedural pages), train an
ultralytics YOLO from its architecture YAML (no pretrained download), export safetensors + config.json.
A soup averages the weights of several such runs fine-tuned from one starting point.

    bd2music train detector --out runs/detector                 # full run (config defaults below)
    bd2music train detector --epochs 1 --synthetic 16 --out /tmp/d  # smoke run
    bd2music train detector-soup --config configs/detector/soup.json --out runs/detector --work runs
"""

from __future__ import annotations

import csv
import json
import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tqdm import tqdm

from bd2music.data.synthetic_pages import PageGenerator, load_content_sources
from bd2music.errors import InputError
from bd2music.evaluation.panels import load_annotations
from bd2music.io import load_page
from bd2music.vision.boxes import CLASSES, Box
from bd2music.vision.yolo import DetectorConfig, YoloDetector, save_detector

os.environ.setdefault("YOLO_OFFLINE", "1")  # ultralytics: no connectivity checks, no downloads


@dataclass
class DetectorTrainConfig:
    """Everything that decides a detector training run (saved beside the weights)."""

    architecture: str = "yolo11n.yaml"  # ultralytics model YAML (ships inside the package)
    synthetic_pages: int = 400  # procedural pages drawn for training (+10% more for validation)
    western_balloons: float = 0.0  # share of their balloons lettered like western colour comics (0: as before)
    unlabelled_content: bool = True  # real pages without labels also give panel content (their lettering unlabelled)
    real_repeats: int = 2  # each real labelled page appears this many times per epoch
    real_validation_every: int = 10  # every n-th real labelled page validates instead (0: all of them train)
    extra_labels: list[str] = field(default_factory=list)  # more labelled folders (eval_pages format), all train
    content_labels: list[str] = field(default_factory=list)  # label folders whose pages give labelled content
    page_long_side: int = 800  # stored page size (pixels, long side)
    imgsz: int = 384  # training size
    epochs: int = 25
    batch: int = 8
    workers: int = 2
    seed: int = 0
    patience: int = 15
    warmup_epochs: float = 0.5
    lr0: float = 0.002  # AdamW learning rate
    close_mosaic: int = 3  # last epochs without mosaic augmentation
    infer_imgsz: int = 512  # inference size written to config.json (chosen on the validation split)
    infer_conf: list[float] = field(default_factory=lambda: [0.35, 0.25])  # per-class confidence at inference
    init_weights: str | None = None  # a detector folder (safetensors + config.json) to start from


def yolo_label_lines(boxes: list[tuple[int, Box]], width: int, height: int) -> list[str]:
    """YOLO text label rows ``class cx cy w h`` (normalised) for (class id, box) pairs, dropping slivers."""
    lines = []
    for cls, (x0, y0, x1, y1) in boxes:
        x0, x1 = max(0.0, x0), min(float(width), x1)
        y0, y1 = max(0.0, y0), min(float(height), y1)
        if x1 - x0 < 3 or y1 - y0 < 3:
            continue
        lines.append(f"{cls} {(x0 + x1) / 2 / width:.6f} {(y0 + y1) / 2 / height:.6f} "
                     f"{(x1 - x0) / width:.6f} {(y1 - y0) / height:.6f}")
    return lines


def build_dataset(root: Path, comics_dir: Path, config: DetectorTrainConfig) -> Path:
    """Write ``root/{images,labels}/{train,val}`` and ``root/data.yaml``; return the YAML path.

    Real pages: the human-labelled pages of ``comics_dir/labels`` (every ``config.real_validation_every``-th
    to validation, none when it is 0), then those of ``config.extra_labels`` (all for training). Synthetic
    pages: ``config.synthetic_pages`` for training plus 10% for validation. Never reads evaluation pages.
    """
    for split in ("train", "val"):
        (root / "images" / split).mkdir(parents=True, exist_ok=True)
        (root / "labels" / split).mkdir(parents=True, exist_ok=True)

    def write(stem: str, split: str, image, panels: list[Box], balloons: list[Box]) -> None:
        image.save(root / "images" / split / f"{stem}.jpg", quality=92)
        rows = yolo_label_lines([(0, b) for b in panels] + [(1, b) for b in balloons], image.width, image.height)
        (root / "labels" / split / f"{stem}.txt").write_text("\n".join(rows) + "\n")

    every = config.real_validation_every
    labelled = [(page, "val" if every and i % every == 0 else "train")
                for i, page in enumerate(load_annotations(comics_dir / "labels"))]
    for folder in config.extra_labels:
        extra = load_annotations(folder)
        if unlabelled := [page.name for page in extra if page.panels is None or page.balloons is None]:
            raise InputError(f"{folder}: training pages need panels and balloons ({', '.join(unlabelled)})")
        labelled += [(page, "train") for page in extra]
    for page, split in tqdm(labelled, desc="real pages"):
        image, scale = load_page(page.image).downscaled(config.page_long_side)
        panels = [tuple(v / scale for v in box) for box in page.panels or []]
        balloons = [tuple(v / scale for v in box) for box in page.balloons or []]
        for repeat in range(1 if split == "val" else config.real_repeats):
            write(f"real_{page.name}_{repeat}", split, image, panels, balloons)

    sources = load_content_sources(comics_dir, labelled_only=not config.unlabelled_content,
                                   label_dirs=[Path(folder) for folder in config.content_labels])
    generator = PageGenerator(sources, seed=config.seed, long_side=config.page_long_side,
                              western_balloons=config.western_balloons)
    n_val = max(1, config.synthetic_pages // 10)
    for i in tqdm(range(config.synthetic_pages + n_val), desc="synthetic pages"):
        page = generator(i)
        write(f"synth_{i:05d}", "val" if i >= config.synthetic_pages else "train", page.image, page.panels, page.balloons)

    data_yaml = root / "data.yaml"
    names = "\n".join(f"  {i}: {name}" for i, name in enumerate(CLASSES))
    data_yaml.write_text(f"path: {root.resolve()}\ntrain: images/train\nval: images/val\nnames:\n{names}\n")
    return data_yaml


def _init_checkpoint(weights: str, work_dir: Path) -> Path:
    """Wrap shipped safetensors weights in the checkpoint form ultralytics starts training from."""
    import torch

    detector = YoloDetector.from_pretrained(weights, fuse=False)
    path = work_dir / "init.pt"
    work_dir.mkdir(parents=True, exist_ok=True)
    torch.save({"model": detector.model, "train_args": {}}, path)
    return path


def train_detector(config: DetectorTrainConfig, comics_dir: Path, out_dir: Path, work_dir: Path,
                   device: str = "cpu", resume: bool = False) -> Path:
    """Build the dataset, train YOLO, export the best weights to ``out_dir``; return ``out_dir``."""
    from ultralytics import YOLO

    run_dir = work_dir / "run"
    last = run_dir / "weights" / "last.pt"
    data_root = work_dir / "dataset"
    if not (resume and (data_root / "data.yaml").is_file()):
        shutil.rmtree(data_root, ignore_errors=True)
        build_dataset(data_root, comics_dir, config)
    if resume and last.is_file():
        model = YOLO(str(last))
        model.train(resume=True)
    else:
        model = YOLO(str(_init_checkpoint(config.init_weights, work_dir)) if config.init_weights else config.architecture)
        model.train(
            data=str(data_root / "data.yaml"), epochs=config.epochs, imgsz=config.imgsz, batch=config.batch,
            workers=config.workers, seed=config.seed, deterministic=True, device=device, patience=config.patience,
            project=str(work_dir.resolve()), name="run", exist_ok=True, plots=False, verbose=False,
            optimizer="AdamW", lr0=config.lr0, warmup_epochs=config.warmup_epochs, close_mosaic=config.close_mosaic,
            fliplr=0.5, mosaic=1.0, degrees=0.0, amp=device != "cpu",
        )
    best = run_dir / "weights" / "best.pt"
    trained = YOLO(str(best if best.is_file() else last))
    detector_config = DetectorConfig(architecture=config.architecture, imgsz=config.infer_imgsz,
                                     names=list(CLASSES), conf=list(config.infer_conf))
    save_detector(trained.model, detector_config, out_dir)
    (out_dir / "train_config.json").write_text(json.dumps(asdict(config), indent=2) + "\n")
    write_model_card(out_dir, config, run_dir / "results.csv")
    return out_dir


def _held_out(config: DetectorTrainConfig) -> str:
    """How the real labelled pages were split, in words: "every 10th page held out for validation"."""
    every = config.real_validation_every
    if not every:
        return "all of them used for training (validation on generated pages)"
    suffix = "th" if 10 <= every % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(every % 10, "th")
    return f"every {every}{suffix} page held out for validation"


def _quoted(folders: list[str]) -> str:
    """Folder names as a comma-separated list of code spans, empty for none."""
    return ", ".join(f"`{folder}`" for folder in folders)


def _content(config: DetectorTrainConfig) -> str:
    """Where the generated pages' panel content came from, in words."""
    folders = _quoted(config.content_labels)
    if config.unlabelled_content:
        labelled = f", with the lettering of the pages labelled in {folders} labelled" if folders else ""
        return f"the real pages of `shared/data/comics` (OpenMantra, Pepper&Carrot, Climate Frogs, xkcd){labelled}"
    also = f" and the pages labelled in {folders}" if folders else ""
    return f"the labelled OpenMantra pages{also} only"


def write_model_card(out_dir: Path, config: DetectorTrainConfig, results_csv: Path) -> None:
    """Write ``out_dir/README.md``: data, licences, training recipe and the last validation metrics."""
    rows = list(csv.DictReader(results_csv.open())) if results_csv.is_file() else []
    last = {k.strip(): v for k, v in rows[-1].items()} if rows else {}
    metric = lambda key: f"{float(last[key]):.3f}" if key in last else "n/a"  # noqa: E731
    card = MODEL_CARD.format(
        epochs=len(rows), imgsz=config.imgsz, synthetic=config.synthetic_pages, repeats=config.real_repeats,
        western=f"{config.western_balloons:.0%}",
        extra="".join(f"\n- The labelled pages of `{folder}` (see its README), also seen {config.real_repeats}× per "
                      "epoch." for folder in config.extra_labels),
        held_out=_held_out(config), content=_content(config),
        precision=metric("metrics/precision(B)"), recall=metric("metrics/recall(B)"),
        map50=metric("metrics/mAP50(B)"), map5095=metric("metrics/mAP50-95(B)"),
        config=json.dumps(asdict(config), indent=2),
    )
    (out_dir / "README.md").write_text(card)


@dataclass
class DetectorSoupConfig:
    """A detector whose weights are the mean of several fine-tunes from one starting point: a uniform model
    soup (Wortsman et al., 2022). One network, so inference costs what a single member costs."""

    members: list[str] = field(default_factory=list)  # training configs (JSON) of the members


def average_detectors(folders: list[Path]) -> YoloDetector:
    """The first detector of ``folders`` (unfused) with every floating-point weight replaced by the members'
    mean; refuses members whose architecture or inference settings differ."""
    import torch

    detectors = [YoloDetector.from_pretrained(folder, fuse=False) for folder in folders]
    first = detectors[0]
    for folder, detector in zip(folders[1:], detectors[1:]):
        if asdict(detector.config) != asdict(first.config):
            raise InputError(f"{folder}: its config.json differs from {folders[0]}'s; a soup needs one architecture "
                             "and one set of inference settings")
    states = [detector.model.state_dict() for detector in detectors]
    mean = {key: torch.stack([state[key] for state in states]).mean(0) if value.is_floating_point() else value
            for key, value in states[0].items()}
    first.model.load_state_dict(mean)
    return first


def train_detector_soup(config: DetectorSoupConfig, comics_dir: Path, out_dir: Path, work_dir: Path,
                        device: str = "cpu", resume: bool = False) -> Path:
    """Train every member that ``work_dir/<config stem>_out`` does not hold yet, then average them into ``out_dir``.

    An existing member folder is reused only if its ``train_config.json`` is the member's config.
    """
    from bd2music.training.common import load_config

    if len(config.members) < 2:
        raise InputError("a detector soup needs at least two member configs")
    members = [(Path(path), load_config(DetectorTrainConfig, Path(path))) for path in config.members]
    if len({member.init_weights for _, member in members}) != 1:
        raise InputError("the members of a detector soup must start from the same init_weights")
    folders = []
    for path, member in members:
        folder = work_dir / f"{path.stem}_out"
        if not (folder / "model.safetensors").is_file():
            train_detector(member, comics_dir, folder, work_dir / f"{path.stem}_run", device, resume)
        elif load_config(DetectorTrainConfig, folder / "train_config.json") != member:
            raise InputError(f"{folder} was trained with another config than {path}: remove it or use another --work")
        folders.append(folder)
    detector = average_detectors(folders)
    save_detector(detector.model, detector.config, out_dir)
    (out_dir / "train_config.json").write_text(json.dumps(asdict(config), indent=2) + "\n")
    write_soup_card(out_dir, members, members[0][1].init_weights)
    return out_dir


def write_soup_card(out_dir: Path, members: list[tuple[Path, DetectorTrainConfig]], init_weights: str | None) -> None:
    """Write ``out_dir/README.md`` for a soup: its members, their data, licences and how to remake it."""
    def row(path: Path, member: DetectorTrainConfig) -> str:
        extra = _quoted(member.extra_labels) or "-"
        return (f"| `{path}` | {member.seed} | {_held_out(member)} | {member.synthetic_pages}, content from "
                f"{_content(member)} | {member.western_balloons:.0%} | {extra} |")

    rows = "\n".join(row(path, member) for path, member in members)
    configs = json.dumps({str(path): asdict(member) for path, member in members}, indent=2)
    (out_dir / "README.md").write_text(SOUP_CARD.format(
        count=len(members), init=init_weights, rows=rows, configs=configs,
        paths=" ".join(str(path) for path, _ in members)))


CARD_HEAD = """---
license: cc-by-nc-4.0
library_name: bd2music
tags: [object-detection, comics, manga, yolo]
---

# bd2music panel and balloon detector (YOLO11n)

Finds comic **panels** (class 0) and the **text regions of balloons and captions** (class 1) on a page.
Architecture: ultralytics `yolo11n.yaml` (2.6 M parameters), trained from scratch, no pretrained weights.
Stored as `model.safetensors` (float16) + `config.json` (architecture YAML, classes, input size); bd2music
rebuilds the network from the YAML and never loads a pickle.
"""

CARD_LICENCE = """
## Licence
The weights inherit the licences of their training images: OpenMantra (CC BY-NC 4.0) and xkcd (CC BY-NC 2.5)
are non-commercial, Climate Frogs is CC BY-SA 4.0 and Pepper&Carrot CC BY 4.0. The weights are therefore
released for **non-commercial use only** (CC BY-NC 4.0, with attribution to those works); the code that made
them is AGPL-3.0 like ultralytics.
"""

MODEL_CARD = CARD_HEAD + """
## Training data
- The 140 human-labelled OpenMantra pages of `shared/data/comics/labels` (frames → panels, text → balloons),
  {held_out}, each training page seen {repeats}× per epoch.{extra}
- {synthetic} procedural pages from `bd2music.data.synthetic_pages` (+10% for validation): varied tiers, nested
  tiers, slanted and uneven gutters, frameless and full-bleed panels, gutterless tiers, figures breaking out
  over frames, insets, splash pages, webtoon strips,
  balloons / thought clouds / captions with horizontal or vertical lettering ({western} of them lettered like
  western colour comics: mixed case, bold, thin or no outline, dark balloons), panel content cut from {content},
  paper texture, screentone, noise, blur, JPEG artefacts.
- Never trained or tuned on `shared/data/eval_pages`.
""" + CARD_LICENCE + """
## Metrics
Validation split of the training data (last epoch, both classes): precision {precision}, recall {recall},
mAP50 {map50}, mAP50-95 {map5095}; {epochs} epochs at {imgsz} px in the last run.
Held-out evaluation on `shared/data/eval_pages`: see the section below and `docs/BENCHMARKS.md`
(`bd2music evaluate-panels ../shared/data/eval_pages`).

## Retrain
```bash
bd2music train detector --out runs/detector [--device cuda] [--config my.json]
```
Training config of the last run (`train_config.json`):
```json
{config}
```
"""

SOUP_CARD = CARD_HEAD + """
## A model soup
These weights are the element-wise mean of {count} detectors, each fine-tuned from the same weights
(`{init}`) with its own seed and generated pages: a uniform model soup (Wortsman et al., 2022). The soup is one
network of the members' size, so it runs as fast as one of them.

| member config | seed | labelled OpenMantra pages | generated pages | western balloons | extra labelled pages |
|---|---|---|---|---|---|
{rows}

## Training data
The members' data together: the 140 human-labelled OpenMantra pages of `shared/data/comics/labels` (frames →
panels, text → balloons), the extra labelled folders above, and each member's procedural pages from
`bd2music.data.synthetic_pages`. Never trained or tuned on `shared/data/eval_pages`.
""" + CARD_LICENCE + """
## Retrain
```bash
bd2music train detector-soup --config soup.json --out runs/detector --work runs
```
where `soup.json` is `{{"members": [...]}}` with the member configs ({paths}). It trains each member whose
`runs/<config name>_out` folder is missing, then averages them. The members' configs:
```json
{configs}
```
"""
