"""MIDI performance features at 25 frames per second: what a listener hears, frame by frame.

:class:`MidiFrameExtractor` reads one performance MIDI file with ``pretty_midi`` and returns frames of shape
``(n_frames, 200)`` float32 at 25 frames per second (hop 40 ms), the frame rate of MuQ embeddings, so that the
suite's probes run on real features of the 1,202 PercePiano performances where MuQ weights and audio are not
available. Frame ``i`` covers ``[i / 25, (i + 1) / 25)`` seconds; ``n_frames = ceil(end_time_s * 25)`` where
``end_time_s`` is the last note-off or control change of the piano tracks (rounding rules:
:mod:`datamodules.extractors.midi_frames`). Velocities are MIDI velocity / 127, pedals CC value / 127.

Features (columns in this order, ``feature_names`` gives the names):

=================================  ======  ============================================================
name                               count   meaning (unit)
=================================  ======  ============================================================
``sounding_<note>`` A0 .. C8       88      max velocity / 127 of notes of that key sounding in the frame
                                           (key down, or released while the sustain pedal is down; see
                                           below); 0 when silent
``onset_<note>`` A0 .. C8          88      max velocity / 127 of notes of that key starting in the frame
``sustain_pedal``                  1       time-weighted frame mean of CC64 / 127 (0 before any event)
``soft_pedal``                     1       time-weighted frame mean of CC67 / 127
``n_sounding``                     1       keys sounding (count)
``n_onsets``                       1       notes starting in the frame (count)
``onset_velocity_max``             1       max velocity / 127 of onsets in the frame; 0 without onsets
``onset_velocity_mean``            1       mean velocity / 127 of onsets in the frame; 0 without onsets
``loudness``                       1       sum over sounding notes of velocity / 127 *
                                           exp(-(t - onset) / decay_s) at the frame centre t (seconds);
                                           a loudness proxy for decaying piano tones
``pitch_centroid``                 1       sounding-velocity-weighted mean MIDI pitch (semitones); 0 if silent
``pitch_spread``                   1       weighted standard deviation of sounding pitches (semitones)
``onset_density_hz``               1       onset clusters (chords count once) per second in a centred
                                           1 s window
``local_ioi_s``                    1       interval between the onset clusters around the frame centre
                                           (seconds): a local tempo proxy; 0 outside the first..last onset
``band_<low>_<high>``              8       sounding velocity summed over 11-key register bands
``n_keys_down``                    1       keys held down, pedal ignored (count)
``legato_overlap_s``,              4       how each onset cluster is played: overlap with the previous
``articulation_ratio``,                    cluster (s), key-down time over the inter-onset interval,
``ioi_log_ratio``,                         log interval ratio (rubato), velocity change; held until the
``velocity_change``                        next cluster (:mod:`~datamodules.extractors.midi_articulation`)
=================================  ======  ============================================================

Sustain pedal: the pedal is down while CC64 >= ``sustain_threshold`` (64, the General MIDI convention). A note
whose key is released while the pedal is down keeps sounding until the pedal is released, or until the next
onset of the same pitch, whichever is first (as in the Onsets-and-Frames MAESTRO preprocessing). Half-pedalling
is visible in ``sustain_pedal`` but does not extend notes.

Input handling: all non-drum tracks are merged (the deadpan ``Score``/``Score2`` renditions have two piano
tracks); drum notes are ignored and counted; notes outside the piano range A0..C8 (MIDI 21..108) are clipped to
the nearest key and counted; files without pedal events get zero pedal columns; a file without notes raises
:class:`~datamodules.extractors.base.UnusableInputError` (skipped and reported by ``extract_to_store``).
Extraction is deterministic and has no length limit (memory is ``O(n_frames * 200)`` for one file).

Segment descriptors (:meth:`MidiFrameExtractor.extract_segment`, stored beside the frames): the 10 listener-level
numbers of :mod:`datamodules.extractors.midi_descriptors` (duration, note density, velocity level and range, pedal
use, polyphony, key-down time, timing regularity), for the probing section's descriptor baseline.

How to produce MuQ embeddings instead, on a machine with the weights: ``docs/muq_embeddings.md``.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import pretty_midi

from datamodules.extractors import midi_articulation, midi_frames
from datamodules.extractors.base import FrameExtractor, UnusableInputError, input_files
from datamodules.extractors.midi_descriptors import DESCRIPTOR_NAMES, segment_descriptors

LOWEST_PITCH, HIGHEST_PITCH = 21, 108  # A0, C8
N_KEYS = HIGHEST_PITCH - LOWEST_PITCH + 1
SUSTAIN_CC, SOFT_CC = 64, 67
SUMMARY_NAMES = (
    "sustain_pedal", "soft_pedal", "n_sounding", "n_onsets", "onset_velocity_max", "onset_velocity_mean",
    "loudness", "pitch_centroid", "pitch_spread", "onset_density_hz", "local_ioi_s",
)
MIDI_SUFFIXES = (".mid", ".midi")


@dataclass(frozen=True, slots=True)
class MidiPerformance:
    """Merged piano notes and pedal events of one file; times in seconds.

    Attributes
    ----------
    onsets_s, offsets_s : ndarray of shape (n_notes,), float64
        Key press and release times.
    pitches : ndarray of shape (n_notes,), int64
        MIDI pitch clipped to 21..108.
    velocities : ndarray of shape (n_notes,), float64
        MIDI velocity / 127.
    sustain_times_s, sustain_values, soft_times_s, soft_values : ndarray of shape (n_events,), float64
        CC64 and CC67 events; values are CC value / 127.
    end_time_s : float
        Last note-off or control change.
    """

    onsets_s: np.ndarray
    offsets_s: np.ndarray
    pitches: np.ndarray
    velocities: np.ndarray
    sustain_times_s: np.ndarray
    sustain_values: np.ndarray
    soft_times_s: np.ndarray
    soft_values: np.ndarray
    end_time_s: float


def read_performance(path: Path) -> tuple[MidiPerformance, dict[str, int]]:
    """Parse ``path`` and merge its non-drum tracks.

    Returns
    -------
    performance : MidiPerformance
    counts : dict of str to int
        ``n_notes_clipped_to_piano_range``, ``n_drum_notes_ignored``, ``n_parser_warnings`` (pretty_midi
        warnings, e.g. key signatures on a non-zero track in the ``Score`` files).

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    UnusableInputError
        If the file cannot be parsed, or has no non-drum notes.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: file not found")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            midi = pretty_midi.PrettyMIDI(str(path))
        except Exception as error:  # mido/pretty_midi raise many types on corrupt files
            raise UnusableInputError(f"unreadable MIDI ({type(error).__name__}: {error})") from None
    pianos = [instrument for instrument in midi.instruments if not instrument.is_drum]
    notes = [note for instrument in pianos for note in instrument.notes]
    if not notes:
        raise UnusableInputError(f"no notes ({len(midi.instruments)} tracks with instruments, none has non-drum notes)")
    notes.sort(key=lambda note: (note.start, note.pitch, note.end, note.velocity))
    raw_pitches = np.array([note.pitch for note in notes], np.int64)
    controls = sorted(
        (change.time, change.number, change.value) for track in pianos for change in track.control_changes
    )
    sustain = np.array([(time, value / 127) for time, number, value in controls if number == SUSTAIN_CC]).reshape(-1, 2)
    soft = np.array([(time, value / 127) for time, number, value in controls if number == SOFT_CC]).reshape(-1, 2)
    offsets = np.array([note.end for note in notes], np.float64)
    performance = MidiPerformance(
        onsets_s=np.array([note.start for note in notes], np.float64),
        offsets_s=offsets,
        pitches=np.clip(raw_pitches, LOWEST_PITCH, HIGHEST_PITCH),
        velocities=np.array([note.velocity for note in notes], np.float64) / 127,
        sustain_times_s=sustain[:, 0], sustain_values=sustain[:, 1],
        soft_times_s=soft[:, 0], soft_values=soft[:, 1],
        end_time_s=max(float(offsets.max()), max((time for time, _, _ in controls), default=0.0)),
    )
    counts = {
        "n_notes_clipped_to_piano_range": int(((raw_pitches < LOWEST_PITCH) | (raw_pitches > HIGHEST_PITCH)).sum()),
        "n_drum_notes_ignored": sum(len(track.notes) for track in midi.instruments if track.is_drum),
        "n_parser_warnings": len(caught),
    }
    return performance, counts


class MidiFrameExtractor(FrameExtractor):
    """Per-frame piano-roll, pedal and summary features of a performance MIDI file (module docstring).

    Parameters
    ----------
    decay_s : float, default=1.0
        Time constant of the ``loudness`` proxy's exponential decay, in seconds.
    sustain_threshold : int, default=64
        CC64 value (0..127) at or above which the sustain pedal holds released notes.
    chord_tolerance_s : float, default=0.05
        Onsets within this many seconds of the previous onset count as one cluster for the timing features.
    density_window_s : float, default=1.0
        Window of ``onset_density_hz``, in seconds.
    key_columns : bool, default=True
        Keep the 176 per-key columns (``sounding_*``, ``onset_*``). False leaves the 24 piece-invariant columns
        (summaries, register bands, keys down, cluster articulation): which keys sound mostly says which piece is
        played, which excerpt-grouped folds deny to every prober, and 352 of the 400 pooled columns are theirs.

    Raises
    ------
    ValueError
        If a time parameter is not positive, ``sustain_threshold`` is outside 1..127, or ``key_columns`` is not a
        bool.

    Examples
    --------
    >>> extractor = MidiFrameExtractor()
    >>> len(extractor.feature_names), extractor.feature_names[0], extractor.frame_rate_hz
    (200, 'sounding_A0', 25.0)
    """

    name: ClassVar[str] = "midi"
    frame_rate_hz: ClassVar[float] = 25.0
    version: ClassVar[int] = 2
    input_suffixes: ClassVar[tuple[str, ...]] = MIDI_SUFFIXES
    descriptor_names: ClassVar[tuple[str, ...]] = DESCRIPTOR_NAMES

    def __init__(
        self,
        decay_s: float = 1.0,
        sustain_threshold: int = 64,
        chord_tolerance_s: float = 0.05,
        density_window_s: float = 1.0,
        key_columns: bool = True,
    ) -> None:
        for parameter, value in (("decay_s", decay_s), ("chord_tolerance_s", chord_tolerance_s),
                                 ("density_window_s", density_window_s)):
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ValueError(f"{parameter}={value!r}: expected a positive number of seconds")
        if not (isinstance(sustain_threshold, int) and 1 <= sustain_threshold <= 127):
            raise ValueError(f"sustain_threshold={sustain_threshold!r}: expected an int CC value in 1..127")
        if not isinstance(key_columns, bool):
            raise ValueError(f"key_columns={key_columns!r}: expected true or false")
        self.decay_s = decay_s
        self.sustain_threshold = sustain_threshold
        self.chord_tolerance_s = chord_tolerance_s
        self.density_window_s = density_window_s
        self.key_columns = key_columns

    @property
    def feature_names(self) -> tuple[str, ...]:
        """The 200 column names: ``sounding_<note>`` x 88, ``onset_<note>`` x 88, the summaries, then the columns of
        :mod:`~datamodules.extractors.midi_articulation`."""
        notes = [pretty_midi.note_number_to_name(pitch) for pitch in range(LOWEST_PITCH, HIGHEST_PITCH + 1)]
        keys = (*(f"sounding_{note}" for note in notes),
                *(f"onset_{note}" for note in notes)) if self.key_columns else ()
        return (*keys, *SUMMARY_NAMES, *midi_articulation.band_names(LOWEST_PITCH), "n_keys_down",
                *midi_articulation.CLUSTER_NAMES)

    def settings(self) -> dict[str, object]:
        return {
            **super().settings(),
            "decay_s": self.decay_s,
            "sustain_threshold": self.sustain_threshold,
            "chord_tolerance_s": self.chord_tolerance_s,
            "density_window_s": self.density_window_s,
            "key_columns": self.key_columns,
        }

    def extract_with_counts(self, path: Path) -> tuple[np.ndarray, dict[str, int]]:
        """Frames of shape ``(n_frames, 200)`` float32 and the input-adjustment counts of :func:`read_performance`."""
        performance, counts = read_performance(path)
        return self.frames(performance), counts

    def extract_segment(self, path: Path) -> tuple[np.ndarray, dict[str, int], np.ndarray]:
        """Frames, counts and the segment descriptors of :mod:`~datamodules.extractors.midi_descriptors`."""
        performance, counts = read_performance(path)
        frames, descriptors = self._frames_and_descriptors(performance)
        return frames, counts, descriptors

    def frames(self, performance: MidiPerformance) -> np.ndarray:
        """Features of an already parsed performance, shape ``(n_frames, 200)``, float32."""
        return self._frames_and_descriptors(performance)[0]

    def _frames_and_descriptors(self, performance: MidiPerformance) -> tuple[np.ndarray, np.ndarray]:
        rate = self.frame_rate_hz
        n_frames = max(int(midi_frames.frame_ceil(performance.end_time_s, rate)), 1)
        starts, ends = midi_frames.pedal_down_intervals(
            performance.sustain_times_s, np.rint(performance.sustain_values * 127), self.sustain_threshold
        )
        sound_ends_s = midi_frames.sounding_ends(
            performance.onsets_s, performance.offsets_s, performance.pitches, starts, ends
        )
        notes = midi_frames.note_frames(
            performance.onsets_s, np.minimum(sound_ends_s, performance.end_time_s), performance.pitches - LOWEST_PITCH,
            performance.velocities, n_frames, rate, self.decay_s,
        )
        centroid, spread = midi_frames.pitch_centroid_spread(notes["sounding"], LOWEST_PITCH)
        density_hz, ioi_s = midi_frames.onset_timing(
            performance.onsets_s, n_frames, rate, self.chord_tolerance_s, self.density_window_s
        )
        summaries = [
            midi_frames.controller_frame_means(performance.sustain_times_s, performance.sustain_values, n_frames, rate),
            midi_frames.controller_frame_means(performance.soft_times_s, performance.soft_values, n_frames, rate),
            (notes["sounding"] > 0).sum(axis=1),
            notes["n_onsets"], notes["onset_velocity_max"], notes["onset_velocity_mean"], notes["loudness"],
            centroid, spread, density_hz, ioi_s,
        ]
        how_played = [
            midi_articulation.register_bands(notes["sounding"]),
            midi_articulation.keys_down(performance.onsets_s, performance.offsets_s, n_frames, rate)[:, None],
            midi_articulation.cluster_features(performance.onsets_s, performance.offsets_s, performance.velocities,
                                               n_frames, rate, self.chord_tolerance_s),
        ]
        keys = [notes["sounding"], notes["onset"]] if self.key_columns else []
        frames = np.concatenate([*keys, np.stack(summaries, axis=1), *how_played], axis=1)
        descriptors = segment_descriptors(
            performance.onsets_s, performance.offsets_s, np.minimum(sound_ends_s, performance.end_time_s),
            performance.velocities, (starts, ends), (performance.soft_times_s, performance.soft_values),
            summaries[2], rate, self.chord_tolerance_s,
        )
        return frames.astype(np.float32), descriptors  # (n_frames, 200), (10,)


def midi_files(directory: Path) -> dict[str, Path]:
    """Map segment keys to the ``*.mid``/``*.midi`` files of ``directory``; see :func:`input_files`."""
    return input_files(directory, MIDI_SUFFIXES)
