"""PerOutputBestWeights: early stopping of each output of a module of independent per-output models."""

from __future__ import annotations

import math
from typing import Any

import lightning as L
import numpy as np
import torch
from typing_extensions import override

from probes.base import unpack_batch


class PerOutputBestWeights(L.Callback):
    """Keep each output's best weights (lowest inner-val MSE) and load them when fitting ends.

    For a module made of independent per-output models whose weights are the tensors ``tensor_names``, each with
    the output on its first axis (:class:`~probes.mlp.BatchedMLPModule`: ``weight1``, ``bias1``, ``weight2``,
    ``bias2``), restoring slice ``k`` from the epoch where output ``k`` was best is early stopping of model ``k``
    alone. Training stops once no output has improved for ``patience`` epochs. Logs ``val/best_loss``: the sum over
    outputs of the best MSE so far, in units of each label's training variance (``target_scale`` of the module).

    Args:
        n_outputs: Outputs of the module (the first axis of every named tensor).
        patience: Validation epochs without any output improving before training stops.
        tensor_names: Attributes of the module holding all its trainable weights, output first. Views are fine
            (writes into them must reach the parameters).

    Raises:
        ValueError: If ``patience`` is not a positive integer; at fit start, if a named tensor's first axis is not
            ``n_outputs`` or the named tensors do not hold every trainable parameter.

    Example::

        trainer = Trainer(callbacks=[PerOutputBestWeights(n_outputs=19, patience=20)])
    """

    def __init__(self, n_outputs: int, patience: int,
                 tensor_names: tuple[str, ...] = ("weight1", "bias1", "weight2", "bias2")) -> None:
        if isinstance(patience, bool) or not isinstance(patience, (int, np.integer)) or patience < 1:
            raise ValueError(f"patience must be a positive integer, got {patience!r}")
        self.n_outputs = int(n_outputs)
        self.patience = int(patience)
        self.tensor_names = tuple(tensor_names)
        self.best_scores = np.full(self.n_outputs, math.inf)
        self.best_epochs = np.full(self.n_outputs, -1, dtype=np.int64)
        self.best_state: dict[str, torch.Tensor] | None = None
        self._squared_error = torch.zeros(0)
        self._count = 0

    @override
    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        for name in self.tensor_names:
            shape = tuple(getattr(pl_module, name).shape)
            if not shape or shape[0] != self.n_outputs:
                raise ValueError(f"PerOutputBestWeights: {type(pl_module).__name__}.{name} has shape {shape}; "
                                 f"expected the {self.n_outputs} outputs on its first axis")
        named = sum(getattr(pl_module, name).numel() for name in self.tensor_names)
        trainable = sum(parameter.numel() for parameter in pl_module.parameters() if parameter.requires_grad)
        if named != trainable:
            raise ValueError(f"PerOutputBestWeights: tensors {list(self.tensor_names)} hold {named} weights, but "
                             f"{type(pl_module).__name__} trains {trainable}; expected them to hold all")

    @override
    def on_validation_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._squared_error, self._count = torch.zeros(self.n_outputs, dtype=torch.float64), 0

    @override
    def on_validation_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                                batch_idx: int, dataloader_idx: int = 0) -> None:
        inputs, targets, _ = unpack_batch(batch)
        with torch.no_grad():
            predictions = pl_module.forward_inputs(inputs)  # (batch, n_outputs)
            error = (predictions - targets) / getattr(pl_module, "target_scale", 1.0)  # (batch, n_outputs)
        self._squared_error += (error.double() ** 2).sum(dim=0).cpu()
        self._count += targets.shape[0]

    @override
    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or self._count == 0:
            return
        scores = (self._squared_error / self._count).numpy()  # (n_outputs,)
        improved = scores < self.best_scores
        if np.any(improved):
            tensors = {name: getattr(pl_module, name).detach() for name in self.tensor_names}
            if self.best_state is None:
                self.best_state = {name: tensor.clone() for name, tensor in tensors.items()}
            for name, tensor in tensors.items():
                mask = torch.as_tensor(improved, device=tensor.device)
                self.best_state[name][mask] = tensor[mask]
            self.best_scores[improved] = scores[improved]
            self.best_epochs[improved] = trainer.current_epoch
        pl_module.log("val/best_loss", float(self.best_scores.sum()), on_epoch=True)
        if trainer.current_epoch - int(self.best_epochs.max()) >= self.patience:
            trainer.should_stop = True

    @override
    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.best_state is not None:
            with torch.no_grad():
                for name in self.tensor_names:
                    getattr(pl_module, name).copy_(self.best_state[name])

    @override
    def state_dict(self) -> dict[str, Any]:
        return {"best_scores": self.best_scores, "best_epochs": self.best_epochs, "best_state": self.best_state}

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.best_scores = state_dict["best_scores"]
        self.best_epochs = state_dict["best_epochs"]
        self.best_state = state_dict["best_state"]
