"""The piece-invariant MIDI columns against values worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from datamodules.extractors.midi_articulation import (
    CLUSTER_NAMES,
    band_names,
    cluster_features,
    keys_down,
    register_bands,
)

RATE = 25.0


class TestMidiArticulation:
    def test_band_names_cover_the_keyboard(self) -> None:
        names = band_names()
        assert len(names) == 8 and names[0] == "band_A0_G1" and names[-1] == "band_D7_C8"

    def test_register_bands_sum_their_eleven_keys(self) -> None:
        sounding = np.zeros((2, 88))
        sounding[0, [0, 10, 11]] = [0.5, 0.25, 1.0]
        sounding[1, 87] = 0.75
        np.testing.assert_array_equal(register_bands(sounding),
                                      [[0.75, 1, 0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0, 0, 0.75]])

    def test_keys_down_ignore_the_pedal(self) -> None:
        # notes down 0.0-0.2 s (frames 0-4) and 0.1-0.3 s (frames 2-7)
        counts = keys_down(np.array([0.0, 0.1]), np.array([0.2, 0.3]), 10, RATE)
        np.testing.assert_array_equal(counts, [1, 1, 2, 2, 2, 1, 1, 1, 0, 0])

    def test_clusters_by_hand(self) -> None:
        """A chord at 0 s (velocities 0.4, 0.6, released at 0.8 and 1.0 s), a note at 1.0 s (0.7, released 1.25 s),
        a note at 1.5 s (0.2, released 2.0 s): intervals 1.0 and 0.5 s."""
        onsets = np.array([0.0, 0.01, 1.0, 1.5])
        offsets = np.array([0.8, 1.0, 1.25, 2.0])
        velocities = np.array([0.4, 0.6, 0.7, 0.2])
        values = cluster_features(onsets, offsets, velocities, 60, RATE, chord_tolerance_s=0.05)
        expected = {  # per cluster: overlap, articulation ratio, log interval ratio, velocity change
            0: [0.0, ((0.8 + 0.99) / 2) / 1.0, 0.0, 0.0],
            1: [1.0 - 1.0, 0.25 / 0.5, 0.0, 0.7 - 0.5],
            2: [1.25 - 1.5, 0.0, 0.0, 0.2 - 0.7],
        }
        expected[1][2] = np.log(0.5 / 1.0)
        # frame centres: cluster 0 holds frames 0-24, cluster 1 frames 25-37, cluster 2 frames 38 on
        for frames, cluster in ((range(0, 25), 0), (range(25, 37), 1), (range(38, 60), 2)):
            np.testing.assert_allclose(values[list(frames)], np.tile(expected[cluster], (len(frames), 1)), atol=1e-12)
        assert values.shape == (60, len(CLUSTER_NAMES))

    def test_zero_before_the_first_cluster_and_clipped(self) -> None:
        values = cluster_features(np.array([0.4, 3.0]), np.array([0.45, 3.1]), np.array([0.5, 0.5]), 100, RATE, 0.05)
        assert not values[:10].any()  # before 0.4 s
        assert values[90, 0] == -1.0  # the gap of 2.55 s is clipped to -1
        assert values[20, 1] == pytest.approx(0.05 / 2.6)
