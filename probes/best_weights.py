"""RestoreBestWeights: keep the best weights seen on a monitored metric in memory and load them at the end of fit."""

from __future__ import annotations

import math
from typing import Any

import lightning as L
import torch
from typing_extensions import override


class RestoreBestWeights(L.Callback):
    """Copy the module's weights whenever ``monitor`` improves, and load the best copy when fitting ends.

    Used with :class:`~lightning.pytorch.callbacks.EarlyStopping` on the inner validation split, so the model kept
    is the best one seen, not the last one. Nothing is written to disk.

    Args:
        monitor: Metric in ``trainer.callback_metrics`` (e.g. ``"val/loss"``).
        mode: ``"min"`` or ``"max"``.

    Raises:
        ValueError: If ``mode`` is not ``"min"`` or ``"max"``.
        KeyError: At the first validation end, if ``monitor`` was not logged.

    Example::

        trainer = Trainer(callbacks=[EarlyStopping("val/loss"), RestoreBestWeights("val/loss")])
    """

    def __init__(self, monitor: str = "val/loss", mode: str = "min") -> None:
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        self.monitor = monitor
        self.mode = mode
        self.best_score = math.inf if mode == "min" else -math.inf
        self.best_epoch = -1
        self.best_state: dict[str, torch.Tensor] | None = None

    @override
    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        if self.monitor not in trainer.callback_metrics:
            raise KeyError(f"RestoreBestWeights: monitor {self.monitor!r} was not logged; logged: "
                           f"{sorted(trainer.callback_metrics)}")
        score = float(trainer.callback_metrics[self.monitor])
        better = score < self.best_score if self.mode == "min" else score > self.best_score
        if better:
            self.best_score, self.best_epoch = score, trainer.current_epoch
            self.best_state = {key: value.detach().clone() for key, value in pl_module.state_dict().items()}

    @override
    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.best_state is not None:
            pl_module.load_state_dict(self.best_state)

    @override
    def state_dict(self) -> dict[str, Any]:
        return {"best_score": self.best_score, "best_epoch": self.best_epoch, "best_state": self.best_state}

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.best_score = state_dict["best_score"]
        self.best_epoch = state_dict["best_epoch"]
        self.best_state = state_dict["best_state"]
