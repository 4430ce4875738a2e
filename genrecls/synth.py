"""Small deterministic synthesizers for demo clips and tests.

Everything here is generated from numbers, so the clips are licence-free and tests never
need downloaded audio. Each generator takes an explicit ``seed`` for reproducibility.
"""

from __future__ import annotations

import numpy as np

from genrecls.exceptions import ParameterError


def _check(sr: int, seconds: float) -> int:
    if sr <= 0 or seconds <= 0:
        raise ParameterError(f"sr and seconds must be > 0, got sr={sr}, seconds={seconds}")
    return int(round(sr * seconds))


def midi_to_hz(note: float) -> float:
    """Convert a MIDI note number to a frequency in Hz (A4 = 69 = 440 Hz)."""
    return 440.0 * 2.0 ** ((note - 69) / 12)


def sine(freq: float, *, sr: int = 22050, seconds: float = 1.0, amplitude: float = 0.5):
    """Return a pure tone.

    Parameters
    ----------
    freq : float > 0
        Frequency in Hz.
    sr : int > 0
        Sampling rate.
    seconds : float > 0
        Duration.
    amplitude : float
        Peak amplitude.

    Returns
    -------
    y : np.ndarray [shape=(round(sr * seconds),), dtype=float32]
    """
    n = _check(sr, seconds)
    return (amplitude * np.sin(2 * np.pi * freq * np.arange(n) / sr)).astype(np.float32)


def _note(freq: float, n: int, sr: int, *, harmonics: int, decay: float) -> np.ndarray:
    t = np.arange(n) / sr
    y = sum(np.sin(2 * np.pi * freq * k * t) / k**1.5 for k in range(1, harmonics + 1))
    env = np.exp(-decay * t) * np.minimum(1.0, t / 0.005)
    return y * env


def drum_loop(*, sr: int = 22050, seconds: float = 8.0, bpm: float = 110.0, seed: int = 0):
    """Synthesize a kick/snare/hi-hat drum-machine pattern.

    Returns
    -------
    y : np.ndarray [shape=(round(sr * seconds),), dtype=float32]
    """
    n = _check(sr, seconds)
    rng = np.random.default_rng(seed)
    y = np.zeros(n)
    step = int(sr * 60 / bpm / 4)  # sixteenth notes
    t_kick = np.arange(int(0.25 * sr)) / sr
    kick = np.sin(2 * np.pi * (50 + 100 * np.exp(-t_kick * 30)) * t_kick) * np.exp(-t_kick * 12)
    t_sn = np.arange(int(0.2 * sr)) / sr
    snare = (rng.standard_normal(t_sn.size) * 0.6 + np.sin(2 * np.pi * 190 * t_sn)) * np.exp(
        -t_sn * 25
    )
    hat_noise = np.diff(rng.standard_normal(int(0.05 * sr) + 1))
    hat = hat_noise * np.exp(-np.arange(hat_noise.size) / sr * 90) * 0.25
    for i, start in enumerate(range(0, n, step)):
        pos = i % 16
        parts = [hat]
        if pos in (0, 6, 8, 11):
            parts.append(kick)
        if pos in (4, 12):
            parts.append(snare)
        for part in parts:
            end = min(n, start + part.size)
            y[start:end] += part[: end - start]
    return (0.8 * y / np.max(np.abs(y))).astype(np.float32)


def chord_progression(*, sr: int = 22050, seconds: float = 8.0, seed: int = 0):
    """Synthesize a sustained I–vi–IV–V chord progression (C, Am, F, G) on a soft pad.

    Returns
    -------
    y : np.ndarray [shape=(round(sr * seconds),), dtype=float32]
    """
    n = _check(sr, seconds)
    rng = np.random.default_rng(seed)
    chords = [(60, 64, 67), (57, 60, 64), (53, 57, 60), (55, 59, 62)]
    seg = n // 4 + 1
    y = np.zeros(4 * seg)
    t = np.arange(seg) / sr
    env = np.minimum(1.0, t / 0.3) * np.minimum(1.0, (t[-1] - t) / 0.3 + 1e-3)
    for i, chord in enumerate(chords):
        tone = sum(
            np.sin(2 * np.pi * midi_to_hz(m) * (1 + rng.uniform(-1e-3, 1e-3)) * k * t) / k**2
            for m in chord
            for k in (1, 2, 3)
        )
        y[i * seg : (i + 1) * seg] = tone * env
    y = y[:n]
    return (0.6 * y / np.max(np.abs(y))).astype(np.float32)


def bass_line(*, sr: int = 22050, seconds: float = 8.0, bpm: float = 100.0, seed: int = 0):
    """Synthesize a plucked bass line walking over a minor pentatonic scale.

    Returns
    -------
    y : np.ndarray [shape=(round(sr * seconds),), dtype=float32]
    """
    n = _check(sr, seconds)
    rng = np.random.default_rng(seed)
    scale = [33, 36, 38, 40, 43, 45]
    step = int(sr * 60 / bpm / 2)
    y = np.zeros(n + step)
    for start in range(0, n, step):
        f = midi_to_hz(scale[rng.integers(len(scale))])
        y[start : start + step] += _note(f, step, sr, harmonics=6, decay=4.0)
    y = y[:n]
    return (0.7 * y / np.max(np.abs(y))).astype(np.float32)


def piano_melody(*, sr: int = 22050, seconds: float = 8.0, bpm: float = 80.0, seed: int = 0):
    """Synthesize a piano-like melody: decaying harmonic notes over a C-major scale.

    Returns
    -------
    y : np.ndarray [shape=(round(sr * seconds),), dtype=float32]
    """
    n = _check(sr, seconds)
    rng = np.random.default_rng(seed)
    scale = [60, 62, 64, 65, 67, 69, 71, 72, 74, 76]
    step = int(sr * 60 / bpm / 2)
    y = np.zeros(n + 4 * step)
    for start in range(0, n, step):
        f = midi_to_hz(scale[rng.integers(len(scale))])
        y[start : start + 4 * step] += _note(f, 4 * step, sr, harmonics=8, decay=2.5)
    y = y[:n]
    return (0.7 * y / np.max(np.abs(y))).astype(np.float32)


def band_noise(
    *, sr: int = 22050, seconds: float = 1.0, low_hz: float, high_hz: float, seed: int = 0
) -> np.ndarray:
    """Return white noise band-limited to ``[low_hz, high_hz]`` (FFT mask).

    Returns
    -------
    y : np.ndarray [shape=(round(sr * seconds),), dtype=float32]
    """
    n = _check(sr, seconds)
    if not 0 <= low_hz < high_hz <= sr / 2:
        raise ParameterError(f"need 0 <= low_hz < high_hz <= sr/2, got {low_hz}, {high_hz}")
    rng = np.random.default_rng(seed)
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / sr)
    spec[(f < low_hz) | (f > high_hz)] = 0
    y = np.fft.irfft(spec, n)
    return (0.5 * y / np.max(np.abs(y))).astype(np.float32)


#: The one-click demo clips: file stem -> (generator, description shown in the app).
DEMO_CLIPS = {
    "drum_loop": (drum_loop, "A drum-machine loop: kick, snare and hi-hat at 110 BPM."),
    "chord_progression": (chord_progression, "A sustained C–Am–F–G chord progression."),
    "bass_line": (bass_line, "A plucked bass line over a minor pentatonic scale."),
    "piano_melody": (piano_melody, "A piano-like melody of decaying notes in C major."),
}
