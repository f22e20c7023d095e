"""Piece-invariant MIDI frame features: register bands, keys held down, and how each onset cluster is played.

The 176 per-key columns of :mod:`datamodules.extractors.midi` say *which* keys sound, which mostly says which piece
is played; a key one piece never uses is a near-constant column. The columns here describe *how* it is played, in
the same units whatever the piece (frame ``i`` covers ``[i / rate, (i + 1) / rate)`` seconds, rules of
:mod:`datamodules.extractors.midi_frames`):

==========================  ==================================================================================
name                        meaning (unit)
==========================  ==================================================================================
``band_<low>_<high>`` x 8   sum of sounding velocity / 127 over the 11 keys ``low``..``high`` (A0-G1, ...,
                            D7-C8): loudness by register
``n_keys_down``             keys physically held down in the frame, pedal ignored (count)
``legato_overlap_s``        how long the previous onset cluster's keys stay down past this cluster's onset (s;
                            negative: a gap, detached playing), clipped to [-1, 1]
``articulation_ratio``      the cluster's mean key-down time over the interval to the next cluster (1: legato,
                            below 0.5: staccato), clipped to [0, 4]; 0 for the last cluster
``ioi_log_ratio``           log of this cluster's inter-onset interval over the previous one (rubato; 0 for the
                            first and last clusters)
``velocity_change``         the cluster's mean velocity minus the previous cluster's (velocity / 127)
==========================  ==================================================================================

Clusters are onsets within ``chord_tolerance_s`` of the previous onset (a chord counts once). The last four columns
hold the value of the latest cluster at or before the frame centre (a step function), and are 0 before the first.
"""

from __future__ import annotations

import numpy as np
import pretty_midi

from datamodules.extractors.midi_frames import frame_ceil, frame_floor

N_BANDS, KEYS_PER_BAND = 8, 11
CLUSTER_NAMES: tuple[str, ...] = ("legato_overlap_s", "articulation_ratio", "ioi_log_ratio", "velocity_change")


def band_names(lowest_pitch: int = 21) -> tuple[str, ...]:
    """``band_A0_G1`` ... ``band_D7_C8``: the 8 register bands of 11 keys."""
    names = []
    for band in range(N_BANDS):
        low = lowest_pitch + band * KEYS_PER_BAND
        names.append(f"band_{pretty_midi.note_number_to_name(low)}_{pretty_midi.note_number_to_name(low + 10)}")
    return tuple(names)


def register_bands(sounding: np.ndarray) -> np.ndarray:
    """Sum of sounding velocity per band of 11 keys: ``(n_frames, 88)`` -> ``(n_frames, 8)``."""
    return sounding.reshape(len(sounding), N_BANDS, KEYS_PER_BAND).sum(axis=2)


def keys_down(onsets_s: np.ndarray, offsets_s: np.ndarray, n_frames: int, frame_rate_hz: float) -> np.ndarray:
    """Keys held down (press to release, pedal ignored) touching each frame, shape ``(n_frames,)``."""
    first = np.clip(frame_floor(onsets_s, frame_rate_hz), 0, n_frames - 1)
    stop = np.minimum(np.maximum(frame_ceil(offsets_s, frame_rate_hz), first + 1), n_frames)
    changes = np.zeros(n_frames + 1)
    np.add.at(changes, first, 1.0)
    np.add.at(changes, stop, -1.0)
    return np.cumsum(changes[:-1])


def cluster_features(
    onsets_s: np.ndarray, offsets_s: np.ndarray, velocities: np.ndarray, n_frames: int, frame_rate_hz: float,
    chord_tolerance_s: float,
) -> np.ndarray:
    """The four cluster columns of :data:`CLUSTER_NAMES` as step functions, shape ``(n_frames, 4)``.

    Parameters
    ----------
    onsets_s, offsets_s, velocities : ndarray of shape (n_notes,)
        Key press and release times (s) and velocity / 127, in any order.
    n_frames : int
    frame_rate_hz, chord_tolerance_s : float
    """
    order = np.argsort(onsets_s, kind="stable")
    onsets, offsets, velocity = onsets_s[order], offsets_s[order], velocities[order]
    cluster = np.cumsum(np.concatenate([[True], np.diff(onsets) > chord_tolerance_s])) - 1  # (n_notes,)
    n_clusters = int(cluster[-1]) + 1
    counts = np.bincount(cluster, minlength=n_clusters)
    times = onsets[np.searchsorted(cluster, np.arange(n_clusters))]  # first onset of each cluster
    mean_velocity = np.bincount(cluster, weights=velocity) / counts
    mean_down = np.bincount(cluster, weights=offsets - onsets) / counts
    last_release = np.full(n_clusters, -np.inf)
    np.maximum.at(last_release, cluster, offsets)
    values = np.zeros((n_clusters, len(CLUSTER_NAMES)))
    if n_clusters > 1:
        intervals = np.diff(times)  # (n_clusters - 1,)
        values[1:, 0] = np.clip(last_release[:-1] - times[1:], -1.0, 1.0)
        values[:-1, 1] = np.clip(mean_down[:-1] / intervals, 0.0, 4.0)
        values[1:-1, 2] = np.log(intervals[1:] / intervals[:-1])
        values[1:, 3] = np.diff(mean_velocity)
    centres_s = (np.arange(n_frames) + 0.5) / frame_rate_hz
    latest = np.searchsorted(times, centres_s, side="right") - 1  # (n_frames,)
    return np.where((latest >= 0)[:, None], values[np.maximum(latest, 0)], 0.0)  # (n_frames, 4)
