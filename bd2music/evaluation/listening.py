"""Listening metrics: does a track sound like a recording, and not like a buzz, a drone or every other track?

Pure functions on waveforms ((samples,) or (channels, samples); channels are averaged). Unless said otherwise a
track is first resampled to ``ANALYSIS_SAMPLE_RATE`` with soxr and analysed with ``N_FFT`` / ``HOP`` frames.

* ``clip_features``: a fixed vector per clip (``FEATURE_NAMES``): MFCC means and spreads, spectral contrast,
  flatness, centroid, frame level (dynamics), onset rate, zero crossings.
* ``realism_c2st``: classifier two-sample test, the ``folds``-fold cross-validated accuracy of a standardised
  logistic regression telling generated clips from real ones on those features (classes balanced by a seeded
  subsample of the larger set); 0.5 = indistinguishable, 1.0 = always told apart. ``c2st_spread``: its mean,
  standard deviation and range over seeds (other subsamples and folds): how far one seed's figure may move.
* ``frame_rate_buzz_db``: the comb at multiples of ``sr / hop`` (a vocoder's frame rate): per line, the mean power
  of a narrow band on it over the median power of the gap after it, in dB, averaged over the lines; from a Welch
  long-term average spectrum with ``BUZZ_BINS_PER_LINE`` bins between lines.
* ``staticness``: mean Pearson correlation of each frame's log-mel spectrum with the track's mean log-mel spectrum.
* ``spectral_distance_db`` / ``distinctness_db``: mean absolute difference between average log-mel spectra (dB),
  for one pair / averaged over every pair of a set (pages of one seed, or seeds of one page).
* ``harmonic_share``: energy of the harmonic part (librosa HPSS) over the track's energy.
* ``silent_or_clipped``: "silent", "clipped" or None, from the levels of the samples as given (no resampling).
* ``key_clarity``: Krumhansl-Schmuckler key of the mean CQT chroma and its correlation with that key's profile.
* ``structure_links``: Spearman rho between page features and what is measured on the final audio
  (``audio_measures``: librosa onset rate, beat-tracker tempo, spectral centroid; BS.1770 integrated loudness);
  ``linked`` does the ranking on measures already taken; ``link_ceilings``: the highest rho any audio could
  reach on those pages (below 1 where pages share a feature value, e.g. colourfulness 0 on black-and-white pages).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from itertools import combinations

import librosa
import numpy as np
import soxr
from scipy.signal import welch
from scipy.stats import spearmanr

from bd2music.audio.load import ANALYSIS_SAMPLE_RATE
from bd2music.master import integrated_loudness

N_FFT = 1024  # samples at ANALYSIS_SAMPLE_RATE (64 ms)
HOP = 256  # 16 ms
N_MELS = 64
N_MFCC = 20
CONTRAST_FMIN, CONTRAST_BANDS = 100.0, 6  # octave bands from 100 Hz; the top one ends at 6.4 kHz, under Nyquist
LEVEL_FLOOR_DB = -100.0  # frame levels and log-mel bins are floored here (dB re full scale)
STATIC_TOP_DB = 80.0  # staticness: log-mel bins more than this below the track's loudest are floored
FLAT_FRAME_DB = 1e-3  # staticness: a frame whose bins spread less than this (std, dB) is flat (floored silence)
SILENT_DBFS = -60.0  # a track (or frame) quieter than this RMS is silent
NEAR_SILENT_SHARE = 0.3  # a track with more near-silent frames than this is called silent
LEVEL_FRAME, LEVEL_HOP = 2048, 1024  # samples (as given) per frame of the near-silence check
CLIP_LEVEL, CLIPPED_SHARE = 0.999, 0.001  # a track with more samples at |x| >= CLIP_LEVEL than this is clipped
BUZZ_FMAX = 8000.0  # Hz: comb lines counted up to here (and below 0.45 sr)
BUZZ_BINS_PER_LINE = 32  # Welch resolution: this many bins between two comb lines
BUZZ_LINE_BINS = 2  # bins either side of a line counted as the line
BUZZ_GAP = (0.25, 0.75)  # between lines k and k + 1, the part (in line spacings) counted as the gap
PITCH_CLASSES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
KS_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])  # Krumhansl-Kessler
KS_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
STRUCTURE_LINKS = (  # page feature -> what is measured on the final audio (the four links of the plan)
    ("brightness", "spectral_centroid"),
    ("colourfulness_norm", "lufs"),
    ("edge_density", "onset_rate"),
    ("panel_count", "tempo"),
)
FEATURE_NAMES = (
    *(f"mfcc{i}_{stat}" for stat in ("mean", "std") for i in range(N_MFCC)),
    *(f"contrast{i}_mean" for i in range(CONTRAST_BANDS + 1)),
    "flatness_mean", "flatness_std", "centroid_mean", "centroid_std",
    "level_db_mean", "level_db_std", "level_db_range", "onset_rate", "zcr_mean", "zcr_std",
)


def mono(audio: np.ndarray, sr: int, rate: int | None = ANALYSIS_SAMPLE_RATE) -> np.ndarray:
    """Channels averaged, non-finite samples zeroed, resampled to ``rate`` (kept at ``sr`` when None)."""
    audio = np.nan_to_num(np.asarray(audio, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    audio = audio.mean(axis=0) if audio.ndim == 2 else audio.reshape(-1)
    if rate is not None and sr != rate and len(audio):
        audio = soxr.resample(audio, sr, rate).astype(np.float32)
    return np.pad(audio, (0, max(0, N_FFT - len(audio))))


def _log_mel(y: np.ndarray) -> np.ndarray:
    """(N_MELS, frames) log-mel power in dB re full scale, floored at LEVEL_FLOOR_DB, of a mono 16 kHz track."""
    power = librosa.feature.melspectrogram(y=y, sr=ANALYSIS_SAMPLE_RATE, n_fft=N_FFT, hop_length=HOP, n_mels=N_MELS)
    return librosa.power_to_db(power, ref=1.0, amin=10 ** (LEVEL_FLOOR_DB / 10), top_db=None)


def _onset_rate(y: np.ndarray, sr: int) -> float:
    strength = librosa.onset.onset_strength(y=y, sr=sr, n_fft=N_FFT, hop_length=HOP)
    onsets = librosa.onset.onset_detect(onset_envelope=strength, sr=sr, hop_length=HOP, units="frames")
    return len(onsets) / (len(y) / sr)


def clip_features(audio: np.ndarray, sr: int) -> np.ndarray:
    """The clip's ``FEATURE_NAMES`` values (float64), finite for any input, silence included."""
    y = mono(audio, sr)
    sr = ANALYSIS_SAMPLE_RATE
    magnitude = np.abs(librosa.stft(y, n_fft=N_FFT, hop_length=HOP))
    mel_db = librosa.power_to_db(librosa.feature.melspectrogram(S=magnitude**2, sr=sr, n_mels=N_MELS), top_db=None,
                                 amin=10 ** (LEVEL_FLOOR_DB / 10))
    mfcc = librosa.feature.mfcc(S=mel_db, n_mfcc=N_MFCC)
    contrast = librosa.feature.spectral_contrast(S=magnitude, sr=sr, fmin=CONTRAST_FMIN, n_bands=CONTRAST_BANDS)
    flatness = librosa.feature.spectral_flatness(S=magnitude)[0]
    centroid = librosa.feature.spectral_centroid(S=magnitude, sr=sr)[0]
    rms = librosa.feature.rms(S=magnitude, frame_length=N_FFT)[0]
    level = 20 * np.log10(np.maximum(rms, 10 ** (LEVEL_FLOOR_DB / 20)))
    zcr = librosa.feature.zero_crossing_rate(y, frame_length=N_FFT, hop_length=HOP)[0]
    values = np.concatenate([
        mfcc.mean(axis=1), mfcc.std(axis=1), contrast.mean(axis=1),
        [flatness.mean(), flatness.std(), centroid.mean(), centroid.std()],
        [level.mean(), level.std(), np.percentile(level, 95) - np.percentile(level, 10)],
        [_onset_rate(y, sr), zcr.mean(), zcr.std()],
    ])
    return np.nan_to_num(values.astype(np.float64))


def c2st_accuracy(a: np.ndarray, b: np.ndarray, folds: int = 5, seed: int = 0) -> float:
    """Cross-validated accuracy of a standardised logistic regression telling rows of ``a`` from rows of ``b``.

    The larger set is subsampled (seeded) to the size of the smaller; folds are stratified and shuffled (seeded).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(seed)
    n = min(len(a), len(b))
    if n < 2:
        raise ValueError(f"c2st needs at least 2 clips on each side, got {len(a)} and {len(b)}")
    a, b = (rows[np.sort(rng.choice(len(rows), n, replace=False))] for rows in (np.asarray(a), np.asarray(b)))
    x, y = np.concatenate([a, b]), np.repeat([0, 1], n)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    split = StratifiedKFold(n_splits=min(folds, n), shuffle=True, random_state=seed)
    return float(cross_val_score(model, x, y, cv=split).mean())


def c2st_spread(a: np.ndarray, b: np.ndarray, seeds: int = 20, folds: int = 5) -> dict[str, float]:
    """``c2st_accuracy`` over seeds 0..``seeds``-1 (each another subsample of the larger set and other folds):
    mean, standard deviation, lowest and highest. A diagnostic beside the seed-0 figure, not a metric."""
    values = np.array([c2st_accuracy(a, b, folds, seed) for seed in range(seeds)])
    return {"mean": float(values.mean()), "sd": float(values.std()), "min": float(values.min()),
            "max": float(values.max()), "seeds": seeds}


def realism_c2st(generated: Sequence[np.ndarray], real: Sequence[np.ndarray], sr_gen: int, sr_real: int,
                 folds: int = 5, seed: int = 0, match_rates: bool = True, made_at: int | None = None,
                 round_trip_generated: bool = False) -> float:
    """Classifier two-sample test of generated vs real clips on ``clip_features`` (0.5 = indistinguishable).

    With ``match_rates`` the real clips first take the generated tracks' path, resampled to the rate the tracks
    were made at (``made_at``, default ``sr_gen``), so that both sides meet the analysis rate through the same
    resamplers: a resampling round trip alone deepens the spectrum's valley under the analysis Nyquist enough for
    the top spectral-contrast band to tell the sides apart. Real clips stored at a lower rate than ``made_at``
    then carry their storage's cut and that round trip, a track made at ``made_at`` one cut only;
    ``round_trip_generated`` (a diagnostic, not the metric) gives the tracks that cut and round trip too.
    """
    made_at = made_at or sr_gen
    return c2st_accuracy(generated_features(generated, sr_gen, sr_real, made_at, round_trip_generated),
                         real_features(real, sr_real, made_at, match_rates), folds=folds, seed=seed)


def generated_features(generated: Sequence[np.ndarray], sr_gen: int, sr_real: int, made_at: int,
                       round_trip: bool = False) -> np.ndarray:
    """``realism_c2st``'s generated side: (tracks, features) ``clip_features`` of the tracks (at ``sr_gen``, made
    at ``made_at``); with ``round_trip``, after the real clips' storage cut and resampling round trip."""
    if round_trip and sr_real != made_at:
        generated = [_round_trip(np.asarray(track, dtype=np.float32).T, sr_gen, sr_real, made_at).T
                     for track in generated]
    return np.stack([clip_features(track, sr_gen) for track in generated])


def real_features(real: Sequence[np.ndarray], sr_real: int, made_at: int, match_rates: bool = True) -> np.ndarray:
    """``realism_c2st``'s real side: (clips, features) ``clip_features`` of the real clips (at ``sr_real``), with
    ``match_rates`` first resampled to the tracks' ``made_at``; computed once, it serves several comparisons."""
    if match_rates and sr_real != made_at:
        real = [soxr.resample(np.asarray(clip, dtype=np.float32), sr_real, made_at) for clip in real]
        sr_real = made_at
    return np.stack([clip_features(clip, sr_real) for clip in real])


def _round_trip(samples: np.ndarray, rate: int, low: int, high: int) -> np.ndarray:
    """``samples`` (at ``rate``) cut at rate ``low``, brought up to ``high`` and back to ``rate``."""
    for source, target in ((rate, low), (low, high), (high, rate)):
        if source != target:
            samples = soxr.resample(samples, source, target)
    return samples


def frame_rate_buzz_db(audio: np.ndarray, sr: int, hop: float) -> float:
    """dB of the comb at multiples of ``sr / hop`` above the gaps between its lines (about 0 dB for white noise)."""
    y = mono(audio, sr, rate=None)
    spacing = sr / hop
    nperseg = min(len(y), 2 ** int(np.ceil(np.log2(BUZZ_BINS_PER_LINE * hop))))
    freqs, psd = welch(y.astype(np.float64), sr, nperseg=nperseg)
    resolution = freqs[1]
    ratios = []
    for k in range(1, int(min(BUZZ_FMAX, 0.45 * sr) / spacing)):
        line = psd[np.abs(freqs - k * spacing) <= BUZZ_LINE_BINS * resolution]
        gap = psd[(freqs >= (k + BUZZ_GAP[0]) * spacing) & (freqs <= (k + BUZZ_GAP[1]) * spacing)]
        if len(line) and len(gap) and np.median(gap) > 0:
            ratios.append(10 * np.log10(max(line.mean(), 1e-30) / np.median(gap)))
    return float(np.mean(ratios)) if ratios else 0.0


def staticness(audio: np.ndarray, sr: int) -> float:
    """Mean correlation of each frame's log-mel spectrum with the mean one (1 = never changes); frames floored
    flat (silence) are left out, and a track with none left counts as fully static."""
    mel_db = _log_mel(mono(audio, sr)).astype(np.float64)
    mel_db = np.maximum(mel_db, mel_db.max() - STATIC_TOP_DB)
    frames = mel_db[:, mel_db.std(axis=0) > FLAT_FRAME_DB]
    if frames.shape[1] == 0:
        return 1.0
    centred = frames - frames.mean(axis=0)
    mean = frames.mean(axis=1) - frames.mean()
    if not np.any(mean):
        return 0.0
    correlation = (mean @ centred) / (np.linalg.norm(mean) * np.linalg.norm(centred, axis=0))
    return float(correlation.mean())


def average_log_mel(audio: np.ndarray, sr: int) -> np.ndarray:
    """(N_MELS,) mean over frames of the log-mel spectrum in dB."""
    return _log_mel(mono(audio, sr)).mean(axis=1)


def spectral_distance_db(a: np.ndarray, b: np.ndarray, sr: int) -> float:
    """Mean absolute difference between the average log-mel spectra of two tracks, dB."""
    return float(np.abs(average_log_mel(a, sr) - average_log_mel(b, sr)).mean())


def distinctness_db(tracks: Sequence[np.ndarray], sr: int) -> float:
    """Mean ``spectral_distance_db`` over every pair of ``tracks``."""
    if len(tracks) < 2:
        raise ValueError(f"distinctness needs at least 2 tracks, got {len(tracks)}")
    spectra = [average_log_mel(track, sr) for track in tracks]
    return float(np.mean([np.abs(x - y).mean() for x, y in combinations(spectra, 2)]))


def harmonic_share(audio: np.ndarray, sr: int, margin: float = 3.0) -> float:
    """Energy of the HPSS harmonic part over the track's energy (0 for silence)."""
    y = mono(audio, sr)
    total = float(np.sum(y.astype(np.float64) ** 2))
    if total == 0.0:
        return 0.0
    harmonic = librosa.effects.hpss(y, margin=margin, n_fft=N_FFT, hop_length=HOP)[0]
    return float(np.sum(harmonic.astype(np.float64) ** 2) / total)


def _power(audio: np.ndarray) -> np.ndarray:
    """Per-sample power averaged over channels, as given (no resampling)."""
    audio = np.nan_to_num(np.asarray(audio, dtype=np.float64))
    return np.mean(np.atleast_2d(audio) ** 2, axis=0)


def near_silent_share(audio: np.ndarray) -> float:
    """Share of LEVEL_FRAME-sample frames whose RMS is under SILENT_DBFS."""
    power = _power(audio)
    if len(power) < LEVEL_FRAME:
        return float(np.mean(power) < 10 ** (SILENT_DBFS / 10))
    frames = librosa.util.frame(power, frame_length=LEVEL_FRAME, hop_length=LEVEL_HOP).mean(axis=0)
    return float(np.mean(frames < 10 ** (SILENT_DBFS / 10)))


def silent_or_clipped(audio: np.ndarray) -> str | None:
    """"silent" (RMS under SILENT_DBFS, or over NEAR_SILENT_SHARE near-silent frames), "clipped" (over
    CLIPPED_SHARE of the samples at |x| >= CLIP_LEVEL), else None."""
    power = _power(audio)
    if len(power) == 0 or power.mean() < 10 ** (SILENT_DBFS / 10) or near_silent_share(audio) > NEAR_SILENT_SHARE:
        return "silent"
    if np.mean(np.abs(np.nan_to_num(np.asarray(audio, dtype=np.float64))) >= CLIP_LEVEL) > CLIPPED_SHARE:
        return "clipped"
    return None


def key_clarity(audio: np.ndarray, sr: int) -> tuple[str, float]:
    """("C major", 0.87)-like: the Krumhansl-Schmuckler key of the mean chroma and its profile correlation;
    ("none", 0.0) when the chroma is flat (silence)."""
    y = mono(audio, sr)
    if not np.any(y):
        return "none", 0.0
    chroma = librosa.feature.chroma_cqt(y=y, sr=ANALYSIS_SAMPLE_RATE, hop_length=512).mean(axis=1)
    if np.ptp(chroma) < 1e-9:
        return "none", 0.0
    scores = {
        f"{PITCH_CLASSES[tonic]} {mode}": float(np.corrcoef(chroma, np.roll(profile, tonic))[0, 1])
        for mode, profile in (("major", KS_MAJOR), ("minor", KS_MINOR)) for tonic in range(12)
    }
    key = max(scores, key=scores.get)
    return key, scores[key]


def audio_measures(audio: np.ndarray, sr: int) -> dict[str, float]:
    """What the structure links compare with the page: librosa onset rate (/s), beat-tracker tempo (BPM),
    spectral centroid mean (Hz), at 16 kHz; integrated loudness (LUFS) at the track's own rate and channels."""
    y = mono(audio, sr)
    tempo = librosa.beat.beat_track(y=y, sr=ANALYSIS_SAMPLE_RATE, hop_length=HOP)[0]
    samples = np.atleast_2d(np.nan_to_num(np.asarray(audio, dtype=np.float32)))
    return {
        "onset_rate": _onset_rate(y, ANALYSIS_SAMPLE_RATE),
        "tempo": float(np.atleast_1d(tempo)[0]),
        "spectral_centroid": float(librosa.feature.spectral_centroid(y=y, sr=ANALYSIS_SAMPLE_RATE,
                                                                     n_fft=N_FFT, hop_length=HOP).mean()),
        "lufs": integrated_loudness(samples, sr),
    }


def linked(features: Sequence[Mapping[str, float]], measured: Sequence[Mapping[str, float]],
           links: Sequence[tuple[str, str]] = STRUCTURE_LINKS) -> dict[str, float]:
    """Spearman rho of each (page feature, audio measure) link over pages, keyed "feature->measure"; NaN where
    either side is constant; a silent track (LUFS -inf) ranks lowest in loudness."""
    if len(features) != len(measured):
        raise ValueError(f"{len(features)} pages of features for {len(measured)} measured tracks")
    rhos = {}
    for feature, measure in links:
        x = [page[feature] for page in features]
        y = np.maximum([m[measure] for m in measured], np.finfo(np.float64).min)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # constant input: scipy warns and returns NaN
            rhos[f"{feature}->{measure}"] = float(spearmanr(x, y)[0])
    return rhos


def link_ceilings(features: Sequence[Mapping[str, float]],
                  links: Sequence[tuple[str, str]] = STRUCTURE_LINKS) -> dict[str, float]:
    """Per link, the Spearman rho of a page feature with the best audio measure it could have: one that ranks the
    pages in the feature's order and breaks its ties. Pages tied on a feature cannot be told apart by any sound,
    so the measured rho cannot exceed this; NaN where the feature is constant."""
    ceilings = {}
    for feature, measure in links:
        x = np.asarray([page[feature] for page in features], dtype=np.float64)
        best = np.argsort(np.argsort(x, kind="stable"), kind="stable")  # the feature's order, ties broken
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ceilings[f"{feature}->{measure}"] = float(spearmanr(x, best)[0])
    return ceilings


def structure_links(features: Sequence[Mapping[str, float]], tracks: Sequence[np.ndarray], sr: int,
                    links: Sequence[tuple[str, str]] = STRUCTURE_LINKS) -> dict[str, float]:
    """``linked`` on the ``audio_measures`` of each page's final audio: ``features[i]`` and ``tracks[i]`` are
    page i's features and track."""
    return linked(features, [audio_measures(track, sr) for track in tracks], links)
