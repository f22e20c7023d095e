"""Leakage audit of cross-validation folds: which excerpts, performers and works sit on both sides of a split.

Groups come from the key grammar (:mod:`datamodules.keys`): an excerpt is ``<work>_<N>bars_<segment>``, shared by
every performance of that passage, so an excerpt on both sides of a fold lets a model score the music rather than
the performance. Performers and works on both sides are reported too; whether they matter depends on the claim.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from datamodules.inputs.folds import FoldSplit
from datamodules.keys import excerpt_groups, parse_key, performer_groups, work_groups

GROUPINGS = ("excerpt", "performer", "work")
_GROUPERS = {"excerpt": excerpt_groups, "performer": performer_groups, "work": work_groups}


@dataclass(frozen=True, slots=True)
class FoldIntegrityResult:
    """Per-fold leakage between train and val, and coverage of the labelled keys.

    Attributes
    ----------
    n_folds : int
    train_sizes, val_sizes : tuple of int, length n_folds
        Keys per part.
    shared_excerpts, shared_performers, shared_works : tuple of tuple of str, length n_folds
        Per fold, the sorted groups with keys in both train and val.
    n_val_keys_leaked : tuple of int, length n_folds
        Per fold, val keys whose excerpt also occurs in train.
    val_keys_in_several_folds : tuple of str
        Keys in the val part of more than one fold (sorted).
    labelled_in_no_fold : tuple of str
        Labelled keys in neither part of any fold (sorted): a held-out set or a coverage gap.
    fold_keys_unlabelled : tuple of str
        Fold keys missing from ``label_keys`` (sorted).
    unparsed_keys : tuple of str
        Fold keys outside the key grammar; each is its own group (sorted).
    verdicts : tuple of str, length n_folds
        One line per fold.
    """

    n_folds: int
    train_sizes: tuple[int, ...]
    val_sizes: tuple[int, ...]
    shared_excerpts: tuple[tuple[str, ...], ...]
    shared_performers: tuple[tuple[str, ...], ...]
    shared_works: tuple[tuple[str, ...], ...]
    n_val_keys_leaked: tuple[int, ...]
    val_keys_in_several_folds: tuple[str, ...]
    labelled_in_no_fold: tuple[str, ...]
    fold_keys_unlabelled: tuple[str, ...]
    unparsed_keys: tuple[str, ...]
    verdicts: tuple[str, ...]

    def n_shared(self, grouping: str) -> tuple[int, ...]:
        """Per fold, the number of ``grouping`` groups (``"excerpt"``, ``"performer"``, ``"work"``) in both parts.

        Raises
        ------
        ValueError
            If ``grouping`` is not one of :data:`GROUPINGS`.
        """
        if grouping not in GROUPINGS:
            raise ValueError(f"grouping={grouping!r}, expected one of {GROUPINGS}")
        return tuple(len(groups) for groups in getattr(self, f"shared_{grouping}s"))

    @property
    def leaks_excerpts(self) -> bool:
        """Whether any fold has an excerpt in both train and val."""
        return any(self.n_shared("excerpt"))

    def to_dict(self) -> dict:
        """JSON form: lists, with per-fold counts beside each shared-group list."""
        payload: dict = {"n_folds": self.n_folds}
        payload.update(train_sizes=list(self.train_sizes), val_sizes=list(self.val_sizes))
        for grouping in GROUPINGS:
            payload[f"n_shared_{grouping}s"] = list(self.n_shared(grouping))
            payload[f"shared_{grouping}s"] = [list(groups) for groups in getattr(self, f"shared_{grouping}s")]
        payload["n_val_keys_leaked"] = list(self.n_val_keys_leaked)
        for name in ("val_keys_in_several_folds", "labelled_in_no_fold", "fold_keys_unlabelled", "unparsed_keys"):
            payload[f"n_{name}"] = len(getattr(self, name))
            payload[name] = list(getattr(self, name))
        payload["verdicts"] = list(self.verdicts)
        return payload


def fold_integrity(fold_splits: Sequence[FoldSplit], label_keys: Sequence[str]) -> FoldIntegrityResult:
    """Audit folds for group leakage between train and val and for coverage of the labelled keys.

    Parameters
    ----------
    fold_splits : sequence of FoldSplit
        The folds (e.g. from :func:`datamodules.inputs.folds.load_folds`).
    label_keys : sequence of str
        All labelled keys.

    Returns
    -------
    FoldIntegrityResult

    Raises
    ------
    ValueError
        If ``fold_splits`` is empty.

    Examples
    --------
    >>> folds = [FoldSplit(train=("W_4bars_1_1", "W_4bars_2_2"), val=("W_4bars_2_1",))]
    >>> fold_integrity(folds, ["W_4bars_1_1", "W_4bars_2_2", "W_4bars_2_1"]).verdicts[0]
    'not grouped: excerpt leak: 1 excerpts in train and val (1 of 1 val keys); 1 performers and 1 works shared'
    """
    if len(fold_splits) == 0:
        raise ValueError("fold_splits is empty; expected at least one FoldSplit")
    shared: dict[str, list[tuple[str, ...]]] = {grouping: [] for grouping in GROUPINGS}
    n_leaked, verdicts = [], []
    for fold in fold_splits:
        for grouping, grouper in _GROUPERS.items():
            train_groups = set(grouper(list(fold.train)))
            shared[grouping].append(tuple(sorted(train_groups & set(grouper(list(fold.val))))))
        leaked = set(shared["excerpt"][-1])
        n_leaked.append(sum(excerpt in leaked for excerpt in excerpt_groups(list(fold.val))))
        verdicts.append(_verdict({g: len(shared[g][-1]) for g in GROUPINGS}, n_leaked[-1], len(fold.val)))
    fold_keys = {key for fold in fold_splits for key in (*fold.train, *fold.val)}
    return FoldIntegrityResult(
        n_folds=len(fold_splits),
        train_sizes=tuple(len(fold.train) for fold in fold_splits),
        val_sizes=tuple(len(fold.val) for fold in fold_splits),
        shared_excerpts=tuple(shared["excerpt"]),
        shared_performers=tuple(shared["performer"]),
        shared_works=tuple(shared["work"]),
        n_val_keys_leaked=tuple(n_leaked),
        val_keys_in_several_folds=_in_several_vals(fold_splits),
        labelled_in_no_fold=tuple(sorted(set(label_keys) - fold_keys)),
        fold_keys_unlabelled=tuple(sorted(fold_keys - set(label_keys))),
        unparsed_keys=tuple(sorted(key for key in fold_keys if not _parses(key))),
        verdicts=tuple(verdicts),
    )


def _verdict(n_shared: dict[str, int], n_leaked: int, n_val: int) -> str:
    clean = [g for g in GROUPINGS if n_shared[g] == 0 and not (g == "excerpt" and n_shared["work"] == 0)]
    prefix = f"grouped by {' and '.join(clean)}" if clean else "not grouped"
    if n_shared["excerpt"]:
        leak = f"excerpt leak: {n_shared['excerpt']} excerpts in train and val ({n_leaked} of {n_val} val keys)"
    else:
        leak = "no excerpt leak"
    return f"{prefix}: {leak}; {n_shared['performer']} performers and {n_shared['work']} works shared"


def _in_several_vals(fold_splits: Sequence[FoldSplit]) -> tuple[str, ...]:
    seen: set[str] = set()
    repeated: set[str] = set()
    for fold in fold_splits:
        for key in set(fold.val):
            (repeated if key in seen else seen).add(key)
    return tuple(sorted(repeated))


def _parses(key: str) -> bool:
    try:
        parse_key(key)
    except ValueError:
        return False
    return True
