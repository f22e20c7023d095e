"""Predict segments outside the cache (masterclass, competition) with a prober fitted on each PercePiano fold."""

from __future__ import annotations

from typing import Any

import numpy as np

from benchmarks.orchestration.cross_validation import build_prober, fold_datamodule
from datamodules.cache import PercepianoCache
from datamodules.store import EmbeddingStore
from probes.external import external_loader


def fold_ensemble_predictions(
    prober: str,
    cache: PercepianoCache,
    store: EmbeddingStore,
    seed: int = 0,
    trainer_kwargs: dict | None = None,
    datamodule_kwargs: dict | None = None,
    **kwargs: Any,
) -> np.ndarray:
    """Mean over folds of a prober's predictions for every segment of ``store``.

    For each fold a fresh prober is fitted on that fold's training part (exactly as in cross-validation) and
    predicts all segments of ``store`` through the fold's own standardisation; the fold models' predictions are
    averaged.

    Parameters
    ----------
    prober : str
        Registry name.
    cache : PercepianoCache
        The labelled cache whose folds train the prober.
    store : EmbeddingStore
        External segments with the cache's frame dimension D.
    seed : int, default=0
    trainer_kwargs, datamodule_kwargs : dict, optional
        As for :func:`~benchmarks.orchestration.cross_validation.cross_validate`.

    Returns
    -------
    ndarray of shape (store.n_segments, 19)
        Predicted labels on the [0, 1] scale, in store row order.
    """
    total = np.zeros((store.n_segments, cache.labels.shape[1]))
    for fold in range(len(cache.folds)):
        model = build_prober(prober, seed, **kwargs)
        datamodule = fold_datamodule(model, cache, fold, seed, datamodule_kwargs)
        model.fit(datamodule, trainer_kwargs=trainer_kwargs)
        predictions, rows = model.predict(external_loader(datamodule, store))
        total[rows] += predictions
    return total / len(cache.folds)


def predict_keys(
    prober: str,
    cache: PercepianoCache,
    store: EmbeddingStore,
    keys: list[str] | tuple[str, ...],
    seed: int = 0,
    **kwargs: Any,
) -> tuple[np.ndarray, np.ndarray]:
    """Fold-ensemble predictions for ``keys`` of ``store``; keys absent from the store are reported, not guessed.

    Returns
    -------
    predictions : ndarray of shape (n_found, 19)
        For the keys found, in the order of ``keys``.
    found : ndarray of shape (len(keys),), bool
        Which keys the store holds.
    """
    found = np.array([key in store for key in keys], dtype=bool)
    if not found.any():
        return np.empty((0, cache.labels.shape[1])), found
    every = fold_ensemble_predictions(prober, cache, store, seed, **kwargs)
    rows = np.array([store.row(key) for key, present in zip(keys, found, strict=True) if present], dtype=np.int64)
    return every[rows], found
