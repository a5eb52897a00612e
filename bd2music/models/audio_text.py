"""A compact audio-text contrastive model (CLAP-style): log-mels and sentences in one L2-normalised space.

Audio tower: a 1-D ConvNeXt network over time on log-mels (``bd2music.audio.mel.MEL``, mel bands as channels,
standardised with training-set statistics), halving the frame rate between stages, mean + max pooled over
frames (any number of frames), one linear layer to ``embed_dim``. Text tower: a frozen sentence-embedding
model shipped in a pip package (``bd2music.models.text_encoder``, all-MiniLM-L6-v2 by default) and a trained
two-layer projection to ``embed_dim``. Trained with a symmetric InfoNCE loss and a learnable temperature
(``bd2music.training.audio_text``).

A pretrained LAION-CLAP checkpoint is the better source of CLAP embeddings whenever one is at hand: ``load_clap``
loads one (a laion_clap ``.pt`` checkpoint, or a transformers ``ClapModel`` folder / cached Hub id) lazily, with
the Hub's offline switches set: importing laion_clap tries to fetch a tokenizer and retries for minutes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from bd2music.audio.mel import MEL, MelConfig
from bd2music.errors import InputError
from bd2music.models.base import PretrainedMixin
from bd2music.models.text_encoder import DEFAULT_TEXT_MODEL, PACKAGES, set_offline, text_encoder
from bd2music.modules.convnext import ConvNeXtStack


@dataclass
class AudioTextModelConfig:
    """Architecture of the audio-text model (stored as ``config.json``)."""

    mel: MelConfig = MEL
    channels: tuple[int, ...] = (96, 128, 192)  # audio tower width per stage; frames halve between stages
    blocks_per_stage: int = 1
    embed_dim: int = 128  # the shared embedding space
    text_model: str = DEFAULT_TEXT_MODEL  # pip package of the frozen sentence encoder
    text_hidden: int = 256  # hidden width of the text projection
    init_temperature: float = 0.07

    @property
    def text_dim(self) -> int:
        return PACKAGES[self.text_model][1]

    @property
    def min_frames(self) -> int:
        """Shorter inputs are padded with silence to this many frames."""
        return 2 ** len(self.channels)

    def __post_init__(self) -> None:
        if self.text_model not in PACKAGES:
            raise ValueError(f"unknown text_model {self.text_model!r} (known: {', '.join(PACKAGES)})")


class AudioTextModel(PretrainedMixin, nn.Module):
    """``embed_audio(log_mel)`` and ``embed_text(texts)``: unit vectors of ``config.embed_dim`` (see the module)."""

    component = "audio_text"
    config_class = AudioTextModelConfig

    def __init__(self, config: AudioTextModelConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or AudioTextModelConfig()
        channels = config.channels
        layers: list[nn.Module] = [nn.Conv1d(config.mel.n_mels, channels[0], 5, padding=2)]
        for stage, width in enumerate(channels):
            layers.append(ConvNeXtStack(width, config.blocks_per_stage))
            if stage + 1 < len(channels):
                layers.append(nn.Conv1d(width, channels[stage + 1], 4, stride=2, padding=1))
        self.audio_encoder = nn.Sequential(*layers)
        self.audio_projection = nn.Linear(2 * channels[-1], config.embed_dim)
        self.text_projection = nn.Sequential(
            nn.Linear(config.text_dim, config.text_hidden), nn.GELU(), nn.Linear(config.text_hidden, config.embed_dim)
        )
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / config.init_temperature)))
        self.register_buffer("mel_mean", torch.full((config.mel.n_mels,), -6.0))  # training-set statistics
        self.register_buffer("mel_std", torch.full((config.mel.n_mels,), 4.0))

    def set_statistics(self, mel_mean: torch.Tensor, mel_std: torch.Tensor) -> None:
        """Store the per-band log-mel mean/std of the training set."""
        self.mel_mean.copy_(mel_mean)
        self.mel_std.copy_(mel_std)

    def embed_audio(self, log_mel: torch.Tensor) -> torch.Tensor:
        """Unit embeddings (batch, embed_dim) of log-mels (batch, n_mels, frames), any number of frames."""
        if log_mel.ndim != 3 or log_mel.shape[1] != self.config.mel.n_mels or log_mel.shape[2] < 1:
            raise InputError(f"expected log-mels (batch, {self.config.mel.n_mels}, frames), got {tuple(log_mel.shape)}")
        missing = self.config.min_frames - log_mel.shape[-1]
        if missing > 0:
            log_mel = F.pad(log_mel, (0, missing), value=self.config.mel.log_min)
        h = self.audio_encoder((log_mel - self.mel_mean[:, None]) / self.mel_std[:, None])
        return F.normalize(self.audio_projection(torch.cat([h.mean(dim=-1), h.amax(dim=-1)], dim=-1)), dim=-1)

    def project_text(self, sentence_embeddings: torch.Tensor) -> torch.Tensor:
        """Unit embeddings (batch, embed_dim) of the frozen encoder's sentence embeddings (batch, text_dim)."""
        return F.normalize(self.text_projection(sentence_embeddings), dim=-1)

    def embed_text(self, texts: list[str]) -> torch.Tensor:
        """Unit embeddings (len(texts), embed_dim) of sentences."""
        device = self.logit_scale.device
        sentences = text_encoder(self.config.text_model, str(device)).embed(texts)
        return self.project_text(sentences.to(device=device, dtype=self.logit_scale.dtype))

    def logits(self, audio: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        """Audio-to-text similarity logits (n_audio, n_text) of unit embeddings, scaled by 1 / temperature."""
        return self.logit_scale.clamp(max=math.log(100.0)).exp() * audio @ text.T


class ClapAudioEmbedder:
    """Audio embeddings of a pretrained LAION-CLAP model: ``embed(waveforms, sample_rate) -> (batch, dim)``."""

    def __init__(self, model: Any, backend: str, sample_rate: int, feature_extractor: Any = None) -> None:
        self.model, self.backend, self.sample_rate = model, backend, sample_rate
        self.feature_extractor = feature_extractor

    @torch.inference_mode()
    def embed(self, waveforms: np.ndarray, sample_rate: int) -> torch.Tensor:
        """Unit embeddings of mono float waveforms (batch, samples) at ``sample_rate`` (resampled to CLAP's)."""
        import librosa

        audio = np.asarray(waveforms, dtype=np.float32)
        audio = librosa.resample(audio, orig_sr=sample_rate, target_sr=self.sample_rate)
        if self.backend == "laion_clap":
            embeddings = self.model.get_audio_embedding_from_data(x=torch.from_numpy(audio), use_tensor=True)
        else:
            inputs = self.feature_extractor(list(audio), sampling_rate=self.sample_rate, return_tensors="pt")
            output = self.model.get_audio_features(**{k: v.to(self.model.device) for k, v in inputs.items()})
            embeddings = output if isinstance(output, torch.Tensor) else output.pooler_output
        return F.normalize(embeddings.float().cpu(), dim=-1)


def load_clap(checkpoint: str | Path, audio_model: str = "HTSAT-tiny", device: str = "cpu") -> ClapAudioEmbedder:
    """A CLAP audio embedder from a laion_clap ``.pt``/``.ckpt`` file (``audio_model`` names its audio tower), or
    a transformers ``ClapModel`` folder or Hub id already in the local Hub cache. Offline: nothing is downloaded."""
    set_offline()
    path = Path(checkpoint)
    if path.is_file():
        try:
            import laion_clap  # imported here only: its import reaches for the Hub
        except ImportError:
            raise InputError("a laion_clap checkpoint needs: pip install laion-clap") from None
        model = laion_clap.CLAP_Module(enable_fusion=False, amodel=audio_model, device=device)
        model.load_ckpt(str(path), verbose=False)
        return ClapAudioEmbedder(model.eval(), "laion_clap", 48_000)
    try:
        from transformers import ClapFeatureExtractor, ClapModel
    except ImportError:
        raise InputError("a ClapModel checkpoint needs: pip install transformers") from None
    try:
        model = ClapModel.from_pretrained(str(checkpoint)).to(device).eval()
        extractor = ClapFeatureExtractor.from_pretrained(str(checkpoint))
    except OSError as error:
        raise InputError(f"no CLAP checkpoint at {checkpoint} (offline: local folders and cached Hub ids only): "
                         f"{str(error).splitlines()[0]}") from None
    return ClapAudioEmbedder(model, "transformers", extractor.sampling_rate, extractor)
