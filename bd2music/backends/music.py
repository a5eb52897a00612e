"""Backend ``music``: the plan becomes a score (``bd2music.music``) played by recorded instruments.

1. **intent** (``music.intent``): the page's key and mode, each segment's tempo, density, level, height, contour.
2. **score**: a public-domain piece of the library (``music.library``) chosen by mood and re-arranged
   (``music.arrange``), or the procedural composer (``music.compose``): on ``composer_share`` of the pages (by
   seed and page) for variety, and when no piece fits or the library is missing (the score says why).
3. **orchestration**: first the page's style, acoustic (the orchestra, the piano, guitars) or electronic
   (synthesizer leads, pads and basses, electric instruments, a drum machine), drawn with the seed and the page,
   the electronic style the likelier the busier and louder the plan (``electronic_share``); then per section an
   instrument for each role (melody, harmony, bass, a doubling counter voice at loud sections, a plucked or
   struck arpeggio and drums at dense ones), ranked by the instrument's style (``style_weight``), by the
   audio-text similarity between the segment's semantic embedding and the instruments' descriptions, by how well
   the instrument's brightness matches the section's height, and, as WAVE turns an image's objects into
   instruments, by the scene's sound sources: the
   categories of the bank clips the scene would pick for the segment, each suggesting instruments
   (``SOURCE_INSTRUMENTS``); drawn from the ``top_k`` best with the seed and the page; the melody changes
   instrument from one section to the next, while the other roles lean to keep theirs (``keep_weight``); the
   arpeggio's players can also be ranked by how clearly their notes start (``attack_weight``), and a fixed
   instrument can double the bass an octave below (``sub_bass``). A pitched clip among the sources
   (``music.found``) joins as a found sound on the melody's strong beats.
4. **performance** (``music.perform``) and rendering by the sampler (``music.instruments``), then the
   production chain of a recording (``music.production``: bass and a tilt that follows each section's height,
   saturation and roll-off, a room, the faint noise floor; options: a matching EQ, a chorus, a saturation and a
   kick-keyed pump on the band, the drums rendered apart for them, an expander after the room, and a real
   room's tone under the mix: a steady ambience bed of the scene's bank, ``music.room``, drawn with the seed and
   the page and credited). The sampler's own options (``sampler``: detuned doubles of the sustained
   instruments) come from the same settings. The layer is stereo at the sampler's rate; it carries the ``Score``
   (notes, tempo map, key, source) for the MIDI and MusicXML files.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import ClassVar

import numpy as np
import torch

from bd2music.backends import settings_config
from bd2music.backends.base import Cue, Layer, Progress, trigger
from bd2music.bank import SoundBank
from bd2music.errors import InputError
from bd2music.music.arrange import ArrangerConfig, arrange, choose_piece, page_hash
from bd2music.music.compose import (ARPEGGIO, BASS, HARMONY, KICK, MELODY, ComposerConfig, breakdown, compose,
                                    graces, on_pulse)
from bd2music.music.found import Found, FoundConfig, FoundSounds, mix_found
from bd2music.music.compose import DRUMS as PERCUSSION  # the score's role (score.DRUMS: the kit)
from bd2music.music.instruments import InstrumentBank, SamplerConfig
from bd2music.music.intent import IntentConfig, Key, Section, choose_key, plan_sections
from bd2music.music.library import Piece, PieceLibrary
from bd2music.music.perform import Orchestration, PerformerConfig, perform
from bd2music.music.production import ProductionConfig, band_bus, produce
from bd2music.music.room import room_clips, room_tone
from bd2music.music.gm import ACOUSTIC, ELECTRONIC
from bd2music.music.score import DRUMS, Note, Score, is_kit
from bd2music.plan import Plan, SegmentPlan, range_place

KICKS = (KICK - 1, KICK)  # the GM kit's two bass drums, which key the production's pump
MUSIC_LICENSE = "MIT (MuseScore General SoundFont, see weights/instruments/README.md)"
SOURCE_INSTRUMENTS = {  # a scene's sound sources (the bank's categories) and the instruments they suggest
    "animal": ("flute", "pan_flute", "clarinet", "oboe", "music_box"),
    "ambience": ("warm_pad", "strings", "harp", "choir", "celesta"),
    "human": ("choir", "cello", "violin", "horn", "nylon_guitar"),
    "machine": ("brass", "trumpet", "trombone", "electric_bass", "steel_guitar", "electric_piano", "synth_bass",
                "saw_lead", "synth_brass"),
    "foley": ("pizzicato", "marimba", "vibraphone", "nylon_guitar", "acoustic_bass"),
    "music": ("piano", "electric_piano", "strings", "acoustic_bass", "organ", "polysynth", "square_lead"),
}
ALSO_PLAYS = {  # roles an instrument takes besides its typical one (``info(name)["role"]``)
    MELODY: ("piano", "electric_piano", "nylon_guitar", "steel_guitar", "harp", "horn", "vibraphone", "clean_guitar",
             "synth_brass", "polysynth"),
    HARMONY: ("marimba", "vibraphone", "crystal"),
    BASS: ("cello", "piano", "pizzicato"),
}


@dataclass
class MusicConfig:
    """Settings of the music backend (``weights/pipeline.json``, settings "music")."""

    top_k: int = 3  # each instrument is drawn from this many best-ranked ones
    semantic_weight: float = 1.0  # weight of the audio-text similarity in the instrument ranking...
    height_weight: float = 1.0  # ...of the match between the instrument's brightness and the section's height...
    source_weight: float = 0.5  # ...and of the scene's sound sources (share of the top clips suggesting it)
    source_clips: int = 12  # how many of the bank's best clips for a segment count as its sound sources
    keep_weight: float = 0.6  # harmony, bass and counter: added to the score of the previous section's player
    counter_from: float = 0.65  # sections at least this loud double the melody an octave below
    sample_rate: int = 44_100
    composer_share: float = 0.25  # share of the pages (by seed and page) the composer plays though a piece fits
    electronic_share: tuple[float, float] = (0.0, 0.0)  # chance a page is electronic at the calmest and quietest
    # plan (energy 0: onset and loudness targets at the bottom of their ranges) and at the busiest, loudest (1)
    style_weight: float = 1.5  # added to the ranking of the instruments (and kits) of the page's style
    sub_bass: str = ""  # the instrument doubling the bass an octave below wherever the bass plays ("": none)
    attack_weight: float = 0.0  # arpeggio: added to the ranking times the player's attack (``instrument_attack``)
    intent: IntentConfig = field(default_factory=IntentConfig)
    arranger: ArrangerConfig = field(default_factory=ArrangerConfig)
    composer: ComposerConfig = field(default_factory=ComposerConfig)
    performer: PerformerConfig = field(default_factory=PerformerConfig)
    found: FoundConfig = field(default_factory=FoundConfig)
    production: ProductionConfig = field(default_factory=ProductionConfig)
    sampler: SamplerConfig = field(default_factory=SamplerConfig)

    def __post_init__(self) -> None:
        parts = {"intent": IntentConfig, "arranger": ArrangerConfig, "composer": ComposerConfig,
                 "performer": PerformerConfig, "found": FoundConfig,
                 "production": ProductionConfig, "sampler": SamplerConfig}
        for part, kind in parts.items():
            if isinstance(getattr(self, part), dict):  # read from weights/pipeline.json
                setattr(self, part, settings_config(kind, getattr(self, part), f"music {part}"))


@dataclass
class MusicBackend:
    """Score + orchestration + sampler."""

    instruments: InstrumentBank
    descriptions: torch.Tensor  # (instruments, E) unit text embeddings of the instruments' descriptions
    library: PieceLibrary | None  # None: the composer writes every score...
    library_problem: str = ""  # ...and this says why (a missing or corrupt library)
    sources: SoundBank | None = None  # the scene's bank, whose clips suggest instruments (None: not used)
    config: MusicConfig = field(default_factory=MusicConfig)
    found_sounds: FoundSounds | None = None  # the bank's pitched clips, which can join the band (None: none)
    name: ClassVar[str] = "music"

    def __post_init__(self) -> None:
        self.players = {role: [n for n in self.instruments.names if self._plays(n, role)]
                        for role in (MELODY, HARMONY, BASS)}
        self.players[ARPEGGIO] = [n for n in self.players[MELODY] + self.players[HARMONY]
                                  if not self.instruments.info(n)["sustained"] and not is_kit(n)]
        self.brightness = instrument_brightness(self.instruments, 22_050)
        self.attack = instrument_attack(self.instruments, 22_050, self.players[ARPEGGIO])
        infos = {n: self.instruments.info(n) for n in self.instruments.names}
        self.ranges = {n: (info["low"], info["high"], bool(info["sustained"])) for n, info in infos.items()}
        self.programs = {n: info["program"] for n, info in infos.items()}
        self.styles = {n: info.get("style", ACOUSTIC) for n, info in infos.items()}  # banks before styles: acoustic
        production = self.config.production
        self.rooms = room_clips(self.sources, production.room_labels, production.room_max_cv,  # room tone beds
                                production.room_min_hz)

    @classmethod
    def from_components(cls, components: dict, settings: dict | None = None) -> MusicBackend:
        config = settings_config(MusicConfig, settings, cls.name)
        bank = InstrumentBank.load(components["instruments"], config.sampler)
        texts = [bank.info(name)["description"] for name in bank.names]
        with torch.inference_mode():
            descriptions = components["audio_text"].embed_text(texts).float().cpu()
        library, problem = None, "no piece library given"
        if components.get("pieces"):
            try:
                library, problem = PieceLibrary.load(components["pieces"]), ""
            except InputError as error:
                problem = str(error)
                warnings.warn(f"{problem}; the composer writes every score", stacklevel=2)
        try:  # the scene's sound sources suggest instruments when its bank is there
            sources = SoundBank.load(components["bank"]) if components.get("bank") else None
        except InputError:
            sources = None
        found = FoundSounds.load(sources, components.get("pitches"), config.found) if config.found.enabled else None
        return cls(bank, descriptions, library, problem, sources, config, found)

    @property
    def sample_rate(self) -> int:
        return self.config.sample_rate

    def render(self, plan: Plan, seed: int, progress: Progress | None = None) -> list[Layer]:
        if progress is not None:
            progress(0.0, "writing the score")
        key = choose_key(plan, self.config.intent)
        sections = plan_sections(plan, self.config.intent)
        piece, fallback = self.choose(plan, key, sections, seed)
        if piece is None:
            events, source = compose(sections, key, seed, self.config.composer), "procedural"
        else:
            events = arrange(piece, key, sections, self.config.arranger, self.config.composer)
            source = f"piece: {piece.title} ({piece.collection}, {piece.id})"
        composer = self.config.composer
        events = graces(on_pulse(breakdown(events, sections, composer), sections, composer), key, seed, composer)
        ranked = [self.source_clips(segment) for segment in plan.segments]
        sources = [self.source_shares(clips) for clips in ranked]
        found = self.found_sounds.choose(ranked) if self.found_sounds is not None else None
        drummed = {e.section for e in events if e.role == PERCUSSION}
        broken = {e.section for e in events if e.role == ARPEGGIO}
        style = self.style(plan, seed)
        orchestration = self.orchestrate(plan, sections, seed, sources, drummed, found, broken, style)
        ranges, programs, found_players = self.ranges, self.programs, None
        if found is not None:
            found_players, found_range, program = self.found_sounds.players(found)
            ranges, programs = ranges | {found.name: found_range}, programs | {found.name: program}
        notes = perform(events, sections, orchestration, seed, ranges, self.config.performer)
        if progress is not None:
            progress(0.4, "playing the score")
        apart = band_bus(self.config.production)  # the drums rendered apart from the band
        played = [n for n in notes if found is None or n.instrument != found.name]
        audio = self.instruments.render([n for n in played if not (apart and is_kit(n.instrument))],
                                        self.sample_rate, plan.seconds)
        if found is not None:
            alone = found_players.render([n for n in notes if n.instrument == found.name], self.sample_rate,
                                         plan.seconds)
            audio = mix_found(audio, alone, self.config.found.level_db)
        drums = self.instruments.render([n for n in played if is_kit(n.instrument)], self.sample_rate,
                                        plan.seconds) if apart else None
        kicks = [n.start for n in played if is_kit(n.instrument) and n.pitch in KICKS]
        room, room_clip = None, None
        if self.config.production.room_tone_db and self.rooms:
            room, room_clip = room_tone(self.sources, self.rooms, audio.shape[-1], self.sample_rate,
                                        np.random.default_rng([seed, page_hash(plan), 29]))
        audio = produce(audio, sections, self.sample_rate, seed, self.config.production, drums, kicks, room)
        unit = piece.beat_quarters if piece else 1.0  # quarter notes per beat (6/8: a dotted quarter)
        summaries = [self._section_dict(*parts) | {"style": style} for parts in zip(sections, orchestration, sources)]
        score = Score(notes=notes, tempo_map=[(s.start, s.tempo * unit) for s in sections], key=key.name,
                      source=source, sections=summaries, programs=programs, fallback=fallback,
                      time_signature=_time_signature(piece, self.config.composer.meter))
        cues = self._cues(sections, orchestration) + ([self._piece_cue(piece, plan)] if piece else [])
        cues += self._found_cues(sections, found) + self._room_cues(plan, room_clip)
        return [Layer(self.name, audio, self.sample_rate, cues, score=score)]

    def choose(self, plan: Plan, key: Key, sections: list[Section], seed: int) -> tuple[Piece | None, str]:
        """The piece to arrange, or (None, why the composer writes the score instead)."""
        if self.library is None:
            return None, self.library_problem
        if np.random.default_rng([seed, page_hash(plan), 26]).random() < self.config.composer_share:
            return None, ""  # the composer's turn, for variety
        density = float(np.average([s.density for s in sections], weights=[s.beats for s in sections]))
        return choose_piece(self.library, key, sections, plan, seed, self.config.arranger, density)

    # -- orchestration ---------------------------------------------------------------------------------------
    def style(self, plan: Plan, seed: int) -> str:
        """The page's style, ACOUSTIC or ELECTRONIC: electronic with a chance that rises from
        ``electronic_share[0]`` to ``[1]`` with the plan's energy (the mean place of its onset-rate and loudness
        targets in their ranges, weighted by duration), drawn with the seed and the page."""
        weights = [s.duration for s in plan.segments]
        energy = float(np.average([(range_place("onset_rate", s.onset_rate, log=True)
                                    + range_place("loudness", s.loudness)) / 2 for s in plan.segments],
                                  weights=weights))
        low, high = self.config.electronic_share
        chance = low + (high - low) * energy
        return ELECTRONIC if np.random.default_rng([seed, page_hash(plan), 27]).random() < chance else ACOUSTIC

    def orchestrate(self, plan: Plan, sections: list[Section], seed: int, sources: list[dict[str, float]],
                    drummed: set[int], found: Found | None = None,
                    broken: set[int] = frozenset(), style: str = ACOUSTIC) -> list[Orchestration]:
        """An instrument per role and section (see the module docstring); ``sources``: each segment's
        ``source_shares``; ``drummed``: the sections the score has percussion in; ``found``: the page's found
        sound, which plays in the sections whose sources hold it; ``broken``: the sections with an arpeggio;
        ``style``: the page's (``style``), whose instruments and drum kit are preferred."""
        rng = np.random.default_rng([seed, page_hash(plan), 23])
        kit = self._kit(style, rng)
        chosen: list[Orchestration] = []
        for section, segment, shares in zip(sections, plan.segments, sources):
            scores = self._scores(segment, section, shares, style)
            last = chosen[-1] if chosen else Orchestration(None, None, None)
            melody = self._draw(scores, MELODY, rng, exclude={last.melody} - {None})
            harmony = self._draw(self._keep(scores, last.harmony), HARMONY, rng, exclude={melody})
            bass = self._draw(self._keep(scores, last.bass), BASS, rng, exclude={melody, harmony})
            counter = None
            if section.level >= self.config.counter_from:
                counter = self._draw(self._keep(scores, last.counter), MELODY, rng, exclude={melody, harmony, bass})
            joins = found.name if found is not None and section.index in found.sections else None
            arpeggio = None
            if section.index in broken:
                clear = scores + self.config.attack_weight * np.array([self.attack.get(n, 0.0)
                                                                       for n in self.instruments.names])
                arpeggio = self._draw(self._keep(clear, last.arpeggio), ARPEGGIO, rng,
                                      exclude={melody, harmony, bass, counter})
            drums = section.index in drummed
            sub = self.config.sub_bass if bass and self.config.sub_bass in self.ranges else None
            chosen.append(Orchestration(melody, harmony, bass, counter, drums, joins, arpeggio, kit if drums else None,
                                        sub if sub != bass else None))
        return chosen

    def _kit(self, style: str, rng: np.random.Generator) -> str:
        """The page's drum kit: one of the bank's kits of ``style`` (the standard kit when it has none)."""
        kits = [n for n in self.instruments.names if is_kit(n) and self.styles[n] == style]
        return kits[rng.integers(len(kits))] if kits and self.config.style_weight > 0 else DRUMS

    def _keep(self, scores: np.ndarray, player: str | None) -> np.ndarray:
        """``scores`` with ``keep_weight`` added to ``player`` (the role's instrument in the previous section): the
        band stays together from panel to panel while the melody passes from one instrument to the next."""
        if player is None:
            return scores
        kept = scores.copy()
        kept[self.instruments.names.index(player)] += self.config.keep_weight
        return kept

    def _scores(self, segment: SegmentPlan, section: Section, shares: dict[str, float],
                style: str = ACOUSTIC) -> np.ndarray:
        """Ranking score of every instrument for a section: style, semantic similarity, brightness match,
        sources."""
        names, config = self.instruments.names, self.config
        semantic = np.zeros(len(names))
        if segment.embedding.numel() == self.descriptions.shape[1]:
            semantic = (self.descriptions @ segment.embedding.float()).numpy()
        brightness = np.array([self.brightness.get(n, 0.5) for n in names])
        suggested = np.array([sum(share for category, share in shares.items()
                                  if n in SOURCE_INSTRUMENTS.get(category, ())) for n in names])
        styled = np.array([self.styles[n] == style for n in names], dtype=np.float64)
        return (config.semantic_weight * semantic - config.height_weight * np.abs(brightness - section.height)
                + config.source_weight * suggested + config.style_weight * styled)

    def source_clips(self, segment: SegmentPlan) -> list[int]:
        """The ``source_clips`` bank clips that best match the segment (its latents, semantic embedding and
        centroid and flatness targets, as the scene ranks them), best first; none without a bank."""
        if self.sources is None:
            return []
        return self.sources.rank(segment.latents.latents, segment.embedding,
                                 {"spectral_centroid_mean": segment.centroid,
                                  "spectral_flatness_mean": segment.flatness})[: self.config.source_clips]

    def source_shares(self, clips: list[int]) -> dict[str, float]:
        """The share of each bank category among ``clips`` (a segment's ``source_clips``)."""
        categories = [self.sources.clips[i].category for i in clips]
        return {c: categories.count(c) / len(categories) for c in dict.fromkeys(categories)}

    def _draw(self, scores: np.ndarray, role: str, rng: np.random.Generator, exclude: set) -> str | None:
        """One instrument for ``role`` from the ``top_k`` best (better ranks likelier)."""
        names = self.instruments.names
        able = [i for i, n in enumerate(names) if n in self.players[role] and n not in exclude]
        if not able:
            able = [i for i, n in enumerate(names) if n in self.players[role]]
        if not able:
            return None
        best = sorted(able, key=lambda i: -scores[i])[: self.config.top_k]
        weights = 1.0 / np.arange(1, len(best) + 1)
        return names[best[rng.choice(len(best), p=weights / weights.sum())]]

    def _plays(self, name: str, role: str) -> bool:
        info = self.instruments.info(name)
        return info.get("role") == role or name in ALSO_PLAYS[role]

    # -- sound -----------------------------------------------------------------------------------------------
    def _section_dict(self, section: Section, orchestration: Orchestration, sources: dict[str, float]) -> dict:
        return {"panel": section.panel, "start": round(section.start, 3), "end": round(section.end, 3),
                "tempo": round(section.tempo, 2), "beats": section.beats,
                "instruments": {k: v for k, v in asdict(orchestration).items() if v},
                "sound_sources": {k: round(v, 3) for k, v in sources.items()}}

    def _piece_cue(self, piece: Piece, plan: Plan) -> Cue:
        return Cue(self.name, 0.0, plan.seconds, f"piece: {piece.id}", piece.licence, piece.composer or "traditional",
                   f"music21 corpus: {piece.title}", "plan: page mood (key, mode, tempo, density)", piece.title)

    def _found_cues(self, sections: list[Section], found: Found | None) -> list[Cue]:
        """The found sound's clip, credited for each section it plays in."""
        if found is None:
            return []
        clip = self.sources.clips[found.clip]
        return [Cue(self.name, s.start, s.end, clip.id, clip.license, clip.author, clip.source,
                    f"{trigger(s.panel)} (found sound)", f"{clip.label} (found sound)")
                for s in sections if s.index in found.sections]

    def _room_cues(self, plan: Plan, clip: int | None) -> list[Cue]:
        """The room tone's clip, credited over the whole track."""
        if clip is None:
            return []
        info = self.sources.clips[clip]
        return [Cue(self.name, 0.0, plan.seconds, info.id, info.license, info.author, info.source,
                    "production: room tone", f"{info.label} (room tone)")]

    def _cues(self, sections: list[Section], orchestration: list[Orchestration]) -> list[Cue]:
        cues = []
        for section, plan in zip(sections, orchestration):
            players = [plan.melody, plan.harmony, plan.arpeggio, plan.bass, plan.counter, plan.sub] + \
                ([plan.instrument(PERCUSSION)] if plan.drums else [])
            for instrument in dict.fromkeys(p for p in players if p):
                cues.append(Cue(self.name, section.start, section.end, f"instrument: {instrument}", MUSIC_LICENSE,
                                "S. Christian Collins et al. (MuseScore General)", "MuseScore_General_Lite.sf3",
                                trigger(section.panel), instrument.replace("_", " ")))
        return cues


def instrument_brightness(bank: InstrumentBank, rate: int, pitch: int | None = None,
                          names: Iterable[str] | None = None) -> dict[str, float]:
    """Each pitched instrument's brightness, 0 (darkest) to 1: the rank, among the bank's instruments (or
    ``names``), of the spectral centroid of the middle note of its range (half a second at velocity 90): the
    instrument where it plays; with ``pitch``, of that note, among the instruments that reach it."""
    centroids = {}
    for name in bank.names if names is None else names:
        info = bank.info(name)
        if is_kit(name) or info.get("role") == "percussion":
            continue
        if pitch is not None and not info["low"] <= pitch <= info["high"]:
            continue
        note = (info["low"] + info["high"]) // 2 if pitch is None else pitch
        audio = bank.render([Note(0.0, 0.5, note, 90, name)], rate, 0.5).mean(axis=0)
        magnitude = np.abs(np.fft.rfft(audio))
        centroids[name] = float(np.fft.rfftfreq(len(audio), 1 / rate) @ magnitude / max(magnitude.sum(), 1e-12))
    return _ranks(centroids)


def instrument_attack(bank: InstrumentBank, rate: int, names: Iterable[str]) -> dict[str, float]:
    """How clearly each of ``names`` marks its onsets, 0 (least) to 1 (most): the rank of a note's level in its
    first 40 ms over its level from 40 to 240 ms (the middle of its range, velocity 80): a pluck or a strike that
    stands out of its own ringing is heard as an onset under a band, a soft or swelling one is not."""
    ratios = {}
    for name in names:
        info = bank.info(name)
        audio = bank.render([Note(0.0, 0.24, (info["low"] + info["high"]) // 2, 80, name)], rate, 0.24).mean(axis=0)
        cut = round(0.04 * rate)
        ratios[name] = float(np.sqrt(np.mean(audio[:cut] ** 2)) / (np.sqrt(np.mean(audio[cut:] ** 2)) + 1e-9))
    return _ranks(ratios)


def _ranks(values: dict[str, float]) -> dict[str, float]:
    """Each name's rank by its value, 0 (lowest) to 1 (highest), evenly spaced."""
    order = sorted(values, key=values.get)
    return {name: i / max(len(order) - 1, 1) for i, name in enumerate(order)}


def _time_signature(piece: Piece | None, meter: int) -> str:
    """The score's time signature: the composer's ``meter`` in quarters, or the piece's (compound metres in
    eighths)."""
    if piece is None:
        return f"{meter}/4"
    if piece.beat_quarters == 1.5:
        return f"{round(piece.bar_quarters * 2)}/8"
    return f"{round(piece.bar_quarters)}/4" if float(piece.bar_quarters).is_integer() else "4/4"
