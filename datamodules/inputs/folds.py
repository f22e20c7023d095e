"""Loading and validating ``folds.json``: ``[{"train": [keys], "val": [keys]}, ...]``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from datamodules.errors import contract_error
from datamodules.jsonio import read_json


@dataclass(frozen=True, slots=True)
class FoldSplit:
    """One cross-validation fold.

    Attributes
    ----------
    train, val : tuple of str
        Segment keys of the training and validation parts, in file order.
    """

    train: tuple[str, ...]
    val: tuple[str, ...]


def load_folds(path: Path, label_keys: tuple[str, ...] | list[str] | None = None) -> list[FoldSplit]:
    """Read a fold file and validate it, optionally against the labelled keys.

    Parameters
    ----------
    path : Path
        JSON list of ``{"train": [...], "val": [...]}`` objects.
    label_keys : sequence of str, optional
        The keys of ``labels.json``; every fold key must be one of them.

    Raises
    ------
    FileNotFoundError
        If the file is missing.
    DataContractError
        On unreadable JSON, a top level that is not a non-empty list, a fold without list-of-string ``train`` and
        ``val``, an empty part, a key twice in one part, a key in both parts of a fold, a key in the val sets of
        two folds, or a fold key missing from the labels. The message names the file, fold and key.
    """
    path = Path(path)
    payload = read_json(path)
    if not isinstance(payload, list):
        raise contract_error(path, f"expected a JSON list of folds, got {type(payload).__name__}")
    if not payload:
        raise contract_error(path, "no folds (empty list)")
    folds = [_validate_fold(path, index, fold) for index, fold in enumerate(payload)]
    _check_val_disjoint(path, folds)
    if label_keys is not None:
        _check_keys_labelled(path, folds, set(label_keys))
    return folds


def _validate_fold(path: Path, index: int, fold: object) -> FoldSplit:
    if not isinstance(fold, dict):
        raise contract_error(path, f"fold {index} is {type(fold).__name__}, expected an object with 'train' and 'val'")
    parts = {}
    for part in ("train", "val"):
        keys = fold.get(part)
        if not isinstance(keys, list) or not all(isinstance(key, str) for key in keys):
            raise contract_error(path, f"fold {index} '{part}' must be a list of key strings, got {keys!r:.80}")
        if not keys:
            raise contract_error(path, f"fold {index} has an empty '{part}' part")
        duplicated = sorted({key for key in keys if keys.count(key) > 1}) if len(set(keys)) < len(keys) else []
        if duplicated:
            raise contract_error(path, f"fold {index} '{part}' lists keys more than once: {duplicated[:5]}")
        parts[part] = tuple(keys)
    overlap = sorted(set(parts["train"]) & set(parts["val"]))
    if overlap:
        raise contract_error(path, f"is in both train and val of fold {index} ({len(overlap)} such keys)", overlap[0])
    return FoldSplit(parts["train"], parts["val"])


def _check_val_disjoint(path: Path, folds: list[FoldSplit]) -> None:
    first_fold: dict[str, int] = {}
    for index, fold in enumerate(folds):
        for key in fold.val:
            if key in first_fold:
                raise contract_error(path, f"in the val sets of folds {first_fold[key]} and {index}", key)
            first_fold[key] = index


def _check_keys_labelled(path: Path, folds: list[FoldSplit], label_keys: set[str]) -> None:
    for index, fold in enumerate(folds):
        for part in ("train", "val"):
            missing = [key for key in getattr(fold, part) if key not in label_keys]
            if missing:
                problem = f"in fold {index} '{part}' but missing from the labels ({len(missing)} such keys)"
                raise contract_error(path, problem, missing[0])
