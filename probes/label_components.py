"""Label-component probing (the ``factor`` and ``factor_leaky`` probers, the original notebook's "factor probing"):
predict the scores of the retained principal components of the labels (PCA components, not factor-analysis
factors: those are :mod:`analyses.efa`).

The labels of the fold's training rows are standardised and decomposed by PCA; a Ridge maps stats-pooled features
to the component scores; predictions are mapped back to the 19 labels through the inverse transform, so the common
scoring applies, and the component scores themselves are kept per fold for a component-level R2.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.decomposition import PCA

from analyses.factor_retention import retained_factor_count
from analyses.probe_metrics import r2_per_dimension
from probes.base import Prober, stats_arrays
from probes.ridge import RidgeProber, training_rows
from probes.tensorboard import log_final

_MIN_SCALE = 1e-12


class LabelComponentProber(Prober):
    """Ridge from stats-pooled features to label-PCA component scores, PCA fitted on the fold's training labels.

    Parameters
    ----------
    n_components : int or "parallel", default="parallel"
        Components kept; ``"parallel"`` counts them by Horn's parallel analysis
        (:func:`analyses.factor_retention.retained_factor_count`) on the same labels the PCA is fitted on.
    alpha : float, default=1.0
        Ridge penalty (one multi-target solve over the components).
    n_simulations : int, default=100
        Simulated data sets of the parallel analysis.
    seed : int, default=0
        Seeds the parallel analysis.

    Attributes
    ----------
    label_mean_, label_scale_ : ndarray of shape (19,)
        Standardisation of the labels (population sd) before PCA.
    pca_ : sklearn.decomposition.PCA
        ``components_`` of shape ``(n_components_, 19)``, signs fixed by ``svd_flip``.
    ridge_ : RidgeProber
        Features ``(n, 2 * D)`` to component scores ``(n, n_components_)``.
    n_components_ : int
        Columns of :meth:`predict_components` (the component scores).
    n_pca_rows_ : int
        Rows the PCA saw (the training part; all labelled rows for ``factor_leaky``).
    n_outputs_ : int
        19: :meth:`predict` returns label predictions (inverse PCA transform of the predicted scores).

    Notes
    -----
    Scores ``z = (y - mean) / scale @ V^T`` with ``V = components_``; predictions ``y_hat = z_hat @ V * scale + mean``.
    With ``k < 19`` components the label predictions lie in a ``k``-dimensional subspace. Validation component
    targets are computed with the training-fitted PCA.
    """

    name = "factor"
    view = "stats"
    variant = "corrected"

    def __init__(self, n_components: int | str = "parallel", alpha: float = 1.0, n_simulations: int = 100,
                 seed: int = 0) -> None:
        self.n_components = n_components
        self.alpha = alpha
        self.n_simulations = n_simulations
        self.seed = seed

    def fit(self, datamodule: Any, logger: Any = None, trainer_kwargs: dict | None = None) -> LabelComponentProber:
        """Fit the label PCA and the Ridge on the fold's training part (``trainer_kwargs`` ignored)."""
        self._check_datamodule(datamodule)
        rows = training_rows(datamodule)
        features = datamodule.features(rows).astype(np.float64)  # (n_train, 2D)
        targets = np.asarray(datamodule.targets(rows), dtype=np.float64)  # (n_train, 19)
        pca_labels = self._pca_labels(datamodule, targets)  # (n_pca, 19)
        self.label_mean_ = pca_labels.mean(axis=0)
        self.label_scale_ = np.maximum(pca_labels.std(axis=0), _MIN_SCALE)
        standardised = (pca_labels - self.label_mean_) / self.label_scale_
        self.n_components_ = self._component_count(standardised)
        self.pca_ = PCA(n_components=self.n_components_, svd_solver="full").fit(standardised)
        self.n_pca_rows_ = int(pca_labels.shape[0])
        self.ridge_ = RidgeProber(alpha=self.alpha).fit_arrays(features, self.transform_labels(targets))
        self.n_outputs_ = targets.shape[1]
        train_loss = float(np.mean((self._to_labels(self.ridge_.predict_arrays(features)) - targets) ** 2))
        if logger:
            logger.log_metrics({"train/loss": train_loss}, step=0)
        log_final(logger, {**self.get_params(), "n_components_retained": self.n_components_},
                  {"hparams/train_loss": train_loss})
        return self

    def transform_labels(self, labels: np.ndarray) -> np.ndarray:
        """Component scores ``(n, n_components_)`` of labels ``(n, 19)`` under the fitted PCA."""
        if not hasattr(self, "pca_"):
            self._check_fitted()
        return self.pca_.transform((np.asarray(labels, dtype=np.float64) - self.label_mean_) / self.label_scale_)

    def predict_components(self, loader: Any) -> tuple[np.ndarray, np.ndarray]:
        """Predicted component scores ``(n_rows, n_components_)`` and rows ``(n_rows,)`` for a stats loader."""
        self._check_fitted()
        features, _, rows = stats_arrays(loader)
        return self.ridge_.predict_arrays(features), rows

    def predict(self, loader: Any) -> tuple[np.ndarray, np.ndarray]:
        """Label predictions ``(n_rows, 19)`` (inverse PCA of the predicted scores) and rows ``(n_rows,)``."""
        scores, rows = self.predict_components(loader)
        return self._to_labels(scores), rows

    def fold_outputs(self, datamodule: Any) -> dict[str, np.ndarray]:
        """Component predictions and targets of the fold's val rows, with the loadings.

        Returns
        -------
        dict
            ``component_rows (n_val,)``, ``component_predictions (n_val, k)``, ``component_targets (n_val, k)``,
            ``components (k, 19)``, ``explained_variance_ratio (k,)``.
        """
        scores, rows = self.predict_components(datamodule.predict_dataloader())
        return {
            "component_rows": rows,
            "component_predictions": scores,
            "component_targets": self.transform_labels(datamodule.targets(rows)),
            "components": self.pca_.components_,
            "explained_variance_ratio": self.pca_.explained_variance_ratio_,
        }

    def _pca_labels(self, datamodule: Any, targets: np.ndarray) -> np.ndarray:
        return targets

    def _component_count(self, standardised: np.ndarray) -> int:
        n_dimensions = standardised.shape[1]
        if self.n_components == "parallel":
            count = retained_factor_count(standardised, self.seed, "parallel", n_simulations=self.n_simulations)
            return max(int(count), 1)
        if isinstance(self.n_components, bool) or not isinstance(self.n_components, (int, np.integer)) \
                or not 1 <= self.n_components <= n_dimensions:
            raise ValueError(f"n_components must be 'parallel' or an integer in [1, {n_dimensions}], "
                             f"got {self.n_components!r}")
        return int(self.n_components)

    def _to_labels(self, scores: np.ndarray) -> np.ndarray:
        return self.pca_.inverse_transform(scores) * self.label_scale_ + self.label_mean_


class LeakyLabelComponentProber(LabelComponentProber):
    """:class:`LabelComponentProber` with the PCA (and its standardisation) fitted on ALL labelled rows (leaky).

    Reproduces the original notebook's leak on purpose: the validation rows' labels shape the components the
    training rows are projected on. For comparison with ``factor`` only; never a result on its own. The Ridge still
    sees the training rows only.
    """

    name = "factor_leaky"
    variant = "leaky"

    def _pca_labels(self, datamodule: Any, targets: np.ndarray) -> np.ndarray:
        return np.asarray(datamodule.cache.labels, dtype=np.float64)


def component_r2(fold_outputs: list[dict[str, np.ndarray]]) -> dict[str, Any]:
    """R2 of predicted component scores, per fold and pooled, from the folds' :meth:`LabelComponentProber.fold_outputs`.

    Returns
    -------
    dict
        ``per_fold``: list of ndarray ``(k_fold,)``, R2 of each component within each fold's val rows;
        ``pooled``: ndarray ``(k_min,)``, R2 of the leading ``k_min`` components (fewest kept by any fold) over
        all folds' val rows pooled; ``n_components``: list of ``k_fold``.

    Notes
    -----
    Each fold's components come from its own training labels; signs are fixed by ``svd_flip``, but components
    may still rotate between folds, so the per-fold R2 is the safer summary.
    """
    per_fold = [r2_per_dimension(out["component_targets"], out["component_predictions"]) for out in fold_outputs]
    n_components = [int(out["component_targets"].shape[1]) for out in fold_outputs]
    k_min = min(n_components)
    pooled = r2_per_dimension(
        np.concatenate([out["component_targets"][:, :k_min] for out in fold_outputs]),
        np.concatenate([out["component_predictions"][:, :k_min] for out in fold_outputs]),
    )
    return {"per_fold": per_fold, "pooled": pooled, "n_components": n_components}
