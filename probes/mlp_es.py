"""The per-dimension MLPs on stats-pooled features, early-stopped one by one on an inner validation split (tuned).

The faithful :class:`~probes.mlp.MLPProber` trains 19 independent MLPs for a fixed 80 epochs. This variant
changes three things, all inside the fold's training part: targets are standardised by the fit rows' mean and
standard deviation, so every dimension's loss (and gradient) has the same scale; every MLP keeps the weights of
the epoch with its own lowest inner-validation error (the 19 MLPs are independent, so this is early stopping of
each MLP); training stops once no MLP has improved for ``patience`` epochs.
"""

from __future__ import annotations

import math
from typing import Any

import lightning as L
import numpy as np
import torch
from typing_extensions import override

from datamodules.dimensions import N_DIMENSIONS
from probes.base import Prober, unpack_batch
from probes.mlp import BatchedMLPModule
from probes.tensorboard import log_final
from probes.training import final_metrics, fit_module, map_batches, trained_device

#: Label columns whose training standard deviation is below this are scaled by 1 instead (constant columns).
_MIN_TARGET_SCALE = 1e-8


def target_scaling(targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-column mean and standard deviation of ``targets`` ``(n, n_outputs)``; 1 where a column is constant.

    Examples
    --------
    >>> target_scaling(np.array([[0.2, 0.5], [0.4, 0.5]]))
    (array([0.3, 0.5]), array([0.1, 1. ]))
    """
    targets = np.asarray(targets, dtype=np.float64)
    scale = targets.std(axis=0)
    return targets.mean(axis=0), np.where(scale < _MIN_TARGET_SCALE, 1.0, scale)


class StandardizedMLPModule(BatchedMLPModule):
    """:class:`~probes.mlp.BatchedMLPModule` trained on standardised targets; outputs are on the label scale.

    ``forward`` returns ``raw * target_scale + target_mean`` and the loss is the sum over outputs of each output's
    mean squared error divided by its training variance (a sum of per-output standardised MSEs, so the MLPs stay
    independent). Call :meth:`set_target_scaling` before training; the default (mean 0, scale 1) is the plain module.

    Parameters
    ----------
    input_dim, n_outputs, hidden_dim, learning_rate, weight_decay
        As in :class:`~probes.mlp.BatchedMLPModule`.
    """

    def __init__(
        self, input_dim: int, n_outputs: int = N_DIMENSIONS, hidden_dim: int = 256,
        learning_rate: float = 1e-3, weight_decay: float = 1e-3,
    ) -> None:  # fmt: skip
        super().__init__(input_dim=input_dim, n_outputs=n_outputs, hidden_dim=hidden_dim, learning_rate=learning_rate,
                         weight_decay=weight_decay)
        self.register_buffer("target_mean", torch.zeros(n_outputs))
        self.register_buffer("target_scale", torch.ones(n_outputs))

    def set_target_scaling(self, mean: np.ndarray, scale: np.ndarray) -> None:
        """Set the label mean and scale ``(n_outputs,)`` (from the fit rows only)."""
        self.target_mean.copy_(torch.as_tensor(mean, dtype=self.target_mean.dtype))
        self.target_scale.copy_(torch.as_tensor(scale, dtype=self.target_scale.dtype))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Predictions on the label scale, ``(batch, n_outputs)``."""
        return super().forward(features) * self.target_scale + self.target_mean  # (batch, n_outputs)

    def loss(self, predictions: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Sum over outputs of the standardised mean squared error."""
        return (((predictions - targets) / self.target_scale) ** 2).mean(dim=0).sum()


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
                 tensor_names: tuple[str, ...] = ("weight1", "bias1", "weight2", "bias2")) -> None:  # fmt: skip
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
                                batch_idx: int, dataloader_idx: int = 0) -> None:  # fmt: skip
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


class MLPEarlyStoppingProber(Prober):
    """Per-dimension two-layer MLPs on stats-pooled features, each early-stopped on an inner split (tuned).

    Parameters
    ----------
    hidden_dim : int, default=256
    learning_rate : float, default=1e-3
    weight_decay : float, default=1e-3
        As in the faithful :class:`~probes.mlp.MLPProber`.
    max_epochs : int, default=100
        Upper bound; training stops once no dimension's inner-validation MSE has improved for ``patience`` epochs.
    patience : int, default=10
    batch_size : int, default=64
    inner_val_fraction : float, default=0.2
        Share of the fold's training rows (whole excerpts) held out for early stopping; the DataModule must be built
        with it (:meth:`datamodule_kwargs` says so). The fold's validation rows are never used.
    seed : int, default=0
        Seeds the initial weights (``torch.manual_seed`` inside ``fit``; global RNG restored afterwards).
    accelerator : str, default="auto"

    Attributes
    ----------
    module_ : StandardizedMLPModule
        With every dimension's best weights restored.
    target_mean_, target_scale_ : ndarray of shape (19,)
        Label standardisation, from the fit rows (the inner validation rows excluded).
    best_epoch_ : ndarray of shape (19,), int64
        Epoch whose weights each dimension's MLP keeps.
    best_inner_val_loss_ : ndarray of shape (19,)
        That epoch's inner-validation MSE of each dimension, in units of the label's training variance.
    device_ : torch.device
    n_outputs_ : int
        19.

    Raises
    ------
    ValueError
        In ``fit``, for bad hyper-parameters or a DataModule without inner validation rows.

    Notes
    -----
    Selection uses the inner validation rows only: the fold's validation rows are predicted once, at the end.
    A dimension without learnable signal keeps an early epoch (close to its training mean), so this variant does
    not overfit noise dimensions the way 80 fixed epochs do.
    """

    name = "mlp_es"
    view = "stats"
    variant = "tuned"

    def __init__(
        self, hidden_dim: int = 256, learning_rate: float = 1e-3, weight_decay: float = 1e-3, max_epochs: int = 100,
        patience: int = 10, batch_size: int = 64, inner_val_fraction: float = 0.2, seed: int = 0,
        accelerator: str = "auto",
    ) -> None:  # fmt: skip
        self.hidden_dim = hidden_dim
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.max_epochs = max_epochs
        self.patience = patience
        self.batch_size = batch_size
        self.inner_val_fraction = inner_val_fraction
        self.seed = seed
        self.accelerator = accelerator

    def datamodule_kwargs(self) -> dict[str, Any]:
        """``view="stats"``, ``batch_size`` and ``inner_val_fraction``."""
        return {"view": self.view, "batch_size": self.batch_size, "inner_val_fraction": self.inner_val_fraction}

    def fit(self, datamodule: Any, logger: Any = None, trainer_kwargs: dict | None = None) -> MLPEarlyStoppingProber:
        """Train the 19 MLPs on ``fit_rows_``, each keeping its best epoch on ``inner_val_rows_``."""
        self._check_datamodule(datamodule)
        self._validate(datamodule)
        self.target_mean_, self.target_scale_ = target_scaling(datamodule.targets(datamodule.fit_rows_))
        input_dim = datamodule.features(datamodule.fit_rows_[:1]).shape[1]
        best = PerOutputBestWeights(n_outputs=N_DIMENSIONS, patience=self.patience)
        module, trainer = fit_module(
            self._builder(input_dim), datamodule, seed=self.seed, max_epochs=self.max_epochs,
            accelerator=self.accelerator, logger=logger, callbacks=[best], trainer_kwargs=trainer_kwargs,
        )  # fmt: skip
        self.best_epoch_, self.best_inner_val_loss_ = best.best_epochs.copy(), best.best_scores.copy()
        self.device_ = trained_device(trainer)
        self.module_ = module.eval().to(self.device_)
        self.n_outputs_ = N_DIMENSIONS
        log_final(logger, self.get_params(), {
            **final_metrics(trainer), "hparams/best_epoch_median": float(np.median(self.best_epoch_)),
            "hparams/best_inner_val_loss": float(self.best_inner_val_loss_.sum()),
        })  # fmt: skip
        return self

    def predict(self, loader: Any) -> tuple[np.ndarray, np.ndarray]:
        """Predictions ``(n_rows, 19)`` on the label scale and rows ``(n_rows,)`` for a ``stats``-view loader."""
        self._check_fitted()
        predictions, _, rows = map_batches(self.module_, loader, self.device_)
        return predictions, rows

    def fold_outputs(self, datamodule: Any) -> dict[str, np.ndarray]:
        """``{"best_epoch": (19,), "best_inner_val_loss": (19,)}``."""
        self._check_fitted()
        return {"best_epoch": self.best_epoch_, "best_inner_val_loss": self.best_inner_val_loss_}

    def _builder(self, input_dim: int):
        def build() -> StandardizedMLPModule:
            module = StandardizedMLPModule(input_dim=input_dim, n_outputs=N_DIMENSIONS, hidden_dim=self.hidden_dim,
                                           learning_rate=self.learning_rate, weight_decay=self.weight_decay)
            module.set_target_scaling(self.target_mean_, self.target_scale_)
            return module

        return build

    def _validate(self, datamodule: Any) -> None:
        for name in ("hidden_dim", "max_epochs", "patience", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not self.learning_rate > 0 or not self.weight_decay >= 0:
            raise ValueError(f"learning_rate must be > 0 and weight_decay >= 0, got {self.learning_rate!r}, "
                             f"{self.weight_decay!r}")
        if len(datamodule.inner_val_rows_) == 0:
            raise ValueError(f"mlp_es needs an inner validation split: build the FoldDataModule with "
                             f"inner_val_fraction={self.inner_val_fraction} (got inner_val_fraction="
                             f"{datamodule.inner_val_fraction})")
