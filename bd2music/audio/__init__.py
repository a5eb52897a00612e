"""Audio analysis toolkit: safe loading (``load``), descriptors with stable names (``descriptors``, batched in
``torch_descriptors``) and per-clip figures and summary tables (``plots``, imported on demand: matplotlib)."""

from bd2music.audio.descriptors import DESCRIPTORS, ClipDescriptors, FrameConfig, compute_descriptors, summary_columns
from bd2music.audio.load import ANALYSIS_SAMPLE_RATE, Clip, load_audio

__all__ = [
    "ANALYSIS_SAMPLE_RATE",
    "DESCRIPTORS",
    "Clip",
    "ClipDescriptors",
    "FrameConfig",
    "compute_descriptors",
    "load_audio",
    "summary_columns",
]
