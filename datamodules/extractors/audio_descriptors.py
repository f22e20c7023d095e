"""Segment-level descriptors of an audio performance, for the descriptor baseline of audio caches.

The audio counterparts of :mod:`datamodules.extractors.midi_descriptors` (duration, loudness level and range, note
density, brightness), computed from mono samples and basic-pitch's onset posteriorgram:

==========================  =========================================================================================
``duration_s``              samples / rate
``rms_db_mean``             mean over 40 ms frames (882 samples at 22,050 Hz, no overlap) of the frame RMS in dB
                            re full scale, floored at -80 dB
``rms_db_sd``               their standard deviation (ddof = 0)
``rms_db_p90_p10``          their 90th minus 10th percentile (the dynamic range played)
``centroid_hz``             spectral centroid of the whole segment's power spectrum (Welch, 2,048-sample Hann
                            segments, 50% overlap), in Hz: the brightness of the sound
``onsets_per_s``            local maxima in time of the onset posteriorgram at or above 0.5, over all 88 keys, per
                            second: the note density basic-pitch hears
==========================  =========================================================================================
"""

from __future__ import annotations

import numpy as np
from scipy.signal import welch

AUDIO_DESCRIPTOR_NAMES: tuple[str, ...] = (
    "duration_s", "rms_db_mean", "rms_db_sd", "rms_db_p90_p10", "centroid_hz", "onsets_per_s",
)
RMS_FRAME_S = 0.04
RMS_FLOOR_DB = -80.0
ONSET_THRESHOLD = 0.5


def frame_rms_db(audio: np.ndarray, rate_hz: int) -> np.ndarray:
    """RMS level in dB re full scale of consecutive 40 ms frames (the last partial frame included), floored."""
    length = max(1, round(RMS_FRAME_S * rate_hz))
    n_frames = -(-audio.size // length)
    padded = np.zeros(n_frames * length)
    padded[: audio.size] = audio
    frames = padded.reshape(n_frames, length)
    counts = np.full(n_frames, float(length))
    counts[-1] = audio.size - (n_frames - 1) * length  # the partial frame's real samples
    rms = np.sqrt((frames.astype(np.float64) ** 2).sum(axis=1) / counts)
    return np.maximum(20.0 * np.log10(np.maximum(rms, 1e-12)), RMS_FLOOR_DB)


def onset_count(onsets: np.ndarray) -> int:
    """Onset events in an onset posteriorgram ``(n_frames, 88)``: values >= 0.5 that are a local maximum in time
    (ties on a plateau count once, at its first frame)."""
    padded = np.vstack([np.zeros((1, onsets.shape[1])), onsets, np.zeros((1, onsets.shape[1]))])
    rising = padded[1:-1] > padded[:-2]
    not_falling_next = padded[1:-1] >= padded[2:]
    return int(np.sum(rising & not_falling_next & (onsets >= ONSET_THRESHOLD)))


def audio_descriptors(audio: np.ndarray, rate_hz: int, onsets: np.ndarray) -> np.ndarray:
    """The :data:`AUDIO_DESCRIPTOR_NAMES` values of mono ``audio`` ``(n_samples,)`` at ``rate_hz`` and its onset
    posteriorgram ``(n_frames, 88)``, shape ``(6,)`` float64 (module docstring)."""
    duration_s = audio.size / rate_hz
    levels = frame_rms_db(audio, rate_hz)
    p10, p90 = np.percentile(levels, [10, 90])
    segment = min(2048, audio.size)
    frequencies, power = welch(audio.astype(np.float64), fs=rate_hz, window="hann", nperseg=segment)
    centroid = float((frequencies * power).sum() / power.sum()) if power.sum() > 0 else 0.0
    return np.array([duration_s, levels.mean(), levels.std(), p90 - p10, centroid, onset_count(onsets) / duration_s])

