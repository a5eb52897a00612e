"""Page analysis: detection → lettering (read, grouped, merged with the balloons) → reading order → balloon
assignment → visual features, in original pixels."""

from __future__ import annotations

from dataclasses import dataclass, replace

from bd2music.io import Page
from bd2music.vision.boxes import Balloon, Box, Panel, scale_box
from bd2music.vision.detect import Detector
from bd2music.vision.features import PageFeatures, compute_features
from bd2music.vision.lettering import letter_balloons
from bd2music.vision.ocr import TextReader
from bd2music.vision.reading_order import assign_balloons, reading_order

ANALYSIS_LONG_SIDE = 1600  # larger pages are detected on a downscaled copy; boxes are mapped back


@dataclass
class PageAnalysis:
    """Everything bd2music sees on a page; :meth:`to_dict` is the ``analyze`` JSON contract for one page."""

    image: str
    width: int
    height: int
    panels: list[Panel]  # in reading order
    balloons: list[Balloon]
    features: PageFeatures
    detector: str
    lettering: bool = False  # whether the text was read (each balloon's text and kind)

    def to_dict(self) -> dict:
        """``{"image", "width", "height", "panels": [{box, order, score}], "balloons": [{box, panel, score}],
        "features"}``; with the lettering read, each balloon also has ``text`` and ``kind``."""
        return {
            "image": self.image,
            "width": self.width,
            "height": self.height,
            "panels": [{"box": _rounded(p.box), "order": p.order, "score": round(p.score, 4)} for p in self.panels],
            "balloons": [self._balloon(b) for b in self.balloons],
            "features": self.features.to_dict(),
        }

    def _balloon(self, balloon: Balloon) -> dict:
        row = {"box": _rounded(balloon.box), "panel": balloon.panel, "score": round(balloon.score, 4)}
        return row | ({"text": balloon.text, "kind": balloon.kind} if self.lettering else {})


def _rounded(box: Box) -> list[int]:
    return [int(round(v)) for v in box]


def analyze_page(page: Page, detector: Detector, rtl: bool = False, reader: TextReader | None = None) -> PageAnalysis:
    """Detect panels and balloons on ``page``, read its lettering with ``reader`` (None: text not read), order the
    panels (``rtl`` for manga) and compute its features."""
    small, scale = page.downscaled(ANALYSIS_LONG_SIDE)
    detections = detector.detect(small)
    found = [(scale_box(d.box, scale), d.score) for d in detections if d.label == "panel"]
    order = reading_order([box for box, _ in found], rtl=rtl)
    panels = [Panel(found[i][0], rank, found[i][1]) for rank, i in enumerate(order)]
    balloons = [Balloon(scale_box(d.box, scale), None, d.score) for d in detections if d.label == "balloon"]
    if reader is not None:
        balloons = letter_balloons(page.image, balloons, reader.read(page.image), [p.box for p in panels])
    owners = assign_balloons([b.box for b in balloons], [p.box for p in panels])
    balloons = [replace(balloon, panel=owner) for balloon, owner in zip(balloons, owners)]
    features = compute_features(page.image, panels, balloons)
    return PageAnalysis(page.name, page.width, page.height, panels, balloons, features, detector.name,
                        lettering=reader is not None)
