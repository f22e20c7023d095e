"""Ridge probers on stats-pooled features: the original fixed ``alpha = 1`` and a GCV-tuned variant.

Both wrap scikit-learn (``Ridge``/``RidgeCV``) and solve all 19 targets in one call: a 2-D target matrix shares one
factorisation of the features, never 19 separate fits.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from sklearn.linear_model import Ridge, RidgeCV

from probes.base import Prober, stats_arrays
from probes.grouped_alpha import grouped_cv_errors
from probes.tensorboard import log_final

#: Default alpha grid of :class:`TunedRidgeProber`: 37 values, 4 per decade, from 1e-2 to 1e7.
DEFAULT_ALPHAS: np.ndarray = np.logspace(-2, 7, 37)


def training_rows(datamodule: Any) -> np.ndarray:
    """All rows of the fold's training part: ``fit_rows_`` followed by ``inner_val_rows_`` (never ``val_rows_``)."""
    datamodule.setup()
    return np.concatenate([datamodule.fit_rows_, datamodule.inner_val_rows_]).astype(np.int64)


class RidgeProber(Prober):
    """Ridge regression from stats-pooled features ``[mean, std]`` to the 19 labels, one shared solve (faithful).

    Parameters
    ----------
    alpha : float, default=1.0
        L2 penalty, the original notebook's fixed value.
    fit_intercept : bool, default=True

    Attributes
    ----------
    model_ : sklearn.linear_model.Ridge
    coef_ : ndarray of shape (n_outputs, 2 * D)
    intercept_ : ndarray of shape (n_outputs,)
    n_features_in_ : int
    n_outputs_ : int
        19 after :meth:`fit`; more when :meth:`fit_arrays` is given stacked (e.g. permuted) targets.

    Notes
    -----
    Features are standardised by the fold's DataModule on the training rows. The fit uses the fold's whole
    training part (``fit_rows_`` and, if carved, ``inner_val_rows_``).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> features, targets = rng.normal(size=(20, 4)), rng.uniform(size=(20, 19))
    >>> RidgeProber().fit_arrays(features, targets).predict_arrays(features).shape
    (20, 19)
    """

    name = "ridge"
    view = "stats"
    variant = "faithful"

    def __init__(self, alpha: float = 1.0, fit_intercept: bool = True) -> None:
        self.alpha = alpha
        self.fit_intercept = fit_intercept

    def fit(self, datamodule: Any, logger: Any = None, trainer_kwargs: dict | None = None) -> RidgeProber:
        """Fit on the training part of ``datamodule``'s fold (``trainer_kwargs`` is ignored: no Lightning)."""
        self._check_datamodule(datamodule)
        rows = training_rows(datamodule)
        features = datamodule.features(rows).astype(np.float64)  # (n_train, 2D)
        targets = np.asarray(datamodule.targets(rows), dtype=np.float64)  # (n_train, 19)
        self.fit_arrays(features, targets, groups=np.asarray(datamodule.cache.excerpts)[rows])
        train_loss = float(np.mean((self.predict_arrays(features) - targets) ** 2))
        if logger:
            logger.log_metrics({"train/loss": train_loss}, step=0)
        log_final(logger, self._logged_params(), {"hparams/train_loss": train_loss})
        return self

    def fit_arrays(self, features: np.ndarray, targets: np.ndarray, groups: np.ndarray | None = None) -> RidgeProber:
        """Fit on arrays: ``features (n, p)``, ``targets (n, n_outputs)`` (any number of columns, one solve).

        ``groups`` (excerpt per row) is accepted for a uniform interface and unused: alpha is fixed.

        Raises
        ------
        ValueError
            If ``alpha`` is not a positive finite number, or the arrays disagree in rows or hold NaN/inf.
        """
        alpha = float(self.alpha)
        if not np.isfinite(alpha) or alpha <= 0:
            raise ValueError(f"alpha must be a positive finite number, got {self.alpha!r}")
        features, targets = _check_arrays(features, targets)
        self.model_ = Ridge(alpha=alpha, fit_intercept=self.fit_intercept).fit(features, targets)
        self._set_learned(targets.shape[1])
        return self

    def predict_arrays(self, features: np.ndarray) -> np.ndarray:
        """Predictions ``(n, n_outputs_)`` for ``features (n, 2 * D)``."""
        self._check_fitted()
        return self.model_.predict(np.asarray(features, dtype=np.float64)).reshape(len(features), -1)

    def predict(self, loader: Any) -> tuple[np.ndarray, np.ndarray]:
        """Predictions ``(n_rows, 19)`` and rows ``(n_rows,)`` for a ``stats``-view loader."""
        self._check_fitted()
        features, _, rows = stats_arrays(loader)
        return self.predict_arrays(features), rows

    def _set_learned(self, n_outputs: int) -> None:
        self.coef_ = np.atleast_2d(self.model_.coef_)
        self.intercept_ = np.atleast_1d(self.model_.intercept_)
        self.n_features_in_ = int(self.model_.n_features_in_)
        self.n_outputs_ = int(n_outputs)

    def _logged_params(self) -> dict[str, Any]:
        return self.get_params()


class TunedRidgeProber(RidgeProber):
    """Ridge with one alpha per dimension chosen inside the fold's training part, by default over whole excerpts.

    Parameters
    ----------
    alphas : sequence of float, optional
        Candidate penalties; default :data:`DEFAULT_ALPHAS` (``logspace(-2, 7, 37)``).
    fit_intercept : bool, default=True
    cv : {"excerpt", "gcv"}, default="excerpt"
        ``"excerpt"``: 5-fold cross-validation over whole excerpts of the training part (the outer folds hold out
        whole excerpts, so the inner search must too); when ``fit_arrays`` gets no ``groups`` (e.g. a readout on
        pooled features called without them) it falls back to GCV and records that in ``cv_used_``.
        ``"gcv"``: efficient leave-one-segment-out, which leaves the
        other performances of a held-out segment's excerpt in training and so favours small alphas that memorise
        excerpts (on the real MIDI features it gave a negative mean R2); kept for comparison.

    Attributes
    ----------
    model_ : sklearn.linear_model.RidgeCV
    alphas_ : ndarray of shape (n_alphas,)
        The grid used.
    alpha_ : ndarray of shape (n_outputs,)
        Chosen penalty per target.
    n_alpha_at_lower_edge_, n_alpha_at_upper_edge_ : int
        Targets whose alpha is the smallest / largest of the grid. The largest means no usable linear signal (the
        prediction is close to the training mean), a legitimate outcome; the smallest warns.
    coef_, intercept_, n_features_in_, n_outputs_
        As in :class:`RidgeProber`.

    Warns
    -----
    UserWarning
        When a chosen alpha is the smallest of the grid (the optimum may lie below it).

    Notes
    -----
    ``RidgeCV(alphas, alpha_per_target=True)`` computes the exact leave-one-out error of every alpha and target from
    one eigendecomposition of the Gram matrix (``n <= p``) or one SVD of the features (``n > p``) (Golub, Heath &
    Wahba 1979), so all targets and alphas cost one factorisation. Leave-one-out runs over segments, not excerpts:
    other performances of a held-out segment's excerpt stay in its training set, so the chosen alpha may be a little
    smaller than an excerpt-grouped search would choose. The fold's validation rows are never seen.

    References
    ----------
    With ``cv="excerpt"`` the search is :func:`probes.grouped_alpha.grouped_cv_errors` (one SVD per inner fold)
    and the final fit is one ``Ridge(alpha=alpha_)`` solve with a penalty per target.

    Golub, G. H., Heath, M., & Wahba, G. (1979). Generalized cross-validation as a method for choosing a good ridge
    parameter. Technometrics 21(2), 215-223. doi:10.1080/00401706.1979.10489751
    """

    name = "ridge_tuned"
    variant = "tuned"

    def __init__(self, alphas: Any = None, fit_intercept: bool = True, cv: str = "excerpt") -> None:
        self.alphas = alphas
        self.fit_intercept = fit_intercept
        self.cv = cv

    def fit_arrays(self, features: np.ndarray, targets: np.ndarray,
                   groups: np.ndarray | None = None) -> TunedRidgeProber:
        """Choose alpha per target (grouped CV over ``groups``, or GCV) and fit.

        Raises
        ------
        ValueError
            If ``alphas`` is not a non-empty 1-D sequence of positive finite numbers, ``cv`` is unknown, ``groups``
            has not one entry per row, or bad arrays.
        """
        grid = DEFAULT_ALPHAS if self.alphas is None else np.asarray(self.alphas, dtype=np.float64)
        if grid.ndim != 1 or grid.size == 0 or not np.all(np.isfinite(grid)) or np.any(grid <= 0):
            raise ValueError(f"alphas must be a non-empty 1-D sequence of positive finite numbers, got {self.alphas!r}")
        if self.cv not in ("excerpt", "gcv"):
            raise ValueError(f"cv must be 'excerpt' or 'gcv', got {self.cv!r}")
        features, targets = _check_arrays(features, targets)
        self.alphas_ = grid
        if groups is not None and len(groups) != len(features):
            raise ValueError(f"groups has {len(groups)} entries, expected one per feature row ({len(features)})")
        self.cv_used_ = "excerpt" if self.cv == "excerpt" and groups is not None else "gcv"
        if self.cv_used_ == "gcv":
            self.model_ = RidgeCV(alphas=grid, fit_intercept=self.fit_intercept, alpha_per_target=True)
            self.model_.fit(features, targets)
            chosen = self.model_.alpha_
        else:
            errors = grouped_cv_errors(features, targets, np.asarray(groups), grid)  # (n_alphas, n_targets)
            chosen = grid[np.argmin(errors, axis=0)]
            # One SVD serves every target's own alpha (sklearn's svd solver); the default Cholesky solver would
            # factorise once per target when the alphas differ (19 x 1,000 times in a permutation null).
            self.model_ = Ridge(alpha=chosen, fit_intercept=self.fit_intercept, solver="svd").fit(features, targets)
        self.alpha_ = np.broadcast_to(np.asarray(chosen, dtype=np.float64), (targets.shape[1],)).copy()
        self.n_alpha_at_lower_edge_ = int(np.sum(self.alpha_ == grid.min())) if grid.size > 1 else 0
        self.n_alpha_at_upper_edge_ = int(np.sum(self.alpha_ == grid.max())) if grid.size > 1 else 0
        if self.n_alpha_at_lower_edge_:
            warnings.warn(
                f"ridge_tuned: {self.n_alpha_at_lower_edge_} of {targets.shape[1]} targets chose the smallest alpha of "
                f"the grid ({grid.min():g}); the optimum may lie below it",
                UserWarning,
                stacklevel=2,
            )
        self._set_learned(targets.shape[1])
        return self

    def fold_outputs(self, datamodule: Any) -> dict[str, np.ndarray]:
        """``{"alpha": alpha_ (19,)}``."""
        self._check_fitted()
        return {"alpha": self.alpha_}

    def _logged_params(self) -> dict[str, Any]:
        params = self.get_params()
        params["alpha_median"] = float(np.median(self.alpha_))
        return params


def _check_arrays(features: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    features = np.asarray(features, dtype=np.float64)
    targets = np.asarray(targets, dtype=np.float64)
    if features.ndim != 2 or targets.ndim != 2 or features.shape[0] != targets.shape[0]:
        raise ValueError(f"features {features.shape} and targets {targets.shape} must be 2-D with equal rows")
    if not (np.all(np.isfinite(features)) and np.all(np.isfinite(targets))):
        raise ValueError("features or targets hold NaN or inf; expected finite values")
    return features, targets
