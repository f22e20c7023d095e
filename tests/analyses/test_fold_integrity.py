"""Fold leakage audit on folds with planted leaks, and on the real fold files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from analyses.fold_integrity import fold_integrity
from datamodules.inputs.folds import FoldSplit, load_folds
from datamodules.inputs.labels import load_labels

# Two works; excerpts W1_4bars_{1,2}, W2_8bars_1; performers a, b, c.
KEYS = ["W1_4bars_a_1", "W1_4bars_b_1", "W1_4bars_a_2", "W1_4bars_c_2", "W2_8bars_a_1", "W2_8bars_b_1", "odd-key"]


class TestFoldIntegrity:
    def test_planted_excerpt_leak(self) -> None:
        folds = [
            FoldSplit(train=("W1_4bars_a_1", "W1_4bars_a_2", "W2_8bars_a_1"), val=("W1_4bars_b_1", "W1_4bars_c_2")),
            FoldSplit(train=("W1_4bars_b_1", "W1_4bars_c_2"), val=("W1_4bars_a_1", "W2_8bars_b_1", "odd-key")),
        ]
        result = fold_integrity(folds, KEYS)
        assert result.shared_excerpts == (("W1_4bars_1", "W1_4bars_2"), ("W1_4bars_1",))
        assert result.n_val_keys_leaked == (2, 1)
        assert result.shared_performers == ((), ("b",))
        assert result.shared_works == (("W1",), ("W1",))
        assert result.leaks_excerpts and result.n_shared("excerpt") == (2, 1)
        assert result.train_sizes == (3, 2) and result.val_sizes == (2, 3)
        assert result.labelled_in_no_fold == () and result.val_keys_in_several_folds == ()
        assert result.unparsed_keys == ("odd-key",)
        assert result.verdicts[0] == (
            "grouped by performer: excerpt leak: 2 excerpts in train and val (2 of 2 val keys); "
            "0 performers and 1 works shared"
        )

    def test_clean_work_split_and_coverage(self) -> None:
        folds = [
            FoldSplit(train=("W1_4bars_a_1", "W1_4bars_b_1"), val=("W2_8bars_a_1",)),
            FoldSplit(train=("W2_8bars_a_1",), val=("W1_4bars_a_1", "W1_4bars_b_1", "unlabelled_4bars_a_1")),
            FoldSplit(train=("W1_4bars_a_1",), val=("W2_8bars_a_1",)),
        ]
        result = fold_integrity(folds, KEYS)
        assert not result.leaks_excerpts and result.n_shared("work") == (0, 0, 0)
        assert result.verdicts[0] == "grouped by work: no excerpt leak; 1 performers and 0 works shared"
        assert result.val_keys_in_several_folds == ("W2_8bars_a_1",)
        assert result.labelled_in_no_fold == ("W1_4bars_a_2", "W1_4bars_c_2", "W2_8bars_b_1", "odd-key")
        assert result.fold_keys_unlabelled == ("unlabelled_4bars_a_1",)
        payload = json.loads(json.dumps(result.to_dict()))
        assert payload["n_val_keys_in_several_folds"] == 1 and payload["n_shared_performers"] == [1, 1, 1]

    def test_excerpt_grouping_without_work_grouping(self) -> None:
        folds = [FoldSplit(train=("W1_4bars_a_1",), val=("W1_4bars_a_2",))]
        assert fold_integrity(folds, KEYS).verdicts == (
            "grouped by excerpt: no excerpt leak; 1 performers and 1 works shared",
        )

    def test_errors(self) -> None:
        with pytest.raises(ValueError, match="fold_splits is empty"):
            fold_integrity([], KEYS)
        with pytest.raises(ValueError, match="grouping='player', expected one of"):
            fold_integrity([FoldSplit(("W1_4bars_a_1",), ("W2_8bars_a_1",))], KEYS).n_shared("player")


@pytest.mark.real_data
class TestRealFolds:
    def test_original_folds_keep_excerpts_apart(self, real_data_dir: Path) -> None:
        directory = real_data_dir / "crescendai" / "percepiano"
        labels = load_labels(directory / "labels.json")
        result = fold_integrity(load_folds(directory / "folds.json", labels.keys), labels.keys)
        assert result.n_folds == 4 and not result.leaks_excerpts
        assert all(verdict.startswith("grouped by excerpt: no excerpt leak") for verdict in result.verdicts)

    def test_regenerated_folds_leak_excerpts(self, real_data_dir: Path) -> None:
        # folds_regenerated.json groups by work+bars+player (piece_mapping.json), so excerpts straddle train/val.
        directory = real_data_dir / "crescendai" / "percepiano"
        labels = load_labels(directory / "labels.json")
        result = fold_integrity(load_folds(directory / "folds_regenerated.json", labels.keys), labels.keys)
        assert result.leaks_excerpts
        assert all(70 <= n <= 90 for n in result.n_shared("excerpt"))
        assert all(verdict.startswith("not grouped: excerpt leak: ") for verdict in result.verdicts)
        assert result.n_val_keys_leaked == result.val_sizes  # every val key has its excerpt in train
