"""The score as a piano roll aligned with the panel segments: what the app shows beside the spectrogram."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from matplotlib import colormaps
from matplotlib.collections import PatchCollection
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from bd2music.audio.plots import DISPLAY_SIZE, MIN_FONT_PT
from bd2music.music.score import Score, is_kit

if TYPE_CHECKING:
    from bd2music.plan import SegmentPlan

LEGEND_COLUMNS = 3  # instruments side by side under the roll


def plot_piano_roll(score: Score, segments: Sequence[SegmentPlan], seconds: float) -> Figure:
    """Each note a bar (time x pitch), one colour per instrument, opacity by velocity; drum hits as ticks on
    a lane under the lowest note; the panel segments numbered as in the spectrogram."""
    instruments = list(dict.fromkeys(n.instrument for n in score.notes if not is_kit(n.instrument)))
    rows = -(-(len(instruments) + 1) // LEGEND_COLUMNS)  # the legend's rows under the axes, drums included
    fig = Figure(figsize=(DISPLAY_SIZE[0], DISPLAY_SIZE[1] + 0.2 * rows), layout="constrained")
    ax = fig.add_subplot()
    pitched = [n for n in score.notes if not is_kit(n.instrument)]
    drums = [n for n in score.notes if is_kit(n.instrument)]
    low = min((n.pitch for n in pitched), default=48) - 4
    high = max((n.pitch for n in pitched), default=84) + 2
    palette = colormaps["tab20"]
    for i, instrument in enumerate(instruments):
        notes = [n for n in pitched if n.instrument == instrument]
        colour = palette(i % 20)
        bars = [Rectangle((n.start, n.pitch - 0.4), n.duration, 0.8) for n in notes]
        ax.add_collection(PatchCollection(bars, facecolors=[(*colour[:3], 0.35 + 0.65 * n.velocity / 127)
                                                            for n in notes], linewidths=0))
        ax.plot([], [], color=colour, linewidth=6, label=instrument.replace("_", " "))
    if drums:
        ax.vlines([n.start for n in drums], low, low + 2, color="0.3", linewidth=0.8, label="drums")
    for segment in segments if len(segments) > 1 else ():
        if segment.start > 0:
            ax.axvline(segment.start, color="0.5", linewidth=1.0, linestyle="--")
        ax.text((segment.start + segment.end) / 2, 0.97, str(segment.panel + 1), transform=ax.get_xaxis_transform(),
                ha="center", va="top", fontweight="bold", bbox={"facecolor": "white", "alpha": 0.7, "edgecolor": "none"})
    octaves = np.arange(12 * (low // 12 + 1), high + 1, 12)
    ax.set_yticks(octaves, [f"C{o // 12 - 1}" for o in octaves])
    source = score.source.split(" (")[0] if score.source.startswith("piece") else "a new score"
    ax.set(xlim=(0, seconds), ylim=(low, high), xlabel="time (s)", ylabel="pitch")
    ax.set_title(f"Score: {score.key}, {source}", fontsize=MIN_FONT_PT + 1)
    fig.legend(loc="outside lower center", ncols=LEGEND_COLUMNS, fontsize=MIN_FONT_PT, frameon=False,
               handlelength=1.2, columnspacing=1.0)
    return fig
