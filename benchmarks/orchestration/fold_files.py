"""Prediction files of :func:`benchmarks.orchestration.cross_validation.cross_validate`, each written atomically.

``fold<k>.npz``: ``predictions (n_val, 19)``, ``rows (n_val,)``, ``keys (n_val,)``, ``config_hash``, ``config_json``
and the prober's fold outputs prefixed ``out_``. ``oof.npz``: ``keys (n,)``, ``predictions (n, 19)`` (NaN outside
validation sets), ``fold_of_row (n,)`` (-1 outside), ``config_hash``. ``oof.csv``: ``key, fold`` and the 19
dimensions, one line per predicted row. ``config.json``: the run's summary. Arrays are stored without pickling.
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from datamodules.dimensions import DIMENSIONS
from datamodules.jsonio import write_json_atomic, write_text_atomic

EXTRA_PREFIX = "out_"


def save_npz_atomic(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """``np.savez`` to a temporary sibling, then ``os.replace`` onto ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            np.savez(stream, **arrays)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_fold(path: Path, predictions: np.ndarray, rows: np.ndarray, keys: Sequence[str], config: dict,
               config_hash: str, extras: dict[str, np.ndarray]) -> None:
    """Write one fold's predictions ``(n_val, 19)`` with their rows, keys, configuration and extras."""
    save_npz_atomic(path, {
        "predictions": np.asarray(predictions, dtype=np.float64), "rows": np.asarray(rows, dtype=np.int64),
        "keys": np.array(list(keys), dtype=str), "config_hash": np.array(config_hash),
        "config_json": np.array(json.dumps(config, sort_keys=True)),
        **{EXTRA_PREFIX + key: np.asarray(value) for key, value in extras.items()},
    })


def read_fold(path: Path, config_hash: str, val_rows: np.ndarray):
    """``(predictions, rows, extras)`` of a fold file written with ``config_hash`` for ``val_rows``, else None.

    A missing file, another hash or other rows give None; an unreadable file warns and gives None (refit).
    """
    path = Path(path)
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            if str(data["config_hash"]) != config_hash:
                return None
            predictions, rows = data["predictions"], data["rows"]
            extras = {key[len(EXTRA_PREFIX):]: data[key] for key in data.files if key.startswith(EXTRA_PREFIX)}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as error:
        warnings.warn(f"{path}: unreadable fold file ({error}); refitting the fold", UserWarning, stacklevel=3)
        return None
    if not np.array_equal(np.sort(rows), np.sort(val_rows)):
        return None
    return predictions, rows, extras


def write_out_of_fold(directory: Path, keys: Sequence[str], predictions: np.ndarray, fold_of_row: np.ndarray,
                      summary: dict) -> None:
    """Write ``oof.npz``, ``oof.csv`` and ``config.json`` (``summary``) under ``directory``."""
    directory = Path(directory)
    save_npz_atomic(directory / "oof.npz", {
        "keys": np.array(list(keys), dtype=str), "predictions": predictions, "fold_of_row": fold_of_row,
        "config_hash": np.array(summary.get("config_hash", "")),
    })
    lines = [",".join(("key", "fold", *DIMENSIONS))]
    for row in np.flatnonzero(fold_of_row >= 0):
        lines.append(",".join([keys[row], str(fold_of_row[row]), *(repr(float(v)) for v in predictions[row])]))
    write_text_atomic(directory / "oof.csv", "\n".join(lines) + "\n")
    write_json_atomic(directory / "config.json", summary)


def load_out_of_fold(directory: Path | str) -> dict[str, np.ndarray]:
    """Read ``oof.npz`` of a prober directory: ``keys``, ``predictions``, ``fold_of_row``, ``config_hash``."""
    with np.load(Path(directory) / "oof.npz", allow_pickle=False) as data:
        return {key: data[key] for key in data.files}
