"""One fit per fold, two predictions of its validation rows: from the training store and from another store of the
same segments (other renders of the same MIDI, another SoundFont), for a paired same- vs cross-store comparison.

Each fold's prober is fitted on the training store's training rows exactly as in cross-validation; it then predicts
the fold's validation segments three times: from their frames in the training store (the ordinary out-of-fold
prediction), from their frames in the other store through the fold's standardisation (``cross``), and from the other
store standardised with *its own* training rows' statistics (``cross_restandardized``: an unsupervised adaptation
that uses the other rendering's training-row features, never a label or a validation row). Validation keys the other
store lacks are predicted from neither, and counted. Every (prober, seed, fold) result is written atomically under
``out`` and reused while its configuration is unchanged, so an interrupted run resumes.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.orchestration.cross_validation import build_prober, fold_datamodule
from datamodules.cache import PercepianoCache, align
from datamodules.fold_datamodule import FoldDataModule
from datamodules.store import EmbeddingStore
from probes.external import external_loader

#: Version of the per-fold result files (2: with ``cross_restandardized``); part of their configuration hash.
RESULT_FORMAT = 2


@dataclass(frozen=True)
class CrossStorePredictions:
    """Paired out-of-fold predictions of one prober and seed.

    Attributes
    ----------
    rows : ndarray of shape (n,), int64
        Cache rows predicted (validation rows whose key the other store holds), in fold order.
    same, cross, cross_restandardized : ndarray of shape (n, 19)
        Predictions by the same fold models from the training store's frames, from the other store's frames through
        the training store's standardisation, and from the other store's frames through its own.
    fold_of_row : ndarray of shape (n,), int64
    missing_keys : tuple of str
        Validation keys absent from the other store (predicted from neither).
    """

    rows: np.ndarray
    same: np.ndarray
    cross: np.ndarray
    cross_restandardized: np.ndarray
    fold_of_row: np.ndarray
    missing_keys: tuple[str, ...]


def cross_store_predictions(prober: str, cache: PercepianoCache, other: EmbeddingStore, out: Path, seed: int = 0,
                            trainer_kwargs: dict | None = None, datamodule_kwargs: dict | None = None,
                            **kwargs: Any) -> CrossStorePredictions:
    """Fit ``prober`` on each fold of ``cache`` and predict its validation rows from both stores (module docstring).

    Raises
    ------
    ValueError
        If ``other`` serves frames of another width than the cache's store.
    """
    if other.dim != cache.store.dim:
        raise ValueError(f"{other.store_dir}: serves D = {other.dim}, the cache's store D = {cache.store.dim}; "
                         "expected frames of the same model and layers")
    other_cache = align(cache.label_table, cache.fold_splits, other, cache.directory)  # folds without its missing keys
    other_row = {key: row for row, key in enumerate(other_cache.keys)}
    parts, missing = [], []
    for fold, (_, val_rows) in enumerate(cache.folds):
        present = np.array([cache.keys[row] in other for row in val_rows], dtype=bool)
        missing += [cache.keys[row] for row in val_rows[~present]]
        kept = val_rows[present]
        model = build_prober(prober, seed, **kwargs)
        datamodule = fold_datamodule(model, cache, fold, seed, datamodule_kwargs)  # set up only: rows and scaling
        digest = _config_hash(prober, cache, other, seed, fold, kwargs, datamodule)[:16]
        path = Path(out) / f"{prober}_seed{seed}_fold{fold}_{digest}.npz"
        if path.is_file():
            stored = np.load(path)
            parts.append((kept, stored["same"], stored["cross"], stored["cross_restandardized"], fold))
            continue
        model.fit(datamodule, trainer_kwargs=trainer_kwargs)
        same, same_rows = model.predict(datamodule.loader(kept, shuffle=False))
        kept_in_other = np.array([other.row(cache.keys[row]) for row in kept], dtype=np.int64)
        cross, other_rows = model.predict(external_loader(datamodule, other, kept_in_other))
        own = fold_datamodule(model, other_cache, fold, seed, datamodule_kwargs)  # the other store's training rows
        kept_other = np.array([other_row[cache.keys[row]] for row in kept], dtype=np.int64)
        restandardized, own_rows = model.predict(own.loader(kept_other, shuffle=False))
        same = _in_order(same, same_rows, kept)
        cross = _in_order(cross, other_rows, kept_in_other)
        restandardized = _in_order(restandardized, own_rows, kept_other)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.stem}.partial.npz")
        np.savez(partial, same=same, cross=cross, cross_restandardized=restandardized)
        partial.replace(path)
        parts.append((kept, same, cross, restandardized, fold))
    return CrossStorePredictions(
        rows=np.concatenate([part[0] for part in parts]),
        same=np.concatenate([part[1] for part in parts]),
        cross=np.concatenate([part[2] for part in parts]),
        cross_restandardized=np.concatenate([part[3] for part in parts]),
        fold_of_row=np.concatenate([np.full(len(part[0]), part[4]) for part in parts]),
        missing_keys=tuple(sorted(missing)),
    )


def _in_order(predictions: np.ndarray, served_rows: np.ndarray, wanted_rows: np.ndarray) -> np.ndarray:
    """``predictions`` (in the loader's order, ``served_rows``) re-ordered to ``wanted_rows``."""
    position = {int(row): index for index, row in enumerate(served_rows)}
    return predictions[[position[int(row)] for row in wanted_rows]]


def _config_hash(prober: str, cache: PercepianoCache, other: EmbeddingStore, seed: int, fold: int, kwargs: dict,
                 datamodule: FoldDataModule) -> str:
    """What one fold's pair of predictions depends on: prober and settings, seed, fold rows, both stores, and the
    data module's standardisation (not how it holds the frames: the resident budget changes no batch)."""
    train, val = cache.folds[fold]
    payload = {"format": RESULT_FORMAT, "prober": prober, "params": build_prober(prober, seed, **kwargs).get_params(),
               "seed": seed, "fold": fold, "train": [cache.keys[row] for row in train],
               "val": [cache.keys[row] for row in val],
               "labels": hashlib.sha256(np.ascontiguousarray(cache.labels).tobytes()).hexdigest(),
               "store": cache.store.identity(), "other": other.identity(), "datamodule": datamodule.standardization()}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()
