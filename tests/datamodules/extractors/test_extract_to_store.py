"""Tests of datamodules/extractors/base.py: extract_to_store, its report and the no-op rule."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pretty_midi
import pytest

from datamodules.extractors import MidiFrameExtractor, extract_to_store, midi_files
from datamodules.store import EmbeddingStore
from datamodules.store_format import MANIFEST_FILE


def write_midi(path: Path, pitch: int, end_s: float) -> Path:
    midi = pretty_midi.PrettyMIDI(resolution=1000, initial_tempo=120.0)
    piano = pretty_midi.Instrument(program=0)
    piano.notes = [pretty_midi.Note(velocity=80, pitch=pitch, start=0.1, end=end_s)]
    midi.instruments.append(piano)
    midi.write(str(path))
    return path


@pytest.fixture
def midi_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "midi"
    directory.mkdir()
    write_midi(directory / "b_4bars_1_1.mid", 60, 1.0)
    write_midi(directory / " a_4bars_1_1.mid", 72, 2.0)
    (directory / "corrupt_4bars_1_1.mid").write_bytes(b"\x00garbage")
    empty = pretty_midi.PrettyMIDI()
    empty.instruments.append(pretty_midi.Instrument(program=0))
    empty.write(str(directory / "empty_4bars_1_1.mid"))
    return directory


class TestExtractToStore:
    def test_round_trip_and_skips(self, midi_dir, tmp_path):
        files = midi_files(midi_dir)
        extractor = MidiFrameExtractor()
        report = extract_to_store(extractor, files, tmp_path / "store")
        assert (report.n_files, report.n_extracted, report.n_skipped, report.reused) == (4, 2, 2, False)
        assert report.n_frames == 50 + 25 and report.n_features == 200
        reasons = {item.key: item.reason for item in report.skipped}
        assert reasons["corrupt_4bars_1_1"].startswith("unreadable MIDI")
        assert reasons["empty_4bars_1_1"].startswith("no notes")
        store = EmbeddingStore(tmp_path / "store")
        assert store.keys == ("a_4bars_1_1", "b_4bars_1_1") and store.frame_rate_hz == 25.0
        assert store.manifest["source"]["feature_names"] == list(extractor.feature_names)
        for key in store.keys:
            expected = extractor.extract(files[key]).astype(np.float16)
            np.testing.assert_array_equal(store.frames(store.row(key)), expected)
        assert report.to_dict()["n_skipped"] == 2

    def test_rerun_is_noop(self, midi_dir, tmp_path):
        files = midi_files(midi_dir)
        extract_to_store(MidiFrameExtractor(), files, tmp_path / "store")
        before = (tmp_path / "store" / MANIFEST_FILE).stat().st_mtime_ns
        progress = []
        report = extract_to_store(
            MidiFrameExtractor(), files, tmp_path / "store", progress=lambda *call: progress.append(call)
        )
        assert report.reused and progress == [] and report.n_extracted == 2 and report.n_frames == 75
        assert (tmp_path / "store" / MANIFEST_FILE).stat().st_mtime_ns == before
        assert {item.key: item.reason[:9] for item in report.skipped} == {
            "corrupt_4bars_1_1": "unreadabl", "empty_4bars_1_1": "no notes "}

    def test_changed_input_or_settings_rebuild(self, midi_dir, tmp_path):
        files = midi_files(midi_dir)
        extract_to_store(MidiFrameExtractor(), files, tmp_path / "store")
        assert not extract_to_store(MidiFrameExtractor(decay_s=2.0), files, tmp_path / "store").reused
        write_midi(files["b_4bars_1_1"], 61, 1.0)
        report = extract_to_store(MidiFrameExtractor(decay_s=2.0), files, tmp_path / "store")
        assert not report.reused
        store = EmbeddingStore(tmp_path / "store")
        assert store.frames(store.row("b_4bars_1_1"))[5, 61 - 21] > 0

    def test_progress_called_per_file(self, midi_dir, tmp_path):
        calls = []
        extract_to_store(MidiFrameExtractor(), midi_files(midi_dir), tmp_path / "store",
                         progress=lambda index, total, key: calls.append((index, total, key)))
        assert [call[:2] for call in calls] == [(1, 4), (2, 4), (3, 4), (4, 4)]

    def test_all_skipped(self, midi_dir, tmp_path):
        files = {key: path for key, path in midi_files(midi_dir).items() if key.startswith(("corrupt", "empty"))}
        with pytest.raises(ValueError, match="none of the 2 files yielded frames"):
            extract_to_store(MidiFrameExtractor(), files, tmp_path / "store")
        assert not (tmp_path / "store").exists() and list(tmp_path.iterdir()) == [midi_dir]

    def test_no_files(self, tmp_path):
        with pytest.raises(ValueError, match="files is empty"):
            extract_to_store(MidiFrameExtractor(), {}, tmp_path / "store")

    def test_missing_file(self, tmp_path):
        with pytest.raises(FileNotFoundError, match="input of key 'x_4bars_1_1'"):
            extract_to_store(MidiFrameExtractor(), {"x_4bars_1_1": tmp_path / "x.mid"}, tmp_path / "store")
