"""bd2music Gradio app (runs locally with ``python app.py`` and as a Hugging Face Space).

UI only: it builds one :class:`bd2music.pipeline.Pipeline` at start-up and lays out what it returns.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # nothing leaves the machine

import gradio as gr  # noqa: E402

from bd2music.audio.plots import analyze_clip  # noqa: E402
from bd2music.errors import InputError  # noqa: E402
from bd2music.io import load_page  # noqa: E402
from bd2music.pipeline import Pipeline  # noqa: E402
from bd2music.vision.overlay import draw_overlay  # noqa: E402
from bd2music.vision.plots import feature_table, plot_features  # noqa: E402

EXAMPLES = Path(__file__).resolve().parent / "examples"
PIPELINE = Pipeline.from_pretrained()


def analyze(page_path: str | None, rtl: bool, detector: str):
    """Page → overlay image, features figure, features table, JSON file."""
    if not page_path:
        raise gr.Error("Upload a comic page first.")
    try:
        page = load_page(page_path)
        analysis = PIPELINE.analyze(page, rtl=rtl, detector=detector)
    except InputError as error:
        raise gr.Error(str(error)) from None
    overlay = draw_overlay(page.image, analysis.panels, analysis.balloons)
    summary = f"**{len(analysis.panels)} panels**, **{len(analysis.balloons)} balloons** ({analysis.detector} detector)"
    out = Path(tempfile.mkdtemp(prefix="bd2music_")) / f"{Path(page_path).stem}.json"
    out.write_text(json.dumps({"pages": [analysis.to_dict()]}, indent=1))
    return overlay, summary, plot_features(analysis.features), feature_table(analysis.features), str(out)


def analyze_sound(clip_path: str | None):
    """Clip → descriptor figure and summary table."""
    if not clip_path:
        raise gr.Error("Upload or record a sound first.")
    try:
        return analyze_clip(clip_path)
    except InputError as error:
        raise gr.Error(str(error)) from None


def build_demo() -> gr.Blocks:
    """The app's layout."""
    files = sorted(EXAMPLES.glob("*.jpg"))
    examples = [[str(p), p.name.startswith("openmantra"), "yolo"] for p in files]
    labels = [p.stem.replace("_", " ") + (" (manga, right to left)" if rtl else "") for p, (_, rtl, _) in zip(files, examples)]
    with gr.Blocks(title="bd2music") as demo:
        gr.Markdown("# bd2music\nA comic page in, its panels, balloons, reading order and visual features out.")
        with gr.Tab("Comic page"):
            with gr.Row():
                with gr.Column(scale=1) as column_of_inputs:
                    page = gr.File(label="Comic page (PNG, JPEG, WebP, GIF, TIFF, BMP)", file_types=["image"],
                                   type="filepath")
                    rtl = gr.Checkbox(label="Manga: read right to left")
                    detector = gr.Radio(["yolo", "classical"], value="yolo", label="Panel detector")
                    run = gr.Button("Analyse page", variant="primary")
                with gr.Column(scale=2):
                    overlay = gr.Image(label="Panels in reading order (red) and balloons (blue)", type="pil")
                    summary = gr.Markdown()
                with gr.Column(scale=2):
                    figure = gr.Plot(label="Visual features")
                    table = gr.Dataframe(headers=["feature", "value", "meaning"], label="Features", wrap=True)
                    download = gr.File(label="Analysis JSON")
            outputs = [overlay, summary, figure, table, download]
            run.click(analyze, [page, rtl, detector], outputs, api_name="analyze")
            with column_of_inputs:
                gr.Examples(examples, inputs=[page, rtl, detector], outputs=outputs, fn=analyze, run_on_click=True,
                            example_labels=labels, label="Example pages (click to analyse)")
        with gr.Tab("Sound analysis"):
            with gr.Row():
                with gr.Column(scale=1):
                    clip = gr.Audio(label="Sound clip", type="filepath", sources=["upload", "microphone"])
                    run_sound = gr.Button("Analyse sound", variant="primary")
                with gr.Column(scale=3):
                    sound_figure = gr.Plot(label="Descriptors")
                    sound_table = gr.Dataframe(headers=["descriptor", "value", "unit"], label="Summary")
            run_sound.click(analyze_sound, clip, [sound_figure, sound_table], api_name="analyze_sound")
    return demo


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Start the bd2music app.")
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", 7860)))
    parser.add_argument("--share", action="store_true", help="also open a public share link")
    args = parser.parse_args()
    build_demo().queue(default_concurrency_limit=2).launch(server_port=args.port, share=args.share,
                                                          max_file_size="60mb")
