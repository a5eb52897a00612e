"""A recording's room under the music: a steady ambience bed of the scene's bank, very low, so that the top band and
the gaps between notes carry the noise floor of a real place rather than silence.

The beds that can serve (``room_clips``): the bank's ambience beds of the configured labels whose RMS hardly moves
(no events: a murmur, a light rain, a breeze in leaves) and whose spectrum reaches up (no rumble). ``room_tone`` draws one with the seed and the page, loops it to the track's
length with short cross-fades, and reads the two channels from different places of the loop, so the room is wide
rather than a mono hiss in the middle. The production chain sets its level under the music
(``ProductionConfig.room_tone_db``); the clip is credited in the cue sheet like any other.
"""

from __future__ import annotations

import numpy as np

from bd2music.bank import SoundBank

FADE_S = 0.05  # cross-fade where the loop joins itself


def room_clips(bank: SoundBank | None, labels: tuple[str, ...], max_cv: float, min_hz: float = 0.0) -> list[int]:
    """Indices of the bank's ambience beds labelled one of ``labels`` whose RMS varies at most ``max_cv`` (its
    standard deviation over its mean) and whose spectral centroid is at least ``min_hz`` (both from the bank's
    descriptors); none without a bank."""
    if bank is None:
        return []
    names = bank.descriptor_names
    mean, spread, centroid = (bank.descriptors[:, names.index(name)].numpy()
                              for name in ("rms_mean", "rms_std", "spectral_centroid_mean"))
    return [i for i, clip in enumerate(bank.clips) if clip.category == "ambience" and clip.kind == "bed"
            and clip.label in labels and spread[i] <= max_cv * max(float(mean[i]), 1e-9) and centroid[i] >= min_hz]


def room_tone(bank: SoundBank, clips: list[int], length: int, rate: int, rng: np.random.Generator,
              ) -> tuple[np.ndarray, int]:
    """((2, length) float32 bed at ``rate``, its clip): one of ``clips`` drawn with ``rng``, looped, each channel
    from its own place in the loop."""
    clip = clips[int(rng.integers(len(clips)))]
    audio = np.asarray(bank.audio(clip, rate), dtype=np.float32)
    fade = min(round(FADE_S * rate), len(audio) // 4)
    loop = looped(audio, fade)
    starts = rng.integers(len(loop), size=2)
    count = -(-length // len(loop)) + 1  # enough turns of the loop from any start
    turns = np.tile(loop, count)
    return np.stack([turns[s:s + length] for s in starts]).astype(np.float32), clip


def looped(audio: np.ndarray, fade: int) -> np.ndarray:
    """``audio`` as a seamless loop: its last ``fade`` samples cross-faded (equal power) into its first ones."""
    if fade <= 0:
        return audio
    t = np.linspace(0.0, np.pi / 2, fade, endpoint=False, dtype=np.float32)
    head = audio[:fade] * np.sin(t) + audio[-fade:] * np.cos(t)
    return np.concatenate([head, audio[fade:-fade]])
