"""bd2music Gradio app (runs locally with ``python app.py`` and as a Hugging Face Space).

UI only: it builds one :class:`bd2music.pipeline.Pipeline` at start-up and lays out what it returns.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from unittest import mock

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # nothing leaves the machine

import gradio as gr  # noqa: E402
from gradio import component_meta  # noqa: E402
from gradio.data_classes import FileData  # noqa: E402
from PIL import Image  # noqa: E402
from pydantic import ValidationError  # noqa: E402

from bd2music.audio.load import write_wav  # noqa: E402
from bd2music.audio.plots import analyze_clip, plot_descriptors, plot_soundtrack  # noqa: E402
from bd2music import inputs  # noqa: E402
from bd2music.draw.pipeline import SOUND_WORDS, DrawPipeline  # noqa: E402
from bd2music.draw.plan import SECONDS_RANGE as DRAW_SECONDS_RANGE  # noqa: E402
from bd2music.depict import DepictPipeline  # noqa: E402
from bd2music.errors import InputError  # noqa: E402
from bd2music.explain import explain  # noqa: E402
from bd2music.hub import WeightsSource, locate_weights  # noqa: E402
from bd2music.io import IMAGE_SUFFIXES, Page, load_page, with_added_suffix  # noqa: E402
from bd2music.models.diffusion import STEPS_RANGE  # noqa: E402
from bd2music.music.plots import plot_piano_roll  # noqa: E402
from bd2music.pipeline import SECONDS_RANGE, Pipeline  # noqa: E402
from bd2music.playback import page_map  # noqa: E402
from bd2music.text_to_audio import slug  # noqa: E402
from bd2music.vision.analysis import PageAnalysis  # noqa: E402
from bd2music.vision.detect import DETECTORS  # noqa: E402
from bd2music.vision.overlay import KIND_COLOURS, draw_overlay  # noqa: E402
from bd2music.vision.plots import feature_table, plot_features  # noqa: E402

try:  # on a ZeroGPU Space, a GPU is lent for each call of a function decorated with spaces.GPU
    import spaces

    gpu = spaces.GPU
except ImportError:

    def gpu(function):
        """No ``spaces`` package: run the function as it is."""
        return function


EXAMPLES = Path(__file__).resolve().parent / "examples"
WEB = Path(__file__).resolve().parent / "web"  # the page map's script and style
SOUND_INFO = ("soundtrack: music over the scene; music: a score (a public-domain piece or a new one) played by "
              "recorded instruments; scene: real recorded sounds from the licensed bank; neural: the learned "
              "decoder and vocoder; diffusion: a recorded sound from the bank re-drawn by the latent diffusion "
              "model")
STAGE_WORDS = {"detection": "finding the panels", "features": "measuring the page", "plan": "planning the sound",
               "render": "mixing the sounds", "master": "mastering"}
LEGEND = ", ".join(f'<span style="color:rgb{colour}">{kind}</span>' for kind, colour in KIND_COLOURS.items())
MAX_UPLOAD = "60mb"
OUTPUT_ROOT = Path(tempfile.gettempdir()) / "bd2music_app"  # one folder per request below it
try:  # request folders older than this are deleted, Gradio's cached files likewise (delete_cache)
    OUTPUT_MAX_AGE_S = inputs.number(float(os.environ.get("BD2MUSIC_FILES_MAX_AGE", 3600)), "BD2MUSIC_FILES_MAX_AGE",
                                     1, 7 * 24 * 3600)
except (ValueError, InputError) as error:
    sys.exit(f"bd2music: BD2MUSIC_FILES_MAX_AGE must be seconds between 1 and 604800 ({error})")


@functools.cache
def weights() -> WeightsSource:
    """The pinned Hub weights, or the local ``weights/`` when offline (decided once)."""
    return locate_weights()


@functools.cache
def pipeline() -> Pipeline:
    """The one pipeline, loaded once (the server loads it before it starts listening); each result's JSON names
    its weights without the server's folders."""
    loaded = Pipeline.from_pretrained(weights().folder)
    loaded.weights = weights().public
    return loaded


@functools.cache
def sounds() -> tuple[list[str], str]:
    """(the sounds whose assets load, the one selected first); each sound that does not load is one log line."""
    usable, problems = pipeline().usable_sounds()
    for problem in problems:
        print(f"bd2music: {problem}", flush=True)
    if not usable:
        raise SystemExit("bd2music: no sound can be rendered; see the lines above")
    default = pipeline().index.default
    return usable, default if default in usable else usable[0]


@functools.cache
def depicter() -> DepictPipeline:
    """The sound -> page pipeline, on the models the one pipeline has loaded."""
    return DepictPipeline.from_pipeline(pipeline(), weights().folder)


def _refuse(message: str) -> gr.Error:
    """A bad request: the user sees ``message``; the server's log gets that one line, not a traceback."""
    print(f"bd2music: refused: {message}", file=sys.stderr, flush=True)
    return gr.Error(message, print_exception=False)


def _strict(component: type, check: Callable[[object], object], file: str | None = None) -> type:
    """``component`` whose value from a request passes ``check`` (``bd2music.inputs``) before Gradio converts it:
    a wrong type or range is the app's one line, not a generic error or a silent coercion. A ``file`` input
    (named so) that is not a file object is refused in one line too, when Gradio reads it."""

    def preprocess(self, payload):
        try:
            return component.preprocess(self, check(payload))
        except InputError as error:
            raise _refuse(str(error)) from None

    @functools.wraps(component.__init__)  # Gradio reads the settings to send the browser from its signature
    def __init__(self, *args, **kwargs):
        component.__init__(self, *args, **kwargs)
        self.data_model = _file_model(self.data_model, file)

    # The subclass keeps the component's name, so the browser draws it as that component; Gradio writes a
    # type-stub file beside the module of every component class it meets, and app.py wants none.
    with mock.patch.object(component_meta, "create_or_modify_pyi", lambda *args: None):
        members = {"is_template": True, "preprocess": preprocess} | ({"__init__": __init__} if file else {})
        return type(component.__name__, (component,), members)


def _file_model(model: type[FileData], name: str) -> type[FileData]:
    """Gradio's file object ``model``, whose validation (before ``preprocess``) refuses anything else in one line."""

    class Checked(model):
        @classmethod
        def model_validate(cls, obj, *args, **kwargs):
            try:
                return super().model_validate(obj, *args, **kwargs)
            except ValidationError:
                raise _refuse(str(inputs.not_a_file(obj, name))) from None

    Checked.__name__ = Checked.__qualname__ = model.__name__
    return Checked


def _any(value: object) -> object:
    """No check beyond the file object's (the clip's content is checked when it is read)."""
    return value


def _page_upload(payload: FileData | None) -> FileData | None:
    """An uploaded page must be named as an image (Gradio checks that too, in its own words)."""
    if payload is not None:
        inputs.suffix(payload.orig_name or payload.path, IMAGE_SUFFIXES, "an image file (PNG, JPEG, WebP, GIF, TIFF, BMP)")
    return payload


PageFile = _strict(gr.File, _page_upload, file="page")
Seconds = _strict(gr.Slider, lambda value: inputs.number(value, "seconds", *SECONDS_RANGE))
Seed = _strict(gr.Number, lambda value: inputs.number(value, "seed", 0, 2**32 - 1, whole=True))
PerPanel = _strict(gr.Checkbox, lambda value: inputs.flag(value, "per_panel"))
RightToLeft = _strict(gr.Checkbox, lambda value: inputs.flag(value, "rtl"))
Detector = _strict(gr.Radio, lambda value: inputs.choice(value, "detector", DETECTORS))
Sound = _strict(gr.Radio, lambda value: inputs.choice(value, "sound", sounds()[0]))
ReadText = _strict(gr.Checkbox, lambda value: inputs.flag(value, "text"))
Prompt = _strict(gr.Textbox, lambda value: inputs.prompt(value))
Steps = _strict(gr.Slider, lambda value: inputs.number(value, "steps", *STEPS_RANGE, whole=True))
DrawSeconds = _strict(gr.Number, lambda value: inputs.number(value, "seconds", *DRAW_SECONDS_RANGE))
DrawingFile = _strict(gr.File, _page_upload, file="drawing")
DrawSound = _strict(gr.Radio, lambda value: inputs.choice(value, "sound", draw_sounds()))
Reading = _strict(gr.Radio, lambda value: inputs.choice(value, "reading", list(draw_pipeline().reader.methods)))
Clip = _strict(gr.Audio, _any, file="clip")


def _load(page_path: str | None) -> Page:
    if not page_path:
        raise _refuse("Upload a comic page first.")
    try:
        return load_page(page_path)
    except InputError as error:
        raise _refuse(str(error)) from None


def _page_outputs(page: Page, analysis: PageAnalysis) -> tuple:
    """Overlay, one-line summary, features figure, features table and lettering table of an analysed page (the
    page map, which the browser shows instead of the overlay, is made apart: with a track it carries its times)."""
    overlay: Image.Image = draw_overlay(page.image, analysis.panels, analysis.balloons, kinds=analysis.lettering)
    counts = f"**{_count(analysis.panels, 'panel')}**, **{_count(analysis.balloons, 'balloon')}**"
    summary = f"{counts} ({analysis.detector} detector{', lettering read' if analysis.lettering else ''})"
    return overlay, summary, plot_features(analysis.features), feature_table(analysis.features), _lettering(analysis)


def _lettering(analysis: PageAnalysis) -> list[list]:
    """One row per lettered area with text: panel number (or "-"), kind, text; in the panels' reading order."""
    read = [b for b in analysis.balloons if b.text]
    read.sort(key=lambda b: (b.panel if b.panel is not None else len(analysis.panels), b.box[1], b.box[0]))
    return [["-" if b.panel is None else b.panel + 1, b.kind, b.text] for b in read]


def _count(items: list, noun: str) -> str:
    """``"1 panel"``, ``"3 panels"``."""
    return f"{len(items)} {noun}{'' if len(items) == 1 else 's'}"


def _output_stem(page_path: str) -> Path:
    """A fresh folder for one request's files, and the uploaded page's name in it (no suffix); request folders
    older than ``OUTPUT_MAX_AGE_S`` are deleted first (Gradio has served its own copies of their files)."""
    OUTPUT_ROOT.mkdir(parents=True, exist_ok=True)
    now = time.time()
    for folder in OUTPUT_ROOT.glob("request_*"):
        try:
            if now - folder.stat().st_mtime > OUTPUT_MAX_AGE_S:
                shutil.rmtree(folder, ignore_errors=True)
        except FileNotFoundError:  # another request swept it first
            pass
    return Path(tempfile.mkdtemp(prefix="request_", dir=OUTPUT_ROOT)) / Path(page_path).stem


def _write(result, stem: Path) -> tuple[Path, list[str]]:
    """A pipeline result's files beside ``stem``: the WAV, the JSON and, when a score plays, its MIDI; (the WAV,
    every file for the downloads box)."""
    wav, out = with_added_suffix(stem, ".wav"), with_added_suffix(stem, ".json")
    write_wav(wav, result.audio, result.sample_rate)
    out.write_text(json.dumps(result.to_dict(), indent=1))
    downloads = [str(wav), str(out)]
    if result.score is not None:
        downloads.append(str(result.score.write(stem)["midi"]))
    return wav, downloads


def analyze(page_path: str | None, rtl: bool, detector: str, text: bool = True):
    """Page → overlay image, summary, features figure, features table, lettering table, analysis JSON."""
    page = _load(page_path)
    try:
        analysis = pipeline().analyze(page, rtl=rtl, detector=detector, text=text)
    except InputError as error:
        raise _refuse(str(error)) from None
    out = with_added_suffix(_output_stem(page_path), ".json")
    out.write_text(json.dumps({"pages": [analysis.to_dict()]}, indent=1))
    return *_page_outputs(page, analysis), page_map(page.image, analysis), [str(out)]


@gpu
def generate(page_path: str | None, seconds: float, seed: int, per_panel: bool, rtl: bool, detector: str,
             sound: str | None = None, text: bool = True, progress: gr.Progress = gr.Progress()):
    """Page + settings → overlay, summary, features figure and table, lettering table, page map, spectrogram,
    piano roll (when music plays), WAV, cue sheet, downloads (WAV, JSON, MIDI)."""
    page = _load(page_path)
    if seconds is None or seed is None:
        raise _refuse("Give a length in seconds and a seed.")
    try:
        result = pipeline()(page, seconds=float(seconds), seed=int(seed), per_panel=per_panel, rtl=rtl,
                            detector=detector, sound=sound or None, text=text,
                            progress=lambda fraction, stage: progress(fraction, desc=STAGE_WORDS.get(stage, stage)))
    except InputError as error:
        raise _refuse(str(error)) from None
    wav, downloads = _write(result, _output_stem(page_path))
    roll = None
    if result.score is not None:
        roll = plot_piano_roll(result.score, result.segments, result.duration)
    spectrogram = plot_soundtrack(result.mel, result.segments)
    overlay, summary, figure, table, lettering = _page_outputs(page, result.analysis)
    tempos = ", ".join(f"{s.tempo:.0f}" for s in result.segments)
    rates = ", ".join(f"{s.onset_rate:.1f}" for s in result.segments)
    summary += (f"\n\n**Why it sounds like this**: {explain(result)}\n\nSound **{result.settings['sound']}** at "
                f"{tempos} BPM, {rates} onsets/s, {result.mastered.lufs:.0f} LUFS (the plan the learned mapping "
                "read in the page).")
    cues = [[c["start"], c["end"], c["layer"], c["clip"], c["license"], c["author"], c["trigger"]] for c in result.cues]
    tied = page_map(page.image, result.analysis, result.segments, result.duration,
                    {"spectrogram": spectrogram, "piano-roll": roll})
    return overlay, summary, figure, table, lettering, tied, spectrogram, roll, str(wav), cues, downloads


def analyze_sound(clip_path: str | None):
    """Clip → descriptor figure and summary table."""
    if not clip_path:
        raise _refuse("Upload or record a sound first.")
    try:
        return analyze_clip(clip_path)
    except InputError as error:
        raise _refuse(str(error)) from None


@functools.cache
def draw_pipeline() -> DrawPipeline:
    """The drawing -> sound pipeline (its sounds' assets load on first use, or at start-up with ``draw_sounds``)."""
    return DrawPipeline.from_pretrained(weights().folder)


@functools.cache
def draw_sounds() -> list[str]:
    """The drawing sounds whose assets load; each that does not is one log line."""
    usable, problems = draw_pipeline().usable_sounds()
    for problem in problems:
        print(f"bd2music: {problem}", flush=True)
    return usable


def draw(drawing_path: str | None, sound: str, reading: str = "learned", seconds: float = 8.0):
    """Drawing (an image file) + settings -> the drawing with its strokes numbered, summary, readings table, WAV,
    cue sheet, downloads (WAV, JSON of readings, plan and cues; MIDI when the sampler plays)."""
    if not drawing_path:
        raise _refuse("Draw something on the canvas or upload a drawing first.")
    try:
        result = draw_pipeline()(drawing_path, sound, reading, seconds)
    except InputError as error:
        raise _refuse(str(error)) from None
    wav, downloads = _write(result, _output_stem(drawing_path))
    summary = (f"**{_count(result.reading.strokes, 'stroke')}** read ({result.reading.method}), left to right over "
               f"**{result.plan.seconds:g} s**, played by {SOUND_WORDS[sound]}; **{result.mastered.lufs:.0f} "
               "LUFS** from the ink's loudness.")
    cues = [[c["start"], c["end"], c["clip"], c["license"], c["author"], c["trigger"]] for c in result.cues]
    return result.overlay(), summary, result.rows(), str(wav), cues, downloads


def draw_canvas(canvas: dict | None, sound: str, reading: str = "learned", seconds: float = 8.0):
    """The sketch canvas's picture (what is drawn over any uploaded background) -> as ``draw``."""
    canvas = canvas or {}
    return draw(canvas.get("composite") or canvas.get("background"), sound, reading, seconds)


def _draw_tab() -> None:
    """Tab **Draw**: a sketch canvas (or an uploaded drawing) -> its readings and its sound."""
    with gr.Tab("Draw"):
        gr.Markdown("Draw left to right: time runs across the canvas. Higher strokes sound higher, thicker ones "
                    "louder, warm saturated colours (red, yellow) brighter and cool ones (cyan, blue) darker.")
        with gr.Row():
            with gr.Column(scale=2):
                canvas = gr.Sketchpad(label="Drawing", type="filepath", format="png", canvas_size=(900, 450),
                                      brush=gr.Brush(default_size=8, colors=["#111111", "#1f3fff", "#00c2e0",
                                                                             "#22aa33", "#ffcc00", "#ff7700",
                                                                             "#e01020", "#9030e0"]),
                                      eraser=gr.Eraser(default_size=24), buttons=["download"], elem_id="canvas")
                upload = DrawingFile(label="Or upload a drawing (PNG, JPEG, WebP, ...)", file_types=["image"],
                                 type="filepath", elem_id="drawing-file")
                with gr.Row():
                    sound = DrawSound(draw_sounds(), value=(draw_sounds() or [None])[0], label="Sound",
                                     info="; ".join(f"{k}: {v}" for k, v in SOUND_WORDS.items()), elem_id="draw-sound")
                    reading = Reading(list(draw_pipeline().reader.methods), value=draw_pipeline().reader.methods[0],
                                       label="Reading", info="learned: small networks trained on generated "
                                       "drawings; classical: measured by hand-written rules")
                    seconds = DrawSeconds(8, minimum=DRAW_SECONDS_RANGE[0], maximum=DRAW_SECONDS_RANGE[1],
                                          label="Seconds across the canvas", elem_id="draw-seconds")
                run = gr.Button("Get sound", variant="primary", elem_id="get-sound")
            with gr.Column(scale=2):
                strokes = gr.Image(label="Strokes, numbered left to right", type="pil", elem_id="strokes")
                summary = gr.Markdown(elem_id="draw-summary")
                table = gr.Dataframe(headers=["stroke", "seconds", "notes", "height", "loudness", "brightness",
                                              "colour", "plays"], label="Readings", wrap=True, elem_id="readings")
                audio = gr.Audio(label="Sound", type="filepath", interactive=False, elem_id="draw-audio")
                downloads = gr.File(label="Downloads: WAV, JSON (readings, plan, cues), MIDI (the sampler's notes)",
                                    file_count="multiple", elem_id="draw-downloads")
        cues = gr.Dataframe(headers=["start (s)", "end (s)", "sound", "licence", "author", "why"],
                            label="Cue sheet: what plays each stroke, with its credits", wrap=True, max_height=320,
                            elem_id="draw-cues")
        outputs = [strokes, summary, table, audio, cues, downloads]
        run.click(draw_canvas, [canvas, sound, reading, seconds], outputs, api_visibility="private",
                  concurrency_limit=1)
        upload.upload(draw, [upload, sound, reading, seconds], outputs, api_name="draw", concurrency_limit=1).then(
            lambda path: path, upload, canvas, api_visibility="private", queue=False
        )  # the uploaded drawing goes on the canvas, to draw on and get its sound again


def depict(clip_path: str | None, seed: int):
    """Clip + seed → comic page, summary, readings table, descriptor figure, downloads (PNG, JSON)."""
    if not clip_path:
        raise _refuse("Upload or record a sound first.")
    if seed is None:
        raise _refuse("Give a seed.")
    try:
        page = depicter()(clip_path, seed=int(seed))
    except InputError as error:
        raise _refuse(str(error)) from None
    stem = _output_stem(clip_path)
    png, out = with_added_suffix(stem, ".png"), with_added_suffix(stem, ".json")
    page.image.save(png)
    out.write_text(json.dumps(page.to_dict() | {"image": png.name}, indent=1))
    return page.image, page.describe(), page.table(), plot_descriptors(page.descriptors), [str(png), str(out)]


def _depict_tab() -> None:
    """Tab "Sound to page": a clip in, its comic page, readings and descriptor figure out."""
    with gr.Tab("Sound to page"):
        with gr.Row():
            with gr.Column(scale=1):
                clip = Clip(label="Sound clip", type="filepath", sources=["upload", "microphone"],
                            elem_id="depict-clip")
                seed = Seed(0, precision=0, minimum=0, maximum=2**32 - 1, label="Seed (same seed, same page)",
                            elem_id="depict-seed")
                run = gr.Button("Draw its page", variant="primary", elem_id="depict")
                summary = gr.Markdown(elem_id="depict-summary")
                downloads = gr.File(label="Downloads: the page (PNG), its readings (JSON)", file_count="multiple",
                                    elem_id="depict-downloads")
            with gr.Column(scale=2):
                image = gr.Image(label="Comic page", type="pil", elem_id="depict-page")
            with gr.Column(scale=2):
                readings = gr.Dataframe(headers=["reading", "value", "page", "asked → measured"], wrap=True,
                                        column_widths=["24%", "26%", "22%", "28%"],
                                        label="What the sound sets on the page", elem_id="depict-readings")
                figure = gr.Plot(label="Descriptors", show_label=False, elem_id="depict-descriptors")
        run.click(depict, [clip, seed], [image, summary, readings, figure, downloads], api_name="depict")


@gpu
def text_to_sound(prompt: str | None, seconds: float, seed: int, steps: int, progress: gr.Progress = gr.Progress()):
    """Prompt + settings → sound (WAV), its mel spectrogram, a summary, downloads (WAV, JSON)."""
    if seconds is None or seed is None or steps is None:
        raise _refuse("Give a length in seconds, a seed and a number of steps.")
    try:
        result = pipeline().text_to_audio(prompt, seconds=float(seconds), seed=int(seed), steps=int(steps),
                                          progress=lambda fraction, stage: progress(fraction,
                                                                                    desc=STAGE_WORDS.get(stage, stage)))
    except InputError as error:
        raise _refuse(str(error)) from None
    wav, downloads = _write(result, _output_stem(slug(result.prompt)))
    settings = result.settings
    summary = (f"**{result.prompt}**: {result.duration:.1f} s sampled by the latent diffusion model in "
               f"{settings['steps']} {settings['scheduler']} steps (guidance {settings['guidance']:g}), voiced by "
               f"{settings['vocoder']}, mastered to {result.mastered.lufs:.0f} LUFS. Same prompt and seed, same sound.")
    if result.sounds_like:
        summary += (f" Conditioned on the {settings['prompt_clips']} recordings whose captions are nearest the "
                    f"prompt ({'; '.join(result.sounds_like[:4])} …; credited in the JSON).")
    return str(wav), plot_soundtrack(result.mel, []), summary, downloads


def _text_tab() -> None:
    """Tab **Text to sound**: a prompt in, the latent diffusion model's sound out (endpoint ``/text_to_audio``)."""
    with gr.Tab("Text to sound"):
        with gr.Row():
            with gr.Column(scale=1):
                prompt = Prompt(label="Describe a sound", placeholder="rain on a tin roof", max_length=300,
                                elem_id="prompt")
                seconds = Seconds(*SECONDS_RANGE, value=10, step=1, label="Length (seconds)")
                seed = Seed(0, precision=0, minimum=0, maximum=2**32 - 1, label="Seed (same seed, same sound)")
                steps = Steps(*STEPS_RANGE, value=20, step=1, label="Denoising steps (more: slower)")
                run = gr.Button("Make the sound", variant="primary", elem_id="text-to-audio")
            with gr.Column(scale=3):
                audio = gr.Audio(label="Sound", type="filepath", interactive=False, elem_id="text-sound")
                summary = gr.Markdown(elem_id="text-summary")
                spectrogram = gr.Plot(label="Mel spectrogram", show_label=False, elem_id="text-spectrogram")
                downloads = gr.File(label="Downloads: WAV, JSON (prompt, settings)", file_count="multiple")
        run.click(text_to_sound, [prompt, seconds, seed, steps], [audio, spectrogram, summary, downloads],
                  api_name="text_to_audio", concurrency_limit=1)


def build_demo() -> gr.Blocks:
    """The app's layout."""
    files = sorted(EXAMPLES.glob("*.jpg"))
    examples = [[str(p), 10, 0, False, p.name.startswith("openmantra"), "yolo", sounds()[1], True]
                for p in files]
    labels = [p.stem.replace("_", " ") + (" (manga, right to left)" if ex[4] else "") for p, ex in zip(files, examples)]
    age = max(1, int(OUTPUT_MAX_AGE_S))  # Gradio sweeps its cache every 10 minutes, or as often as the age
    with gr.Blocks(title="bd2music", delete_cache=(min(600, age), age)) as demo:
        gr.Markdown("# bd2music\nA comic page in: its panels, balloons, reading order, visual features and a "
                    "soundtrack out.")
        with gr.Tab("Comic page"):
            with gr.Row():
                with gr.Column(scale=1) as column_of_inputs:
                    page = PageFile(label="Comic page (PNG, JPEG, WebP, GIF, TIFF, BMP)", file_types=["image"],
                                   type="filepath", elem_id="page")
                    seconds = Seconds(*SECONDS_RANGE, value=10, step=1, label="Length (seconds)", elem_id="seconds")
                    seed = Seed(0, precision=0, minimum=0, maximum=2**32 - 1,
                                label="Seed (same seed, same soundtrack)")
                    per_panel = PerPanel(label="One segment per panel, in reading order")
                    rtl = RightToLeft(label="Manga: read right to left")
                    detector = Detector(list(DETECTORS), value="yolo", label="Panel detector")
                    sound = Sound(sounds()[0], value=sounds()[1], label="Sound", info=SOUND_INFO, elem_id="sound")
                    text = ReadText(value=True, elem_id="text",
                                    label="Read the lettering (its words and sound effects shape the sound)")
                    run = gr.Button("Generate soundtrack", variant="primary", elem_id="generate")
                    run_analysis = gr.Button("Analyse page only", elem_id="analyze")
                    status = gr.HTML(elem_id="status")  # the one place that shows progress, beside the buttons
                with gr.Column(scale=2):
                    gr.Markdown(f"Panels in reading order (red, numbered) and lettered areas: {LEGEND}",
                                elem_id="overlay-legend")
                    # the overlay image is for API clients; the browser shows the page map: the same page with
                    # panel boxes that light up while their segment plays and play it when clicked
                    overlay = gr.Image(label="Panels and balloons", type="pil", elem_id="overlay", visible=False)
                    tied = gr.HTML("", elem_id="page-map", js_on_load=(WEB / "playhead.js").read_text(),
                                   css_template=(WEB / "page_map.css").read_text())
                    summary = gr.Markdown(elem_id="summary")
                    lettering = gr.Dataframe(headers=["panel", "kind", "text"], label="Lettering: each panel's text",
                                             wrap=True, column_widths=["20%", "27%", "53%"], max_height=400,
                                             elem_id="lettering")
                with gr.Column(scale=3):
                    audio = gr.Audio(label="Soundtrack", type="filepath", interactive=False, elem_id="soundtrack",
                                     waveform_options=gr.WaveformOptions(show_recording_waveform=False))
                    # no label badges on the figures: they would hide their titles and the first segment's number
                    spectrogram = gr.Plot(label="Soundtrack mel spectrogram", show_label=False, elem_id="spectrogram")
                    piano_roll = gr.Plot(label="Score (piano roll)", show_label=False, elem_id="piano-roll")
                    figure = gr.Plot(label="Visual features", show_label=False, elem_id="features")
                    # feature names are never broken: a phone scrolls the table sideways
                    table = gr.Dataframe(headers=["feature", "value", "meaning"], label="Features", wrap=True,
                                         column_widths=[168, 72, 276], max_height=640, elem_id="feature-table")
                    downloads = gr.File(label="Downloads: WAV, JSON (panels, features, plan, cues), MIDI (the score)",
                                        file_count="multiple", elem_id="downloads")
            # the cue sheet's seven columns get the tab's full width (a phone scrolls it sideways); a cell cut at
            # max_chars (long author lists) shows all its credits when clicked
            cue_sheet = gr.Dataframe(headers=["start (s)", "end (s)", "layer", "clip", "licence", "author", "why"],
                                     label="Cue sheet: every clip heard, with its credits", wrap=True, max_height=320,
                                     column_widths=[80, 80, 80, 290, 170, 320, 180], max_chars=90, elem_id="cues")
            page_outputs = [overlay, summary, figure, table, lettering, tied]
            outputs = [*page_outputs, spectrogram, piano_roll, audio, cue_sheet, downloads]
            settings = [page, seconds, seed, per_panel, rtl, detector, sound, text]
            run.click(generate, settings, outputs, api_name="generate", concurrency_limit=1, show_progress_on=status)
            run_analysis.click(analyze, [page, rtl, detector, text], [*page_outputs, downloads], api_name="analyze",
                               show_progress_on=status).then(
                lambda: (None, None, None, None), None, [spectrogram, piano_roll, audio, cue_sheet],
                api_visibility="private", queue=False
            )  # no soundtrack of another page beside this analysis
            with column_of_inputs:
                gr.Examples(examples, inputs=settings, outputs=outputs, fn=generate, cache_examples=True,
                            cache_mode="lazy", example_labels=labels, label="Example pages (click to generate)")
        with gr.Tab("Sound analysis"):
            with gr.Row():
                with gr.Column(scale=1):
                    clip = Clip(label="Sound clip", type="filepath", sources=["upload", "microphone"], elem_id="clip")
                    run_sound = gr.Button("Analyse sound", variant="primary")
                with gr.Column(scale=3):
                    sound_figure = gr.Plot(label="Descriptors", show_label=False, elem_id="sound-figure")
                    sound_table = gr.Dataframe(headers=["descriptor", "value", "unit"], label="Summary", wrap=True,
                                               column_widths=[200, 150, 100], elem_id="sound-table")
            run_sound.click(analyze_sound, clip, [sound_figure, sound_table], api_name="analyze_sound")
        _text_tab()
        _draw_tab()
        _depict_tab()
        gr.Markdown(f"Weights: {weights().public}. Device: {pipeline().device}.", elem_id="weights")
    return demo


def main() -> None:
    """``python app.py [--port N] [--share]``: load the models, then serve."""
    parser = argparse.ArgumentParser(description="Start the bd2music app.")
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", 7860)))
    parser.add_argument("--share", action="store_true", help="also open a public share link")
    args = parser.parse_args()
    busy = f"bd2music: port {args.port} is in use; start the app on another one with --port N"
    if _port_in_use(args.port):  # say so at once, before the models load
        sys.exit(busy)
    print(f"bd2music: weights from {weights().description}; device {pipeline().device}", flush=True)
    sounds()  # a sound whose assets are missing or broken says so now, and is not offered
    draw_sounds()  # likewise for the Draw tab
    demo = build_demo().queue(default_concurrency_limit=2, max_size=32)
    try:
        demo.launch(server_port=args.port, share=args.share, max_file_size=MAX_UPLOAD)
    except OSError as error:  # taken while the models loaded
        if not str(error).startswith("Cannot find empty port"):
            raise
        sys.exit(busy)


def _port_in_use(port: int) -> bool:
    """Whether ``port`` cannot be bound on the host Gradio serves on (checked as Gradio checks it)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"), port))
        except OSError:
            return True
    return False


if __name__ == "__main__":
    main()
