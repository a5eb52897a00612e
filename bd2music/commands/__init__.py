"""CLI subcommands: each module defines ``add_arguments(parser)`` and ``run(args) -> int`` (the exit code)."""

COMMANDS = {
    "analyze": ("bd2music.commands.analyze", "detect panels and balloons, reading order and visual features"),
    "evaluate-panels": ("bd2music.commands.evaluate_panels", "panel/balloon precision, recall, F1 on annotated pages"),
    "audio-features": ("bd2music.commands.audio_features", "audio descriptors (CSV, per-clip .npz, plots)"),
    "make-pages": ("bd2music.commands.make_pages", "draw procedural comic pages with exact YOLO labels"),
    "train": ("bd2music.commands.train", "train a model (detector, vocoder, audio-vae)"),
}
