"""A clip as a scene plays it over a segment, and what the listening evaluation measures on that.

* ``loopable``: one period of a clip too short for its segment, as it repeats: a bed's end cross-faded onto its
  start (seamless), an event's tail faded with its attack kept (each repeat is heard as an onset); or of a chain
  of clips of one kind played in turn, each bed cross-faded into the next.
* ``played``: a segment's length of the clip from a given offset: one stretch when the clip is long enough, else
  ``loopable`` repeated.
* ``played_measures``: the evaluation's measures (``bd2music.evaluation.listening.audio_measures``: librosa onset
  rate and beat-tracker tempo, spectral centroid) of the clip ``played`` over a segment, the median over up to
  ``PLAYED_WINDOWS`` evenly spaced stretches of a long clip. The bank stores them as the ``PLAYED`` descriptors:
  what a looped clip plays over a segment, which the clip's own descriptors do not tell (a steady ambience
  measured alone reads many onsets, as the detector's threshold follows its own strongest one).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

PLAYED = {"onset_rate": "played_onset_rate", "tempo": "played_tempo", "spectral_centroid": "played_centroid"}
PLAYED_WINDOWS = 3  # stretches of a clip at least a segment long measured (evenly spaced), their median kept
LOOP_CROSSFADE_S = 0.4  # the default cross-fade where a looped bed meets its own start, seconds (the scene's,
EVENT_FADE_S = 0.2  # ... the default fade-out at the end of a repeated event ... the bank's and the diffusion's)


def loopable(samples: np.ndarray | Sequence[np.ndarray], kind: str, rate: int, loop_crossfade_s: float,
             event_fade_s: float) -> np.ndarray:
    """One period of ``samples`` as it repeats under a scene: an event's tail faded over ``event_fade_s`` (its
    attack intact), any other clip's end cross-faded onto its start over ``loop_crossfade_s``. A sequence of clips
    of one kind is one period of them in turn (a chain): each event's tail faded, each other clip's start
    cross-faded with the end of the one before it (the last one's end onto the first one's start)."""
    pieces = [np.asarray(samples, dtype=np.float32)] if isinstance(samples, np.ndarray) else \
        [np.asarray(piece, dtype=np.float32) for piece in samples]
    if kind == "event":
        loops = []
        for piece in pieces:
            fade = min(round(event_fade_s * rate), len(piece) // 4)
            loop = piece.copy()
            if fade:
                loop[len(loop) - fade :] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
            loops.append(loop)
        return np.concatenate(loops)
    fade = min(round(loop_crossfade_s * rate), *(len(piece) // 3 for piece in pieces))
    ramp = np.linspace(0.0, 1.0, fade, dtype=np.float32)
    loops = []
    for piece, before in zip(pieces, pieces[-1:] + pieces[:-1]):
        loop = piece[: len(piece) - fade].copy()
        if fade:
            loop[:fade] = piece[:fade] * ramp + before[len(before) - fade :] * (1 - ramp)
        loops.append(loop)
    return np.concatenate(loops)


def played(samples: np.ndarray, length: int, kind: str, rate: int, start: int, loop_crossfade_s: float,
           event_fade_s: float) -> np.ndarray:
    """(length,) of the clip from sample ``start``: one stretch when it is long enough, else ``loopable`` repeated
    (``start`` taken within one period)."""
    samples = np.asarray(samples, dtype=np.float32)
    if len(samples) >= length:
        start = min(max(0, start), len(samples) - length)
        return samples[start : start + length]
    loop = loopable(samples, kind, rate, loop_crossfade_s, event_fade_s)
    return np.resize(np.roll(loop, -(start % len(loop))), length)


def played_measures(samples: np.ndarray, kind: str, rate: int, seconds: float, loop_crossfade_s: float,
                    event_fade_s: float) -> dict[str, float]:
    """The ``PLAYED`` descriptors of a clip played for ``seconds`` (see the module docstring)."""
    from bd2music.evaluation.listening import audio_measures  # librosa's trackers, as the evaluation runs them

    length = round(seconds * rate)
    spare = max(0, len(samples) - length)
    starts = np.linspace(0, spare, PLAYED_WINDOWS).round().astype(int) if spare else [0]
    measured = [audio_measures(played(samples, length, kind, rate, int(start), loop_crossfade_s, event_fade_s),
                               rate) for start in dict.fromkeys(starts)]
    return {name: float(np.median([m[measure] for m in measured])) for measure, name in PLAYED.items()}
