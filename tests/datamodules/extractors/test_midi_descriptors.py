"""MIDI segment descriptors against values worked out by hand on small pretty_midi files, and stored with the frames."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from datamodules.extractors import MidiFrameExtractor, extract_to_store
from datamodules.extractors.midi_descriptors import DESCRIPTOR_NAMES
from datamodules.store import EmbeddingStore
from tests.datamodules.extractors.test_midi_extractor import write_midi


def describe(path: Path) -> dict[str, float]:
    _, _, values = MidiFrameExtractor().extract_segment(path)
    assert values.shape == (len(DESCRIPTOR_NAMES),) and np.isfinite(values).all()
    return dict(zip(DESCRIPTOR_NAMES, values.tolist(), strict=True))


class TestMidiDescriptors:
    def test_three_notes_by_hand(self, tmp_path: Path) -> None:
        """Notes at 0, 1 and 3 s (key down 0.5, 0.5, 1.0 s), velocities 40/80/120, pedal down from 1.0 to 2.0 s:
        the pedal holds note 2 (released at 1.5 s) to 2.0 s; the span is 0 to 4 s."""
        notes = [(60, 40, 0.0, 0.5), (64, 80, 1.0, 1.5), (67, 120, 3.0, 4.0)]
        values = describe(write_midi(tmp_path / "a_4bars_1_1.mid", notes=notes,
                                     controls=[(64, 127, 1.0), (64, 0, 2.0)]))
        velocities = np.array([40, 80, 120]) / 127
        assert values["duration_s"] == pytest.approx(4.0)
        assert values["notes_per_s"] == pytest.approx(3 / 4.0)
        assert values["velocity_mean"] == pytest.approx(velocities.mean())
        assert values["velocity_sd"] == pytest.approx(velocities.std())
        assert values["velocity_p90_minus_p10"] == pytest.approx(np.percentile(velocities, 90)
                                                                 - np.percentile(velocities, 10))
        assert values["sustain_fraction"] == pytest.approx(1.0 / 4.0)
        assert values["soft_mean"] == 0.0
        assert values["key_down_mean_s"] == pytest.approx((0.5 + 0.5 + 1.0) / 3)
        intervals = np.array([1.0, 2.0])
        assert values["ioi_cv"] == pytest.approx(intervals.std() / intervals.mean())
        # sounding: note 1 frames 0-12, note 2 frames 25-49 (pedal), note 3 frames 75-99: 63 of 100 frames
        assert values["polyphony_mean"] == pytest.approx((13 + 25 + 25) / 100)

    def test_chord_counts_once_in_timing_and_soft_pedal_is_averaged(self, tmp_path: Path) -> None:
        notes = [(60, 64, 0.0, 1.0), (64, 64, 0.01, 1.0), (67, 64, 1.0, 2.0)]
        values = describe(write_midi(tmp_path / "a_4bars_1_1.mid", notes=notes, controls=[(67, 127, 1.0)]))
        assert values["ioi_cv"] == 0.0  # two clusters: one interval, no spread
        assert values["soft_mean"] == pytest.approx(0.5)  # soft pedal down for the second half of the span
        assert values["velocity_p90_minus_p10"] == 0.0

    def test_stored_beside_the_frames(self, tmp_path: Path) -> None:
        files = {f"a_4bars_{player}_1": write_midi(tmp_path / f"a_4bars_{player}_1.mid",
                                                   notes=[(60, 30 * player, 0.0, 0.5 * player)])
                 for player in (1, 2, 3)}
        extract_to_store(MidiFrameExtractor(), files, tmp_path / "store")
        store = EmbeddingStore(tmp_path / "store")
        assert store.descriptor_names == DESCRIPTOR_NAMES
        for row, key in enumerate(store.keys):
            np.testing.assert_array_equal(store.descriptors()[row], MidiFrameExtractor().extract_segment(files[key])[2])
