"""Sampler speed on a 10 s score of about 300 notes on 8 instruments at 44.1 kHz stereo, and how seamless loops are.

    python benchmarks/bench_instruments.py [--repeats 5] [--seed 0] [--json out.json]

The score (seeded): piano chords, a string pad, a cello bass, a flute melody, harp arpeggios, pizzicato, a horn
line and a drum groove (kick, snare, closed and open hi-hats), velocities and pans varied. "cold" is a fresh bank
(``InstrumentBank.load`` not counted), so every (sample, pitch) is resampled; "warm" renders the same score again
from the cache, as the next page of a session would partly do. Each is the best of --repeats runs. Prints a
markdown table with the time per 10 s and the ratio to real time.

Loops: every instrument with a loop held 7 s at every 4th note of its range (sustained ones, and decaying ones
still ringing when rendered, whose loop repeats ever quieter). A seam would be a sample-to-sample step larger than
the recorded audio has: the largest step after the stored sample (where the loop repeats) over the largest within
it from 0.1 s on. Sustained: the level range of 500 ms means from 0.5 s on (the presets' own vibrato and chorus
remain). Decaying: the largest rise between 100 ms frames after 1 s, and how many notes still sound at 6-7 s.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np

from bd2music.music.instruments import InstrumentBank
from bd2music.music.score import DRUMS, Note

SECONDS = 10.0
BEAT = 0.5  # s: 120 BPM


def score(seed: int) -> list[Note]:
    """About 300 notes over 10 s in C minor on 8 instruments."""
    rng = np.random.default_rng(seed)
    chords = [(48, 51, 55), (44, 48, 51), (46, 50, 53), (43, 47, 50)]  # Cm Ab Bb G
    notes = []
    for bar in range(5):  # a bar is 4 beats, 2 s
        chord, start = chords[bar % 4], bar * 4 * BEAT
        notes += [Note(start, 4 * BEAT, pitch + 12, 70, "strings", -0.3) for pitch in chord]
        notes += [Note(start + beat * BEAT, BEAT * 0.9, chord[0] - 12, 90, "cello", 0.2) for beat in range(4)]
        for beat in range(4):
            notes += [Note(start + beat * BEAT, BEAT, pitch + 12, int(rng.integers(60, 90)), "piano")
                      for pitch in chord]
        for step in range(16):  # sixteenths
            at = start + step * BEAT / 4
            notes.append(Note(at, BEAT / 4, chord[step % 3] + 24, int(rng.integers(50, 80)), "harp", 0.4))
            notes.append(Note(at, 0.05, 42 if step % 8 else 46, int(rng.integers(50, 90)), DRUMS, 0.3))
            if step % 4 == 0:
                notes.append(Note(at, 0.1, 36 if step % 8 == 0 else 38, 110, DRUMS))
            if step % 2 == 0:
                notes.append(Note(at, BEAT / 2, chord[(step // 2) % 3] + 12, 70, "pizzicato", -0.5))
        for beat in range(8):  # flute melody in eighths
            pitch = 72 + int(rng.choice([0, 2, 3, 5, 7, 8, 10, 12]))
            notes.append(Note(start + beat * BEAT / 2, BEAT / 2, pitch, int(rng.integers(70, 110)), "flute", 0.1))
        notes.append(Note(start, 2 * BEAT, chord[1] + 12, 80, "horn", -0.1))
        notes.append(Note(start + 2 * BEAT, 2 * BEAT, chord[2] + 12, 80, "horn", -0.1))
    return notes


def loop_check(bank: InstrumentBank, rate: int = 44_100) -> dict:
    """Sustained notes: the worst seam step ratio and level range (dB). Decaying notes that end on a loop: the
    worst seam step ratio, the largest rise between 100 ms frames after the first second, and how many still
    sound (within 60 dB of their peak) at 6-7 s."""
    sustained, ranges, decaying, rises, ringing = [], [], [], [], 0
    for name in bank.names:
        info = bank.info(name)
        for pitch in range(info["low"], info["high"] + 1, 4):
            sample = bank.instruments[name].pick(pitch, 100)
            if sample.loop is None or name == DRUMS:
                continue
            audio = bank.render([Note(0.0, 7.0, pitch, 100, name)], rate, seconds=7.0)[0]
            stored = len(bank._pitched(sample, pitch, rate).audio)
            jumps = np.abs(np.diff(audio))
            step = (float(jumps[stored:].max() / jumps[rate // 10:stored].max()), f"{name} {pitch}")
            level = 10 * np.log10(np.mean(audio[: 7 * rate].reshape(70, -1).astype(np.float64) ** 2, axis=1) + 1e-20)
            if info["sustained"]:
                sustained.append(step)
                quarter = level[5:60].reshape(-1, 5).mean(axis=1)  # 0.5 s on, 500 ms steps
                ranges.append((float(quarter.max() - quarter.min()), f"{name} {pitch}"))
            else:
                decaying.append(step)
                rises.append((float(np.diff(level[10:]).max()), f"{name} {pitch}"))
                ringing += bool(level[60:].max() > level.max() - 60)
    return {"sustained": len(sustained), "sustained_worst_step": max(sustained), "sustained_worst_range_db":
            max(ranges), "sustained_median_range_db": float(np.median([r for r, _ in ranges])),
            "decaying": len(decaying), "decaying_worst_step": max(decaying), "decaying_worst_rise_db": max(rises),
            "decaying_ringing_at_6s": ringing}


def best_of(repeats: int, run) -> float:
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        run()
        times.append(time.perf_counter() - began)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="also write the numbers here")
    args = parser.parse_args()
    notes = score(args.seed)
    load = best_of(args.repeats, InstrumentBank.load)
    banks = [InstrumentBank.load() for _ in range(args.repeats)]
    cold = best_of(args.repeats, lambda: banks.pop().render(notes, seconds=SECONDS))
    bank = InstrumentBank.load()
    bank.render(notes, seconds=SECONDS)
    warm = best_of(args.repeats, lambda: bank.render(notes, seconds=SECONDS))
    result = {"notes": len(notes), "instruments": len({note.instrument for note in notes}), "load_s": load,
              "cold_s": cold, "warm_s": warm, "cpu": platform.processor() or platform.machine(),
              "cores": os.cpu_count(),
              "loops": loop_check(bank)}
    print(f"{result['notes']} notes on {result['instruments']} instruments, 10 s at 44.1 kHz stereo, "
          f"{result['cores']} cores\n")
    print(f"InstrumentBank.load: {load * 1000:.0f} ms\n")
    print("| cache | time per 10 s | real time / render time |\n|---|---|---|")
    for name, seconds in (("cold (fresh bank)", cold), ("warm (same score again)", warm)):
        print(f"| {name} | {seconds * 1000:.0f} ms | {SECONDS / seconds:.0f}x |")
    loops = result["loops"]
    print(f"\nsustained notes held 7 s ({loops['sustained']}): largest step where the loop repeats / within the "
          f"recording {loops['sustained_worst_step'][0]:.2f} ({loops['sustained_worst_step'][1]}); level range "
          f"(500 ms means) median {loops['sustained_median_range_db']:.1f} dB, largest "
          f"{loops['sustained_worst_range_db'][0]:.1f} dB ({loops['sustained_worst_range_db'][1]})")
    print(f"decaying notes held 7 s that end on a loop ({loops['decaying']}): largest step "
          f"{loops['decaying_worst_step'][0]:.2f} ({loops['decaying_worst_step'][1]}); largest rise between 100 ms "
          f"frames after 1 s {loops['decaying_worst_rise_db'][0]:.1f} dB ({loops['decaying_worst_rise_db'][1]}); "
          f"still sounding at 6-7 s: {loops['decaying_ringing_at_6s']}")
    if args.json:
        with open(args.json, "w") as stream:
            json.dump(result, stream, indent=2)


if __name__ == "__main__":
    main()
