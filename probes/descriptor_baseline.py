"""The descriptor baseline: tuned Ridge on a handful of segment-level descriptors a listener would name.

A prober of frame embeddings has to beat what loudness, pedal use, note density and duration already predict. The
extractor declares the descriptors (:attr:`datamodules.extractors.base.FrameExtractor.descriptor_names`, e.g. the 10
of :mod:`datamodules.extractors.midi_descriptors`) and the store keeps them; this module cross-validates
:class:`~probes.ridge.TunedRidgeProber` on them with the probers' own protocol, so the baseline is scored like a
prober (:func:`analyses.probe_metrics.probe_scores`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.preprocessing import StandardScaler

from analyses.baselines import BaselinePredictionsResult, out_of_fold_rows
from datamodules.clip import DEFAULT_CLIP
from probes.ridge import TunedRidgeProber


def descriptor_baseline(
    descriptors: np.ndarray,
    names: Sequence[str],
    labels: np.ndarray,
    folds: Sequence[tuple[np.ndarray, np.ndarray]],
    groups: Sequence[str] | np.ndarray,
    clip: float | None = DEFAULT_CLIP,
) -> BaselinePredictionsResult:
    """Out-of-fold predictions of ``ridge_tuned`` fitted on the descriptors of each fold's training part.

    Parameters
    ----------
    descriptors : ndarray of shape (n_rows, n_descriptors)
        Finite segment-level descriptors of every row the folds index, in their own units.
    names : sequence of str, length n_descriptors
    labels : ndarray of shape (n_rows, n_dimensions)
        Labels on [0, 1].
    folds : sequence of (train_rows, val_rows)
    groups : sequence of str, length n_rows
        Excerpt of each row: ``ridge_tuned`` chooses alpha per dimension by 5-fold CV over whole excerpts of the
        training part.
    clip : float or None, default=DEFAULT_CLIP
        Standardised descriptors (training mean and deviation; scale 1 where constant) are clipped to
        ``[-clip, clip]``, as the probers' features are.

    Returns
    -------
    BaselinePredictionsResult
        ``name="descriptors"``, predictions for the union of the val parts.

    Raises
    ------
    ValueError
        If the shapes disagree or descriptors are not finite.
    """
    descriptors = np.asarray(descriptors, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.float64)
    if descriptors.ndim != 2 or descriptors.shape[0] != labels.shape[0] or descriptors.shape[1] != len(names):
        raise ValueError(f"descriptors has shape {descriptors.shape}; expected ({labels.shape[0]}, {len(names)}) "
                         f"for {list(names)}")
    if not np.isfinite(descriptors).all():
        raise ValueError("descriptors hold NaN or inf; expected finite values")
    groups = np.asarray(groups)
    rows, fold_of_row = out_of_fold_rows(folds, labels.shape[0])
    y_pred = np.empty((rows.size, labels.shape[1]))
    position = np.searchsorted(rows, np.arange(labels.shape[0]))
    alphas = []
    for train, val in folds:
        scaler = StandardScaler().fit(descriptors[train])
        standardised = scaler.transform(descriptors)  # (n_rows, n_descriptors)
        if clip is not None:
            np.clip(standardised, -clip, clip, out=standardised)
        ridge = TunedRidgeProber().fit_arrays(standardised[train], labels[train], groups=groups[train])
        y_pred[position[val]] = ridge.predict_arrays(standardised[val])
        alphas.append(np.median(ridge.alpha_))
    return BaselinePredictionsResult(
        name="descriptors", rows=rows, y_pred=y_pred, fold_of_row=fold_of_row, n_fallback=0,
        n_fallback_per_fold=(0,) * len(folds),
        protocol=(f"per fold: ridge_tuned (alpha per dimension by 5-fold excerpt-grouped CV in the training part; "
                  f"median alpha per fold {', '.join(f'{alpha:.3g}' for alpha in alphas)}) on {len(names)} "
                  f"segment descriptors standardised on the training rows"
                  + (f" and clipped to +-{clip:g}" if clip is not None else "") + f": {', '.join(names)}"),
    )
