"""Tests of benchmarks/extract.py: building an extracted cache that open_cache accepts."""

from __future__ import annotations

import json
from pathlib import Path

import pretty_midi

from benchmarks.extract import main
from datamodules.cache import open_cache

KEYS = ["w_4bars_1_1", "w_4bars_2_1", "w_4bars_1_2", "w_4bars_2_2"]


def write_inputs(tmp_path: Path) -> tuple[Path, Path]:
    midi_dir, labels_dir = tmp_path / "midi", tmp_path / "labels"
    midi_dir.mkdir()
    labels_dir.mkdir()
    for index, key in enumerate(KEYS[:3] + ["unlabelled_4bars_1_1"]):
        midi = pretty_midi.PrettyMIDI()
        piano = pretty_midi.Instrument(program=0)
        piano.notes = [pretty_midi.Note(velocity=80, pitch=60 + index, start=0.0, end=0.5 + index / 10)]
        midi.instruments.append(piano)
        midi.write(str(midi_dir / f"{' ' if index == 0 else ''}{key}.mid"))
    labels = {key: [0.5] * 19 for key in KEYS}
    folds = [{"train": KEYS[:2], "val": KEYS[2:]}, {"train": KEYS[2:], "val": KEYS[:2]}]
    (labels_dir / "labels.json").write_text(json.dumps(labels))
    (labels_dir / "folds.json").write_text(json.dumps(folds))
    return midi_dir, labels_dir


def test_builds_cache(tmp_path, capsys):
    midi_dir, labels_dir = write_inputs(tmp_path)
    out = tmp_path / "cache"
    argv = ["midi", "--midi-dir", str(midi_dir), "--labels-dir", str(labels_dir), "--out", str(out)]
    assert main(argv) == 0
    report = json.loads((out / "extraction_report.json").read_text())
    assert report["extraction"]["n_extracted"] == 4
    assert report["labelled_without_input"] == ["w_4bars_2_2"]
    assert report["inputs_without_labels"] == ["unlabelled_4bars_1_1"]
    cache = open_cache(out)
    assert cache.keys == tuple(KEYS[:3]) and cache.store.dim == 200
    assert "labelled without input: 1 (w_4bars_2_2)" in capsys.readouterr().out
    assert main([*argv, "--limit", "2"]) == 0
    assert open_cache(out).store.keys == ("unlabelled_4bars_1_1", "w_4bars_1_1")


def test_extractor_keywords_from_the_command_line(tmp_path, capsys):
    midi_dir, labels_dir = write_inputs(tmp_path)
    argv = ["midi", "--midi-dir", str(midi_dir), "--labels-dir", str(labels_dir), "--out", str(tmp_path / "cache")]
    assert main([*argv, "--set", "key_columns=false", "--set", "decay_s=0.5"]) == 0
    store = open_cache(tmp_path / "cache").store
    assert store.dim == 24 and store.manifest["source"]["extractor"]["decay_s"] == 0.5
    assert main([*argv, "--set", "bogus=1"]) == 2
    assert "extractor 'midi' has no parameter bogus; expected one of ['chord_tolerance_s'" in capsys.readouterr().err
    assert main([*argv, "--set", "key_columns=maybe"]) == 2
    assert "key_columns='maybe': expected true or false" in capsys.readouterr().err


def test_render_without_a_soundfont_names_the_packages(tmp_path, capsys):
    midi_dir, _ = write_inputs(tmp_path)
    argv = ["render", "--midi-dir", str(midi_dir), "--soundfont", str(tmp_path / "none.sf2"),
            "--out", str(tmp_path / "wav")]
    assert main(argv) == 2
    assert "SoundFont not found; install one with apt-get install fluid-soundfont-gm" in capsys.readouterr().err


def test_an_unlabelled_folder_becomes_a_store_for_the_downstream_sections(tmp_path):
    """Without --labels-dir only the store is written, keyed by file stem; open_embeddings reads the folder."""
    from datamodules.embeddings import open_embeddings

    midi_dir, _ = write_inputs(tmp_path)
    out = tmp_path / "masterclass"
    assert main(["midi", "--midi-dir", str(midi_dir), "--out", str(out)]) == 0
    assert (not (out / "labels.json").exists()
            and "alignment" not in json.loads((out / "extraction_report.json").read_text()))
    store = open_embeddings(out, tmp_path / "unused")
    assert store.keys == ("unlabelled_4bars_1_1", "w_4bars_1_1", "w_4bars_1_2", "w_4bars_2_1")
