"""The :class:`Prober` contract every built-in and plugin prober follows, and helpers to read batches.

A prober is fitted on one cross-validation fold, given as a :class:`~datamodules.fold_datamodule.FoldDataModule`
of the prober's ``view``, and then predicts the 19 PercePiano labels (on [0, 1], rater mean / 7) for any
DataLoader of that view. It follows scikit-learn's estimator contract (``doc/developers/develop.rst``):
``__init__`` stores keyword hyper-parameters unchanged, ``fit`` validates them and returns ``self``, learned state
ends in ``_``, and ``predict`` refuses to run before ``fit``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError

from datamodules.batching import PackedBatch
from datamodules.dimensions import N_DIMENSIONS

VIEWS: tuple[str, ...] = ("frames", "stats")
#: ``faithful``: the original notebook's recipe; ``tuned``: hyper-parameters chosen inside each fold's training part;
#: ``corrected``: the original recipe with a protocol leak removed; ``leaky``: an original leak kept on purpose.
VARIANTS: tuple[str, ...] = ("faithful", "tuned", "corrected", "leaky")


class Prober(BaseEstimator):
    """Base class of probers: predict the ``(n_segments, 19)`` labels of a fold from frozen embeddings.

    Subclasses set the class attributes below, implement :meth:`fit` and :meth:`predict`, and list their
    hyper-parameters as keyword arguments of ``__init__`` (stored unchanged, so :meth:`get_params` and
    :func:`sklearn.base.clone` work).

    Attributes
    ----------
    name : str
        Registry name (``"ridge"``, ``"attention_es"``, a plugin's own name).
    view : {"frames", "stats"}
        Which batches the prober reads: ``(features (batch, 2 * D), targets (batch, 19), rows (batch,))`` in
        the ``stats`` view, :class:`~datamodules.batching.PackedBatch` in the ``frames`` view.
    variant : {"faithful", "tuned", "corrected", "leaky"}
        ``faithful``: the original notebook's recipe; ``tuned``: hyper-parameters chosen inside the training part
        of each fold; ``corrected``: the original recipe with its protocol leak removed (``factor``); ``leaky``:
        reproduces a leak of the original on purpose, for comparison only.
    learns_layer_weights : bool
        Whether, under ``--layers weighted``, the prober learns a softmax-weighted sum of the layers
        (:mod:`probes.layer_weights`); a prober that does not is fitted on the layers side by side.
    n_outputs_ : int
        Set by ``fit``: columns of :meth:`predict`'s output (always 19 for the label predictions).
    """

    name: ClassVar[str] = ""
    view: ClassVar[str] = "stats"
    variant: ClassVar[str] = "faithful"
    learns_layer_weights: ClassVar[bool] = False

    def fit(self, datamodule: Any, logger: Any = None, trainer_kwargs: dict | None = None) -> Prober:
        """Fit on the training part of one fold; returns ``self``.

        Parameters
        ----------
        datamodule : FoldDataModule
            A fold of this prober's ``view``; its ``fit_rows_`` (and ``inner_val_rows_`` when carved) are the
            training part. Its ``val_rows_`` are never used for fitting or selection.
        logger : lightning.pytorch.loggers.Logger, optional
            Receives loss curves and, at the end, ``log_hyperparams(params, final_metrics)``.
        trainer_kwargs : dict, optional
            Extra ``lightning.Trainer`` keywords (Lightning probers only).
        """
        raise NotImplementedError

    def predict(self, loader: Iterable) -> tuple[np.ndarray, np.ndarray]:
        """Predict every row of ``loader``.

        Parameters
        ----------
        loader : DataLoader
            Batches of this prober's ``view`` (any rows, in any order).

        Returns
        -------
        predictions : ndarray of shape (n_rows, 19), float64
            Labels on the [0, 1] scale (not clipped).
        rows : ndarray of shape (n_rows,), int64
            The cache row of each prediction, in the loader's order.
        """
        raise NotImplementedError

    @property
    def label(self) -> str:
        """``"<name> (<variant>)"``, e.g. ``"factor_leaky (leaky)"``, for reports."""
        return f"{self.name} ({self.variant})"

    def datamodule_kwargs(self) -> dict[str, Any]:
        """Keywords for the :class:`FoldDataModule` this prober expects (``view``; subclasses add more)."""
        return {"view": self.view}

    def fold_outputs(self, datamodule: Any) -> dict[str, np.ndarray]:
        """Learned quantities worth keeping beside a fold's predictions (e.g. ``alpha`` per dimension).

        Called after ``fit``; the default keeps nothing.
        """
        return {}

    def _check_fitted(self) -> None:
        if not hasattr(self, "n_outputs_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted yet: call fit(datamodule) before predict")

    def _check_datamodule(self, datamodule: Any) -> None:
        view = getattr(datamodule, "view", None)
        if view != self.view:
            raise ValueError(f"{type(self).__name__} reads the {self.view!r} view, but the datamodule has "
                             f"view={view!r}")
        datamodule.setup()


def unpack_batch(batch: Any) -> tuple[Any, torch.Tensor, torch.Tensor]:
    """Split a batch of either view into ``(inputs, targets (batch, 19), rows (batch,))``.

    ``inputs`` is the ``(batch, 2 * D)`` feature tensor in the ``stats`` view and ``(frames (n_frames, D),
    lengths (batch,))`` (packed) in the ``frames`` view.
    """
    if isinstance(batch, PackedBatch):
        return (batch.frames, batch.lengths), batch.targets, batch.rows
    features, targets, rows = batch
    return features, targets, rows


def stats_arrays(loader: Iterable) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Concatenate a ``stats``-view loader into ``features (n, 2 * D)``, ``targets (n, 19)``, ``rows (n,)`` (float64).

    Raises
    ------
    TypeError
        If the loader yields ``frames``-view batches.
    """
    features, targets, rows = [], [], []
    for batch in loader:
        if isinstance(batch, PackedBatch):
            raise TypeError("expected a 'stats'-view loader, got PackedBatch ('frames' view) batches")
        batch_features, batch_targets, batch_rows = batch
        features.append(np.asarray(batch_features, dtype=np.float64))
        targets.append(np.asarray(batch_targets, dtype=np.float64))
        rows.append(np.asarray(batch_rows, dtype=np.int64))
    if not rows:
        raise ValueError("the loader yielded no batches; expected at least one row to predict")
    return np.concatenate(features), np.concatenate(targets), np.concatenate(rows)


def check_predictions(predictions: np.ndarray, rows: np.ndarray, owner: str) -> None:
    """Raise ``ValueError`` unless ``predictions`` is finite ``(len(rows), 19)``; ``owner`` names the prober."""
    if predictions.shape != (len(rows), N_DIMENSIONS):
        raise ValueError(f"{owner}.predict returned shape {predictions.shape}; expected ({len(rows)}, {N_DIMENSIONS})")
    if not np.all(np.isfinite(predictions)):
        raise ValueError(f"{owner}.predict returned NaN or inf predictions")
