"""Pure array functions turning note and pedal events (seconds) into frame features.

Frame ``i`` covers the half-open interval ``[i / rate, (i + 1) / rate)`` seconds. An event at ``t`` seconds
falls in frame ``floor(t * rate)``; an interval ``[start, end)`` touches frames
``floor(start * rate) .. ceil(end * rate) - 1`` (at least its first frame). Products ``t * rate`` are snapped
by ``TIME_TOLERANCE`` (in frames) before rounding, so that float noise from tick-to-second conversion
(``0.48 * 25 = 12.000000000000002``) does not move an event by a frame. :mod:`datamodules.extractors.midi`
documents the features these functions build.
"""

from __future__ import annotations

import numpy as np

TIME_TOLERANCE = 1e-6


def frame_floor(times_s: np.ndarray, frame_rate_hz: float) -> np.ndarray:
    """Frame holding each time: ``floor(t * rate)``, shape as ``times_s``, int64."""
    return np.floor(np.asarray(times_s, np.float64) * frame_rate_hz + TIME_TOLERANCE).astype(np.int64)


def frame_ceil(times_s: np.ndarray, frame_rate_hz: float) -> np.ndarray:
    """Exclusive end frame of intervals ending at each time: ``ceil(t * rate)``, int64."""
    return np.ceil(np.asarray(times_s, np.float64) * frame_rate_hz - TIME_TOLERANCE).astype(np.int64)


def controller_frame_means(
    times_s: np.ndarray, values: np.ndarray, n_frames: int, frame_rate_hz: float
) -> np.ndarray:
    """Time-weighted mean per frame of a step-function controller (value held until the next event).

    Parameters
    ----------
    times_s : ndarray of shape (n_events,)
        Event times in seconds (any order; among equal times the last one given wins).
    values : ndarray of shape (n_events,)
        Controller values after each event (already scaled, e.g. CC value / 127). Before the first
        event the value is 0.
    n_frames : int
    frame_rate_hz : float

    Returns
    -------
    ndarray of shape (n_frames,), float64
        Exact mean of the step function over each frame interval.
    """
    bounds = np.arange(n_frames + 1, dtype=np.float64) / frame_rate_hz  # (n_frames + 1,)
    if len(times_s) == 0:
        return np.zeros(n_frames)
    order = np.argsort(times_s, kind="stable")
    times, levels = np.asarray(times_s, np.float64)[order], np.asarray(values, np.float64)[order]
    integral_at_event = np.concatenate([[0.0], np.cumsum(levels[:-1] * np.diff(times))])  # (n_events,)
    last = np.searchsorted(times, bounds, side="right") - 1  # (n_frames + 1,)
    safe = np.maximum(last, 0)
    integral = np.where(last < 0, 0.0, integral_at_event[safe] + levels[safe] * (bounds - times[safe]))
    return np.diff(integral) * frame_rate_hz


def pedal_down_intervals(
    times_s: np.ndarray, values: np.ndarray, threshold: float
) -> tuple[np.ndarray, np.ndarray]:
    """Intervals ``[start, end)`` in seconds where a pedal controller is at or above ``threshold``.

    Returns
    -------
    starts, ends : ndarray of shape (n_intervals,), float64
        ``ends`` is ``inf`` for a pedal never released.
    """
    order = np.argsort(times_s, kind="stable")
    times, down = np.asarray(times_s, np.float64)[order], np.asarray(values)[order] >= threshold
    previous = np.concatenate([[False], down[:-1]])
    starts, ends = times[down & ~previous], times[~down & previous]
    if len(ends) < len(starts):
        ends = np.concatenate([ends, [np.inf]])
    return starts, ends


def sounding_ends(
    onsets_s: np.ndarray, offsets_s: np.ndarray, pitches: np.ndarray, starts: np.ndarray, ends: np.ndarray
) -> np.ndarray:
    """Note ends after the sustain pedal: a key released while the pedal is down sounds until pedal release.

    The extension stops early at the next onset of the same pitch (the damper-less string is re-struck);
    a note never ends before its own key release.

    Parameters
    ----------
    onsets_s, offsets_s : ndarray of shape (n_notes,)
        Key press and key release times in seconds.
    pitches : ndarray of shape (n_notes,)
    starts, ends : ndarray of shape (n_intervals,)
        Sustain-pedal-down intervals from :func:`pedal_down_intervals`.

    Returns
    -------
    ndarray of shape (n_notes,), float64
        Sounding end times in seconds (``inf`` for a pedal never released: clip to the file end).
    """
    offsets = np.asarray(offsets_s, np.float64)
    extended = offsets.copy()
    if len(starts):
        interval = np.searchsorted(starts, offsets, side="right") - 1  # (n_notes,)
        release = ends[np.maximum(interval, 0)]
        held = (interval >= 0) & (offsets < release)
        extended[held] = release[held]
    order = np.lexsort((onsets_s, pitches))
    next_onset = np.full(len(offsets), np.inf)
    same_pitch = pitches[order][1:] == pitches[order][:-1]
    next_onset[order[:-1][same_pitch]] = np.asarray(onsets_s)[order][1:][same_pitch]
    return np.maximum(offsets, np.minimum(extended, next_onset))


def note_frames(
    onsets_s: np.ndarray,
    ends_s: np.ndarray,
    key_indices: np.ndarray,
    velocities: np.ndarray,
    n_frames: int,
    frame_rate_hz: float,
    decay_s: float,
) -> dict[str, np.ndarray]:
    """Per-key sounding and onset velocities, onset statistics and a decaying loudness proxy.

    Parameters
    ----------
    onsets_s, ends_s : ndarray of shape (n_notes,)
        Onset and sounding-end times in seconds.
    key_indices : ndarray of shape (n_notes,)
        Piano key 0..87 (MIDI pitch - 21).
    velocities : ndarray of shape (n_notes,)
        MIDI velocity / 127, in [0, 1].
    n_frames : int
    frame_rate_hz : float
    decay_s : float
        Time constant of the loudness proxy's exponential decay, in seconds.

    Returns
    -------
    dict of str to ndarray
        ``sounding`` and ``onset`` of shape (n_frames, 88): max velocity of notes of that key touching /
        starting in the frame; ``n_onsets``, ``onset_velocity_max``, ``onset_velocity_mean`` and ``loudness``
        of shape (n_frames,).
    """
    sounding = np.zeros((n_frames, 88))
    onset = np.zeros((n_frames, 88))
    loudness = np.zeros(n_frames)
    centres_s = (np.arange(n_frames) + 0.5) / frame_rate_hz  # (n_frames,)
    first = np.clip(frame_floor(onsets_s, frame_rate_hz), 0, n_frames - 1)  # (n_notes,)
    stop = np.minimum(np.maximum(frame_ceil(ends_s, frame_rate_hz), first + 1), n_frames)
    for start, end, key, velocity, onset_s in zip(first, stop, key_indices, velocities, onsets_s, strict=True):
        sounding[start:end, key] = np.maximum(sounding[start:end, key], velocity)
        elapsed_s = np.maximum(centres_s[start:end] - onset_s, 0.0)
        loudness[start:end] += velocity * np.exp(-elapsed_s / decay_s)
    np.maximum.at(onset, (first, key_indices), velocities)
    n_onsets = np.bincount(first, minlength=n_frames).astype(np.float64)
    velocity_sum = np.bincount(first, weights=velocities, minlength=n_frames)
    velocity_max = np.zeros(n_frames)
    np.maximum.at(velocity_max, first, velocities)
    velocity_mean = np.divide(velocity_sum, n_onsets, out=np.zeros(n_frames), where=n_onsets > 0)
    return {
        "sounding": sounding,
        "onset": onset,
        "n_onsets": n_onsets,
        "onset_velocity_max": velocity_max,
        "onset_velocity_mean": velocity_mean,
        "loudness": loudness,
    }


def pitch_centroid_spread(sounding: np.ndarray, first_pitch: int = 21) -> tuple[np.ndarray, np.ndarray]:
    """Velocity-weighted mean and standard deviation of sounding MIDI pitches per frame.

    Parameters
    ----------
    sounding : ndarray of shape (n_frames, n_keys)
        Sounding velocity per key; key ``k`` is MIDI pitch ``first_pitch + k``.

    Returns
    -------
    centroid, spread : ndarray of shape (n_frames,)
        In MIDI pitch numbers (semitones); both 0 in silent frames.
    """
    pitches = first_pitch + np.arange(sounding.shape[1], dtype=np.float64)  # (n_keys,)
    total = sounding.sum(axis=1)  # (n_frames,)
    safe = np.where(total > 0, total, 1.0)
    centroid = np.where(total > 0, sounding @ pitches / safe, 0.0)
    variance = np.where(total > 0, sounding @ pitches**2 / safe - centroid**2, 0.0)
    return centroid, np.sqrt(np.maximum(variance, 0.0))


def onset_clusters(onsets_s: np.ndarray, chord_tolerance_s: float) -> np.ndarray:
    """Cluster times (seconds, sorted): an onset within ``chord_tolerance_s`` of the previous onset joins its cluster
    (a chord or a rolled chord counts once), and a cluster's time is its first onset."""
    times = np.sort(np.asarray(onsets_s, np.float64))
    is_new = np.concatenate([[True], np.diff(times) > chord_tolerance_s]) if len(times) else np.zeros(0, bool)
    return times[is_new]


def onset_timing(
    onsets_s: np.ndarray, n_frames: int, frame_rate_hz: float, chord_tolerance_s: float, window_s: float
) -> tuple[np.ndarray, np.ndarray]:
    """Onset density and the inter-onset interval around each frame: a local tempo proxy.

    Onsets closer than ``chord_tolerance_s`` to the previous onset join its cluster (a chord or a rolled
    chord counts once); a cluster's time is its first onset.

    Returns
    -------
    density_hz : ndarray of shape (n_frames,)
        Clusters per second within a centred window of ``round(window_s * rate)`` frames (rounded up to odd),
        divided by the part of the window inside the file.
    ioi_s : ndarray of shape (n_frames,)
        Time from the last cluster at or before the frame centre to the next one after it, in seconds;
        0 before the first and after the last cluster.
    """
    clusters_s = onset_clusters(onsets_s, chord_tolerance_s)
    width = int(round(window_s * frame_rate_hz)) // 2 * 2 + 1
    kernel = np.ones(width)
    counts = np.bincount(np.clip(frame_floor(clusters_s, frame_rate_hz), 0, n_frames - 1), minlength=n_frames)
    centred = slice(width // 2, width // 2 + n_frames)
    in_file = np.convolve(np.ones(n_frames), kernel)[centred]  # (n_frames,)
    density_hz = np.convolve(counts.astype(np.float64), kernel)[centred] / (in_file / frame_rate_hz)
    centres_s = (np.arange(n_frames) + 0.5) / frame_rate_hz
    after = np.searchsorted(clusters_s, centres_s, side="right")  # (n_frames,)
    valid = (after > 0) & (after < len(clusters_s))
    ioi_s = np.zeros(n_frames)
    ioi_s[valid] = clusters_s[after[valid]] - clusters_s[after[valid] - 1]
    return density_hz, ioi_s
