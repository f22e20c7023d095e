"""Example prober plugin: the mean labels of the k nearest training segments in stats-feature space."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.neighbors import KNeighborsRegressor

from probes.base import Prober, stats_arrays


class NearestNeighboursProber(Prober):
    """k-nearest-neighbour regression on standardised stats-pooled features.

    Parameters
    ----------
    n_neighbors : int, default=5
        Training segments averaged per prediction.

    Attributes
    ----------
    model_ : sklearn.neighbors.KNeighborsRegressor
    n_outputs_ : int
        19.
    """

    name = "example_knn"
    view = "stats"
    variant = "faithful"

    def __init__(self, n_neighbors: int = 5) -> None:
        self.n_neighbors = n_neighbors

    def fit(self, datamodule: Any, logger: Any = None, trainer_kwargs: dict | None = None) -> NearestNeighboursProber:
        """Store the fold's training rows (``fit_rows_`` and any inner validation rows)."""
        self._check_datamodule(datamodule)
        if isinstance(self.n_neighbors, bool) or not isinstance(self.n_neighbors, int) or self.n_neighbors < 1:
            raise ValueError(f"n_neighbors must be a positive integer, got {self.n_neighbors!r}")
        rows = np.concatenate([datamodule.fit_rows_, datamodule.inner_val_rows_])
        n_neighbors = min(self.n_neighbors, len(rows))
        self.model_ = KNeighborsRegressor(n_neighbors=n_neighbors).fit(datamodule.features(rows),
                                                                       datamodule.targets(rows))
        self.n_outputs_ = 19
        return self

    def predict(self, loader: Any) -> tuple[np.ndarray, np.ndarray]:
        """Mean labels ``(n_rows, 19)`` of each row's nearest training segments, and the rows ``(n_rows,)``."""
        self._check_fitted()
        features, _, rows = stats_arrays(loader)
        return self.model_.predict(features.astype(np.float32)).astype(np.float64), rows
