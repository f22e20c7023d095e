"""``python -m benchmarks.extract`` with bad inputs: each case names the file and the problem, and loses nothing."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pretty_midi
import pytest

from benchmarks import extract
from tests.benchmarks.test_bad_inputs import GOOD_ROW, assert_clear_error


def _midi(path: Path, pitch: int = 60) -> None:
    midi = pretty_midi.PrettyMIDI()
    piano = pretty_midi.Instrument(program=0)
    piano.notes = [pretty_midi.Note(velocity=80, pitch=pitch, start=0.0, end=0.5)]
    midi.instruments.append(piano)
    midi.write(str(path))


MIDI_KEYS = ["w_4bars_1_1", "w_4bars_2_1", "w_4bars_1_2", "w_4bars_2_2"]


@pytest.fixture
def midi_inputs(tmp_path: Path) -> tuple[Path, Path]:
    midi_dir, labels_dir = tmp_path / "midi", tmp_path / "labels"
    midi_dir.mkdir()
    labels_dir.mkdir()
    for index, key in enumerate(MIDI_KEYS):
        _midi(midi_dir / f"{key}.mid", 60 + index)
    (labels_dir / "labels.json").write_text(json.dumps({key: GOOD_ROW for key in MIDI_KEYS}))
    folds = [{"train": MIDI_KEYS[:2], "val": MIDI_KEYS[2:]}, {"train": MIDI_KEYS[2:], "val": MIDI_KEYS[:2]}]
    (labels_dir / "folds.json").write_text(json.dumps(folds))
    return midi_dir, labels_dir


def run_extract(midi_inputs, capsys, extractor: str = "midi") -> tuple[int, str, str]:
    midi_dir, labels_dir = midi_inputs
    capsys.readouterr()
    code = extract.main([extractor, "--midi-dir", str(midi_dir), "--labels-dir", str(labels_dir),
                         "--out", str(midi_dir.parent / "out")])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


class TestMidiExtraction:
    @pytest.mark.parametrize(("content", "reason"), [
        (lambda data: data[:30], r"unreadable MIDI \(EOFError"),
        (lambda data: b"", r"unreadable MIDI \(EOFError"),
        (lambda data: b"not a MIDI file", r"unreadable MIDI \(OSError: MThd not found"),
        (None, r"no notes"),
    ], ids=["truncated", "empty", "not_midi", "no_notes"])
    def test_unusable_file_is_skipped_and_counted(self, midi_inputs, capsys, content, reason) -> None:
        bad = midi_inputs[0] / "w_4bars_1_1.mid"
        if content is None:
            pretty_midi.PrettyMIDI().write(str(bad))
        else:
            bad.write_bytes(content(bad.read_bytes()))
        code, out, error = run_extract(midi_inputs, capsys)
        assert code == 0, error
        report = json.loads((midi_inputs[0].parent / "out" / "extraction_report.json").read_text())
        assert report["extraction"]["n_skipped"] == 1 and report["extraction"]["n_extracted"] == 3
        assert report["extraction"]["skipped"][0]["key"] == "w_4bars_1_1"
        assert re.search(reason, report["extraction"]["skipped"][0]["reason"])
        assert report["alignment"]["labelled_without_embeddings"] == ["w_4bars_1_1"]
        assert "skipped 1 files" in out

    @pytest.mark.parametrize(("mutate", "file", "parts"), [
        (lambda midi, labels: [path.write_bytes(b"") for path in midi.iterdir()], "store",
         [r"none of the 4 files yielded frames"]),
        (lambda midi, labels: (labels / "labels.json").unlink(), "labels.json", [r"file not found"]),
        (lambda midi, labels: (labels / "labels.json").write_text(json.dumps({k: [float("nan")] * 19
                                                                               for k in MIDI_KEYS})),
         "labels.json", [r"key 'w_4bars_1_1': value 0 is nan"]),
        (lambda midi, labels: (labels / "folds.json").write_text(json.dumps([{"train": MIDI_KEYS[:2],
                                                                              "val": MIDI_KEYS[1:]}])),
         "folds.json", [r"key 'w_4bars_2_1': is in both train and val of fold 0"]),
        (lambda midi, labels: shutil.copy(midi / "w_4bars_1_1.mid", midi / " w_4bars_1_1.MID"), "midi",
         [r"files ' w_4bars_1_1\.MID' and 'w_4bars_1_1\.mid' both map to key 'w_4bars_1_1'"]),
        (lambda midi, labels: [path.unlink() for path in midi.iterdir()], "midi", [r"no input files"]),
        (lambda midi, labels: shutil.rmtree(midi), "midi", [r"input directory not found"]),
    ], ids=["all_unusable", "no_labels", "nan_labels", "overlapping_folds", "two_files_one_key", "no_midi",
            "no_directory"])
    def test_clear_error(self, midi_inputs, capsys, mutate, file, parts) -> None:
        mutate(*midi_inputs)
        code, _, error = run_extract(midi_inputs, capsys)
        assert_clear_error(code, error, file, *parts)

    def test_unknown_extractor(self, midi_inputs, capsys) -> None:
        code, _, error = run_extract(midi_inputs, capsys, extractor="audio")
        assert code == 2 and error.strip() == ("error: extractor 'audio' is unknown; expected one of "
                                               "['basic-pitch', 'midi', 'muq']")
