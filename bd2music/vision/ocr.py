"""Reading the lettering: text lines found and read by RapidOCR's PP-OCR models, offline.

``rapidocr`` (3.x) ships its text detection and recognition models inside its wheel (``rapidocr/models``) and
runs them with ``onnxruntime``. This module gives it those files by path, so it never takes its download branch,
turns its logging down, and skips the 0/180 degree classifier (comic lettering is upright). The page is read on
a copy at most ``long_side`` pixels long (detection and recognition both run there; only the lines that run
across the page are recognised), and lines come back in the page's own pixels.

Only what the recogniser reads with confidence and in the Latin script is kept: a line under ``min_score``, one
with under ``min_letters`` letters (a lone glyph, a bare number), a vertical one (taller than long: text turned sideways or set in columns, which it misreads),
or one whose letters are mostly of another script (Japanese lettering, which its Chinese-English recogniser cannot
read reliably), is dropped rather than invented.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import numpy as np
from PIL import Image

from bd2music.errors import InputError
from bd2music.vision.boxes import Box

MODEL_FILES = {"det": "PP-OCRv6_det_small.onnx", "rec": "PP-OCRv6_rec_small.onnx"}  # inside rapidocr/models
LATIN = re.compile(r"[A-Za-z0-9À-ɏ]")
LETTERS = re.compile(r"\w", re.UNICODE)
ALPHA = re.compile(r"[^\W\d_]", re.UNICODE)
STRETCHED_DIGITS = re.compile(r"\b([A-Za-z]+)([02]{2,})(?![0-9A-Za-z])")


@dataclass
class ReaderConfig:
    """How the page is read (the ``lettering`` settings of the analysis)."""

    long_side: int = 1024  # the page is read on a copy at most this long (pixels): speed, yet lettering stays legible
    batch: int = 1  # lines recognised per run (padding a batch to its widest line costs more than it saves)
    min_score: float = 0.8  # recognised lines under this confidence are dropped
    min_letters: int = 2  # lines with fewer letters are dropped (a lone glyph is mostly a misreading; a bare
    # number is a page number, a scale or a date, not lettering that means a sound)
    min_latin: float = 0.6  # share of a line's letters that must be Latin letters or digits to keep it
    box_threshold: float = 0.5  # detector confidence of a text line's box
    threads: int = 2  # onnxruntime threads


@dataclass(frozen=True)
class TextLine:
    """One line of lettering: its box (page pixels), its words, the recogniser's confidence, its height (the
    short side of its rotated box, page pixels) and its angle in degrees (0: horizontal)."""

    box: Box
    text: str
    score: float
    height: float
    angle: float


def model_folder() -> Path:
    """Where the installed ``rapidocr`` keeps its bundled models; InputError if it or a model is missing."""
    try:
        import rapidocr
    except ImportError:
        raise InputError("reading lettering needs rapidocr: pip install -r requirements.txt") from None
    folder = Path(rapidocr.__file__).parent / "models"
    if missing := [name for name in MODEL_FILES.values() if not (folder / name).is_file()]:
        raise InputError(f"rapidocr's bundled models are missing from {folder}: {', '.join(missing)}")
    return folder


def _lettered(match: re.Match) -> str:
    return match.group(1) + match.group(2).replace("0", "O").replace("2", "Z")


def fix_digits(text: str) -> str:
    """Stretched lettering read with digits for letters: a word of letters ending in a run of 0s and 2s
    (``B222222``, ``huUW0000!``) gets them back as O and Z; numbers (``50 000Ko``) are left as they are."""
    return STRETCHED_DIGITS.sub(_lettered, text)


def is_latin(text: str, share: float) -> bool:
    """True when at least ``share`` of the letters of ``text`` are Latin letters or digits (and there is one)."""
    letters = LETTERS.findall(text)
    return bool(letters) and sum(bool(LATIN.match(c)) for c in letters) >= share * len(letters)


class TextReader:
    """``read(image) -> list[TextLine]``: the lettering of a page image. The models load on the first read."""

    def __init__(self, config: ReaderConfig | None = None) -> None:
        self.config = config or ReaderConfig()
        self._engine = None
        self._lock = threading.Lock()  # the app may analyse two pages at once

    def _load(self):
        if self._engine is None:
            folder = model_folder()
            from rapidocr import RapidOCR

            threads = self.config.threads
            self._engine = RapidOCR(params={
                "Global.log_level": "error", "Global.use_cls": False, "Global.text_score": self.config.min_score,
                "Global.max_side_len": self.config.long_side, "Det.limit_type": "max",
                "Det.limit_side_len": self.config.long_side, "Det.box_thresh": self.config.box_threshold,
                "Rec.rec_batch_num": self.config.batch,
                "Det.model_path": str(folder / MODEL_FILES["det"]), "Rec.model_path": str(folder / MODEL_FILES["rec"]),
                "EngineConfig.onnxruntime.intra_op_num_threads": threads,
                "EngineConfig.onnxruntime.inter_op_num_threads": 1,
                "EngineConfig.onnxruntime.enable_cpu_mem_arena": True,  # buffers kept between runs: less CPU per page
            })
            with _without_spinning():  # the sessions are made now, with that option
                self._engine._load_det_model()
                self._engine._load_rec_model()
            logging.getLogger("RapidOCR").setLevel(logging.ERROR)
        return self._engine

    def read(self, image: Image.Image) -> list[TextLine]:
        """The readable lines of an RGB page, in page pixels (top to bottom as the detector returns them)."""
        scale = min(1.0, self.config.long_side / max(image.size))
        small = image if scale == 1.0 else image.resize(
            (max(1, round(image.width * scale)), max(1, round(image.height * scale))), Image.Resampling.LANCZOS)
        pixels = np.ascontiguousarray(np.asarray(small.convert("RGB"))[:, :, ::-1])  # RapidOCR takes BGR
        with self._lock:
            engine = self._load()
            found = engine(pixels, use_det=True, use_cls=False, use_rec=False)
            quads = [] if found.boxes is None else [np.asarray(q, dtype=np.float32) for q in found.boxes]
            quads = [q for q in quads if _along(q) >= _across(q)]  # vertical lines are misread: not read at all
            if not quads:
                return []
            from rapidocr.utils.process_img import get_rotate_crop_image

            read = engine.recognize_txt([get_rotate_crop_image(pixels, q.copy()) for q in quads])
        lines = []
        for quad, text, score in zip(quads, read.txts, read.scores):
            text = fix_digits(" ".join(str(text).split()))
            if (score < self.config.min_score or len(ALPHA.findall(text)) < self.config.min_letters
                    or not is_latin(text, self.config.min_latin)):
                continue
            quad = quad.astype(np.float64) / scale
            (x0, y0), (x1, y1) = quad.min(axis=0), quad.max(axis=0)
            top = quad[1] - quad[0]
            angle = float(np.degrees(np.arctan2(top[1], top[0])))
            lines.append(TextLine((float(x0), float(y0), float(x1), float(y1)), text, float(score),
                                  _across(quad), angle))
        return lines


@contextlib.contextmanager
def _without_spinning():
    """Make the onnxruntime sessions RapidOCR creates meanwhile let their threads sleep between runs: by default
    they spin on, and take the CPU from the detector (torch) that runs next on a 2-core machine."""
    from rapidocr.inference_engine.onnxruntime.main import OrtInferSession

    options = OrtInferSession._init_sess_opts

    def quiet(config):
        made = options(config)
        made.add_session_config_entry("session.intra_op.allow_spinning", "0")
        return made

    with mock.patch.object(OrtInferSession, "_init_sess_opts", staticmethod(quiet)):
        yield


def _along(quad: np.ndarray) -> float:
    """Length of a text box's first side (the detector's quads run along the line first)."""
    return float(np.hypot(*(quad[1] - quad[0])))


def _across(quad: np.ndarray) -> float:
    return float(np.hypot(*(quad[3] - quad[0])))
