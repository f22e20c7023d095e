"""Out-of-fold predictions of a prober over a cache's folds, written atomically and resumable.

Layout under ``out_dir``::

    predictions/<prober>/fold<k>.npz   predictions (n_val, 19), rows, keys, config_hash, config_json, out_* extras
    predictions/<prober>/oof.npz       keys (n,), predictions (n, 19; NaN outside val sets), fold_of_row (n,; -1)
    predictions/<prober>/oof.csv       key, fold, 19 dimension columns (rows with a prediction only)
    predictions/<prober>/config.json   prober, variant, params, seed, config_hash, per-fold hashes

A fold file whose ``config_hash`` equals the hash of the current configuration (prober class, params except
``accelerator``, seed, the fold's rows with their keys and labels, the embedding store's source) is reused instead
of refitted; any other fold file is refitted and overwritten.
"""

from __future__ import annotations

import hashlib
import inspect
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.orchestration.fold_files import read_fold, write_fold, write_out_of_fold
from benchmarks.orchestration.heap import release_freed_memory
from datamodules.cache import PercepianoCache
from datamodules.dimensions import N_DIMENSIONS
from datamodules.fold_datamodule import FoldDataModule
from probes.base import check_predictions
from probes.registry import available_probers, get_prober
from probes.tensorboard import make_logger

PREDICTIONS_DIR = "predictions"
#: Hyper-parameters that choose where a prober runs, not what it computes (as ``RunConfig.fingerprint``).
_UNHASHED_PARAMS = frozenset({"accelerator"})


@dataclass(frozen=True)
class OutOfFoldPredictions:
    """Each row's prediction from the fold model that did not train on it.

    Attributes
    ----------
    keys : tuple of str, length n_segments
        The cache's keys, in cache row order.
    predictions : ndarray of shape (n_segments, 19), float64
        Labels on [0, 1]; NaN for rows in no validation set (or in folds not run).
    fold_of_row : ndarray of shape (n_segments,), int64
        Validation fold of each row; -1 outside.
    prober, variant : str
    params : dict
        The prober's ``get_params()``.
    seed : int
    config_hash : str
        SHA-256 over the per-fold configuration hashes.
    fitted_folds, resumed_folds : tuple of int
        Folds fitted by this call, and folds read back from earlier fold files.
    fold_outputs : tuple of dict
        Per fold run, the prober's ``fold_outputs`` (e.g. ``alpha`` per dimension, component scores).
    directory : Path or None
        Where the files are (``out_dir/predictions/<prober>``).
    """

    keys: tuple[str, ...]
    predictions: np.ndarray
    fold_of_row: np.ndarray
    prober: str
    variant: str
    params: dict
    seed: int
    config_hash: str
    fitted_folds: tuple[int, ...] = ()
    resumed_folds: tuple[int, ...] = ()
    fold_outputs: tuple[dict, ...] = field(default_factory=tuple)
    directory: Path | None = None

    def scored(self, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(y_true (m, 19), y_pred (m, 19), fold_of_row (m,))`` of the ``m`` rows with a prediction.

        ``labels`` is the cache's ``(n_segments, 19)`` label matrix; feed the result to
        :func:`analyses.probe_metrics.probe_scores`.
        """
        mask = self.fold_of_row >= 0
        return np.asarray(labels)[mask], self.predictions[mask], self.fold_of_row[mask]

    def to_dict(self) -> dict:
        """JSON summary (no arrays)."""
        return {
            "prober": self.prober, "variant": self.variant, "params": _jsonable(self.params), "seed": self.seed,
            "config_hash": self.config_hash, "fitted_folds": list(self.fitted_folds),
            "resumed_folds": list(self.resumed_folds), "n_segments": len(self.keys),
            "n_predicted": int(np.sum(self.fold_of_row >= 0)),
            "directory": None if self.directory is None else str(self.directory),
        }


def build_prober(prober: str | Callable[..., Any], seed: int, **kwargs: Any) -> Any:
    """A fresh prober from a registry name, a class or a factory; ``seed`` is passed if it takes one.

    Raises
    ------
    UnknownProberError
        For an unknown name.
    TypeError
        If ``prober`` is neither a string nor callable.
    """
    if isinstance(prober, str):
        factory = available_probers().get(prober)
        if factory is None:
            return get_prober(prober, **kwargs)  # raises UnknownProberError listing the names
    elif callable(prober):
        factory = prober
    else:
        raise TypeError(f"prober must be a registry name or a callable returning a prober, got {prober!r}")
    if "seed" not in kwargs and "seed" in _parameters(factory):
        kwargs = {**kwargs, "seed": seed}
    return factory(**kwargs)


def prober_overrides(name: str, params: dict[str, Any] | None = None, epochs_scale: float = 1.0,
                     accelerator: str = "auto") -> dict[str, Any]:
    """A run's keyword arguments for ``name``: its configured hyper-parameters ``params``, then the epoch count
    scaled by ``epochs_scale`` and the accelerator, where the prober takes them (every fit of a run uses them: the
    probing section and the downstream quality prober alike)."""
    kwargs: dict[str, Any] = dict(params or {})
    defaults = build_prober(name, 0, **kwargs).get_params()
    if "max_epochs" in defaults and epochs_scale != 1.0:
        kwargs["max_epochs"] = max(1, round(defaults["max_epochs"] * epochs_scale))
    if "accelerator" in defaults:
        kwargs["accelerator"] = accelerator
    return kwargs


def seed_directories(name: str, out: Path, seed: int, n_seeds: int) -> list[tuple[int, Path]]:
    """``(seed, output directory)`` of each seed run of ``name``: ``n_seeds`` seeds (``seed``, ``seed + 1``, ...) if
    the prober takes a seed, else one; the first writes under ``out``, the others under ``out/seeds/seed<k>``."""
    n_runs = n_seeds if "seed" in build_prober(name, seed).get_params() else 1
    return [(run_seed, Path(out) if run_seed == seed else Path(out) / "seeds" / f"seed{run_seed}")
            for run_seed in range(seed, seed + n_runs)]


def cross_validate(
    prober: str | Callable[..., Any],
    cache: PercepianoCache,
    out_dir: Path | str | None,
    seed: int = 0,
    folds: Sequence[int] | None = None,
    logger_root: Path | str | None = None,
    trainer_kwargs: dict | None = None,
    datamodule_kwargs: dict | None = None,
    on_fold: Callable[[int, bool], None] | None = None,
    **kwargs: Any,
) -> OutOfFoldPredictions:
    """Fit a freshly built prober on each fold's training part and predict its validation rows.

    Parameters
    ----------
    prober : str or callable
        Registry name (see :func:`probes.registry.available_probers`), prober class or factory; called per fold
        with ``kwargs`` (and ``seed=seed`` when it accepts ``seed`` and ``kwargs`` does not give one).
    cache : PercepianoCache
        An opened cache with embeddings.
    out_dir : Path or None
        Output root; fold files go to ``out_dir/predictions/<prober>/``. None writes nothing and never resumes.
    seed : int, default=0
        Seeds the prober and the FoldDataModule (shuffling, inner split) of every fold.
    folds : sequence of int, optional
        Folds to run (default all). ``oof.*`` and ``config.json`` are written only when all folds are run.
    logger_root : Path, optional
        If given, each fitted fold logs to ``TensorBoardLogger(logger_root, name=<prober>, version=f"fold{k}")``
        (e.g. ``<out>/tensorboard``).
    trainer_kwargs : dict, optional
        Passed to Lightning probers' Trainer (not part of the configuration hash).
    datamodule_kwargs : dict, optional
        :class:`FoldDataModule` keywords that override the prober's ``datamodule_kwargs()`` (e.g. ``clip``); the
        standardisation settings are part of the configuration hash.
    on_fold : callable, optional
        Called as ``on_fold(fold, resumed)`` after each fold (``resumed``: read back from its fold file).
    **kwargs
        Prober hyper-parameters.

    Returns
    -------
    OutOfFoldPredictions

    Raises
    ------
    ValueError
        On a fold index out of range, or predictions of the wrong shape or rows.
    """
    fold_indices = _fold_indices(cache, folds)
    name, directory = None, None
    predictions = np.full((cache.n_segments, N_DIMENSIONS), np.nan)
    fold_of_row = np.full(cache.n_segments, -1, dtype=np.int64)
    fitted, resumed, outputs, hashes = [], [], [], []
    for fold in fold_indices:
        model = build_prober(prober, seed, **kwargs)
        name = model.name
        directory = None if out_dir is None else Path(out_dir) / PREDICTIONS_DIR / name
        datamodule = fold_datamodule(model, cache, fold, seed, datamodule_kwargs)
        config = _fold_config(model, seed, fold, datamodule, cache)
        config_hash = _hash(config)
        hashes.append(config_hash)
        path = None if directory is None else directory / f"fold{fold}.npz"
        stored = None if path is None else read_fold(path, config_hash, datamodule.val_rows_)
        if stored is None:
            logger = None if logger_root is None else make_logger(logger_root, name, fold)
            release_freed_memory()  # what earlier fits freed (their models are gone now), before this one allocates
            stored = _fit_fold(model, datamodule, logger, trainer_kwargs)
            if path is not None:
                keys = [cache.keys[row] for row in stored[1]]
                write_fold(path, *stored[:2], keys, _jsonable(config), config_hash, stored[2])
            fitted.append(fold)
        else:
            resumed.append(fold)
        if on_fold is not None:
            on_fold(fold, fold in resumed)
        fold_predictions, rows, extras = stored
        predictions[rows] = fold_predictions
        fold_of_row[rows] = fold
        outputs.append(extras)
    template = build_prober(prober, seed, **kwargs)
    result = OutOfFoldPredictions(
        keys=tuple(cache.keys), predictions=predictions, fold_of_row=fold_of_row, prober=name, variant=template.variant,
        params=template.get_params(), seed=seed, config_hash=_hash(hashes), fitted_folds=tuple(fitted),
        resumed_folds=tuple(resumed), fold_outputs=tuple(outputs), directory=directory,
    )
    if directory is not None and len(fold_indices) == len(cache.folds):
        write_out_of_fold(directory, result.keys, result.predictions, result.fold_of_row,
                          {**result.to_dict(), "fold_config_hashes": hashes})
    return result


def fold_datamodule(model: Any, cache: PercepianoCache, fold: int, seed: int,
                    overrides: dict | None = None) -> FoldDataModule:
    """The set-up :class:`FoldDataModule` of ``fold`` for ``model``: its ``datamodule_kwargs()`` and ``overrides``."""
    datamodule = FoldDataModule(cache, fold, seed=seed, **{**model.datamodule_kwargs(), **(overrides or {})})
    datamodule.setup()
    return datamodule


def _fold_indices(cache: PercepianoCache, folds: Sequence[int] | None) -> list[int]:
    indices = list(range(len(cache.folds))) if folds is None else [int(fold) for fold in folds]
    bad = [fold for fold in indices if not 0 <= fold < len(cache.folds)]
    if bad:
        raise ValueError(f"folds {bad} out of range; the cache has folds 0..{len(cache.folds) - 1}")
    return indices


def _parameters(factory: Callable) -> set[str]:
    try:
        return set(inspect.signature(factory).parameters)
    except (TypeError, ValueError):
        return set()


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, sort_keys=True,
                                 default=lambda v: v.tolist() if hasattr(v, "tolist") else repr(v)))


def _hash(payload: Any) -> str:
    return hashlib.sha256(json.dumps(_jsonable(payload), sort_keys=True).encode()).hexdigest()


def _fold_config(model: Any, seed: int, fold: int, datamodule: FoldDataModule, cache: PercepianoCache) -> dict:
    """Everything a fold's predictions depend on (Trainer, logger and ``accelerator`` settings excluded)."""
    digest = hashlib.sha256()
    for rows in (datamodule.fit_rows_, datamodule.inner_val_rows_, datamodule.val_rows_):
        digest.update(json.dumps([cache.keys[row] for row in rows]).encode())
        digest.update(np.ascontiguousarray(cache.labels[rows], dtype=np.float64).tobytes())
    source = {} if cache.store is None else cache.store.identity()
    digest.update(json.dumps(source, sort_keys=True, default=str).encode())
    return {
        "prober": model.name, "class": f"{type(model).__module__}.{type(model).__qualname__}",
        "variant": model.variant, "params": {key: value for key, value in model.get_params().items()
                                             if key not in _UNHASHED_PARAMS}, "seed": seed, "fold": fold,
        "datamodule": {**model.datamodule_kwargs(), **datamodule.standardization()}, "data": digest.hexdigest(),
    }


def _fit_fold(model: Any, datamodule: FoldDataModule, logger: Any, trainer_kwargs: dict | None):
    """Fit ``model`` on the fold, predict its val rows: ``(predictions (n_val, 19), rows (n_val,), extras)``."""
    model.fit(datamodule, logger=logger, trainer_kwargs=trainer_kwargs)
    predictions, rows = model.predict(datamodule.predict_dataloader())
    predictions, rows = np.asarray(predictions, dtype=np.float64), np.asarray(rows, dtype=np.int64)
    check_predictions(predictions, rows, model.name)
    if not np.array_equal(np.sort(rows), np.sort(datamodule.val_rows_)):
        raise ValueError(f"{model.name}.predict returned rows that are not the fold's {len(datamodule.val_rows_)} "
                         "val rows")
    return predictions, rows, {key: np.asarray(value) for key, value in model.fold_outputs(datamodule).items()}
