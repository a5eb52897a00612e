"""How well depicted pages follow their sounds (``benchmarks/bench_depict.py``, ``benchmarks/tune_depict.py``).

Each clip is depicted, then the page is analysed like any page (``Pipeline.analyze``: the YOLO detector's
panels, ``bd2music.vision.features``), and each link is Spearman's rho over the clips between a reading of the
sound and a feature of its page: tempo -> panel count, centroid -> brightness, loudness (``rms_mean``) ->
colourfulness, onset rate -> edge density. Distinctness: the distance between two pages is the mean absolute
difference of their RGB values (0-1) on 96 x 128 thumbnails; the report gives the closest pair of different
clips, and for scale the distance between a page and its own JPEG copy at quality 75 (what "the same page"
looks like to this measure) and between the pages of one clip with two seeds.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image
from scipy.stats import spearmanr

LINKS = {  # link name -> (reading of the sound, feature of the page)
    "tempo -> panel count": ("tempo", "panel_count"),
    "centroid -> brightness": ("centroid", "brightness"),
    "loudness -> colourfulness": ("loudness", "colourfulness"),
    "onset rate -> edge density": ("onset_rate", "edge_density"),
}
THUMBNAIL = (96, 128)


def thumbnail(image: Image.Image) -> np.ndarray:
    """(128, 96, 3) float RGB in [0, 1] for :func:`page_distance`."""
    return np.asarray(image.convert("RGB").resize(THUMBNAIL, Image.Resampling.BOX), dtype=np.float32) / 255


def page_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of two thumbnails (0 the same page, 1 black against white)."""
    return float(np.abs(a - b).mean())


def jpeg_copy(image: Image.Image, quality: int = 75) -> Image.Image:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


def depict_clips(depict, analyze: Callable, clips: Sequence[Path], seed: int = 0, out: Path | None = None,
                 progress: Callable = lambda items: items) -> list[dict]:
    """One row per clip: its readings, the page's features as analysed, the targets, seconds taken; ``out``
    keeps the pages (``<category>_<stem>.png``)."""
    rows = []
    for clip in progress(clips):
        start, cpu = time.perf_counter(), time.process_time()
        page = depict(clip, seed=seed)
        seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu
        analysis = analyze(page.image)
        colour = analysis.features.colour
        rows.append({
            "clip": f"{clip.parent.name}/{clip.name}",
            "readings": page.readings.scalars(),
            "targets": page.targets.to_dict(),
            "page": {"panel_count": len(analysis.panels), "brightness": colour.brightness,
                     "colourfulness": colour.colourfulness, "edge_density": colour.edge_density},
            "seconds": seconds,
            "cpu_seconds": cpu_seconds,
            "thumbnail": thumbnail(page.image),
        })
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
            page.image.save(out / f"{clip.parent.name}_{clip.stem}.png")
    return rows


def link_report(rows: list[dict]) -> dict:
    """Spearman's rho of each link, how far the pages' features are from their targets, the share of pages with
    at least two panels found, the closest pair of pages and the time per clip."""
    links = {}
    for name, (reading, feature) in LINKS.items():
        rho = spearmanr([r["readings"][reading] for r in rows], [r["page"][feature] for r in rows]).statistic
        links[name] = round(float(rho), 3)
    thumbs = [r["thumbnail"] for r in rows]
    closest = (np.inf, None, None)
    for i in range(len(thumbs)):
        for j in range(i + 1, len(thumbs)):
            distance = page_distance(thumbs[i], thumbs[j])
            if distance < closest[0]:
                closest = (distance, rows[i]["clip"], rows[j]["clip"])
    seconds = np.array([r["seconds"] for r in rows])
    cpu = np.array([r.get("cpu_seconds", np.nan) for r in rows])
    panels = np.array([r["page"]["panel_count"] for r in rows])
    planned = np.array([r["targets"]["panels"] for r in rows])
    off = {feature: np.abs([r["page"][feature] - r["targets"][feature] for r in rows])
           for feature in ("brightness", "colourfulness", "edge_density")}
    return {
        "clips": len(rows),
        "spearman": links,
        "off_target": {name: {"median": round(float(np.median(v)), 4), "p90": round(float(np.quantile(v, 0.9)), 4)}
                       for name, v in off.items()},
        "two_or_more_panels": round(float(np.mean(panels >= 2)), 3),
        "panels_found_as_planned": round(float(np.mean(panels == planned)), 3),
        "closest_pages": {"distance": round(float(closest[0]), 4), "clips": [closest[1], closest[2]]},
        "seconds_per_clip": {"median": round(float(np.median(seconds)), 3), "p90": round(float(np.quantile(seconds, 0.9)), 3),
                             "max": round(float(seconds.max()), 3)},
        "cpu_seconds_per_clip": {"median": round(float(np.median(cpu)), 3), "max": round(float(cpu.max()), 3)},
    }
