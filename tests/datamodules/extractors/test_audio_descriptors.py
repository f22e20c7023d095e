"""Audio descriptors against hand-computed values: a sine's level and centroid, counted onset peaks."""

from __future__ import annotations

import numpy as np
import pytest

from datamodules.extractors.audio_descriptors import (
    AUDIO_DESCRIPTOR_NAMES,
    audio_descriptors,
    frame_rms_db,
    onset_count,
)

RATE = 22050


def test_a_sine_has_its_level_and_its_frequency_as_centroid() -> None:
    t = np.arange(2 * RATE) / RATE
    audio = 0.5 * np.sin(2 * np.pi * 1000.0 * t)
    values = dict(zip(AUDIO_DESCRIPTOR_NAMES, audio_descriptors(audio, RATE, np.zeros((10, 88))), strict=True))
    assert values["duration_s"] == pytest.approx(2.0)
    assert values["rms_db_mean"] == pytest.approx(20 * np.log10(0.5 / np.sqrt(2)), abs=0.01)  # -9.03 dB
    assert (values["rms_db_sd"] == pytest.approx(0.0, abs=0.01)
            and values["rms_db_p90_p10"] == pytest.approx(0, abs=0.02))
    assert values["centroid_hz"] == pytest.approx(1000.0, rel=0.02)
    assert values["onsets_per_s"] == 0.0


def test_loudness_range_of_a_step_and_the_floor() -> None:
    audio = np.concatenate([np.zeros(RATE), np.full(RATE, 0.1)])  # 1 s of silence, then 1 s at -20 dB
    levels = frame_rms_db(audio, RATE)
    assert levels.size == 50 and levels.min() == -80.0 and levels.max() == pytest.approx(-20.0)
    values = audio_descriptors(audio, RATE, np.zeros((5, 88)))
    assert values[1] == pytest.approx(-50.0, abs=0.01) and values[3] == pytest.approx(60.0, abs=0.01)


def test_onsets_are_peaks_at_or_above_one_half() -> None:
    onsets = np.zeros((8, 88))
    onsets[[1, 2, 3], 10] = [0.6, 0.9, 0.7]  # one peak
    onsets[[5, 6], 20] = [0.8, 0.8]  # a plateau: one onset
    onsets[4, 30] = 0.4  # below threshold
    onsets[[0, 7], 40] = 0.5  # peaks at both edges
    assert onset_count(onsets) == 4
