"""Loading and validating ``labels.json``: ``{key: [19 label means, optional performer index]}``."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from datamodules.dimensions import N_DIMENSIONS
from datamodules.errors import contract_error
from datamodules.jsonio import read_json


@dataclass(frozen=True, slots=True)
class LabelTable:
    """Validated PercePiano labels.

    Attributes
    ----------
    keys : tuple of str, length n_segments
        Segment keys in file order.
    values : ndarray of shape (n_segments, 19), float64
        Rater means divided by 7, each in [0, 1], in PercePiano's dimension order.
    performer_index : ndarray of shape (n_segments,), int64
        The file's optional 20th field; -1 where absent.
    source : Path
        The file they came from.
    """

    keys: tuple[str, ...]
    values: np.ndarray
    performer_index: np.ndarray
    source: Path

    def __len__(self) -> int:
        return len(self.keys)

    def subset(self, keys: list[str]) -> np.ndarray:
        """Label rows for ``keys`` (all must exist), shape ``(len(keys), 19)``."""
        position = {key: row for row, key in enumerate(self.keys)}
        return self.values[[position[key] for key in keys]]


def load_labels(path: Path) -> LabelTable:
    """Read ``labels.json`` and validate every entry.

    Parameters
    ----------
    path : Path
        A JSON object mapping segment keys to lists of 19 floats in [0, 1], optionally followed by an integer
        performer index (the original cache's layout).

    Raises
    ------
    FileNotFoundError
        If the file is missing.
    DataContractError
        On unreadable JSON, a non-object top level, an empty file, and for any key whose value is not a list, has
        fewer than 19 or more than 20 entries, holds a non-number, NaN/inf, a label outside [0, 1], or a
        non-integer performer index. The message names the file and key.
    """
    path = Path(path)
    payload = read_json(path)
    if not isinstance(payload, dict):
        raise contract_error(path, f"expected a JSON object {{key: [19 floats]}}, got {type(payload).__name__}")
    if not payload:
        raise contract_error(path, "no labelled segments (empty object)")
    keys, rows, performers = [], [], []
    for key, entry in payload.items():
        row, performer = _validate_entry(path, key, entry)
        keys.append(key)
        rows.append(row)
        performers.append(performer)
    return LabelTable(tuple(keys), np.asarray(rows, dtype=np.float64), np.asarray(performers, np.int64), path)


def _validate_entry(path: Path, key: str, entry: object) -> tuple[list[float], int]:
    if not isinstance(entry, list):
        raise contract_error(path, f"expected a list of {N_DIMENSIONS} floats, got {type(entry).__name__}", key)
    if len(entry) < N_DIMENSIONS:
        raise contract_error(path, f"has {len(entry)} values, expected {N_DIMENSIONS} (+ optional performer)", key)
    if len(entry) > N_DIMENSIONS + 1:
        raise contract_error(path, f"has {len(entry)} values, expected at most {N_DIMENSIONS + 1}", key)
    row = []
    for position, value in enumerate(entry[:N_DIMENSIONS]):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise contract_error(path, f"value {position} is {value!r}, expected a number", key)
        if not math.isfinite(value):
            raise contract_error(path, f"value {position} is {value}, expected a finite number", key)
        if not 0.0 <= value <= 1.0:
            raise contract_error(path, f"value {position} is {value}, outside [0, 1] (labels are rater means / 7)", key)
        row.append(float(value))
    performer = -1
    if len(entry) == N_DIMENSIONS + 1:
        extra = entry[N_DIMENSIONS]
        if isinstance(extra, bool) or not isinstance(extra, (int, float)) or not float(extra).is_integer():
            raise contract_error(path, f"performer index is {extra!r}, expected an integer", key)
        performer = int(extra)
    return row, performer
