"""Clips (a sound bank's or a prompt index's) found by what a sentence says: each clip's caption (its label and
category, as the audio-text model was trained on them) embedded by the frozen sentence encoder, and a query sentence
compared with them there.

    captions = CaptionIndex(bank, text_encoder())  # or a bd2music.bank.prompt_index.PromptIndex
    clips, similarity = captions.nearest("the sound of rain", k=16)

The frozen encoder (a pretrained sentence model) knows that "some music" and "jazz, a music sound" are close,
which the audio-text model's own small text projection, trained on the clips' few hundred labels, may not; the
clips it finds carry audio-text *audio* embeddings, the condition a model of that space was trained on.
"""

from __future__ import annotations

import torch

from bd2music.bank.index import SoundBank
from bd2music.bank.prompt_index import PromptIndex

CAPTION = "{label}, a {category} sound"  # one of the audio-text model's training templates (training.audio_text)


class CaptionIndex:
    """The captions of a bank's (or a prompt index's) clips in a sentence encoder's space (embedded on the first
    query)."""

    def __init__(self, bank: SoundBank | PromptIndex, encoder) -> None:  # encoder: embed(texts) -> (N, dim) unit rows
        self.bank, self.encoder = bank, encoder
        self._captions: torch.Tensor | None = None

    @property
    def captions(self) -> torch.Tensor:
        """(N, dim) unit embeddings of every clip's caption, in the bank's order."""
        if self._captions is None:  # clips share labels: each distinct caption is embedded once
            texts = [CAPTION.format(label=clip.label, category=clip.category) for clip in self.bank.clips]
            row = {text: i for i, text in enumerate(sorted(set(texts)))}
            embedded = self.encoder.embed(list(row)).float().cpu()
            self._captions = embedded[[row[text] for text in texts]]
        return self._captions

    def nearest(self, text: str, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(indices, cosine similarities) of the ``k`` clips (at most all) whose captions lie nearest ``text``,
        nearest first."""
        query = self.encoder.embed([text]).float().cpu()[0]
        similarity, indices = (self.captions @ query).topk(min(k, len(self.bank.clips)))
        return indices, similarity

    def condition(self, text: str, k: int, temperature: float | None = None) -> tuple[torch.Tensor, list[int]]:
        """(the unit mean audio-text embedding of the ``k`` clips nearest ``text``, their indices); with a
        ``temperature``, each clip weighs softmax(caption similarity / temperature): the nearest ones count most."""
        indices, similarity = self.nearest(text, k)
        weights = torch.full_like(similarity, 1 / len(similarity)) if temperature is None else \
            torch.softmax(similarity / temperature, dim=0)
        mean = (weights[:, None] * self.bank.embeddings[indices]).sum(dim=0)
        return torch.nn.functional.normalize(mean, dim=0), indices.tolist()
