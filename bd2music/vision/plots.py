"""Figures and tables of page features for the app and the docs (Agg figures, no pyplot state)."""

from __future__ import annotations

import colorsys

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from bd2music.audio.plots import DISPLAY_SIZE, MIN_FONT_PT
from bd2music.vision.features import FEATURE_DOCS, HUE_BINS, PageFeatures, PaletteColour, hex_to_rgb

LABELLED_SHARE = 0.08  # palette blocks at least this wide hold their percent at a legible size
HUE_NAMES = ("red", "orange", "yellow", "lime", "green", "spring", "cyan", "azure", "blue", "violet", "magenta", "rose")


def _luma(hex_colour: str) -> float:
    """Rec. 601 luma of ``#rrggbb`` in [0, 1], to pick a readable text colour on it."""
    r, g, b = hex_to_rgb(hex_colour)
    return 0.299 * r + 0.587 * g + 0.114 * b


def _draw_palette(ax: Axes, palette: list[PaletteColour]) -> None:
    """Stacked horizontal strip: one block per colour, as wide as its share; the wide ones labelled with their
    percent (the table lists every colour's hex code)."""
    left = 0.0
    for colour in palette:
        ax.barh(0, colour.share, left=left, color=colour.hex, edgecolor="0.5", linewidth=0.5)
        if colour.share >= LABELLED_SHARE:
            ink = "black" if _luma(colour.hex) > 0.5 else "white"
            ax.text(left + colour.share / 2, 0, f"{colour.share:.0%}", ha="center", va="center", fontsize=MIN_FONT_PT,
                    color=ink)
        left += colour.share
    ax.set_xlim(0, 1)
    ax.set_axis_off()
    ax.set_title("dominant palette (share of the page)", fontsize=MIN_FONT_PT + 1, loc="left")


def _draw_scalars(ax: Axes, features: PageFeatures) -> None:
    """Horizontal bars of the normalised scalars, each annotated with its raw value."""
    normalised = features.normalised_scalars()
    raw = features.scalars()
    names = list(normalised)[::-1]
    ax.barh(names, [normalised[n] for n in names], color="#4c72b0", height=0.7)
    for y, name in enumerate(names):
        ax.text(1.02, y, _format(raw[name]), va="center", fontsize=MIN_FONT_PT)
    ax.set_xlim(0, 1)
    ax.set_ylim(-0.6, len(names) - 0.4)
    ax.tick_params(labelsize=MIN_FONT_PT)
    ax.set_title("page features (0-1; raw value at right)", fontsize=MIN_FONT_PT + 1, loc="left")


def _draw_hues(ax: Axes, histogram: list[float]) -> None:
    """Hue histogram as bars painted in their own hue."""
    colours = [colorsys.hsv_to_rgb(i / HUE_BINS, 0.85, 0.95) for i in range(HUE_BINS)]
    ax.bar(range(HUE_BINS), histogram, color=colours, edgecolor="0.4", linewidth=0.5)
    ax.set_xticks(range(HUE_BINS), HUE_NAMES, rotation=60, fontsize=MIN_FONT_PT)
    ax.tick_params(axis="y", labelsize=MIN_FONT_PT)
    ax.set_ylim(0, max(max(histogram), 0.05) * 1.1)
    if not any(histogram):
        ax.text(HUE_BINS / 2 - 0.5, 0.025, "no saturated colour", ha="center", fontsize=MIN_FONT_PT, color="0.4")
    ax.set_title("hue histogram (share of coloured pixels)", fontsize=MIN_FONT_PT + 1, loc="left")


def plot_features(features: PageFeatures) -> Figure:
    """Palette strip, normalised scalar bars and hue histogram of a page, one above the other on an Agg figure as
    wide as the app shows it (``DISPLAY_SIZE``), its text at ``MIN_FONT_PT`` or more."""
    rows = len(features.normalised_scalars())
    figure = Figure(figsize=(DISPLAY_SIZE[0], 2.4 + 0.19 * rows), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    figure.suptitle("Page: visual features", fontsize=MIN_FONT_PT + 2)
    grid = figure.add_gridspec(3, 1, height_ratios=(0.55, 0.19 * rows, 1.3))
    _draw_palette(figure.add_subplot(grid[0]), features.palette)
    _draw_scalars(figure.add_subplot(grid[1]), features)
    _draw_hues(figure.add_subplot(grid[2]), features.colour.hue_histogram)
    return figure


def _format(value: float) -> str:
    """Short display form: yes/no for flags, integers as such, other numbers with 3 significant digits."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(int(value)) if float(value).is_integer() else f"{value:.3g}"


def feature_table(features: PageFeatures) -> list[list[str]]:
    """Rows ``[feature, value, meaning]`` of every page-level feature, for a ``gr.Dataframe``."""
    rows = [[name, _format(value), FEATURE_DOCS[name]] for name, value in features.scalars().items()]
    hues = ", ".join(
        f"{name} {share:.0%}" for name, share in zip(HUE_NAMES, features.colour.hue_histogram, strict=True) if share
    )
    palette = ", ".join(f"{c.hex} {c.share:.0%}" for c in features.palette)
    return rows + [
        ["hue_histogram", hues or "none", FEATURE_DOCS["hue_histogram"]],
        ["palette", palette, FEATURE_DOCS["palette"]],
    ]
