"""Tests for datamodules/inputs/competition.py: validation and deduplication of competition recordings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from datamodules.errors import DataContractError
from datamodules.inputs.competition import load_recordings


def _recording(recording_id: str, placement, **extra) -> dict:
    record = {"recording_id": recording_id, "competition": "chopin", "edition": 2021, "round": "final",
              "placement": placement, "performer": recording_id.upper()}
    record.update(extra)
    return record


def _write(tmp_path: Path, records: list) -> Path:
    path = tmp_path / "recordings.jsonl"
    lines = [record if isinstance(record, str) else json.dumps(record) for record in records]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


class TestLoadRecordings:
    def test_identical_duplicates_dropped_and_counted(self, tmp_path):
        records = [_recording("r1", 1), _recording("r2", 7), _recording("r1", 1), "", _recording("r2", 7),
                   _recording("r3", 2)]
        table = load_recordings(_write(tmp_path, records))
        assert table.recording_ids == ("r1", "r2", "r3")
        assert table.placements.tolist() == [1, 7, 2] and table.line_numbers.tolist() == [1, 2, 6]
        assert table.duplicate_lines == ((3, 1), (5, 2))
        assert table.dedup_report() | {"source": ""} == {
            "source": "", "n_lines": 5, "n_recordings": 3, "n_duplicates_dropped": 2,
            "duplicate_lines": [[3, 1], [5, 2]]}
        assert table.placements_for(["r3", "r1"]).tolist() == [2, 1]
        assert table.performers[0] == "R1" and table.editions.tolist() == [2021] * 3

    def test_key_order_does_not_make_a_conflict(self, tmp_path):
        record = _recording("r1", 1)
        reordered = dict(reversed(list(record.items())))
        assert load_recordings(_write(tmp_path, [record, reordered])).n_duplicates == 1

    def test_conflicting_duplicate_names_both_lines(self, tmp_path):
        path = _write(tmp_path, [_recording("r1", 1), _recording("r2", 3), _recording("r1", 4)])
        with pytest.raises(DataContractError, match=r"key 'r1': lines 1 and 3 share recording_id but differ in "
                                                     r"\['placement'\]"):
            load_recordings(path)

    @pytest.mark.parametrize(
        ("line", "match"),
        [
            (_recording("r", 0), r"key 'placement': line 1: recording 'r' has placement 0, expected a positive"),
            (_recording("r", 1.0), r"has placement 1.0"),
            (_recording("r", True), r"has placement True"),
            (_recording("r", None), r"has placement None"),
            (_recording("", 1), r"key 'recording_id': line 1: is ''"),
            ("[]", r"line 1: expected a JSON object, got list"),
            ("{oops", r"line 1: unreadable JSON"),
            ('{"recording_id": "r", "placement": 1, "placement": 2}', r"key 'placement': line 1: appears twice in one"),
        ],
    )
    def test_contract_errors(self, tmp_path, line, match):
        with pytest.raises(DataContractError, match=match):
            load_recordings(_write(tmp_path, [line]))

    def test_missing_id_lookup(self, tmp_path):
        table = load_recordings(_write(tmp_path, [_recording("r1", 1)]))
        with pytest.raises(KeyError, match="recording_id 'zz' not found"):
            table.placements_for(["zz"])
        with pytest.raises(FileNotFoundError, match="file not found"):
            load_recordings(tmp_path / "absent.jsonl")


@pytest.mark.real_data
def test_real_recordings_dedupe(real_data_dir):
    path = real_data_dir / "crescendai" / "competition" / "recordings.jsonl"
    if not path.is_file():
        pytest.skip(f"{path} not present")
    table = load_recordings(path)
    assert (table.n_lines, table.n_recordings, table.n_duplicates) == (66, 33, 33)
    assert table.placements.min() == 1
