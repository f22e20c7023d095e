"""A trained-looking prober (it takes ``max_epochs``) that fails on fold 1, for the worker-process tests."""

from __future__ import annotations

from typing import Any

import numpy as np

from probes.base import Prober, stats_arrays


class FailingOnFoldOneProber(Prober):
    """Predicts the training mean; raises ``ValueError("planted failure")`` when fitted on fold 1."""

    name = "failing_on_fold_one"
    view = "stats"
    variant = "faithful"

    def __init__(self, max_epochs: int = 1) -> None:
        self.max_epochs = max_epochs

    def fit(self, datamodule: Any, logger: Any = None, trainer_kwargs: dict | None = None) -> FailingOnFoldOneProber:
        self._check_datamodule(datamodule)
        if datamodule.fold == 1:
            raise ValueError("planted failure")
        self.mean_ = datamodule.targets(datamodule.fit_rows_).mean(axis=0)
        self.n_outputs_ = 19
        return self

    def predict(self, loader: Any) -> tuple[np.ndarray, np.ndarray]:
        self._check_fitted()
        _, _, rows = stats_arrays(loader)
        return np.tile(self.mean_, (len(rows), 1)), rows
