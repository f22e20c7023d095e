"""Trained-looking probers (they take ``max_epochs``) that misbehave on purpose, for the Ray executor's tests.

Each writes one line per attempt into ``attempts_dir`` (``<prober>_fold<k>``), so a test can count the attempts
Ray made across its worker processes.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import numpy as np

from probes.base import Prober, stats_arrays


class _MeanProber(Prober):
    """Predicts the training mean; subclasses decide how fitting fold 1 goes wrong."""

    view = "stats"
    variant = "faithful"

    def __init__(self, attempts_dir: str = "", max_epochs: int = 1) -> None:
        self.attempts_dir = attempts_dir
        self.max_epochs = max_epochs

    def fit(self, datamodule: Any, logger: Any = None, trainer_kwargs: dict | None = None) -> _MeanProber:
        self._check_datamodule(datamodule)
        log = Path(self.attempts_dir) / f"{self.name}_fold{datamodule.fold}"
        with log.open("a") as handle:
            handle.write(f"{os.getpid()}\n")
        if datamodule.fold == 1:
            self._misbehave(len(log.read_text().splitlines()))
        self.mean_ = datamodule.targets(datamodule.fit_rows_).mean(axis=0)
        self.n_outputs_ = 19
        return self

    def _misbehave(self, attempt: int) -> None:
        raise NotImplementedError

    def predict(self, loader: Any) -> tuple[np.ndarray, np.ndarray]:
        self._check_fitted()
        _, _, rows = stats_arrays(loader)
        return np.tile(self.mean_, (len(rows), 1)), rows


class KilledOnceProber(_MeanProber):
    """Kills its own worker process (SIGKILL) the first time it fits fold 1; the retry succeeds."""

    name = "killed_once"

    def _misbehave(self, attempt: int) -> None:
        if attempt == 1:
            os.kill(os.getpid(), signal.SIGKILL)


class AlwaysFailingProber(_MeanProber):
    """Raises ``ValueError("planted failure")`` on every attempt at fold 1."""

    name = "always_failing"

    def _misbehave(self, attempt: int) -> None:
        raise ValueError(f"planted failure (attempt {attempt})")
