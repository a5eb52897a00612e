"""User-facing models, each an ``nn.Module`` with a dataclass config and ``from_pretrained``/``save_pretrained``.

Inference code: nothing here imports ``bd2music.training``.
"""

from bd2music.models.audio_text import AudioTextModel, AudioTextModelConfig
from bd2music.models.audio_vae import AudioVAE, AudioVAEConfig
from bd2music.models.diffusion import LatentDiffusion, LatentDiffusionConfig
from bd2music.models.latent_shaper import LatentShaper, LatentShaperConfig
from bd2music.models.mapper import LatentMapper, MapperConfig
from bd2music.models.vocoder import Vocoder, VocoderConfig

__all__ = [
    "AudioTextModel",
    "AudioTextModelConfig",
    "AudioVAE",
    "AudioVAEConfig",
    "LatentDiffusion",
    "LatentDiffusionConfig",
    "LatentMapper",
    "LatentShaper",
    "LatentShaperConfig",
    "MapperConfig",
    "Vocoder",
    "VocoderConfig",
]
