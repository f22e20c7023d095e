"""Inputs that are usable in part, through ``python -m benchmarks.run``: the run finishes and ``audit.json`` counts
and names what was left out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from datamodules.inputs.competition import load_recordings
from datamodules.inputs.masterclass import load_moments, segment_moments
from datamodules.inputs.ratings import load_ratings
from datamodules.synthetic import generate_synthetic_cache
from tests.benchmarks.test_bad_inputs import GOOD_ROW, NAMES, SMALL_SPEC, quality_file, run_cli


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    """A fresh small synthetic cache, to break in part."""
    return generate_synthetic_cache(tmp_path / "cache", SMALL_SPEC, seed=0)


class TestCountedExclusions:
    """Inputs that are usable in part: the run finishes and ``audit.json`` counts and names what was left out."""

    def test_exclusions_are_counted(self, cache, capsys) -> None:
        labels = json.loads((cache / "labels.json").read_text())
        dropped_keys = list(labels)[-3:]  # labelled keys without embeddings (in a fold or held out)
        embeddings = torch.load(cache / "muq_embeddings.pt")
        embeddings = {key: value for key, value in embeddings.items() if key not in dropped_keys}
        embeddings["Extra_4bars_1_1"] = torch.ones((4, 16))  # embedded, not labelled
        torch.save(embeddings, cache / "muq_embeddings.pt")

        ratings = (cache / "total_2rounds.csv").read_text().splitlines()
        n_dropped_before = load_ratings(cache / "total_2rounds.csv").report.n_dropped_rows
        off_scale = ratings[1].split(",")
        off_scale[3] = "9"  # a rating above 7 drops its row
        unlabelled = ratings[1].split(",")
        unlabelled[2] = "Unlabelled_4bars_1_1.wav"
        rows = [*ratings, ",".join(off_scale), ",".join(unlabelled)]
        (cache / "total_2rounds.csv").write_text("\n".join(rows) + "\n")

        records = (cache / "recordings.jsonl").read_text()
        n_duplicates_before = load_recordings(cache / "recordings.jsonl").n_duplicates
        (cache / "recordings.jsonl").write_text(records + records.splitlines()[0] + "\n")  # an identical duplicate

        segments = segment_moments(load_moments(cache / "all_moments.jsonl")).keys
        recordings = load_recordings(cache / "recordings.jsonl").recording_ids
        masterclass = torch.load(cache / "masterclass_embeddings.pt")
        del masterclass[segments[2]]  # a segment without embeddings ...
        torch.save(masterclass, cache / "masterclass_embeddings.pt")
        predicted = [*segments[2:], *recordings[1:], "unknown_id"]  # ... and two others without predictions
        extra = quality_file({"dimensions": NAMES, "predictions": {key: GOOD_ROW for key in predicted}})(cache)

        code, error = run_cli(cache, "labels,probing,downstream", extra, capsys)
        assert code == 0, error[-3000:]
        audit = json.loads((cache.parent / "out" / "audit.json").read_text())
        alignment = audit["run"]["alignment"]
        assert alignment["labelled_without_embeddings"] == sorted(dropped_keys)
        assert alignment["embedded_without_labels"] == ["Extra_4bars_1_1"]
        assert sum(alignment["n_fold_keys_without_embeddings"]) + alignment["n_labelled_in_no_fold"] >= 3
        reliability = audit["reliability"]
        assert reliability["exclusions"]["n_dropped_rows"] == n_dropped_before + 1
        assert reliability["key_alignment"]["rated_keys_without_labels"] == ["Unlabelled_4bars_1_1"]
        stop = audit["stop_prediction"]["exclusions"]
        assert stop["n_segments_without_features"] == 3
        assert sorted(stop["segments_without_features"]) == sorted(segments[:3])
        competition = audit["competition_validation"]
        assert competition["dedup"]["n_duplicates_dropped"] == n_duplicates_before + 1
        assert competition["recordings_without_features"] == [recordings[0]]
        n_entries = len(predicted)  # the unknown id and the other section's ids are counted, not silently ignored
        assert (f"{len(segments) - 2} of {len(segments)} ids found; {n_entries - len(segments) + 2} of its "
                f"{n_entries} entries are not ids of this section") in audit["stop_prediction"]["quality_source"]
        assert (f"{len(recordings) - 1} of {len(recordings)} ids found; {n_entries - len(recordings) + 1} of its "
                f"{n_entries} entries are not ids of this section") in competition["quality_source"]
