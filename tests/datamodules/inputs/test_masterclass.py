"""Tests for datamodules/inputs/masterclass.py: moment validation and STOP/CONTINUE segmentation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from datamodules.errors import DataContractError
from datamodules.inputs.masterclass import load_moments, segment_key, segment_moments


def _moment(moment_id, video_id, stop, playing, feedback, **extra) -> dict:
    record = {"moment_id": moment_id, "video_id": video_id, "stop_timestamp": stop,
              "playing_before_start": playing[0], "playing_before_end": playing[1],
              "feedback_start": feedback[0], "feedback_end": feedback[1], "musical_dimension": "dynamics"}
    record.update(extra)
    return record


def _write(tmp_path: Path, records: list, name: str = "moments.jsonl") -> Path:
    path = tmp_path / name
    lines = [record if isinstance(record, str) else json.dumps(record) for record in records]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# Video "b" is listed first and out of stop order; video "a" has a duplicate window and gaps of each kind.
_RECORDS = [
    _moment("b2", "b", 100.0, (80.0, 95.0), (100.0, 110.0)),
    _moment("b1", "b", 50.0, (30.0, 45.0), (50.0, 60.0)),  # gap 60 -> 80: CONTINUE 20 s
    _moment("a1", "a", 20.0, (10.0, 18.0), (20.0, 30.0)),  # gap 30 -> 33: 3 s, dropped
    _moment("a2", "a", 40.0, (33.0, 38.0), (40.0, 50.0)),  # gap 50 -> 33 (a3 repeats a2's window): negative
    _moment("a3", "a", 52.0, (33.0, 38.0), (52.0, 60.0)),  # duplicate window; gap 60 -> 65: exactly 5 s, kept
    _moment("a4", "a", 70.0, (65.0, 68.0), (70.0, 80.0)),  # last of video: no CONTINUE candidate
    _moment("a5", "c", 9.0, (None, None), (9.0, 12.0)),  # no playing window
    _moment("a6", "c", 19.0, (15.0, 15.0), (19.0, 22.0)),  # zero-length window; gap 12 -> 15 below 5 s
]


class TestLoadMoments:
    def test_fields_and_order(self, tmp_path):
        table = load_moments(_write(tmp_path, [*_RECORDS[:2], "", *_RECORDS[2:]]))
        assert len(table) == 8 and table.n_blank_lines == 1
        assert table.moment_ids[:3] == ("b2", "b1", "a1")
        assert table.line_numbers.tolist() == [1, 2, 4, 5, 6, 7, 8, 9]
        assert np.isnan(table.playing_start_s[6]) and table.stop_s[0] == 100.0
        assert table.musical_dimensions[0] == "dynamics"

    def test_absent_window_is_nan_not_error(self, tmp_path):
        record = _moment("m", "v", 5.0, (1.0, 2.0), (5.0, 6.0))
        del record["playing_before_start"], record["playing_before_end"]
        table = load_moments(_write(tmp_path, [record]))
        assert np.isnan(table.playing_start_s[0]) and np.isnan(table.playing_end_s[0])

    @pytest.mark.parametrize(
        ("line", "match"),
        [
            ("{not json", r"line 2: unreadable JSON"),
            ("[1, 2]", r"line 2: expected a JSON object, got list"),
            ('{"moment_id": "m", "video_id": "v", "video_id": "w"}',
             r"key 'video_id': line 2: appears twice in one JSON"),
            (_moment("", "v", 1.0, (0, 1), (1, 2)), r"key 'moment_id': line 2: is '', expected a non-empty string"),
            (_moment("m", 7, 1.0, (0, 1), (1, 2)), r"key 'video_id': line 2: is 7"),
            (_moment("m", "v", None, (0, 1), (1, 2)), r"key 'stop_timestamp': line 2: missing or null"),
            (_moment("m", "v", "12s", (0, 1), (1, 2)), r"key 'stop_timestamp': line 2: is '12s', expected a number"),
            (_moment("m", "v", 3.0, (True, 1), (1, 2)), r"key 'playing_before_start': line 2: is True"),
            (_moment("m", "v", 3.0, (-1.0, 1), (1, 2)), r"key 'playing_before_start': line 2: is -1.0"),
            (_moment("m", "v", 3.0, (2.0, 1.0), (3, 4)), r"key 'playing_before_end': line 2: playing_before_end=1.0 "
                                                          r"is before playing_before_start=2.0"),
            (_moment("m", "v", 3.0, (0, 1), (5.0, 4.0)), r"key 'feedback_end': line 2: feedback_end=4.0"),
            (_moment("x", "v", 3.0, (0, 1), (3, 4)), r"key 'x': line 2: moment_id already used on line 1"),
        ],
    )
    def test_contract_errors(self, tmp_path, line, match):
        path = _write(tmp_path, [_moment("x", "v", 1.0, (0, 1), (1, 2)), line])
        with pytest.raises(DataContractError, match=match) as error:
            load_moments(path)
        assert str(path) in str(error.value)

    def test_missing_and_empty_file(self, tmp_path):
        with pytest.raises(FileNotFoundError, match="file not found"):
            load_moments(tmp_path / "absent.jsonl")
        with pytest.raises(DataContractError, match="no moments"):
            load_moments(_write(tmp_path, [""]))


class TestSegmentMoments:
    @pytest.fixture
    def segments(self, tmp_path):
        return segment_moments(load_moments(_write(tmp_path, _RECORDS)))

    def test_segments_sorted_with_labels(self, segments):
        expected = [
            ("a@10.00-18.00", 1), ("a@33.00-38.00", 1), ("a@60.00-65.00", 0), ("a@65.00-68.00", 1),
            ("b@30.00-45.00", 1), ("b@60.00-80.00", 0), ("b@80.00-95.00", 1),
        ]
        assert list(zip(segments.keys, segments.labels.tolist(), strict=True)) == expected
        assert (segments.n_segments, segments.n_stop, segments.n_continue) == (7, 5, 2)
        assert segments.moment_ids[2] == "a3" and segments.moment_ids[5] == "b1"
        np.testing.assert_allclose(segments.duration_s, [8, 5, 5, 3, 15, 20, 15])

    def test_skipped_reasons(self, segments):
        reasons = {(item.moment_id, item.kind, item.reason) for item in segments.skipped}
        assert reasons == {
            ("a1", "continue", "gap_below_min"), ("a2", "continue", "negative_gap"),
            ("a3", "stop", "duplicate_window"), ("a5", "stop", "no_playing_window"),
            ("a6", "stop", "zero_length_window"), ("a5", "continue", "gap_below_min"),
        }
        assert segments.duplicate_windows == (("a3", "a2"),)
        assert segments.skipped_counts()["continue/gap_below_min"] == 2

    def test_to_dict_is_json(self, segments):
        payload = json.loads(json.dumps(segments.to_dict(), allow_nan=False))
        assert payload["n_skipped"] == 6 and payload["n_videos"] == 2

    def test_gap_overlapping_a_stop_window(self, tmp_path):
        records = [
            _moment("m1", "v", 10.0, (0.0, 8.0), (10.0, 12.0)),
            _moment("m2", "v", 40.0, (30.0, 38.0), (40.0, 41.0)),
            _moment("m3", "v", 41.0, (14.0, 20.0), (41.0, 42.0)),  # window lies inside the m1 -> m2 gap
        ]
        segments = segment_moments(load_moments(_write(tmp_path, records)))
        overlap = [item for item in segments.skipped if item.reason == "overlaps_stop_window"]
        assert [item.moment_id for item in overlap] == ["m1"]
        assert segments.n_continue == 0

    def test_missing_feedback_end_and_next_window(self, tmp_path):
        records = [_moment("m1", "v", 10.0, (0.0, 8.0), (10.0, None)),
                   _moment("m2", "v", 40.0, (30.0, 38.0), (40.0, 50.0)),
                   _moment("m3", "v", 60.0, (None, 58.0), (60.0, 70.0))]
        segments = segment_moments(load_moments(_write(tmp_path, records)))
        assert [(item.moment_id, item.reason) for item in segments.skipped] == [
            ("m3", "no_playing_window"), ("m1", "no_feedback_end"), ("m2", "next_has_no_playing_window")]

    def test_min_continue_parameter(self, tmp_path):
        segments = segment_moments(load_moments(_write(tmp_path, _RECORDS)), min_continue_s=2.0)
        assert "a@30.00-33.00" in segments.keys
        with pytest.raises(ValueError, match=r"min_continue_s=-1.0, expected a finite number"):
            segment_moments(load_moments(_write(tmp_path, _RECORDS)), min_continue_s=-1.0)

    def test_key_convention(self):
        assert segment_key("vid", 533.2799987792969, 549.8999938964844) == "vid@533.28-549.90"


@pytest.mark.real_data
def test_real_moments(real_data_dir):
    path = real_data_dir / "crescendai" / "masterclass" / "all_moments.jsonl"
    if not path.is_file():
        pytest.skip(f"{path} not present")
    moments = load_moments(path)
    segments = segment_moments(moments)
    assert len(moments) == 65
    assert (segments.n_segments, segments.n_stop, segments.n_continue) == (98, 61, 37)
    assert segments.skipped_counts() == {
        "continue/gap_below_min": 2, "continue/negative_gap": 21, "stop/duplicate_window": 4}
    assert len(set(segments.video_ids)) == 5 and len(set(segments.keys)) == segments.n_segments
