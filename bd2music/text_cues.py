"""Words -> sound: what a page's lettering asks of each segment of the plan (after the planner, before rendering).

For each segment (a panel, or the whole page), from the lettered areas of its panel (``PageAnalysis.balloons``
with their ``text`` and ``kind``):

* **sound effects**: every onomatopoeia of the lexicon (``bd2music.onomatopoeia``) in an ``sfx`` area, and each
  ``sfx`` area with none (display lettering: "a loud sound effect: " and its own words are the query), becomes a
  :class:`SoundEffect` placed where the area comes in the panel's reading order. Backends fetch it from their
  sounds with its text embedding in the audio-text space ("the sound of a gunshot") and cue it as
  ``"lettering: BANG"``.
* **words**: the other areas' text (speech, captions, signs) joins the segment's text cue, and its sentence
  embedding joins the semantic target: ``(1 - text_weight) * target + text_weight * words``, renormalised.
* **shouting** (per area: 1 in capitals on a page lettered in lower case too, else the share of its sentences
  ending with "!"; averaged over the segment's areas) raises the loudness target by up to ``shout_db``, within
  the listener's range.
* **dialogue**: a segment with ``dialogue_words`` words of speech or more brings people's voices into the scene
  (an effect ``"lettering: dialogue"`` with ``voices_query``, under the other sounds).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from bd2music.onomatopoeia import sound_words
from bd2music.vision.boxes import Balloon

DIALOGUE = "dialogue"  # SoundEffect.word of the voices a dialogue-heavy segment brings


@dataclass
class TextCueConfig:
    """How much the lettering weighs in the plan."""

    text_weight: float = 0.35  # share of the words' sentence embedding in a segment's semantic target
    shout_db: float = 4.0  # LUFS added to a segment whose every area shouts
    dialogue_words: int = 12  # words of speech that make a segment dialogue-heavy
    max_effects: int = 4  # sound effects per segment at most (the first in reading order)
    voices_query: str = "the sound of people talking, a murmur of voices"
    voices_label: str = "crowd"  # the bank label that voices prefer


@dataclass
class SoundEffect:
    """A sound the lettering asks for: the ``word`` as lettered (or ``dialogue``), the text ``query`` and bank
    ``label`` that find it, ``at`` where it falls in its segment (0 start, 1 end) and the query's ``embedding``
    (unit, audio-text space)."""

    word: str
    query: str
    label: str | None
    at: float
    embedding: torch.Tensor | None = field(default=None, repr=False)

    @property
    def trigger(self) -> str:
        return f"lettering: {self.word}"

    def to_dict(self) -> dict:
        return {"word": self.word, "query": self.query, "label": self.label, "at": round(self.at, 3)}


@dataclass
class SegmentWords:
    """What the lettering of one segment asks for (before the embeddings are made)."""

    words: str  # speech, captions and signs, in reading order
    effects: list[SoundEffect]
    shout: float  # 0 (calm) to 1 (every area shouts)
    speech_words: int


def _effects(areas: list[Balloon], config: TextCueConfig) -> list[SoundEffect]:
    effects = []
    for rank, area in enumerate(areas):
        if area.kind != "sfx":
            continue
        at = (rank + 0.5) / len(areas)
        found = sound_words(area.text)
        if found:
            effects += [SoundEffect(word, entry.query, entry.label, at) for word, entry in found]
        else:
            word = re.sub(r"[^\w\- ]", "", area.text).strip().upper()
            if word:
                effects.append(SoundEffect(word, f"a loud sound effect: {word.lower()}", None, at))
    return effects[: config.max_effects]


def shouting(text: str, lower_case_page: bool) -> float:
    """How much an area shouts: 1 in capitals on a page lettered in lower case too, else the share of its
    sentences that end with an exclamation mark."""
    letters = [c for c in text if c.isalpha()]
    if lower_case_page and letters and sum(c.isupper() for c in letters) >= 0.8 * len(letters):
        return 1.0
    sentences = [s for s in re.findall(r"[^.!?]*[.!?]+|[^.!?]+$", text) if any(c.isalnum() for c in s)]
    return sum("!" in s for s in sentences) / len(sentences) if sentences else 0.0


def segment_words(areas: list[Balloon], lower_case_page: bool, config: TextCueConfig) -> SegmentWords:
    """The words, effects, shouting and speech of a segment's lettered areas (in reading order)."""
    read = [area for area in areas if area.text]
    spoken = [area for area in read if area.kind != "sfx"]
    words = " ".join(area.text for area in spoken)
    shout = float(np.mean([shouting(area.text, lower_case_page) for area in spoken])) if spoken else 0.0
    speech_words = sum(len(area.text.split()) for area in spoken if area.kind == "speech")
    return SegmentWords(words, _effects(read, config), shout, speech_words)


@torch.inference_mode()
def apply_lettering(plan, balloons: list[Balloon], audio_text, config: TextCueConfig | None = None) -> None:
    """Add the lettering's cues to ``plan``'s segments in place (``balloons``: the analysis' lettered areas in
    any order, their panel set; ``audio_text``: an ``AudioTextModel`` for the embeddings)."""
    from bd2music.plan import LISTENER_RANGES, WHOLE_PAGE  # the plan imports nothing from here

    config = config or TextCueConfig()
    ordered = sorted(balloons, key=lambda b: (b.panel if b.panel is not None else -1, b.box[1], b.box[0]))
    lower_case_page = any(c.islower() for b in ordered for c in b.text)
    wanted = []
    for segment in plan.segments:
        areas = [b for b in ordered if segment.panel == WHOLE_PAGE or b.panel == segment.panel]
        words = segment_words(areas, lower_case_page, config)
        if words.speech_words >= config.dialogue_words:
            words.effects.append(SoundEffect(DIALOGUE, config.voices_query, config.voices_label, 0.0))
        wanted.append(words)
    queries = [w.words for w in wanted if w.words] + [e.query for w in wanted for e in w.effects]
    if not queries:
        return
    embeddings = iter(audio_text.embed_text(queries).float().cpu())
    low, high = LISTENER_RANGES["loudness"]
    for segment, words in zip(plan.segments, wanted):
        if words.words:
            meaning = next(embeddings)
            if segment.embedding.shape == meaning.shape:
                blended = (1 - config.text_weight) * segment.embedding + config.text_weight * meaning
                segment.embedding = F.normalize(blended, dim=0)
            segment.text = f'{segment.text} Lettering: "{words.words}"'
        if words.effects:
            segment.text = f"{segment.text} Sound effects: {', '.join(e.word for e in words.effects)}."
        segment.loudness = float(np.clip(segment.loudness + config.shout_db * words.shout, low, high))
        segment.lettering = words.words
        segment.effects = words.effects
    for effect in (e for w in wanted for e in w.effects):
        effect.embedding = next(embeddings)
