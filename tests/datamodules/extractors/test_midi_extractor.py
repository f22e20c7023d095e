"""Tests of datamodules/extractors/midi.py and midi_frames.py on small MIDI files written with pretty_midi."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pretty_midi
import pytest

from datamodules.extractors import MidiFrameExtractor, UnusableInputError, midi_files
from datamodules.extractors.midi_frames import controller_frame_means

RATE = 25.0
NAMES = MidiFrameExtractor().feature_names


def column(name: str) -> int:
    return NAMES.index(name)


def write_midi(path: Path, notes=(), controls=(), drum_notes=(), second_track_notes=()) -> Path:
    """Write notes ``(pitch, velocity, start_s, end_s)`` and controls ``(number, value, time_s)`` to ``path``."""
    midi = pretty_midi.PrettyMIDI(resolution=1000, initial_tempo=120.0)  # 0.5 ms ticks: test times are exact
    tracks = [(notes, controls, False), (second_track_notes, (), False), (drum_notes, (), True)]
    for track_notes, track_controls, is_drum in tracks:
        if not track_notes and not track_controls:
            continue
        piano = pretty_midi.Instrument(program=0, is_drum=is_drum)
        piano.notes = [pretty_midi.Note(velocity=v, pitch=p, start=s, end=e) for p, v, s, e in track_notes]
        piano.control_changes = [pretty_midi.ControlChange(number=n, value=v, time=t) for n, v, t in track_controls]
        midi.instruments.append(piano)
    midi.write(str(path))
    return path


def extract(tmp_path: Path, **kwargs) -> np.ndarray:
    return MidiFrameExtractor().extract(write_midi(tmp_path / "piece_4bars_1_1.mid", **kwargs))


class TestMidiFrameExtractor:
    def test_feature_names(self):
        assert len(NAMES) == len(set(NAMES)) == 200
        assert NAMES[0] == "sounding_A0" and NAMES[87] == "sounding_C8" and NAMES[88 + 39] == "onset_C4"

    def test_without_key_columns_the_piece_invariant_columns_remain(self, tmp_path):
        path = write_midi(tmp_path / "piece_4bars_1_1.mid", notes=[(60, 100, 0.5, 1.0), (64, 50, 0.6, 2.5)],
                          controls=[(64, 127, 0.2), (67, 100, 1.0)])
        invariant = MidiFrameExtractor(key_columns=False)
        assert invariant.feature_names == NAMES[176:] and len(invariant.feature_names) == 24
        np.testing.assert_array_equal(invariant.extract(path), MidiFrameExtractor().extract(path)[:, 176:])
        np.testing.assert_array_equal(invariant.extract_segment(path)[2], MidiFrameExtractor().extract_segment(path)[2])

    def test_held_note_sounds_in_frames_12_to_24(self, tmp_path):
        frames = extract(tmp_path, notes=[(60, 100, 0.5, 1.0), (64, 50, 2.0, 2.5)])
        assert frames.shape == (63, 200) and frames.dtype == np.float32  # ceil(2.5 * 25) = 63
        expected = np.zeros(63, np.float32)
        expected[12:25] = np.float32(100 / 127)
        np.testing.assert_array_equal(frames[:, column("sounding_C4")], expected)
        onset = np.zeros(63, np.float32)
        onset[12] = np.float32(100 / 127)
        np.testing.assert_array_equal(frames[:, column("onset_C4")], onset)
        assert frames[12, column("n_onsets")] == 1 and frames[:, column("n_onsets")].sum() == 2
        assert frames[50, column("onset_velocity_max")] == np.float32(50 / 127)
        np.testing.assert_array_equal(frames[:, column("n_sounding")], (frames[:, :88] > 0).sum(axis=1))
        assert not frames[:, column("sustain_pedal")].any() and not frames[:, column("soft_pedal")].any()

    def test_sustain_pedal_extends_note_until_release(self, tmp_path):
        controls = [(64, 127, 0.81), (64, 0, 1.6)]
        frames = extract(tmp_path, notes=[(60, 100, 0.5, 1.0)], controls=controls)
        sounding = frames[:, column("sounding_C4")]
        assert frames.shape[0] == 40  # the pedal release at 1.6 s is the last event
        np.testing.assert_array_equal(np.flatnonzero(sounding), np.arange(12, 40))
        pedal = frames[:, column("sustain_pedal")]
        np.testing.assert_allclose(pedal[[19, 20, 21, 39]], [0.0, 0.75, 1.0, 1.0], atol=1e-6)

    def test_pedal_below_threshold_does_not_extend(self, tmp_path):
        frames = extract(tmp_path, notes=[(60, 100, 0.5, 1.0)], controls=[(64, 63, 0.8), (64, 0, 1.6)])
        np.testing.assert_array_equal(np.flatnonzero(frames[:, column("sounding_C4")]), np.arange(12, 25))

    def test_restrike_ends_sustained_note(self, tmp_path):
        notes = [(60, 100, 0.5, 1.0), (60, 40, 1.2, 1.3)]
        frames = extract(tmp_path, notes=notes, controls=[(64, 127, 0.8), (64, 0, 2.0)])
        sounding = frames[:, column("sounding_C4")]
        assert sounding[29] == np.float32(100 / 127)  # [1.16, 1.20): first note only
        assert sounding[30] == np.float32(40 / 127) and sounding[49] == np.float32(40 / 127)  # re-struck, pedalled

    def test_soft_pedal_value(self, tmp_path):
        frames = extract(tmp_path, notes=[(60, 100, 0.0, 1.0)], controls=[(67, 64, 0.0)])
        np.testing.assert_allclose(frames[:, column("soft_pedal")], 64 / 127, rtol=1e-6)

    @pytest.mark.parametrize(("end_s", "pedal_s", "n_frames"), [(1.0, None, 25), (1.01, None, 26), (2.0, 3.0, 75)])
    def test_frame_count_is_ceil_of_end_time(self, tmp_path, end_s, pedal_s, n_frames):
        controls = [] if pedal_s is None else [(64, 0, pedal_s)]
        frames = extract(tmp_path, notes=[(60, 100, 0.0, end_s)], controls=controls)
        assert frames.shape[0] == n_frames == math.ceil(pretty_midi.PrettyMIDI(
            str(tmp_path / "piece_4bars_1_1.mid")).get_end_time() * RATE - 1e-6)

    def test_loudness_decays_from_onset(self, tmp_path):
        frames = extract(tmp_path, notes=[(60, 127, 0.5, 2.0)])
        centres_s = (np.arange(12, 50) + 0.5) / RATE
        expected = np.exp(-np.maximum(centres_s - 0.5, 0.0) / 1.0)
        np.testing.assert_allclose(frames[12:50, column("loudness")], expected, rtol=1e-6)

    def test_pitch_centroid_and_spread(self, tmp_path):
        frames = extract(tmp_path, notes=[(60, 100, 0.0, 1.0), (72, 50, 0.0, 1.0)])
        pitches, weights = np.array([60.0, 72.0]), np.array([100, 50]) / 127
        centroid = np.average(pitches, weights=weights)
        spread = np.sqrt(np.average((pitches - centroid) ** 2, weights=weights))
        np.testing.assert_allclose(frames[:, column("pitch_centroid")], centroid, rtol=1e-6)
        np.testing.assert_allclose(frames[:, column("pitch_spread")], spread, rtol=1e-5)

    def test_onset_timing(self, tmp_path):
        notes = [(60, 80, 0.0, 0.4), (64, 80, 0.02, 0.4), (62, 80, 0.5, 0.9), (65, 80, 1.0, 1.4)]
        frames = extract(tmp_path, notes=notes)
        ioi = frames[:, column("local_ioi_s")]
        assert ioi[5] == pytest.approx(0.5) and ioi[20] == pytest.approx(0.5) and ioi[30] == 0
        # frame 0: window frames 0..12 in the file (13 frames = 0.52 s) holds 2 clusters (the chord counts once)
        assert frames[0, column("onset_density_hz")] == pytest.approx(2 / 0.52, rel=1e-5)

    def test_out_of_range_notes_clipped_and_counted(self, tmp_path):
        path = write_midi(tmp_path / "range_4bars_1_1.mid", notes=[(10, 90, 0.0, 0.5), (120, 90, 0.0, 0.5)])
        frames, counts = MidiFrameExtractor().extract_with_counts(path)
        assert counts["n_notes_clipped_to_piano_range"] == 2
        assert frames[0, column("sounding_A0")] > 0 and frames[0, column("sounding_C8")] > 0

    def test_tracks_merged_and_drums_ignored(self, tmp_path):
        path = write_midi(tmp_path / "tracks_4bars_1_1.mid", notes=[(60, 90, 0.0, 0.5)],
                          second_track_notes=[(67, 90, 0.0, 0.5)], drum_notes=[(36, 90, 0.0, 0.5)])
        frames, counts = MidiFrameExtractor().extract_with_counts(path)
        assert counts["n_drum_notes_ignored"] == 1
        np.testing.assert_array_equal(frames[0, column("n_sounding")], 2)
        assert frames[0, column("sounding_C2")] == 0

    def test_deterministic(self, tmp_path):
        path = write_midi(tmp_path / "same_4bars_1_1.mid", notes=[(60, 90, 0.1, 0.7), (62, 70, 0.3, 0.9)])
        np.testing.assert_array_equal(MidiFrameExtractor().extract(path), MidiFrameExtractor().extract(path))

    def test_file_without_notes_is_unusable(self, tmp_path):
        path = write_midi(tmp_path / "empty_4bars_1_1.mid", controls=[(64, 127, 0.0)])
        with pytest.raises(UnusableInputError, match="no notes"):
            MidiFrameExtractor().extract(path)

    def test_corrupt_file_is_unusable(self, tmp_path):
        path = tmp_path / "corrupt_4bars_1_1.mid"
        path.write_bytes(b"MThd not really a midi file")
        with pytest.raises(UnusableInputError, match="unreadable MIDI"):
            MidiFrameExtractor().extract(path)

    def test_missing_file(self, tmp_path):
        with pytest.raises(FileNotFoundError, match="missing.mid: file not found"):
            MidiFrameExtractor().extract(tmp_path / "missing.mid")

    @pytest.mark.parametrize(
        ("kwargs", "match"),
        [({"decay_s": 0}, "decay_s=0: expected a positive"), ({"chord_tolerance_s": float("nan")}, "chord_tolerance_s"),
         ({"sustain_threshold": 200}, "sustain_threshold=200: expected an int CC value in 1..127")],
    )
    def test_bad_parameters(self, kwargs, match):
        with pytest.raises(ValueError, match=match):
            MidiFrameExtractor(**kwargs)


class TestMidiFiles:
    def test_leading_space_stripped_from_key(self, tmp_path):
        write_midi(tmp_path / " Schubert_D935_no.3_4bars_2_1.mid", notes=[(60, 90, 0.0, 0.5)])
        write_midi(tmp_path / "b_4bars_1_1.MIDI", notes=[(60, 90, 0.0, 0.5)])
        (tmp_path / "notes.txt").write_text("not midi")
        files = midi_files(tmp_path)
        assert list(files) == ["Schubert_D935_no.3_4bars_2_1", "b_4bars_1_1"]
        assert files["Schubert_D935_no.3_4bars_2_1"].name == " Schubert_D935_no.3_4bars_2_1.mid"

    def test_two_files_one_key(self, tmp_path):
        for name in (" a_4bars_1_1.mid", "a_4bars_1_1.mid"):
            write_midi(tmp_path / name, notes=[(60, 90, 0.0, 0.5)])
        with pytest.raises(ValueError, match="both map to key 'a_4bars_1_1'"):
            midi_files(tmp_path)

    def test_no_midi_files(self, tmp_path):
        with pytest.raises(ValueError, match="no input files"):
            midi_files(tmp_path)
        with pytest.raises(FileNotFoundError, match="input directory not found"):
            midi_files(tmp_path / "absent")


class TestControllerFrameMeans:
    def test_against_dense_sampling(self):
        rng = np.random.default_rng(0)
        times, values = rng.uniform(0, 2, 12), rng.uniform(0, 1, 12)
        means = controller_frame_means(times, values, 50, RATE)
        samples_s = (np.arange(50 * 4000) + 0.5) / (RATE * 4000)  # 4000 samples per frame
        last = np.searchsorted(np.sort(times), samples_s, side="right") - 1
        level = np.where(last < 0, 0.0, values[np.argsort(times)][np.maximum(last, 0)])
        np.testing.assert_allclose(means, level.reshape(50, 4000).mean(axis=1), atol=1e-3)


@pytest.mark.real_data
@pytest.mark.filterwarnings("ignore:Tempo, Key or Time signature:RuntimeWarning")
def test_real_midi_files(real_data_dir):
    files = midi_files(real_data_dir / "percepiano" / "midi")
    keys = ["Schubert_D935_no.3_4bars_2_1", "Beethoven_WoO80_thema_8bars_Score_1",
            "Beethoven_WoO80_thema_8bars_Score2_1", "Beethoven_WoO80_var10_8bars_11_8", "Schubert_D960_mv3_8bars_2_31"]
    extractor = MidiFrameExtractor()
    for key in keys:
        frames, counts = extractor.extract_with_counts(files[key])
        duration_s = pretty_midi.PrettyMIDI(str(files[key])).get_end_time()
        assert frames.shape[1] == 200 and np.isfinite(frames).all(), key
        assert abs(frames.shape[0] - duration_s * RATE) <= 1, key
        assert frames[:, column("n_sounding")].max() > 0 and counts["n_notes_clipped_to_piano_range"] == 0, key
    score = extractor.extract(files["Beethoven_WoO80_thema_8bars_Score_1"])
    assert not score[:, column("sustain_pedal")].any()
