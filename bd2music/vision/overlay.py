"""Draw the analysis on the page: panels numbered in reading order, lettered areas coloured by kind."""

from __future__ import annotations

from PIL import Image, ImageDraw, ImageFont

from bd2music.vision.boxes import Balloon, Panel

PANEL_COLOUR = (230, 57, 70)
BALLOON_COLOUR = (29, 120, 226)
KIND_COLOURS = {  # lettered areas by kind (bd2music.vision.lettering.KINDS); "unknown": nothing read
    "speech": BALLOON_COLOUR,
    "caption": (0, 150, 136),
    "sfx": (245, 124, 0),
    "sign": (142, 68, 173),
    "unknown": (120, 144, 156),
}


def draw_overlay(image: Image.Image, panels: list[Panel], balloons: list[Balloon], max_side: int = 1200,
                 kinds: bool = True) -> Image.Image:
    """Return a copy of ``image`` (at most ``max_side`` px) with numbered panel boxes and lettered areas, in their
    kind's colour (``kinds``: the lettering was read) or all in the balloon colour."""
    scale = min(1.0, max_side / max(image.size))
    canvas = image.resize((round(image.width * scale), round(image.height * scale))) if scale < 1 else image.copy()
    draw = ImageDraw.Draw(canvas, "RGBA")
    line = max(2, round(max(canvas.size) / 300))
    font = ImageFont.load_default(size=max(14, round(max(canvas.size) / 40)))
    for balloon in balloons:
        x0, y0, x1, y1 = (v * scale for v in balloon.box)
        colour = KIND_COLOURS.get(balloon.kind, BALLOON_COLOUR) if kinds else BALLOON_COLOUR
        draw.rectangle((x0, y0, x1, y1), outline=colour + (255,), fill=colour + (40,), width=line)
    for panel in panels:
        x0, y0, x1, y1 = (v * scale for v in panel.box)
        draw.rectangle((x0, y0, x1, y1), outline=PANEL_COLOUR + (255,), width=line + 1)
        label = str(panel.order + 1)
        box = draw.textbbox((0, 0), label, font=font)
        pad = line * 2
        w, h = box[2] - box[0] + 2 * pad, box[3] - box[1] + 2 * pad
        draw.rectangle((x0, y0, x0 + w, y0 + h), fill=PANEL_COLOUR + (235,))
        draw.text((x0 + pad - box[0], y0 + pad - box[1]), label, font=font, fill=(255, 255, 255))
    return canvas
