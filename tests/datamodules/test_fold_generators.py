"""Grouped fold generators: no group on both sides, balanced sizes, determinism, held-out keys, errors."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from analyses.fold_integrity import fold_integrity
from datamodules.fold_generators import (
    leave_excerpt_out_folds,
    leave_group_out_folds,
    leave_performer_out_folds,
    leave_work_out_folds,
)
from datamodules.keys import excerpt_groups, performer_groups, work_groups
from datamodules.labels import load_labels

WORKS = {"Bach_bwv1": 4, "Bach_bwv2": 8, "Chopin_op10": 4, "Liszt_s1": 8, "Ravel_m1": 4}
KEYS = [
    f"{work}_{bars}bars_{player}_{segment}"
    for work, bars in WORKS.items()
    for segment in range(1, 4 + len(work) % 3)
    for player in ("1", "2", "3", "Score")[: 2 + segment % 3]
]
GENERATORS = [
    (leave_excerpt_out_folds, excerpt_groups, "excerpt"),
    (leave_performer_out_folds, performer_groups, "performer"),
    (leave_work_out_folds, work_groups, "work"),
]


@pytest.mark.parametrize(("generate", "grouper", "grouping"), GENERATORS)
class TestGroupedGenerators:
    def test_partition_without_group_on_both_sides(self, generate, grouper, grouping) -> None:
        folds = generate(KEYS, n_folds=3, seed=0)
        assert len(folds) == 3
        assert sorted(key for fold in folds for key in fold.val) == sorted(KEYS)
        for fold in folds:
            assert sorted(fold.train + fold.val) == sorted(KEYS)
            assert not set(grouper(list(fold.train))) & set(grouper(list(fold.val)))
        assert fold_integrity(folds, KEYS).n_shared(grouping) == (0, 0, 0)

    def test_balanced_within_the_largest_group(self, generate, grouper, grouping) -> None:
        # Largest-first greedy assignment keeps max - min fold size <= the largest group's size.
        sizes = [len(fold.val) for fold in generate(KEYS, n_folds=3, seed=1)]
        assert max(sizes) - min(sizes) <= max(Counter(grouper(KEYS)).values())

    def test_deterministic_per_seed(self, generate, grouper, grouping) -> None:
        assert generate(KEYS, n_folds=2, seed=5) == generate(KEYS, n_folds=2, seed=5)
        assert generate(KEYS, n_folds=2, seed=np.random.default_rng(5)) == generate(KEYS, n_folds=2, seed=5)


class TestLeaveGroupOutFolds:
    def test_seed_changes_tied_groups(self) -> None:
        keys = [f"k{i}" for i in range(12)]
        groups = [f"g{i % 6}" for i in range(12)]  # six groups of two: every assignment is a tie
        splits = {tuple(fold.val for fold in leave_group_out_folds(keys, groups, 3, seed)) for seed in range(6)}
        assert len(splits) > 1

    def test_equal_groups_balance_exactly(self) -> None:
        keys = [f"k{i}" for i in range(40)]
        folds = leave_group_out_folds(keys, [f"g{i % 8}" for i in range(40)], n_folds=4)
        assert [len(fold.val) for fold in folds] == [10, 10, 10, 10]

    def test_held_out_keys_leave_every_fold(self) -> None:
        held = [key for key in KEYS if key.startswith("Ravel")]
        folds = leave_excerpt_out_folds(KEYS, n_folds=3, held_out_keys=held)
        in_folds = {key for fold in folds for key in fold.train + fold.val}
        assert in_folds == set(KEYS) - set(held)

    def test_held_out_key_sharing_a_group_warns(self) -> None:
        with pytest.warns(UserWarning, match="1 fold keys share a group with a held-out key"):
            leave_group_out_folds(["a", "b", "c", "d"], ["g", "g", "h", "i"], n_folds=2, held_out_keys=["a"])

    @pytest.mark.parametrize(
        ("kwargs", "match"),
        [
            ({"n_folds": 6}, "5 groups for n_folds=6; expected at least one group per fold"),
            ({"n_folds": 1}, "n_folds=1, expected an integer >= 2"),
            ({"n_folds": 2.0}, "n_folds=2.0, expected an integer >= 2"),
            ({"held_out_keys": ["nope"]}, "held_out_keys has 1 keys not in keys, e.g. 'nope'"),
        ],
    )
    def test_errors(self, kwargs: dict, match: str) -> None:
        with pytest.raises(ValueError, match=match):
            leave_work_out_folds(KEYS, **kwargs)

    def test_input_errors(self) -> None:
        with pytest.raises(ValueError, match="keys repeats 1 keys, e.g. 'a'"):
            leave_group_out_folds(["a", "a", "b"], ["g", "g", "h"], 2)
        with pytest.raises(ValueError, match="groups has length 2, expected one group per key \\(3\\)"):
            leave_group_out_folds(["a", "b", "c"], ["g", "h"], 2)


@pytest.mark.real_data
def test_real_keys_leave_excerpt_out(real_data_dir: Path) -> None:
    keys = list(load_labels(real_data_dir / "crescendai" / "percepiano" / "labels.json").keys)
    result = fold_integrity(leave_excerpt_out_folds(keys, n_folds=4, seed=0), keys)
    assert not result.leaks_excerpts and sum(result.val_sizes) == len(keys)
    assert max(result.val_sizes) - min(result.val_sizes) <= max(Counter(excerpt_groups(keys)).values())
