"""Segment-level descriptors of a MIDI performance: what a listener would name, one number each.

These feed the probing section's descriptor baseline (Ridge on a handful of descriptors): what any prober of the
frames must beat to show that it hears more than loudness, pedal use, note density and duration. Times are in
seconds; velocities are MIDI velocity / 127. The *playing span* runs from the first onset to the last sounding end
(key release, or the pedal release that ends a held note; see :mod:`datamodules.extractors.midi`).

==========================  ==================================================================================
name                        meaning (unit)
==========================  ==================================================================================
``duration_s``              length of the playing span (s)
``notes_per_s``             notes / ``duration_s`` (notes per second)
``velocity_mean``           mean onset velocity (velocity / 127)
``velocity_sd``             standard deviation of onset velocities (velocity / 127)
``velocity_p90_minus_p10``  90th minus 10th percentile of onset velocities: the dynamic range (velocity / 127)
``sustain_fraction``        share of the playing span with the sustain pedal down (CC64 >= threshold), 0..1
``soft_mean``               time-weighted mean of CC67 / 127 over the playing span, 0..1
``polyphony_mean``          mean number of keys sounding per frame over the playing span (count)
``key_down_mean_s``         mean time a key is held down, press to release (s): articulation
``ioi_cv``                  coefficient of variation of the intervals between onset clusters (chords count
                            once): timing regularity (dimensionless; 0 with fewer than 3 clusters)
==========================  ==================================================================================
"""

from __future__ import annotations

import numpy as np

from datamodules.extractors.midi_frames import controller_frame_means, frame_floor, onset_clusters

DESCRIPTOR_NAMES: tuple[str, ...] = (
    "duration_s", "notes_per_s", "velocity_mean", "velocity_sd", "velocity_p90_minus_p10", "sustain_fraction",
    "soft_mean", "polyphony_mean", "key_down_mean_s", "ioi_cv",
)


def segment_descriptors(
    onsets_s: np.ndarray,
    offsets_s: np.ndarray,
    sound_ends_s: np.ndarray,
    velocities: np.ndarray,
    pedal_down: tuple[np.ndarray, np.ndarray],
    soft: tuple[np.ndarray, np.ndarray],
    n_sounding: np.ndarray,
    frame_rate_hz: float,
    chord_tolerance_s: float,
) -> np.ndarray:
    """The descriptors of :data:`DESCRIPTOR_NAMES` for one performance, shape ``(10,)``, float64.

    Parameters
    ----------
    onsets_s, offsets_s, sound_ends_s, velocities : ndarray of shape (n_notes,)
        Key press and release times, the time each note stops sounding (pedal included), velocity / 127.
    pedal_down : (starts_s, ends_s)
        Intervals with the sustain pedal down, as :func:`~datamodules.extractors.midi_frames.pedal_down_intervals`.
    soft : (times_s, values)
        CC67 events, values CC value / 127.
    n_sounding : ndarray of shape (n_frames,)
        Keys sounding per frame.
    frame_rate_hz, chord_tolerance_s : float

    Examples
    --------
    >>> values = segment_descriptors(np.array([0.0, 1.0]), np.array([0.5, 2.0]), np.array([0.5, 2.0]),
    ...     np.array([0.5, 0.7]), (np.array([1.0]), np.array([1.5])), (np.zeros(0), np.zeros(0)),
    ...     np.ones(50), 25.0, 0.05)
    >>> dict(zip(DESCRIPTOR_NAMES[:3], values[:3].round(3).tolist()))
    {'duration_s': 2.0, 'notes_per_s': 1.0, 'velocity_mean': 0.6}
    """
    start_s, end_s = float(np.min(onsets_s)), float(np.max(sound_ends_s))
    duration_s = max(end_s - start_s, 1.0 / frame_rate_hz)
    starts, ends = pedal_down
    pedal_s = float(np.sum(np.clip(np.minimum(ends, end_s) - np.maximum(starts, start_s), 0.0, None)))
    first, last = int(frame_floor(start_s, frame_rate_hz)), max(int(np.ceil(end_s * frame_rate_hz)), 1)
    span = slice(min(first, len(n_sounding) - 1), min(last, len(n_sounding)))
    soft_frames = controller_frame_means(soft[0], soft[1], len(n_sounding), frame_rate_hz)
    intervals = np.diff(onset_clusters(onsets_s, chord_tolerance_s))
    ioi_cv = float(intervals.std() / intervals.mean()) if len(intervals) >= 2 else 0.0
    low, high = np.percentile(velocities, [10, 90])
    return np.array([
        duration_s, len(onsets_s) / duration_s, velocities.mean(), velocities.std(), high - low,
        min(pedal_s / duration_s, 1.0), soft_frames[span].mean(), np.asarray(n_sounding, np.float64)[span].mean(),
        np.mean(offsets_s - onsets_s), ioi_cv,
    ], dtype=np.float64)
