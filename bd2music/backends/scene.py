"""Backend ``scene``: each segment of the plan as a scene mixed from the sound bank (``bd2music.bank``).

Per segment (a random generator seeded by the seed and the segment's index):

* **choice** (``choose``): the bank ranks its clips against the segment (the mapper's latents in the audio-VAE
  space, the semantic embedding in the audio-text space, the ``match`` descriptors: the spectral centroid target as
  it is, the tempo and onset-rate targets, which are ramps over their listener range, by rank: a target a third up
  its range asks for the bank's clip a third up that descriptor's distribution; with ``match_as`` "played" the
  descriptors of the clip as a scene plays it over a segment; with ``main_length_weight`` a clip long enough
  to play unlooped ranks higher); the segment's main recording is drawn from the ``top_k`` best clips of
  ``main_kinds``, never the previous segment's; the events' ``palette`` from the best events.
* **main recording (bed)**: played as recorded, from a random offset, when it is long enough; a shorter bed clip
  is looped with ``loop_crossfade_s`` cross-fades, a shorter event clip repeated with its attack intact
  (``bd2music.bank.play.loopable``), or, with ``chain``, played in turn with its nearest neighbours among the
  segment's best clips of its kind before the chain repeats; with ``tempo_stretch`` it is sped up or slowed down
  (time-stretched, its pitch kept) so that its own tempo meets the segment's; it
  breathes with the beats and events (it rises with each one and dips ``bed_pulse_db`` between them).
* **events**: at the onsets of ``bd2music.soundtrack.onset_times``: a beat every ``60 / tempo`` s, and evenly
  spread events between beats, 1 to ``max_events_per_beat`` per beat as the onset-rate target rises through its
  listener range (``events_per_beat``), each an excerpt of a palette clip from its attack, shaped to decay
  (one onset per event), beats accented; consecutive events never use the same clip (with a palette of one,
  the clip is varied in pitch and gain instead); every event varies a little in gain and pitch. With
  ``events_from_main`` the events are excerpts of the main recording itself (one recording, accented).
* **lettering**: each sound effect the plan's lettering asks for (``SegmentPlan.effects``) is the bank clip
  its text embedding ranks first among the clips of its label (any event when the bank has none), from its
  attack (at most ``effect_max_s``) at ``effect_peak_db``, where its area comes in the panel; the voices of a
  dialogue-heavy panel loop under the segment at ``voices_rms_db``. Their cues' trigger is ``lettering: WORD``.
* **level and colour**: bed and events are balanced by the flatness target (a noisier target raises the bed),
  the segment's spectrum is tilted so that its mean spectral centroid lands on the target, and its gain follows
  its loudness target relative to the plan's (the master sets the absolute loudness).

Segments overlap by the plan's cross-fade and are cross-faded; with ``match_db`` the whole scene then goes through
a matching EQ (``bd2music.audio.eq``: a curve fitted once on training tracks against real recordings, so that the
scene's long-term spectrum comes nearer a recording's; the tilt still follows each segment's centroid). The layer
is mono at the bank's rate. Every clip heard has a cue (licence, author, source, and the segment that chose it).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import ClassVar

import librosa
import numpy as np
import pedalboard
import soxr
import torch

from bd2music.audio.eq import check_points, match_eq, tilt_gain
from bd2music.backends import settings_config
from bd2music.backends.base import Cue, Layer, Progress, trigger
from bd2music.bank import RankWeights, SoundBank
from bd2music.bank.play import EVENT_FADE_S, LOOP_CROSSFADE_S, PLAYED, loopable
from bd2music.errors import InputError
from bd2music.plan import RAMPS, Plan, SegmentPlan, range_place
from bd2music.soundtrack import (DECAY_SHARE, OFFBEAT_DB, PULSE_DEPTH_DB, beat_period, onset_times, overlap_add,
                                 pulse_gains)
from bd2music.text_cues import DIALOGUE


MATCHED = {"tempo": "tempo", "onset_rate": "onset_rate", "centroid": "spectral_centroid_mean",
           "flatness": "spectral_flatness_mean", "loudness": "loudness_lufs"}  # plan target -> bank descriptor
PLAYED_MATCHED = {"tempo": PLAYED["tempo"], "onset_rate": PLAYED["onset_rate"],
                  "centroid": PLAYED["spectral_centroid"]}  # ... as the clip plays over a segment (``match_as``)
MATCH_AS = ("recorded", "played")
LEAD_STEPS = 32  # phases of the beat grid ``beat_on_recording`` tries
STRETCH_PAD = 4096  # samples covered past a stretched bed's end (the stretcher's latency)


@dataclass
class SceneConfig:
    """How the scene backend chooses and mixes clips."""

    max_events_per_beat: float = 8.0  # events per beat at the top of the onset-rate range (1 at its bottom)
    event_curve: float = 1.0  # events per beat = max_events_per_beat ** (place in the range ** this): under 1 the
    # count rises sooner above the bottom of the range, where most plans' onset targets lie
    top_k: int = 6  # each choice is drawn from this many best-ranked clips (better ranks likelier)
    descriptor_weight: float = 0.5  # weight of the descriptor match (``match``) in the bank's ranking
    main_descriptor_weight: float | None = None  # the same for the main recording's ranking (None: as above)
    match: tuple[str, ...] = ("centroid", "flatness")  # plan targets the clips' descriptors are matched to
    match_as: str = "recorded"  # "played": the tempo, onset-rate and centroid targets are matched to what a clip
    # plays over a segment, looped or repeated (the bank's played descriptors, ``bd2music.bank.play``)
    events_match_as: str | None = None  # the same for the events' palette (None: as ``match_as``)
    main_kinds: tuple[str, ...] = ("bed",)  # kinds of clip the segment's main recording (its bed) may be
    main_music: bool = False  # whether a music clip may be the main recording (never under the music: ``as_bed``)
    main_length_weight: float = 0.0  # added to a main recording's rank score x the share of the segment it covers
    # unlooped (min(1, its duration / the segment's)): longer recordings are chosen more often
    tempo_stretch: float = 1.0  # the main recording may be sped up or slowed down by up to this factor so that
    # its own tempo as played (the bank's ``played_tempo``, or its half or double) meets the segment's (1: as recorded)
    beat_on_recording: bool = False  # the segment's beats (its pulse and events) fall where the main recording's
    # own onsets are strongest at the segment's tempo, instead of from the segment's start
    chain: int = 1  # a main recording shorter than its segment plays in turn with up to this many - 1 others of
    # its kind (those of the segment's best main recordings nearest to it, ``SoundBank.neighbours``), each bed
    # cross-faded into the next, before the chain repeats: fewer repeats of the same seconds
    palette: int = 3  # event clips per segment
    events_from_main: bool = False  # the events are excerpts of the segment's main recording (a steady one from
    # random offsets, a transient one from its attack) instead of the palette's clips: one recording is heard,
    # accented at the onsets, not several sounds in turn
    loop_crossfade_s: float = LOOP_CROSSFADE_S  # cross-fade where a looped bed meets its own start
    event_max_s: float = 0.4  # longest event excerpt (longer ones hold several onsets of their own)
    event_fade_s: float = EVENT_FADE_S  # fade-out at the end of an excerpt
    event_decay_s: float = 0.08  # an excerpt decays with this time constant: one clear onset, not the clip's own
    event_peak_db: float = -6.0  # peak level of a beat's excerpt (dBFS before the master)
    offbeat_db: float = -8.0  # events between beats, relative to a beat's (louder: the tempo heard doubles)
    triplets: bool = False  # one event between two beats sits on the beat's last third, not its half (a slow
    # tempo with an event between beats is then not heard as double time; ``bd2music.soundtrack.onset_times``)
    gain_jitter_db: float = 2.0  # each event's level varies by up to this much
    pitch_jitter: float = 0.04  # each event's playback rate varies by up to this share
    bed_rms_db: tuple[float, float] = (-38.0, -26.0)  # bed RMS level at flatness 0 and at flatness 0.5 and above
    bed_pulse_db: float = 18.0  # the bed dips this far between beats and rises with each beat and event
    pulse_decay_share: float = DECAY_SHARE  # the bed's fall after an onset: time constant / the gap it falls in
    # (longer: a shallower, slower fall between beats, the rise at each beat as sharp)
    pulse_decay_dense: float | None = None  # the fall's share at ``max_events_per_beat`` events per beat: from
    # ``pulse_dense_from`` events per beat up, the share rises linearly to this (None: ``pulse_decay_share`` at
    # any density); busy segments' events carry the beat, sparse ones keep the bed's deeper fall as their cue
    pulse_dense_from: float = 2.0  # events per beat at and under which the fall's share is ``pulse_decay_share``
    pulse_offbeat_db: float = OFFBEAT_DB  # how far each event between beats lifts the bed (at PULSE_DEPTH_DB deep)
    max_tilt_db: float = 15.0  # largest boost or cut of the centroid tilt, at the spectrum's ends
    tilt_pivot_hz: float = 1000.0  # the tilt leaves this frequency unchanged
    match_db: tuple[tuple[float, float], ...] = ()  # a matching EQ on the whole scene: (Hz, dB) points
    # (``bd2music.audio.eq``; fitted on training tracks and clips by ``benchmarks/tune_scene.py --fit-match``)
    segment_rms_db: float = -20.0  # RMS of a segment whose loudness target is the plan's (others: + difference)
    effect_max_s: float = 1.5  # longest sound effect the lettering asks for
    effect_peak_db: float = -3.0  # peak level of a lettering sound effect (dBFS before the master)
    voices_rms_db: float = -32.0  # RMS level of the voices a dialogue-heavy panel brings
    voices_chain: int = 1  # voices shorter than their segment play in turn with up to this many - 1 other clips of
    # their label (the nearest to them, as ``chain``) before they repeat

    def __post_init__(self) -> None:
        if unknown := [name for name in self.match if name not in MATCHED]:
            raise ValueError(f"match: unknown targets {unknown} (known: {', '.join(MATCHED)})")
        for name in ("match_as", "events_match_as"):
            if getattr(self, name) not in (*MATCH_AS, None if name == "events_match_as" else "recorded"):
                raise ValueError(f"{name}: {getattr(self, name)!r} is not one of {', '.join(MATCH_AS)}")
        if not 1.0 <= self.tempo_stretch <= 4.0:
            raise ValueError(f"tempo_stretch must be within 1-4 (a factor; 1: as recorded), got {self.tempo_stretch}")
        check_points(self.match_db, "match_db")


@dataclass
class SceneBackend:
    """Sound bank beds + events on the plan's tempo grid."""

    bank: SoundBank
    config: SceneConfig = field(default_factory=SceneConfig)
    name: ClassVar[str] = "scene"

    @classmethod
    def from_components(cls, components: dict, settings: dict | None = None) -> SceneBackend:
        return cls(SoundBank.load(components["bank"]), settings_config(SceneConfig, settings, cls.name))

    @property
    def sample_rate(self) -> int:
        return self.bank.sample_rate

    def as_bed(self) -> SceneBackend:
        """The scene as it plays under another sound (the music): no music clip as a main recording."""
        return replace(self, config=replace(self.config, main_music=False)) if self.config.main_music else self

    def render(self, plan: Plan, seed: int, progress: Progress | None = None) -> list[Layer]:
        rate, cues, pieces, starts = self.sample_rate, [], [], []
        half = plan.crossfade_s / 2
        total = round(plan.seconds * rate)
        previous_bed = None
        for index, segment in enumerate(plan.segments):
            if progress is not None:
                progress(index / len(plan.segments), f"mixing the scene of segment {index + 1}")
            rng = np.random.default_rng([seed, index])
            first, last = max(0.0, segment.start - half), min(plan.seconds, segment.end + half)
            length = round(last * rate) - round(first * rate)
            audio, segment_cues, previous_bed = self._segment(segment, first, length, rng, previous_bed)
            audio *= _gain_to(audio, self.config.segment_rms_db + segment.loudness - plan.loudness)
            pieces.append(torch.from_numpy(audio))
            starts.append(round(first * rate))
            cues += segment_cues
        mix = overlap_add(pieces, starts, total, round(plan.crossfade_s * rate)).numpy()
        if self.config.match_db:
            mix = match_eq(mix, rate, self.config.match_db)
        return [Layer(self.name, mix, rate, cues)]

    # -- one segment -----------------------------------------------------------------------------------------
    def _segment(self, segment: SegmentPlan, offset: float, length: int, rng: np.random.Generator,
                 previous_bed: int | None) -> tuple[np.ndarray, list[Cue], int | None]:
        bed, events = self.choose(segment, rng, previous_bed)
        if bed and events and self.config.events_from_main:
            events = bed[:1]
        cues, where = [], trigger(segment.panel)
        audio = np.zeros(length, dtype=np.float32)
        lead = 0  # samples the beat grid starts before the segment (``beat_on_recording``)
        if bed:
            played = self._bed(bed, length, segment.flatness, rng, segment.tempo)
            if self.config.beat_on_recording:
                lead = self._lead(played, segment.tempo)
            audio += played * self._pulse(segment, length, lead)
            cues += [self._cue(clip, offset, offset + length / self.sample_rate, f"{where} (bed)") for clip in bed]
        if events:
            audio += self._events(events, segment, length, rng, offset, cues, where, lead)
        for effect in segment.effects:
            audio += self._effect(effect, segment, offset, length, rng, cues)
        audio = self._tilt(audio, segment.centroid)
        return audio, cues, (bed[0] if bed else previous_bed)

    def choose(self, segment: SegmentPlan, rng: np.random.Generator,
               previous_bed: int | None = None) -> tuple[list[int], list[int]]:
        """([the bed clip] or [], the events' palette) the bank offers for ``segment``."""
        config, bank = self.config, self.bank
        mains = torch.zeros(len(bank), dtype=torch.bool)
        for kind in config.main_kinds:
            mains |= bank.mask(kind=kind)
        if not config.main_music:
            mains &= ~bank.mask(category="music")
        bonus = None
        if config.main_length_weight:
            durations = torch.tensor([clip.duration for clip in bank.clips])
            bonus = config.main_length_weight * (durations / max(segment.duration, 1e-3)).clamp(max=1.0)
        ranked = self._rank(segment, mains, config.match_as, bonus, config.main_descriptor_weight)
        bed = self._draw(ranked, 1, rng, exclude=previous_bed)
        if bed and config.chain > 1:
            kind = bank.clips[bed[0]].kind
            pool = [i for i in ranked if i not in (bed[0], previous_bed) and bank.clips[i].kind == kind]
            bed += self._chain(bed[0], pool, segment.duration, config.chain)
        events_as = config.events_match_as or config.match_as
        events = self._draw(self._rank(segment, bank.mask(kind="event"), events_as), config.palette, rng)
        if not bed and not events:  # a bank with one kind only: take anything
            anything = torch.ones(len(bank), dtype=torch.bool)
            events = self._draw(self._rank(segment, anything, events_as), config.palette, rng)
        return bed, events

    def _chain(self, first: int, pool: list[int], seconds: float, links: int) -> list[int]:
        """Up to ``links - 1`` clips that follow ``first`` in its chain: of the ``top_k`` first clips of ``pool``
        (best first), the nearest to it, until the chain lasts ``seconds``."""
        bank = self.bank
        if links <= 1:
            return []
        mask = torch.zeros(len(bank), dtype=torch.bool)
        mask[pool[: max(self.config.top_k, links)]] = True
        chain, lasts = [], bank.clips[first].duration
        for clip in bank.neighbours(first, mask)[: links - 1]:
            if lasts >= seconds:
                break
            chain.append(clip)
            lasts += bank.clips[clip].duration
        return chain

    def _rank(self, segment: SegmentPlan, mask: torch.Tensor, match_as: str = "recorded",
              bonus: torch.Tensor | None = None, descriptor_weight: float | None = None) -> list[int]:
        """The clips of ``mask``, best first for ``segment`` (latents, embedding, the ``match`` descriptors as
        recorded or as played, weighed by ``descriptor_weight``, default the config's; ``bonus`` added to the
        scores)."""
        descriptors = {}
        for name in self.config.match:
            value, column = getattr(segment, name), self._column(name, match_as)
            if name in RAMPS:  # a ramp over the listener range: the bank's clip at the same place
                place = range_place(name, value, log=RAMPS[name] is np.geomspace)
                value = self.bank.quantile(column, place, mask)
            descriptors[column] = value
        return self.bank.rank(segment.latents.latents, segment.embedding, descriptors,
                              RankWeights(descriptors=self.config.descriptor_weight if descriptor_weight is None
                                          else descriptor_weight), mask, bonus)

    def _column(self, target: str, match_as: str) -> str:
        """The bank descriptor a plan target is matched to (``match_as``); one line if the bank lacks it."""
        column = PLAYED_MATCHED.get(target, MATCHED[target]) if match_as == "played" else MATCHED[target]
        if column not in self.bank.descriptor_names:
            raise InputError(f"sound bank {self.bank.root} has no {column} descriptor (built before it was added; "
                             "rebuild it with bd2music bank build, or set match_as to recorded)")
        return column

    def _draw(self, ranked: list[int], count: int, rng: np.random.Generator, exclude: int | None = None) -> list[int]:
        """``count`` distinct clips drawn from the ``top_k`` best of ``ranked`` (better ranks likelier)."""
        pool = [i for i in ranked if i != exclude][: max(self.config.top_k, count)] or ranked[:1]
        if not pool:
            return []
        weights = 1.0 / (1.0 + np.arange(len(pool)))
        chosen = rng.choice(len(pool), size=min(count, len(pool)), replace=False, p=weights / weights.sum())
        return [pool[i] for i in chosen]

    def _bed(self, clips: int | list[int], length: int, flatness: float, rng: np.random.Generator,
             tempo: float | None = None) -> np.ndarray:
        """(length,) the bed clip (or chain) from a random offset (``_cover``), brought to ``tempo`` (BPM;
        ``tempo_ratio``; None: as recorded), at the flatness's level."""
        clips = [clips] if isinstance(clips, int) else clips
        ratio = 1.0 if tempo is None else self.tempo_ratio(clips[0], tempo)
        if ratio == 1.0:
            out = self._cover(clips, length, rng)
        else:  # pedalboard's time stretch (Rubber Band): the tempo changes, the pitch does not
            covered = self._cover(clips, int(np.ceil(length * ratio)) + STRETCH_PAD, rng)
            out = pedalboard.time_stretch(covered[None], self.sample_rate, ratio)[0][:length]
            out = np.pad(out, (0, length - len(out))).astype(np.float32)
        low, high = self.config.bed_rms_db
        return out * _gain_to(out, low + (high - low) * min(1.0, flatness / 0.5))

    def tempo_ratio(self, clip: int, tempo: float) -> float:
        """The playback speed that brings clip ``clip``'s tempo as played (or its half or double, whichever needs
        the least change) to ``tempo``, within ``tempo_stretch``; 1 when the bank has no played tempo."""
        limit = self.config.tempo_stretch
        column = PLAYED["tempo"]
        if limit <= 1.0 or column not in self.bank.descriptor_names:
            return 1.0
        own = float(self.bank.descriptors[clip, self.bank.descriptor_names.index(column)])
        if not own > 0:
            return 1.0
        ratio = min((tempo * octave / own for octave in (0.5, 1.0, 2.0)), key=lambda r: abs(np.log(r)))
        return float(np.clip(ratio, 1.0 / limit, limit))

    def _cover(self, clips: int | list[int], length: int, rng: np.random.Generator) -> np.ndarray:
        """(length,) of clip ``clips`` (or of the chain of clips ``clips``, ``chain``) from a random offset: one
        stretch of the first when it is long enough, else looped (cross-faded onto its own start, or into the next
        clip of the chain), or, for event clips, repeated whole with their attacks intact."""
        clips = [clips] if isinstance(clips, int) else clips
        samples = np.asarray(self.bank.audio(clips[0]), dtype=np.float32)
        if len(samples) >= length:  # long enough: one stretch of the recording, no loop
            start = int(rng.integers(len(samples) - length + 1))
            return samples[start : start + length]
        loop = loopable([self.bank.audio(clip) for clip in clips], self.bank.clips[clips[0]].kind, self.sample_rate,
                        self.config.loop_crossfade_s, self.config.event_fade_s)
        start = int(rng.integers(len(loop)))
        return np.resize(np.roll(loop, -start), length)

    def _events(self, palette: list[int], segment: SegmentPlan, length: int, rng: np.random.Generator,
                offset: float, cues: list[Cue], where: str, lead: int = 0) -> np.ndarray:
        """Event excerpts at the segment's onsets (beats accented; the grid starts ``lead`` samples before the
        segment, ``_lead``), cycling the palette."""
        config, rate = self.config, self.sample_rate
        out = np.zeros(length + round(config.event_max_s * rate), dtype=np.float32)
        times, beats = onset_times((length + lead) / rate, segment.tempo, self.event_rate(segment),
                                   triplets=config.triplets)
        kept = times >= lead / rate
        times, beats = times[kept] - lead / rate, beats[kept]
        attacks = {clip: self._attack(clip) for clip in palette}  # each clip's attack found once per segment
        steady = {clip: config.events_from_main and self.bank.clips[clip].kind != "event" for clip in palette}
        for k, (time, beat) in enumerate(zip(times, beats)):
            start = round(time * rate)
            if start >= length:
                break
            clip = palette[k % len(palette)]
            excerpt = self._excerpt(self._stretch(clip, rng) if steady[clip] else attacks[clip], rng)
            level = config.event_peak_db + (0.0 if beat else config.offbeat_db)
            level += rng.uniform(-config.gain_jitter_db, config.gain_jitter_db)
            peak = float(np.abs(excerpt).max()) or 1.0
            excerpt = excerpt[: len(out) - start]  # a slowed excerpt may outgrow the tail room
            out[start : start + len(excerpt)] += excerpt * (10 ** (level / 20) / peak)
            seconds = offset + time
            cues.append(self._cue(clip, seconds, seconds + len(excerpt) / rate, where + (" (beat)" if beat else "")))
        return out[:length]

    def _effect(self, effect, segment: SegmentPlan, offset: float, length: int, rng: np.random.Generator,
                cues: list[Cue]) -> np.ndarray:
        """(length,) one sound effect of the lettering (or the voices of a dialogue), with its cue."""
        config, rate = self.config, self.sample_rate
        out = np.zeros(length, dtype=np.float32)
        mask = self.bank.mask(label=effect.label) if effect.label else torch.zeros(len(self.bank), dtype=torch.bool)
        if not mask.any():
            mask = self.bank.mask(kind="event")
        ranked = self.bank.rank(embedding=effect.embedding, mask=mask)
        chosen = self._draw(ranked, 1, rng)
        if not chosen:
            return out
        clips, kind = chosen, self.bank.clips[chosen[0]].kind
        if effect.word == DIALOGUE:
            pool = [i for i in ranked if i != clips[0] and self.bank.clips[i].kind == kind]
            clips += self._chain(clips[0], pool, length / rate, config.voices_chain)
            voices = self._bed(clips, length, 0.0, rng)
            out += voices * _gain_to(voices, config.voices_rms_db)
            start, end = 0, length
        else:
            attack = self._attack(clips[0], config.effect_max_s)
            fade = min(round(config.event_fade_s * rate), len(attack))
            sound = attack.copy()
            sound[len(sound) - fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
            start = min(length - 1, max(0, round((segment.start - offset + effect.at * segment.duration) * rate)))
            sound = sound[: length - start]
            peak = float(np.abs(sound).max()) or 1.0
            out[start : start + len(sound)] = sound * (10 ** (config.effect_peak_db / 20) / peak)
            end = start + len(sound)
        cues += [self._cue(clip, offset + start / rate, offset + end / rate, effect.trigger) for clip in clips]
        return out

    def _lead(self, audio: np.ndarray, tempo: float) -> int:
        """Samples the segment's beat grid starts before the segment so that its beats fall where ``audio``'s
        onsets are strongest (the sum of librosa's onset strength on the beats, over ``LEAD_STEPS`` phases)."""
        rate, hop = self.sample_rate, 256
        period = beat_period(tempo) * rate
        strength = librosa.onset.onset_strength(y=np.asarray(audio, dtype=np.float32), sr=rate, hop_length=hop)
        phases = np.arange(LEAD_STEPS) * period / LEAD_STEPS
        beats = np.arange(0, len(audio), period)
        frames = np.minimum(((beats[None] + phases[:, None]) / hop).round().astype(int), len(strength) - 1)
        best = phases[int(np.argmax(strength[frames].sum(axis=1)))]  # the first beat's time in the segment
        return int(round(period - best)) % int(round(period))

    def _pulse(self, segment: SegmentPlan, length: int, lead: int = 0) -> np.ndarray:
        """(length,) amplitude envelope of the segment's beats and events (``bd2music.soundtrack.pulse_gains``,
        ``bed_pulse_db`` deep, its grid started ``lead`` samples before the segment) that the bed breathes with."""
        rate, frame = self.sample_rate, 256
        length += lead
        frames = length // frame + 2
        gains = pulse_gains(frames, rate / frame, segment.tempo, self.event_rate(segment),
                            offbeat_db=self.config.pulse_offbeat_db, decay_share=self.decay_share(segment),
                            triplets=self.config.triplets)
        gains_db = gains.numpy() * 10 / np.log(10)
        gains_db *= self.config.bed_pulse_db / PULSE_DEPTH_DB
        envelope = 10 ** (gains_db / 20)
        return np.interp(np.arange(lead, length) / frame, np.arange(frames), envelope).astype(np.float32)

    def decay_share(self, segment: SegmentPlan) -> float:
        """The bed's fall after an onset (time constant / its gap) for the segment's events per beat:
        ``pulse_decay_share`` up to ``pulse_dense_from`` events per beat, then linearly up to ``pulse_decay_dense``
        at ``max_events_per_beat``."""
        config = self.config
        if config.pulse_decay_dense is None:
            return config.pulse_decay_share
        span = max(config.max_events_per_beat - config.pulse_dense_from, 1e-6)
        share = np.clip((self.events_per_beat(segment.onset_rate) - config.pulse_dense_from) / span, 0.0, 1.0)
        return float(config.pulse_decay_share + share * (config.pulse_decay_dense - config.pulse_decay_share))

    def event_rate(self, segment: SegmentPlan) -> float:
        """Events per second the segment plays: ``events_per_beat`` at its tempo."""
        return self.events_per_beat(segment.onset_rate) * segment.tempo / 60

    def events_per_beat(self, onset_rate: float) -> float:
        """Events per beat for an onset-rate target: 1 at the bottom of its listener range, ``max_events_per_beat``
        at the top, log-even between when ``event_curve`` is 1 (every beat sounds, so the beat tracker hears the
        tempo)."""
        place = range_place("onset_rate", onset_rate, log=True)
        return self.config.max_events_per_beat ** (place ** self.config.event_curve)

    def _attack(self, clip: int, seconds: float | None = None) -> np.ndarray:
        """Up to ``seconds`` (default ``event_max_s``) of the clip from its attack (10 ms before its level first
        reaches 30 % of its peak level); read-only, like the bank's clips."""
        rate = self.sample_rate
        samples = np.asarray(self.bank.audio(clip), dtype=np.float32)
        frame = rate // 100
        envelope = np.sqrt(np.convolve(samples**2, np.ones(frame) / frame, mode="same"))
        attack = int(np.argmax(envelope >= 0.3 * envelope.max())) if envelope.max() > 0 else 0
        start = max(0, attack - frame)
        return samples[start : start + round((seconds or self.config.event_max_s) * rate)]

    def _stretch(self, clip: int, rng: np.random.Generator) -> np.ndarray:
        """``event_max_s`` of a steady clip from a random offset (an event of ``events_from_main``): ``_cover``'s
        one stretch, at most the clip's length."""
        size = min(len(self.bank.audio(clip)), round(self.config.event_max_s * self.sample_rate))
        return self._cover(clip, size, rng)

    def _excerpt(self, attack: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """A clip's ``_attack`` at a slightly varied playback rate, faded out and shaped to decay."""
        config, rate = self.config, self.sample_rate
        excerpt = attack.copy()  # the bank's arrays are read-only
        ratio = 1.0 + rng.uniform(-config.pitch_jitter, config.pitch_jitter)
        excerpt = soxr.resample(excerpt, rate, rate / ratio).astype(np.float32) if len(excerpt) > 16 else excerpt
        fade = min(round(config.event_fade_s * rate), len(excerpt))
        excerpt[len(excerpt) - fade :] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
        return excerpt * np.exp(-np.arange(len(excerpt)) / (config.event_decay_s * rate)).astype(np.float32)

    def _tilt(self, audio: np.ndarray, centroid: float) -> np.ndarray:
        """``audio`` with its spectrum tilted (dB linear in log frequency around the pivot) so that its mean
        spectral centroid is ``centroid`` as nearly as ``max_tilt_db`` allows."""
        n_fft = 1024
        spectrum = torch.stft(torch.from_numpy(audio), n_fft, n_fft // 4, window=torch.hann_window(n_fft),
                              return_complex=True)
        magnitude = spectrum.abs().numpy()  # the centroid is measured on magnitudes (as librosa does)
        freqs = np.linspace(0, self.sample_rate / 2, magnitude.shape[0])
        gain = torch.from_numpy(tilt_gain(magnitude, freqs, centroid, self.config.max_tilt_db,
                                          self.config.tilt_pivot_hz)).float()
        tilted = torch.istft(spectrum * gain[:, None], n_fft, n_fft // 4, window=torch.hann_window(n_fft),
                             length=len(audio))
        return tilted.numpy().astype(np.float32)

    def _cue(self, clip: int, start: float, end: float, why: str) -> Cue:
        info = self.bank.clips[clip]
        return Cue(self.name, start, end, info.id, info.license, info.author, info.source, why, info.label)


def _gain_to(audio: np.ndarray, rms_db: float) -> float:
    rms = float(np.sqrt(np.mean(audio.astype(np.float64) ** 2)))
    return 10 ** (rms_db / 20) / rms if rms > 1e-9 else 0.0
