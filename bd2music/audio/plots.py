"""Figures and summary rows for one clip: what the app's "Sound analysis" tab and ``audio-features --plots`` show.

Figures are plain ``matplotlib.figure.Figure`` objects drawn with the Agg canvas (no pyplot state, nothing to
close), so they work in a server, in tests and in Gradio's ``gr.Plot``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import librosa.display
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.gridspec import SubplotSpec

from bd2music.audio.descriptors import DESCRIPTORS, PITCH_CLASSES, ClipDescriptors, FrameConfig, compute_descriptors
from bd2music.audio.load import AudioSource, load_audio
from bd2music.audio.mel import MEL

if TYPE_CHECKING:
    from bd2music.plan import SegmentPlan

MIN_TEMPO_S = 2.0  # shorter clips hold too few beats for a tempo
MIN_TEMPO_ONSETS = 3  # nor does a clip with fewer onsets than this
SUMMARY_ROWS = (  # summary columns shown in the app's table, with the unit of their descriptor
    "duration",
    "tempo",
    "onset_rate",
    "rms_mean",
    "spectral_centroid_mean",
    "spectral_bandwidth_mean",
    "spectral_rolloff_mean",
    "spectral_flatness_mean",
    "zero_crossing_rate_mean",
    "onset_strength_mean",
)
DISPLAY_SIZE = (4.8, 2.6)  # inches at 100 dpi: the app shows its figures 480 px wide on a desktop, 324 on a phone
MIN_FONT_PT = 10.0  # the smallest text in the app's figures: 14 px on a desktop, over 9 px on a phone
PANELS = (1.0, 1.6, 1.2, 1.0, 1.2, 1.0, 1.0)  # relative heights: waveform, mel, MFCC, chroma, curves, tonnetz, energy


def _image(
    fig: Figure, ax: Axes, colorbar: SubplotSpec, values: np.ndarray, result: ClipDescriptors, label: str, **kwargs: Any
) -> None:
    """Draw a (rows, frames) array against time in seconds, with its colour scale beside it."""
    if "cmap" not in kwargs:  # signed values: a diverging map centred on 0
        limit = float(np.abs(values).max(initial=1e-6))
        kwargs.update(cmap="coolwarm", vmin=-limit, vmax=limit)
    config = result.config
    mesh = librosa.display.specshow(
        values, x_coords=result.times, sr=config.sample_rate, hop_length=config.hop_length, x_axis="s", ax=ax, **kwargs
    )
    fig.colorbar(mesh, cax=fig.add_subplot(colorbar), label=label)


def _spectral_curves(ax: Axes, result: ClipDescriptors) -> None:
    """Centroid with a ± bandwidth band, and rolloff, in Hz over time."""
    frames, times = result.frames, result.times
    centroid, bandwidth = frames["spectral_centroid"], frames["spectral_bandwidth"]
    ax.fill_between(
        times, centroid - bandwidth, centroid + bandwidth, color="tab:orange", alpha=0.25, label="centroid ± bandwidth"
    )
    ax.plot(times, centroid, color="tab:orange", label="centroid")
    ax.plot(times, frames["spectral_rolloff"], color="tab:purple", label="rolloff")
    ax.set(title="Spectral curves", ylabel="Hz", ylim=(0, result.config.sample_rate / 2))
    ax.legend(loc="upper right", fontsize=MIN_FONT_PT)


def _energy(ax: Axes, result: ClipDescriptors) -> None:
    """RMS on the left axis, onset strength on a right axis."""
    ax.plot(result.times, result.frames["rms"], color="tab:green")
    ax.set(title="Energy and onsets", ylabel="RMS (full scale)", xlabel="time (s)")
    onsets = ax.twinx()
    onsets.plot(result.times, result.frames["onset_strength"], color="tab:red", alpha=0.6, linewidth=0.8)
    onsets.set_ylabel("onset strength (dB)", color="tab:red")


def plot_descriptors(result: ClipDescriptors) -> Figure:
    """One figure for one clip: waveform, mel spectrogram, MFCC, chroma, spectral curves, tonnetz, RMS and onsets."""
    frames, sr = result.frames, result.config.sample_rate
    fig = Figure(figsize=(DISPLAY_SIZE[0], 10.5), layout="constrained")  # as wide as the app shows it
    grid = fig.add_gridspec(len(PANELS), 2, width_ratios=(30, 1), height_ratios=PANELS)
    wave = fig.add_subplot(grid[0, 0])
    mel, mfcc, chroma, curves, tonnetz, energy = (
        fig.add_subplot(grid[row, 0], sharex=wave) for row in range(1, len(PANELS))
    )

    librosa.display.waveshow(frames["waveform"], sr=sr, axis="s", ax=wave, color="tab:blue")
    wave.set(title="Waveform", ylabel="amplitude (-1..1)", xlim=(0, len(frames["waveform"]) / sr))
    _image(fig, mel, grid[1, 1], frames["mel_db"], result, "dB", y_axis="mel", fmax=sr / 2, cmap="magma")
    mel.set(title="Mel spectrogram", ylabel="Hz")
    coefficients = np.arange(1, len(frames["mfcc"]))  # 0, the overall level, would swamp the colour scale
    _image(fig, mfcc, grid[2, 1], frames["mfcc"][1:], result, "dB (cepstral)", y_coords=coefficients)
    mfcc.set(title="MFCC (coefficient 0, the overall level, left out)", ylabel="coefficient", yticks=coefficients[::4])
    _image(fig, chroma, grid[3, 1], frames["chroma"], result, "ratio", y_axis="chroma", cmap="viridis", vmin=0, vmax=1)
    chroma.set(title="Chroma", ylabel="pitch class")
    _spectral_curves(curves, result)
    _image(fig, tonnetz, grid[5, 1], frames["tonnetz"], result, "coordinate", y_axis="tonnetz")
    tonnetz.set(title="Tonnetz", ylabel="axis")
    _energy(energy, result)

    for ax in (wave, mel, mfcc, chroma, curves, tonnetz):
        ax.set_xlabel("")
        ax.tick_params(labelbottom=False)
    summary, silent = result.summary, ", silent" if result.silent else ""
    tempo = "no tempo" if tempo_unmeasured(result) else f"{summary['tempo']:.0f} BPM"
    fig.suptitle(
        f"{result.name}: {summary['duration']:.2f} s, {tempo}, "
        f"{summary['onset_rate']:.1f} onsets/s{silent}",
        fontsize=MIN_FONT_PT + 1,
    )
    return fig


def plot_soundtrack(mel: np.ndarray, segments: Sequence[SegmentPlan]) -> Figure:
    """A generated track's log-mel (``MEL`` framing) in dB against seconds and Hz, each panel's segment numbered."""
    fig = Figure(figsize=DISPLAY_SIZE, layout="constrained")
    ax = fig.add_subplot()
    mesh = librosa.display.specshow(
        mel * (10 / np.log(10)), sr=MEL.sample_rate, hop_length=MEL.hop_length, x_axis="s", y_axis="mel",
        fmin=MEL.fmin, fmax=MEL.fmax, cmap="magma", ax=ax,
    )
    fig.colorbar(mesh, ax=ax, label="dB")
    for segment in segments if len(segments) > 1 else ():
        if segment.start > 0:
            ax.axvline(segment.start, color="white", linewidth=1.5)
        ax.text((segment.start + segment.end) / 2, 0.97, str(segment.panel + 1), transform=ax.get_xaxis_transform(),
                ha="center", va="top", color="white", fontweight="bold",
                bbox={"facecolor": "black", "alpha": 0.5, "edgecolor": "none"})
    ax.set(xlabel="time (s)", ylabel="Hz")
    ax.set_title("Soundtrack: mel spectrogram" + (", one segment per panel" if len(segments) > 1 else ""),
                 fontsize=MIN_FONT_PT + 1)
    return fig


def tempo_unmeasured(result: ClipDescriptors) -> str | None:
    """Why the clip's tempo means nothing (silent, shorter than ``MIN_TEMPO_S``, fewer than ``MIN_TEMPO_ONSETS``
    onsets), or None when it can be measured."""
    if result.silent:
        return "silent clip"
    if result.summary["duration"] < MIN_TEMPO_S:
        return f"too short for a tempo (under {MIN_TEMPO_S:g} s)"
    if result.summary["onset_rate"] * result.summary["duration"] < MIN_TEMPO_ONSETS:
        return f"too few onsets for a tempo (under {MIN_TEMPO_ONSETS})"
    return None


def summary_rows(result: ClipDescriptors) -> list[list[str | float]]:
    """``[name, value, unit]`` rows for a table: main summary values (a tempo that cannot be measured says why),
    strongest pitch class, silence flag."""
    rows: list[list[str | float]] = []
    for column in SUMMARY_ROWS:
        descriptor = next(name for name in DESCRIPTORS if column == name or column == f"{name}_mean")
        if column == "tempo" and (reason := tempo_unmeasured(result)):
            rows.append([column, f"not measured: {reason}", ""])
            continue
        rows.append([column, float(f"{result.summary[column]:.4g}"), DESCRIPTORS[descriptor].unit])
    strongest = max(PITCH_CLASSES, key=lambda pitch: result.summary[f"chroma_{pitch}_mean"])
    rows.append(["strongest_pitch_class", strongest.replace("s", "#"), "pitch class"])
    rows.append(["silent", "yes" if result.silent else "no", ""])
    return rows


def save_figure(fig: Figure, path: str | Path) -> Path:
    """Write ``fig`` as a PNG at ``path`` (folders created) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", dpi=100)
    return path


def analyze_clip(
    source: AudioSource, name: str | None = None, config: FrameConfig = FrameConfig()
) -> tuple[Figure, list[list[str | float]]]:
    """Figure and summary rows of one sound (path, bytes or ``(array, rate)``); bad input raises InputError."""
    [result] = compute_descriptors([load_audio(source, name, sample_rate=config.sample_rate)], config=config)
    return plot_descriptors(result), summary_rows(result)
