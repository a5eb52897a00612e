"""The instruments the bank renders from a General MIDI SoundFont: GM program, family, a short description for
audio-text matching, the playable range, sustained or decaying, the usual role, its style (acoustic or
electronic: the synthesizers and drum machines a game soundtrack or an electronic loop is played on); and the GM
drum keys a pop or orchestral groove needs. Drum kits are named ``drums`` (the standard kit) or ``drums_<kit>``.
``bd2music instruments build`` reads this table; the bank's ``config.json`` keeps it.
"""

from __future__ import annotations

from dataclasses import dataclass

from bd2music.music.score import DRUMS

ACOUSTIC, ELECTRONIC = "acoustic", "electronic"


@dataclass(frozen=True)
class InstrumentSpec:
    """One instrument of the bank, as rendered from the SoundFont."""

    program: int  # GM program 0-127 (for the drum kit: its preset on bank 128)
    family: str  # GM family: keyboard, chromatic percussion, organ, guitar, bass, strings, ensemble, brass...
    description: str  # a short English phrase an audio-text model can match ("a solo cello")
    low: int  # lowest MIDI note it plays well
    high: int  # highest MIDI note it plays well
    sustained: bool  # True: a held note lasts as long as the key (looped); False: it rings out and decays
    role: str  # typical part: melody, harmony, bass or percussion
    style: str = ACOUSTIC  # ACOUSTIC or ELECTRONIC (synthesizers, drum machines, electric instruments)


INSTRUMENTS: dict[str, InstrumentSpec] = {
    "piano": InstrumentSpec(0, "keyboard", "a grand piano", 24, 100, False, "harmony"),
    "electric_piano": InstrumentSpec(4, "keyboard", "an electric piano", 36, 96, False, "harmony", ELECTRONIC),
    "celesta": InstrumentSpec(8, "chromatic percussion", "a celesta", 60, 108, False, "melody"),
    "music_box": InstrumentSpec(10, "chromatic percussion", "a music box", 60, 108, False, "melody"),
    "vibraphone": InstrumentSpec(11, "chromatic percussion", "a vibraphone", 53, 89, False, "melody"),
    "marimba": InstrumentSpec(12, "chromatic percussion", "a marimba", 45, 96, False, "melody"),
    "organ": InstrumentSpec(19, "organ", "a church organ", 36, 96, True, "harmony"),
    "nylon_guitar": InstrumentSpec(24, "guitar", "a nylon-string classical guitar", 40, 84, False, "harmony"),
    "steel_guitar": InstrumentSpec(25, "guitar", "a steel-string acoustic guitar", 40, 84, False, "harmony"),
    "acoustic_bass": InstrumentSpec(32, "bass", "a plucked double bass", 28, 60, False, "bass"),
    "electric_bass": InstrumentSpec(33, "bass", "an electric bass guitar", 28, 60, False, "bass", ELECTRONIC),
    "violin": InstrumentSpec(40, "strings", "a solo violin", 55, 100, True, "melody"),
    "cello": InstrumentSpec(42, "strings", "a solo cello", 36, 76, True, "melody"),
    "pizzicato": InstrumentSpec(45, "strings", "plucked pizzicato strings", 36, 96, False, "harmony"),
    "harp": InstrumentSpec(46, "strings", "a harp", 24, 103, False, "harmony"),
    "timpani": InstrumentSpec(47, "strings", "timpani drums", 40, 57, False, "percussion"),
    "strings": InstrumentSpec(48, "ensemble", "a string section", 28, 96, True, "harmony"),
    "choir": InstrumentSpec(52, "ensemble", "a choir singing aah", 48, 84, True, "harmony"),
    "trumpet": InstrumentSpec(56, "brass", "a solo trumpet", 54, 86, True, "melody"),
    "trombone": InstrumentSpec(57, "brass", "a trombone", 40, 72, True, "bass"),
    "horn": InstrumentSpec(60, "brass", "french horns", 41, 77, True, "harmony"),
    "brass": InstrumentSpec(61, "brass", "a brass section", 40, 84, True, "harmony"),
    "oboe": InstrumentSpec(68, "reed", "an oboe", 58, 91, True, "melody"),
    "clarinet": InstrumentSpec(71, "reed", "a clarinet", 50, 91, True, "melody"),
    "flute": InstrumentSpec(73, "pipe", "a flute", 60, 96, True, "melody"),
    "pan_flute": InstrumentSpec(75, "pipe", "a pan flute", 60, 96, True, "melody"),
    "warm_pad": InstrumentSpec(89, "synth pad", "a warm synthesizer pad", 36, 96, True, "harmony", ELECTRONIC),
    "clean_guitar": InstrumentSpec(27, "guitar", "a clean electric guitar", 40, 84, False, "harmony", ELECTRONIC),
    "synth_bass": InstrumentSpec(38, "bass", "an analog synth bass", 28, 60, True, "bass", ELECTRONIC),
    "pluck_bass": InstrumentSpec(39, "bass", "a punchy plucked synth bass", 28, 60, False, "bass", ELECTRONIC),
    "synth_strings": InstrumentSpec(50, "ensemble", "synthesizer strings", 36, 96, True, "harmony", ELECTRONIC),
    "synth_brass": InstrumentSpec(62, "brass", "a synth brass stab", 40, 84, True, "harmony", ELECTRONIC),
    "square_lead": InstrumentSpec(80, "synth lead", "a square wave synth lead, chiptune", 48, 96, True, "melody",
                                  ELECTRONIC),
    "saw_lead": InstrumentSpec(81, "synth lead", "a sawtooth synth lead", 48, 96, True, "melody", ELECTRONIC),
    "polysynth": InstrumentSpec(90, "synth pad", "a bright polyphonic synthesizer", 36, 96, True, "harmony",
                                ELECTRONIC),
    "halo_pad": InstrumentSpec(94, "synth pad", "an airy ambient synth pad", 36, 96, True, "harmony", ELECTRONIC),
    "crystal": InstrumentSpec(98, "synth effects", "a glassy synth pluck", 48, 96, False, "melody", ELECTRONIC),
    DRUMS: InstrumentSpec(0, "percussion", "a drum kit", 35, 82, False, "percussion"),
    "drums_electronic": InstrumentSpec(24, "percussion", "an electronic drum kit", 35, 82, False, "percussion",
                                       ELECTRONIC),
    "drums_808": InstrumentSpec(25, "percussion", "a TR-808 drum machine", 35, 82, False, "percussion", ELECTRONIC),
}

DRUM_KEYS: dict[int, str] = {  # GM percussion key: name (the keys the bank renders)
    35: "acoustic bass drum", 36: "bass drum", 37: "side stick", 38: "acoustic snare", 39: "hand clap",
    40: "electric snare", 41: "low floor tom", 42: "closed hi-hat", 43: "high floor tom", 44: "pedal hi-hat",
    45: "low tom", 46: "open hi-hat", 47: "low-mid tom", 48: "high-mid tom", 49: "crash cymbal",
    50: "high tom", 51: "ride cymbal", 53: "ride bell", 54: "tambourine", 55: "splash cymbal", 56: "cowbell",
    57: "crash cymbal 2", 69: "cabasa", 70: "maracas", 75: "claves", 76: "high wood block", 77: "low wood block",
    80: "mute triangle", 81: "open triangle", 82: "shaker",
}
CHOKE_GROUPS: tuple[tuple[int, ...], ...] = ((42, 44, 46),)  # a hit cuts the ringing one of its group (hi-hats)
