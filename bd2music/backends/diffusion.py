"""Backend ``diffusion``: each plan segment's sound sampled by the latent diffusion model, decoded by the audio VAE.

For each segment, the model (``bd2music.models.diffusion``) samples the audio-VAE latents of the windows that
cover it (the audio VAE the pipeline names ``diffusion_vae``, else its own), conditioned on the segment's
semantic embedding (the audio-text space) and its calibrated targets (tempo, onset rate, spectral centroid,
flatness: ``DESCRIPTOR_TARGETS``); the audio VAE decodes them into log-mel windows, cross-faded within the
segment and between segments (``bd2music.plan.frame_span``). With the plan's ``pulse`` the segment's tempo and
onset rate (or, with ``settings.pulse_from`` "readings", the heads' raw readings, as the neural sound plays them)
shape the log-mel as a pulse (``bd2music.soundtrack.pulse_gains``, the audio VAE's pulse settings), as the neural
backend does, and with ``settings.texture_db`` a spectral texture that changes at its onsets
(``bd2music.soundtrack.onset_texture``). A segment that samples mostly quiet frames is drawn again
(``settings.redraws``, from the same seeded generator), and with ``settings.bed_fallback`` once more with its
embedding pulled halfway toward the sound bank's nearest bed (a steady background) if every draw was quiet. A
faint draw (its median frame's power under ``settings.faint_db``: the embedding under guidance can lead the model
to the log-mel's floor, which the vocoder voices as a hiss, or to one loud event on it) is drawn again on its
descriptor targets alone, unguided. A room tone keeps every mel bin within ``settings.floor_db`` of its band's
mean power (sampled gaps between sparse events would be digital silence). The trained vocoder mutes a log-mel
whose power lies far under its training clips' levels: with ``settings.voice_floor_db``, a page's log-mel is
lifted before voicing until its quietest tenth of frames lies at that power (the master sets the track's level
afterwards). With ``settings.reference_strength``, each draw of a page starts from a sound bank recording
near its condition (seeded among the nearest, ``SoundBank.rank``), its audio-VAE latents noised to the time of that
last share of the steps (SDEdit): the model keeps a recording's course in time and reshapes it towards the
condition; the recording is credited in the cue sheet.
The waveform comes from ``settings.vocoder``: the trained vocoder (its phases integrated from its magnitude: no
comb at its frame rate; the shipped ``weights/pipeline.json`` picks it), Griffin-Lim (the default of
``DiffusionSettings``, which needs no trained weights) or Griffin-Lim warm-started from the trained vocoder's
phases. ``text_to_audio`` samples one prompt's sound the same way, without descriptor targets, conditioned on the
audio-text model's ``embed_text`` of the prompt or, with ``settings.prompt_clips``, on the mean audio embedding
of the clips whose captions lie nearest the prompt (``bd2music.bank.captions``): the prompt index's
(``bd2music.bank.prompt_index``, every training clip's embedding) when the pipeline names one, else the sound
bank's.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch

from bd2music.audio.griffin_lim import GriffinLim
from bd2music.audio.mel import MelSpectrogram
from bd2music.backends import settings_config
from bd2music.backends.base import Cue, Layer, Progress, own_vae, trigger
from bd2music.bank.captions import CaptionIndex
from bd2music.bank.index import RankWeights, SoundBank
from bd2music.bank.play import EVENT_FADE_S, LOOP_CROSSFADE_S, played
from bd2music.bank.prompt_index import PromptIndex
from bd2music.errors import InputError
from bd2music.models.audio_text import AudioTextModel
from bd2music.models.audio_vae import AudioVAE, TiledLatent
from bd2music.models.diffusion import LatentDiffusion, check_sampling
from bd2music.models.latent_shaper import quiet_share
from bd2music.models.text_encoder import text_encoder
from bd2music.models.vocoder import Vocoder, WarmGriffinLim
from bd2music.plan import TARGETS, Plan, SegmentPlan, frame_span
from bd2music.soundtrack import (check_level, frame_power_db, normalise_loudness, onset_textures, overlap_add,
                                 pulse_gains)
from bd2music.text_to_audio import CONDITION

DESCRIPTOR_TARGETS = {descriptor: target for target, descriptor in TARGETS.items()}  # descriptor -> plan target
VOCODER_CHOICES = ("griffin-lim", "warm", "trained")
PULSE_SOURCES = ("targets", "readings")  # the plan's calibrated targets; the heads' raw readings (the neural sound's)
LICENCE = "AGPL-3.0-or-later (model output)"
REFERENCE = "reference: the draw started from it"  # the trigger of a recording a page's draw started from


@dataclass
class DiffusionSettings:
    """Settings of the diffusion backend (``weights/pipeline.json``, ``settings.diffusion``)."""

    steps: int | None = None  # denoising steps (None: the model's config.inference)
    guidance: float | None = None  # classifier-free guidance scale (None: the model's)
    scheduler: str | None = None  # "dpm++" or "ddim" (None: the model's)
    vocoder: str = "griffin-lim"  # griffin-lim; warm (the trained vocoder's phases, then Griffin-Lim); trained
    griffin_lim_iterations: int = 32  # of griffin-lim and warm
    floor_db: float = 30.0  # room tone: no mel bin lower than this under its band's mean power (0 = no floor)
    voice_floor_db: float | None = None  # a page's log-mel is lifted (never lowered) until its quietest tenth of
    # frames lies at this frame power, dB, before voicing (the trained vocoder mutes under about -37; None: never)
    faint_db: float | None = None  # a segment drawn with its median frame's power under this (dB; the log-mel
    # floor lies near -62, the vocoder mutes under about -37) is drawn again without embedding or guidance (None: never)
    redraws: int = 0  # a segment that samples mostly quiet is drawn again (the seed's next draws), at most this often
    quiet_db: float = 20.0  # a sampled frame this far under the segment's mean power is quiet ...
    max_quiet_share: float = 0.3  # ... and a segment with more quiet frames than this is drawn again
    texture_db: float = 0.0  # std of the spectral texture drawn at each onset (soundtrack.onset_texture; 0: none)
    pulse_from: str = "targets"  # the pulse's tempo and onset rate: the plan's targets, or the heads' "readings"
    offbeat_db: float | None = None  # the pulse's lift of each onset between beats (None: the audio VAE's)
    bed_fallback: bool = False  # still quiet after the redraws: once more, halfway to the bank's nearest bed
    prompt_clips: int = 0  # text to sound: condition on this many clips nearest the prompt (0: embed_text)
    prompt_temperature: float | None = None  # their weights: softmax(similarity / this) (None: all alike)
    reference_strength: float | None = None  # a page's draw starts from a sound bank recording near its condition,
    # its latents noised to the time of this last share of the steps (SDEdit; None: from pure noise)
    reference_top_k: int = 4  # ... drawn (seeded) among this many recordings nearest the condition ...
    reference_min_s: float = 4.0  # ... of those at least this long, seconds (a shorter one is looped) ...
    reference_kinds: tuple[str, ...] = ("bed", "event")  # ... and of these kinds (beds: steady backgrounds) ...
    reference_descriptor_weight: float = 0.5  # ... ranked by the embedding plus the descriptor targets weighed so

    def __post_init__(self) -> None:
        if self.pulse_from not in PULSE_SOURCES:
            raise ValueError(f"pulse_from must be one of {', '.join(PULSE_SOURCES)}, got {self.pulse_from!r}")
        if self.offbeat_db is not None:
            check_level("offbeat_db", self.offbeat_db)
        if self.vocoder not in VOCODER_CHOICES:
            raise ValueError(f"vocoder must be one of {', '.join(VOCODER_CHOICES)}, got {self.vocoder!r}")
        if not 1 <= self.griffin_lim_iterations <= 512:
            raise ValueError("griffin_lim_iterations must be between 1 and 512")
        if not 0 <= self.redraws <= 16:
            raise ValueError("redraws must be between 0 and 16")
        if not 0 <= self.prompt_clips <= 256:
            raise ValueError("prompt_clips must be between 0 and 256")
        if self.prompt_temperature is not None and not 0.001 <= self.prompt_temperature <= 10:
            raise ValueError("prompt_temperature must be between 0.001 and 10 (or None)")
        if not 0.0 <= self.max_quiet_share < 1.0:
            raise ValueError("max_quiet_share must be in [0, 1)")
        if self.faint_db is not None and not -80 <= self.faint_db <= 0:
            raise ValueError("faint_db must be between -80 and 0 (or None)")
        if not 0 <= self.floor_db <= 120:
            raise ValueError("floor_db must be between 0 and 120")
        if self.voice_floor_db is not None and not -60 <= self.voice_floor_db <= 10:
            raise ValueError("voice_floor_db must be between -60 and 10 (or None)")
        check_level("texture_db", self.texture_db)
        if self.reference_strength is not None and not 0.0 < self.reference_strength <= 1.0:
            raise ValueError("reference_strength must be in (0, 1] (or None)")
        if not 1 <= self.reference_top_k <= 64:
            raise ValueError("reference_top_k must be between 1 and 64")
        if not 0.0 <= self.reference_min_s <= 60.0:
            raise ValueError("reference_min_s must be between 0 and 60 seconds")
        if not 0.0 <= self.reference_descriptor_weight <= 100.0:
            raise ValueError("reference_descriptor_weight must be between 0 and 100")


def lifted(log_mel: torch.Tensor, floor_db: float, share: float = 0.1) -> torch.Tensor:
    """A natural-log power mel (n_mels, frames) moved up by one constant (never down) so that its quietest ``share``
    of frames lie at ``floor_db`` dB of frame power (the bands summed) or above."""
    lift_db = floor_db - float(torch.quantile(frame_power_db(log_mel), share))
    return log_mel + max(lift_db, 0.0) * math.log(10) / 10


@dataclass
class DiffusionBackend:
    """Latent diffusion -> audio VAE decoder -> (pulse) -> vocoder."""

    model: LatentDiffusion
    audio_vae: AudioVAE
    audio_text: AudioTextModel
    vocoder: torch.nn.Module
    settings: DiffusionSettings
    source: str = "weights/diffusion, weights/audio_vae"  # the cue sheet's source: the model and its audio VAE
    bank: SoundBank | None = None  # what bed_fallback and prompt_clips read (None: the pipeline names no bank)
    prompts: PromptIndex | None = None  # what prompt_clips reads before the bank (None: the pipeline names none)
    name: ClassVar[str] = "diffusion"

    def __post_init__(self) -> None:
        self._captions: CaptionIndex | None = None  # the clips' captions, embedded on the first prompt
        self._mel = MelSpectrogram(self.audio_vae.config.mel).to(self.audio_vae.latent_mean.device)

    @classmethod
    def from_components(cls, components: dict, settings: dict | None = None) -> DiffusionBackend:
        """The model from ``components["diffusion"]`` (a folder), checked against the audio VAE it samples
        (``components["diffusion_vae"]``, a folder, when the pipeline names one, else the pipeline's audio VAE) and
        the audio-text model it was trained with; the vocoder that ``settings`` names; the sound bank
        (``components["bank"]``, a folder) when the pipeline names one (``bed_fallback`` and ``prompt_clips``
        read it; without it, both are left out and the result's settings say ``prompt_clips`` 0), and the prompt
        index (``components["prompt_index"]``, a folder) that ``prompt_clips`` reads first when it names one."""
        config = settings_config(DiffusionSettings, settings, "diffusion")
        vae, vae_name = own_vae(components, "diffusion_vae")
        audio_text = components["audio_text"]
        folder = Path(components["diffusion"])
        if not (folder / "config.json").is_file():
            raise InputError(f"no diffusion weights in {folder} (bd2music train diffusion makes them)")
        model = LatentDiffusion.from_pretrained(folder, device=vae.latent_mean.device)
        mine = model.config
        if (mine.latent_shape, mine.downsampling) != (vae.config.latent_shape, vae.config.downsampling):
            raise InputError(f"the diffusion model's latents {mine.latent_shape} do not fit the audio VAE's "
                             f"{vae.config.latent_shape}")
        if mine.embed_dim != audio_text.config.embed_dim:
            raise InputError(f"the diffusion model takes {mine.embed_dim}-d embeddings, the audio-text model "
                             f"gives {audio_text.config.embed_dim}")
        if unknown := [name for name in mine.descriptors if name not in DESCRIPTOR_TARGETS]:
            raise InputError(f"the diffusion model's descriptors {', '.join(unknown)} are not plan targets")
        check_sampling(config.scheduler or mine.inference.scheduler, config.steps or mine.inference.steps,
                       config.guidance or mine.inference.guidance)
        mel = vae.config.mel
        vocoder = components["vocoder"]
        if config.vocoder == "griffin-lim" or not isinstance(vocoder, Vocoder):  # no trained vocoder: Griffin-Lim
            vocoder = GriffinLim(mel, config.griffin_lim_iterations)
        elif config.vocoder == "warm":
            vocoder = WarmGriffinLim(vocoder, config.griffin_lim_iterations)
        try:  # without it (the pipeline says so where it offers the sounds), both settings are left out
            bank = SoundBank.load(components["bank"]) if components.get("bank") else None
        except InputError:
            bank = None
        try:
            prompts = PromptIndex.load(components["prompt_index"]) if components.get("prompt_index") else None
        except InputError as error:
            warnings.warn(f"{error}; text to sound reads the sound bank's clips", stacklevel=2)
            prompts = None
        for what, clips in (("sound bank", bank), ("prompt index", prompts)):
            if clips is not None and clips.embeddings.shape[1] != audio_text.config.embed_dim:
                raise InputError(f"the {what}'s {clips.embeddings.shape[1]}-d embeddings do not fit the audio-text "
                                 f"model's {audio_text.config.embed_dim}")
        return cls(model, vae, audio_text, vocoder, config, f"weights/{folder.name}, weights/{vae_name}", bank,
                   prompts)

    @property
    def sample_rate(self) -> int:
        return self.audio_vae.config.mel.sample_rate

    def _vocoder_name(self) -> str:
        return {GriffinLim: "griffin-lim", WarmGriffinLim: "warm-started griffin-lim"}.get(
            type(self.vocoder), "trained vocoder")

    @torch.inference_mode()
    def sample_mel(self, frames: int, embedding: torch.Tensor | None, descriptors: torch.Tensor | None,
                   generator: torch.Generator, steps: int | None = None, guidance: float | None = None,
                   reference: int | None = None) -> torch.Tensor:
        """Log-mel (n_mels, frames): the windows covering ``frames`` sampled together under one condition (from the
        sound bank's clip ``reference`` noised to ``settings.reference_strength``, else from noise), decoded and
        cross-faded."""
        config, s = self.model.config, self.settings
        starts = [i * config.window_stride for i in range(config.windows_for(frames))]
        init = None if reference is None else self.reference_latents(reference, starts)
        latents = self.model.sample(len(starts), embedding, descriptors, generator, steps or s.steps,
                                    guidance or s.guidance, s.scheduler, init, s.reference_strength or 1.0)
        length = starts[-1] + self.audio_vae.config.window_frames
        return self.audio_vae.decode_long(TiledLatent(latents, starts, length))[:, :frames]

    def reference_latents(self, clip: int, starts: list[int]) -> torch.Tensor:
        """The audio VAE's window latents (posterior means) of the sound bank's ``clip`` at window ``starts`` (mel
        frames), from its start; a clip shorter than that repeats as the scene plays it (``bank.play.played``: a
        bed's end cross-faded onto its start, an event's attack kept)."""
        vae = self.audio_vae
        mel_config, window = vae.config.mel, vae.config.window_frames
        frames, rate = starts[-1] + window, mel_config.sample_rate
        audio = played(self.bank.audio(clip, rate), frames * mel_config.hop_length, self.bank.clips[clip].kind, rate,
                       0, LOOP_CROSSFADE_S, EVENT_FADE_S)
        mel = self._mel(torch.from_numpy(audio).to(vae.latent_mean))[:, :frames]
        return vae.encode(torch.stack([mel[:, start : start + window] for start in starts])).mean

    def choose_reference(self, embedding: torch.Tensor | None, descriptors: torch.Tensor, generator: torch.Generator,
                         rhythm: tuple[float, float] | None = None) -> int | None:
        """A sound bank clip for a draw to start from (``settings.reference_strength``; None: off or no bank): one of
        the ``reference_top_k`` clips of ``reference_kinds`` at least ``reference_min_s`` long nearest the condition
        (the embedding and the descriptor targets weighed by ``reference_descriptor_weight``, ``SoundBank.rank``; the
        tempo and onset rate those of the pulse the draw gets, ``rhythm``, when given), drawn from ``generator``."""
        s, bank = self.settings, self.bank
        if s.reference_strength is None or bank is None:
            return None
        allowed = torch.tensor([clip.duration >= s.reference_min_s and clip.kind in s.reference_kinds
                                for clip in bank.clips])
        asked = dict(zip(self.model.config.descriptors, descriptors.tolist()))
        if rhythm is not None:
            asked |= dict(zip(("tempo", "onset_rate"), rhythm))
        asked = {name: value for name, value in asked.items() if name in bank.descriptor_names}
        ranked = bank.rank(embedding=embedding, descriptors=asked, weights=RankWeights(
            descriptors=s.reference_descriptor_weight), mask=allowed if allowed.any() else None)
        pool = ranked[: s.reference_top_k]
        return pool[int(torch.randint(len(pool), (1,), generator=generator))]

    def sample_segment(self, frames: int, segment: SegmentPlan,
                       generator: torch.Generator) -> tuple[torch.Tensor, int | None]:
        """(a segment's log-mel, the sound bank clip its draw started from or None), drawn again (up to
        ``settings.redraws`` times, from the same generator) while more than ``max_quiet_share`` of its frames are
        quiet: a sample of the sparse clips' silences would voice a near-silent track."""
        s, condition, rhythm = self.settings, self._condition(segment), self.rhythm(segment)
        mel, reference = self.draw(frames, *condition, generator, rhythm)
        for _ in range(s.redraws):
            if quiet_share(mel, s.quiet_db) <= s.max_quiet_share:
                return mel, reference
            mel, reference = self.draw(frames, *condition, generator, rhythm)
        if s.bed_fallback and self.bank is not None and quiet_share(mel, s.quiet_db) > s.max_quiet_share:
            mel, reference = self.draw(frames, self.toward_bed(condition[0]), condition[1], generator, rhythm)
        return mel, reference

    def draw(self, frames: int, embedding: torch.Tensor | None, descriptors: torch.Tensor, generator: torch.Generator,
             rhythm: tuple[float, float] | None = None) -> tuple[torch.Tensor, int | None]:
        """(``sample_mel`` under a condition, from a reference clip chosen for it and the pulse's ``rhythm``, the
        clip or None); a faint draw (its median frame under ``settings.faint_db``: at the floor, one loud event or
        none) drawn again on the descriptors alone, unguided."""
        reference = self.choose_reference(embedding, descriptors, generator, rhythm)
        mel = self.sample_mel(frames, embedding, descriptors, generator, reference=reference)
        if self.settings.faint_db is not None and float(frame_power_db(mel).median()) < self.settings.faint_db:
            reference = self.choose_reference(None, descriptors, generator, rhythm)
            mel = self.sample_mel(frames, None, descriptors, generator, guidance=1.0, reference=reference)
        return mel, reference

    def toward_bed(self, embedding: torch.Tensor | None) -> torch.Tensor:
        """The unit embedding halfway between ``embedding`` and the bank's bed (a steady, loopable background)
        nearest it; the nearest bed's to the mean of the beds when there is no embedding."""
        beds = self.bank.embeddings[self.bank.mask(kind="bed")]
        if not len(beds):
            raise InputError("bed_fallback: the sound bank has no bed")
        query = embedding if embedding is not None else beds.mean(dim=0)
        bed = beds[(beds @ query.to(beds)).argmax()]
        if embedding is None:
            return bed
        return torch.nn.functional.normalize(embedding + bed.to(embedding), dim=0)

    def _condition(self, segment: SegmentPlan) -> tuple[torch.Tensor | None, torch.Tensor]:
        """A segment's embedding (None when the plan has none of the model's size) and descriptor targets."""
        embedding = segment.embedding if segment.embedding.numel() == self.model.config.embed_dim else None
        values = [getattr(segment, DESCRIPTOR_TARGETS[name]) for name in self.model.config.descriptors]
        return embedding, torch.tensor(values, dtype=torch.float32)

    def log_mel(self, plan: Plan, seed: int, progress: Progress | None = None) -> torch.Tensor:
        """The track's natural-log power mel (n_mels, frames): segments sampled in order from one seeded
        generator, cross-faded, pulsed."""
        return self.sample_track(plan, seed, progress)[0]

    @torch.inference_mode()
    def sample_track(self, plan: Plan, seed: int,
                     progress: Progress | None = None) -> tuple[torch.Tensor, list[int | None]]:
        """(``log_mel``, the sound bank clip each segment's draw started from or None)."""
        mel_config = self.audio_vae.config.mel
        fps = mel_config.frames_per_second
        length = mel_config.num_frames(round(plan.seconds * mel_config.sample_rate))
        generator = torch.Generator().manual_seed(seed)
        spans = [frame_span(s.start, s.end, plan.crossfade_s, fps, length) for s in plan.segments]
        pieces, references = [], []
        for index, (segment, (start, end)) in enumerate(zip(plan.segments, spans)):
            if progress is not None:
                progress(index / len(plan.segments), f"sampling segment {index + 1} of {len(plan.segments)}")
            piece, reference = self.sample_segment(end - start, segment, generator)
            pieces.append(piece)
            references.append(reference)
        starts = [start for start, _ in spans]
        fade = round(plan.crossfade_s * fps)
        mel = overlap_add(pieces, starts, length, fade)
        shape = asdict(self.audio_vae.config.inference)  # the pulse's settings, saved with the audio VAE
        if self.settings.offbeat_db is not None:
            shape["offbeat_db"] = self.settings.offbeat_db
        rhythms = [self.rhythm(s) for s in plan.segments]
        if plan.pulse:
            gains = [pulse_gains(p.shape[-1], fps, *rhythm, **shape).to(mel) for p, rhythm in zip(pieces, rhythms)]
            mel = (mel + overlap_add(gains, starts, length, fade)).clamp_min(mel_config.log_min)
        if self.settings.texture_db:
            textures = onset_textures(mel.shape[0], [p.shape[-1] for p in pieces], rhythms, fps,
                                      self.settings.texture_db, seed, shape["max_onsets_per_beat"])
            mel = (mel + overlap_add(textures, starts, length, fade).to(mel)).clamp_min(mel_config.log_min)
        return mel, references

    def rhythm(self, segment: SegmentPlan) -> tuple[float, float]:
        """(tempo, onset rate) of a segment's pulse: its targets, or with ``pulse_from`` "readings" what the heads
        read in its latents (as the neural sound plays them)."""
        if self.settings.pulse_from == "readings":
            return segment.raw["tempo"], segment.raw["onset_rate"]
        return segment.tempo, segment.onset_rate

    def room_tone(self, mel: torch.Tensor) -> torch.Tensor:
        """``mel`` with no bin more than ``settings.floor_db`` under its band's mean power over the track, as a
        recording's room tone keeps it: sampled gaps between sparse events are digital silence otherwise."""
        if not self.settings.floor_db:
            return mel
        mean_power = torch.logsumexp(mel, dim=-1, keepdim=True) - math.log(mel.shape[-1])
        return torch.maximum(mel, mean_power - self.settings.floor_db * math.log(10) / 10)

    def voice(self, mel: torch.Tensor, samples: int, page: bool = False) -> np.ndarray:
        """(samples,) float32 waveform of a log-mel (its room tone kept), at a peak-safe level; a ``page``'s log-mel
        lifted to ``settings.voice_floor_db`` first (a prompt's sound may be sparse by design: a dog barking)."""
        mel, floor = self.room_tone(mel), self.settings.voice_floor_db
        if page and floor is not None:
            mel = lifted(mel, floor)
        waveform = self.vocoder(mel[None], length=samples)[0]
        waveform, _ = normalise_loudness(waveform, self.sample_rate)
        return waveform.clamp(-1.0, 1.0).float().cpu().numpy().astype(np.float32)

    @torch.inference_mode()
    def render(self, plan: Plan, seed: int, progress: Progress | None = None) -> list[Layer]:
        samples = round(plan.seconds * self.sample_rate)
        mel, references = self.sample_track(plan, seed, progress)
        audio = self.voice(mel, samples, page=True)
        cues = [Cue("diffusion", s.start, s.end, f"latent diffusion + {self._vocoder_name()}", LICENCE, "bd2music",
                    self.source, trigger(s.panel), "generated sound")
                for s in plan.segments]
        for segment, clip in zip(plan.segments, references):
            if clip is not None:
                info = self.bank.clips[clip]
                cues.append(Cue("diffusion", segment.start, segment.end, info.id, info.license, info.author,
                                info.source, REFERENCE, info.label))
        return [Layer("diffusion", audio, self.sample_rate, cues)]

    @torch.inference_mode()
    def text_to_audio(self, prompt: str, seconds: float, seed: int, steps: int | None = None) -> Layer:
        """``seconds`` of the sound a ``prompt`` describes (no descriptor targets), as one layer: its cue, then one
        cue (trigger ``CONDITION``) per clip whose audio embedding conditioned it (``prompt_clips``)."""
        mel_config = self.audio_vae.config.mel
        samples = round(seconds * self.sample_rate)
        embedding, clips = self.prompt_condition(prompt)
        mel = self.sample_mel(mel_config.num_frames(samples), embedding, None, torch.Generator().manual_seed(seed),
                              steps)
        cues = [Cue("diffusion", 0.0, seconds, f"latent diffusion + {self._vocoder_name()}", LICENCE, "bd2music",
                    self.source, f"prompt: {prompt}", "generated sound")]
        cues += [Cue("diffusion", 0.0, seconds, info.id, info.license, info.author, info.source, CONDITION, info.label)
                 for info in (self.prompt_source.clips[i] for i in clips)]
        return Layer("diffusion", self.voice(mel, samples), self.sample_rate, cues)

    @property
    def prompt_source(self) -> PromptIndex | SoundBank | None:
        """Whose clips a prompt is conditioned on: the prompt index, else the sound bank (None: neither)."""
        return self.prompts if self.prompts is not None else self.bank

    @property
    def prompt_clips(self) -> int:
        """How many clips a prompt is conditioned on: ``settings.prompt_clips``, 0 without a prompt source."""
        return self.settings.prompt_clips if self.prompt_source is not None else 0

    def prompt_condition(self, prompt: str) -> tuple[torch.Tensor, list[int]]:
        """(a prompt's condition, the clips it comes from): ``embed_text`` of the prompt (no clips), or with
        ``prompt_clips`` the mean audio embedding of the ``prompt_source`` clips whose captions lie nearest it."""
        if not self.prompt_clips:
            return self.audio_text.embed_text([prompt])[0], []
        if self._captions is None:
            self._captions = CaptionIndex(self.prompt_source, text_encoder(self.audio_text.config.text_model))
        embedding, clips = self._captions.condition(prompt, self.prompt_clips, self.settings.prompt_temperature)
        return embedding.to(self.audio_vae.latent_mean), clips
