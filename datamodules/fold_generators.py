"""Grouped cross-validation folds from the key grammar: leave excerpts, performers or works out.

Every group (excerpt, performer or work; see :mod:`datamodules.keys`) lands in the val part of exactly one fold and
in the train part of the others, so no group is on both sides of any fold. Groups are balanced greedily: shuffled
with the seed, ordered largest first (ties keep the shuffled order), and each given to the fold with the fewest
keys so far (ties: lowest fold index). This longest-processing-time rule keeps every fold's val size within one
largest group of every other's.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import numpy as np

from datamodules.folds import FoldSplit
from datamodules.keys import excerpt_groups, performer_groups, work_groups


def leave_group_out_folds(
    keys: Sequence[str],
    groups: Sequence[str],
    n_folds: int = 4,
    seed: int | np.random.Generator = 0,
    held_out_keys: Sequence[str] | None = None,
) -> list[FoldSplit]:
    """Balanced grouped K-fold split of ``keys`` by ``groups``.

    Parameters
    ----------
    keys : sequence of str, length n_keys
        Unique segment keys.
    groups : sequence of str, length n_keys
        Group of each key; a group is never split between train and val.
    n_folds : int, default=4
        Number of folds, at least 2.
    seed : int or numpy.random.Generator, default=0
        Shuffles the groups before the greedy assignment (it only decides among groups of equal size).
    held_out_keys : sequence of str, optional
        Keys kept out of every fold (a test set). A fold key sharing a group with a held-out key triggers a
        ``UserWarning`` giving the count: that group then straddles the test set and cross-validation.

    Returns
    -------
    list of FoldSplit, length n_folds
        Keys in each part keep the order of ``keys``.

    Raises
    ------
    ValueError
        If ``keys`` repeats a key, ``groups`` has another length, ``n_folds`` is below 2, a held-out key is not in
        ``keys``, or fewer groups than folds remain.
    """
    keys, groups = list(keys), list(groups)
    _validate(keys, groups, n_folds)
    held_out = set(held_out_keys or ())
    unknown = sorted(held_out - set(keys))
    if unknown:
        raise ValueError(f"held_out_keys has {len(unknown)} keys not in keys, e.g. {unknown[0]!r}")
    pool = [(key, group) for key, group in zip(keys, groups) if key not in held_out]
    held_groups = {group for key, group in zip(keys, groups) if key in held_out}
    n_straddling = sum(group in held_groups for _, group in pool)
    if n_straddling:
        warnings.warn(
            f"{n_straddling} fold keys share a group with a held-out key; those groups straddle test and CV",
            UserWarning,
            stacklevel=2,
        )
    names, sizes = np.unique([group for _, group in pool], return_counts=True)
    if names.size < n_folds:
        raise ValueError(f"{names.size} groups for n_folds={n_folds}; expected at least one group per fold")
    order = np.random.default_rng(seed).permutation(names.size)
    order = order[np.argsort(-sizes[order], kind="stable")]
    fold_of_group, loads = {}, np.zeros(n_folds, dtype=np.int64)
    for index in order:
        fold = int(np.argmin(loads))
        fold_of_group[names[index]] = fold
        loads[fold] += sizes[index]
    return [
        FoldSplit(
            train=tuple(key for key, group in pool if fold_of_group[group] != fold),
            val=tuple(key for key, group in pool if fold_of_group[group] == fold),
        )
        for fold in range(n_folds)
    ]


def leave_excerpt_out_folds(
    keys: Sequence[str],
    n_folds: int = 4,
    seed: int | np.random.Generator = 0,
    held_out_keys: Sequence[str] | None = None,
) -> list[FoldSplit]:
    """Folds grouped by excerpt (``<work>_<N>bars_<segment>``); see :func:`leave_group_out_folds`."""
    return _by(excerpt_groups, keys, n_folds, seed, held_out_keys)


def leave_performer_out_folds(
    keys: Sequence[str],
    n_folds: int = 4,
    seed: int | np.random.Generator = 0,
    held_out_keys: Sequence[str] | None = None,
) -> list[FoldSplit]:
    """Folds grouped by performer (the player token; deadpan ``Score``/``Score2`` are performers too)."""
    return _by(performer_groups, keys, n_folds, seed, held_out_keys)


def leave_work_out_folds(
    keys: Sequence[str],
    n_folds: int = 4,
    seed: int | np.random.Generator = 0,
    held_out_keys: Sequence[str] | None = None,
) -> list[FoldSplit]:
    """Folds grouped by work (composer and piece); see :func:`leave_group_out_folds`."""
    return _by(work_groups, keys, n_folds, seed, held_out_keys)


def _by(
    grouper: Callable[[list[str]], list[str]],
    keys: Sequence[str],
    n_folds: int,
    seed: int | np.random.Generator,
    held_out_keys: Sequence[str] | None,
) -> list[FoldSplit]:
    keys = list(keys)
    return leave_group_out_folds(keys, grouper(keys), n_folds, seed, held_out_keys)


def _validate(keys: list[str], groups: list[str], n_folds: int) -> None:
    if len(set(keys)) < len(keys):
        repeated = sorted({key for key in keys if keys.count(key) > 1})
        raise ValueError(f"keys repeats {len(repeated)} keys, e.g. {repeated[0]!r}; expected unique keys")
    if len(groups) != len(keys):
        raise ValueError(f"groups has length {len(groups)}, expected one group per key ({len(keys)})")
    if isinstance(n_folds, bool) or not isinstance(n_folds, (int, np.integer)) or n_folds < 2:
        raise ValueError(f"n_folds={n_folds!r}, expected an integer >= 2")
