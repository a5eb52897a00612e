"""The sound tied to the page, for the app's browser: the page map and the figures' time axes.

The page map is one HTML fragment: the page (its lettered areas drawn in) under one box per panel, placed in
percent of the page so that it stays aligned at any width, numbered in reading order, carrying the start and end
(seconds) of the segment it is heard in (``data-start``, ``data-end``). Its root carries the track's length and,
for each figure drawn against time (the spectrogram, the piano roll), where the time axis lies in the figure
(``data-plots``). The app's script (``web/playhead.js``) reads them: while the track plays, the panel being
heard is highlighted and a playhead moves over the figures; a click on a panel plays its segment.

In page mode the plan has one segment, the whole track, and every panel is heard all along it (no backend
orders the panels in time then): every box carries that segment, and the map says so.
"""

from __future__ import annotations

import base64
import html
import io
import json
from collections.abc import Sequence

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from bd2music.plan import SegmentPlan
from bd2music.vision.analysis import PageAnalysis
from bd2music.vision.overlay import draw_overlay

MAX_SIDE = 1200  # px of the page embedded in the map (sharp when zoomed on a phone)
JPEG_QUALITY = 85
CORNER = 0.03  # badges whose panels' top-left corners lie closer than this (share of the page) are set side by side


def time_axis(figure: Figure) -> list[float]:
    """Where ``figure``'s first axes (its time axis along x) lie once drawn as the app shows it:
    ``[left, right, top, bottom]`` as fractions of the figure's width and height (top = 0), then the seconds
    at its left and right edges."""
    FigureCanvasAgg(figure).draw()  # lays the figure out (constrained layout) as savefig will
    axes = figure.axes[0]
    box = axes.get_position()
    start, end = axes.get_xlim()
    return [round(v, 5) for v in (box.x0, box.x1, 1 - box.y1, 1 - box.y0, start, end)]


def page_map(image: Image.Image, analysis: PageAnalysis, segments: Sequence[SegmentPlan] | None = None,
             duration: float | None = None, plots: dict[str, Figure] | None = None) -> str:
    """The page map of ``analysis`` (on ``image``, the page it was made from): panel boxes numbered in reading
    order; with a track (``segments`` of its plan, ``duration`` in seconds), each box carries its segment's
    times and ``plots`` (element id -> figure drawn against the track's time) say where to draw the playhead."""
    picture = draw_overlay(image, [], analysis.balloons, max_side=MAX_SIDE, kinds=analysis.lettering)
    buffer = io.BytesIO()
    picture.convert("RGB").save(buffer, "JPEG", quality=JPEG_QUALITY)
    source = "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
    width, height = analysis.width, analysis.height
    times = _panel_times(len(analysis.panels), segments or [])
    boxes = []
    # larger panels first, so that a panel drawn inside another lies above it and takes the click
    for panel in sorted(analysis.panels, key=lambda p: -(p.box[2] - p.box[0]) * (p.box[3] - p.box[1])):
        x0, y0, x1, y1 = panel.box
        place = (f"left:{100 * x0 / width:.3f}%;top:{100 * y0 / height:.3f}%;"
                 f"width:{100 * (x1 - x0) / width:.3f}%;height:{100 * (y1 - y0) / height:.3f}%")
        number = panel.order + 1
        shift = _shared_corners(analysis, panel.order)
        badge = f' style="margin-left:{1.9 * shift:.1f}em"' if shift else ""
        if panel.order in times:
            start, end = times[panel.order]
            boxes.append(f'<button type="button" class="bd-panel" data-panel="{number}" data-start="{start:.3f}" '
                         f'data-end="{end:.3f}" style="{place}" title="Panel {number}: {start:.1f}-{end:.1f} s, '
                         f'click to hear it" aria-label="Play panel {number} ({start:.1f} to {end:.1f} s)">'
                         f'<span class="bd-number"{badge}>{number}</span></button>')
        else:
            boxes.append(f'<div class="bd-panel" data-panel="{number}" style="{place}">'
                         f'<span class="bd-number"{badge}>{number}</span></div>')
    aspect = width / height
    attributes = ""
    if segments:
        axes = {name: time_axis(figure) for name, figure in (plots or {}).items() if figure is not None}
        attributes = f' data-duration="{duration:.3f}" data-plots="{html.escape(json.dumps(axes))}"'
    return (f'<div class="bd-map"{attributes}><p class="bd-note">{_note(analysis, segments)}</p>'
            f'<div class="bd-page" style="aspect-ratio:{aspect:.5f};width:min(100%, calc(78vh * {aspect:.5f}))">'
            f'<img src="{source}" alt="The page: panels numbered in reading order, lettered areas coloured by kind">'
            f'{"".join(boxes)}</div></div>')


def _panel_times(count: int, segments: Sequence[SegmentPlan]) -> dict[int, tuple[float, float]]:
    """Reading-order index -> (start, end) of the segment each panel is heard in (every panel the whole track
    when one segment covers the page)."""
    if len(segments) == 1 and segments[0].panel < 0:
        return {i: (segments[0].start, segments[0].end) for i in range(count)}
    return {s.panel: (s.start, s.end) for s in segments if 0 <= s.panel < count}


def _shared_corners(analysis: PageAnalysis, order: int) -> int:
    """How many panels read before ``order`` have their top-left corner at about the same place (their
    number badges would cover each other)."""
    panels = sorted(analysis.panels, key=lambda p: p.order)
    x, y = panels[order].box[:2]
    return sum(abs(p.box[0] - x) < CORNER * analysis.width and abs(p.box[1] - y) < CORNER * analysis.height
               for p in panels[:order])


def _note(analysis: PageAnalysis, segments: Sequence[SegmentPlan] | None) -> str:
    """One line under the legend: what the boxes do."""
    if not analysis.panels:
        return "No panel found: the whole page is one picture."
    if not segments:
        return "Panels in reading order. Generate a soundtrack to hear them."
    if len(segments) == 1 and segments[0].panel < 0:
        return ("One segment for the whole page: every panel is heard all along (tick <em>One segment per "
                "panel</em> to hear them one after another). Click a panel to play.")
    return "While the track plays, the panel being heard lights up. Click a panel to hear its part."
