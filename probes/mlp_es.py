"""The per-dimension MLPs on stats-pooled features, early-stopped one by one on an inner validation split (tuned).

The faithful :class:`~probes.mlp.MLPProber` trains 19 independent MLPs for a fixed 80 epochs. This variant
changes three things, all inside the fold's training part: targets are standardised by the fit rows' mean and
standard deviation, so every dimension's loss (and gradient) has the same scale; every MLP keeps the weights of
the epoch with its own lowest inner-validation error (the 19 MLPs are independent, so this is early stopping of
each MLP); training stops once no MLP has improved for ``patience`` epochs.

Hyper-parameters are searched inside the training part too (:mod:`probes.search`): ``n_candidates`` settings of
width, learning rate, weight decay and dropout are each trained as above (side by side in one loop,
:mod:`probes.candidate_bank`), and every dimension keeps the candidate with its lowest inner-validation error. The
19 MLPs are independent, so this is a per-dimension search; the chosen MLPs are merged into one module (narrower
ones padded with zero units, which compute nothing) for prediction.
"""

from __future__ import annotations

import json
import time
from typing import Any

import numpy as np
import torch

from datamodules.dimensions import N_DIMENSIONS
from probes.base import Prober
from probes.candidate_bank import CandidateSelection, fit_candidates
from probes.layer_weights import layer_shape
from probes.mlp import BatchedMLPModule
from probes.search import search_candidates
from probes.tensorboard import log_final
from probes.training import SeededDropout, map_batches, trained_device

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
    input_dim, n_outputs, hidden_dim, learning_rate, weight_decay, n_layers
        As in :class:`~probes.mlp.BatchedMLPModule`.
    dropout : float, default=0.0
        Dropout probability on the hidden units during training (none at evaluation), with the module's own
        generator (:class:`~probes.training.SeededDropout`).
    """

    def __init__(
        self, input_dim: int, n_outputs: int = N_DIMENSIONS, hidden_dim: int = 256,
        learning_rate: float = 1e-3, weight_decay: float = 1e-3, dropout: float = 0.0, n_layers: int = 1,
    ) -> None:
        super().__init__(input_dim=input_dim, n_outputs=n_outputs, hidden_dim=hidden_dim, learning_rate=learning_rate,
                         weight_decay=weight_decay, n_layers=n_layers)
        self.dropout = SeededDropout(dropout)
        self.register_buffer("target_mean", torch.zeros(n_outputs))
        self.register_buffer("target_scale", torch.ones(n_outputs))

    def set_target_scaling(self, mean: np.ndarray, scale: np.ndarray) -> None:
        """Set the label mean and scale ``(n_outputs,)`` (from the fit rows only)."""
        self.target_mean.copy_(torch.as_tensor(mean, dtype=self.target_mean.dtype))
        self.target_scale.copy_(torch.as_tensor(scale, dtype=self.target_scale.dtype))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Predictions on the label scale, ``(batch, n_outputs)``."""
        hidden = self.dropout(self.hidden(features))  # (batch, n_outputs, hidden_dim)
        return self.output(hidden) * self.target_scale + self.target_mean  # (batch, n_outputs)

    def loss(self, predictions: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Sum over outputs of the standardised mean squared error."""
        return (((predictions - targets) / self.target_scale) ** 2).mean(dim=0).sum()


#: Grid of :class:`MLPEarlyStoppingProber`'s search: width, Adam's learning rate and L2 term, hidden dropout.
SEARCH_SPACE: dict[str, tuple] = {
    "hidden_dim": (64, 256), "learning_rate": (3e-4, 1e-3, 3e-3), "weight_decay": (1e-3, 1e-2), "dropout": (0.0, 0.3),
}


class MLPEarlyStoppingProber(Prober):
    """Per-dimension two-layer MLPs on stats-pooled features, each early-stopped and tuned on an inner split (tuned).

    Parameters
    ----------
    hidden_dim : int, default=256
    learning_rate : float, default=1e-3
    weight_decay : float, default=1e-3
        As in the faithful :class:`~probes.mlp.MLPProber`.
    dropout : float, default=0.0
        Dropout on the hidden units during training.
    max_epochs : int, default=100
        Upper bound; training stops once no dimension's inner-validation MSE has improved for ``patience`` epochs.
    patience : int, default=10
    batch_size : int, default=64
    inner_val_fraction : float, default=0.2
        Share of the fold's training rows (whole excerpts) held out for early stopping and the search; the
        DataModule must be built with it (:meth:`datamodule_kwargs` says so). The fold's validation rows are never
        used.
    n_candidates : int, default=4
        Hyper-parameter settings tried (:func:`probes.search.search_candidates`): the four above first, then points
        of ``search_space`` drawn with ``seed``. 1: no search.
    search_space : dict, optional
        Values per searched hyper-parameter (names among ``hidden_dim``, ``learning_rate``, ``weight_decay``,
        ``dropout``); default :data:`SEARCH_SPACE`.
    seed : int, default=0
        Seeds the initial weights (``torch.manual_seed`` inside ``fit``; global RNG restored afterwards) and the draw
        of candidates.
    accelerator : str, default="auto"

    Attributes
    ----------
    module_ : StandardizedMLPModule
        Every dimension's chosen MLP at its best epoch, merged (width: the widest chosen; narrower MLPs padded with
        zero units).
    candidates_ : list of dict
        The settings tried, candidate 0 first.
    chosen_candidate_ : ndarray of shape (19,), int64
        Index into ``candidates_`` each dimension keeps.
    search_inner_val_loss_ : ndarray of shape (n_candidates, 19)
        Each candidate's best inner-validation MSE per dimension (units of the label's training variance).
    search_seconds_ : float
        Wall time of training all candidates.
    target_mean_, target_scale_ : ndarray of shape (19,)
        Label standardisation, from the fit rows (the inner validation rows excluded).
    best_epoch_ : ndarray of shape (19,), int64
        Epoch whose weights each dimension's chosen MLP keeps.
    best_inner_val_loss_ : ndarray of shape (19,)
        That epoch's inner-validation MSE of each dimension (the minimum of ``search_inner_val_loss_``).
    device_ : torch.device
    n_outputs_ : int
        19.

    Raises
    ------
    ValueError
        In ``fit``, for bad hyper-parameters or a DataModule without inner validation rows.

    Notes
    -----
    Selection (epochs and settings) uses the inner validation rows only: the fold's validation rows are predicted
    once, at the end. The same inner rows choose the epoch and the setting, so ``best_inner_val_loss_`` is an
    optimistic estimate; the out-of-fold R2 is not. The candidates train side by side in one loop
    (:class:`~probes.candidate_bank.CandidateBank`: each batch read once, each candidate's MLPs early-stopped on
    their own, exactly as if trained alone).
    A dimension without learnable signal keeps an early epoch (close to its training mean), so this variant does
    not overfit noise dimensions the way 80 fixed epochs do.
    """

    name = "mlp_es"
    view = "stats"
    variant = "tuned"
    learns_layer_weights = True

    def __init__(
        self, hidden_dim: int = 256, learning_rate: float = 1e-3, weight_decay: float = 1e-3, dropout: float = 0.0,
        max_epochs: int = 100, patience: int = 10, batch_size: int = 64, inner_val_fraction: float = 0.2,
        n_candidates: int = 4, search_space: dict | None = None, seed: int = 0, accelerator: str = "auto",
    ) -> None:
        self.hidden_dim = hidden_dim
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.dropout = dropout
        self.max_epochs = max_epochs
        self.patience = patience
        self.batch_size = batch_size
        self.inner_val_fraction = inner_val_fraction
        self.n_candidates = n_candidates
        self.search_space = search_space
        self.seed = seed
        self.accelerator = accelerator

    def datamodule_kwargs(self) -> dict[str, Any]:
        """``view="stats"``, ``batch_size`` and ``inner_val_fraction``."""
        return {"view": self.view, "batch_size": self.batch_size, "inner_val_fraction": self.inner_val_fraction}

    def fit(self, datamodule: Any, logger: Any = None, trainer_kwargs: dict | None = None) -> MLPEarlyStoppingProber:
        """Train every candidate's 19 MLPs on ``fit_rows_``; each dimension keeps its best candidate and epoch."""
        self._check_datamodule(datamodule)
        self.candidates_ = search_candidates(self.get_params(), self.search_space or SEARCH_SPACE, self.n_candidates,
                                             self.seed)
        for candidate in self.candidates_:
            self._validate(datamodule, {**self.get_params(), **candidate})
        self.target_mean_, self.target_scale_ = target_scaling(datamodule.targets(datamodule.fit_rows_))
        shape = layer_shape(datamodule)
        started = time.perf_counter()
        names = ("weight1", "bias1", "weight2", "bias2", *(("layer_logits",) if shape[0] > 1 else ()))
        selections = [CandidateSelection(N_DIMENSIONS, self.patience, per_output=True, tensor_names=names)
                      for _ in self.candidates_]
        bank, trainer = fit_candidates(
            [self._builder(shape, candidate) for candidate in self.candidates_], selections, datamodule,
            seed=self.seed, max_epochs=self.max_epochs, accelerator=self.accelerator, logger=logger,
            trainer_kwargs=trainer_kwargs,
        )
        modules = [candidate.eval() for candidate in bank.candidates]
        losses = [selection.best_scores for selection in selections]
        epochs = [selection.best_epochs for selection in selections]
        self.search_seconds_ = time.perf_counter() - started
        self.search_inner_val_loss_ = np.stack(losses)  # (n_candidates, 19)
        self.chosen_candidate_ = np.argmin(self.search_inner_val_loss_, axis=0).astype(np.int64)
        outputs = np.arange(N_DIMENSIONS)
        self.best_epoch_ = np.stack(epochs)[self.chosen_candidate_, outputs]
        self.best_inner_val_loss_ = self.search_inner_val_loss_[self.chosen_candidate_, outputs]
        self.device_ = trained_device(trainer)
        self.module_ = merge_outputs(modules, self.chosen_candidate_).eval().to(self.device_)
        self.n_outputs_ = N_DIMENSIONS
        log_final(logger, self.get_params(), {
            "hparams/best_epoch_median": float(np.median(self.best_epoch_)),
            "hparams/best_inner_val_loss": float(self.best_inner_val_loss_.sum()),
        })
        return self

    def predict(self, loader: Any) -> tuple[np.ndarray, np.ndarray]:
        """Predictions ``(n_rows, 19)`` on the label scale and rows ``(n_rows,)`` for a ``stats``-view loader."""
        self._check_fitted()
        predictions, _, rows = map_batches(self.module_, loader, self.device_)
        return predictions, rows

    def fold_outputs(self, datamodule: Any) -> dict[str, np.ndarray]:
        """Best epoch and inner loss per dimension, the chosen candidate per dimension, every candidate's inner
        losses ``(n_candidates, 19)``, the candidates' settings (JSON) and the search's wall time."""
        self._check_fitted()
        return {"best_epoch": self.best_epoch_, "best_inner_val_loss": self.best_inner_val_loss_,
                "chosen_candidate": self.chosen_candidate_, "search_inner_val_loss": self.search_inner_val_loss_,
                "candidates": np.asarray(json.dumps(self.candidates_)),
                "search_seconds": np.asarray(self.search_seconds_)}

    def _builder(self, shape: tuple[int, int], candidate: dict[str, Any]):
        settings = {**self.get_params(), **candidate}
        n_layers, width = shape

        def build() -> StandardizedMLPModule:
            module = StandardizedMLPModule(
                input_dim=2 * width, n_layers=n_layers, n_outputs=N_DIMENSIONS, hidden_dim=settings["hidden_dim"],
                learning_rate=settings["learning_rate"], weight_decay=settings["weight_decay"],
                dropout=settings["dropout"],
            )
            module.set_target_scaling(self.target_mean_, self.target_scale_)
            return module

        return build

    def _validate(self, datamodule: Any, settings: dict[str, Any]) -> None:
        for name in ("hidden_dim", "max_epochs", "patience", "batch_size"):
            value = settings[name]
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not settings["learning_rate"] > 0 or not settings["weight_decay"] >= 0:
            raise ValueError(f"learning_rate must be > 0 and weight_decay >= 0, got {settings['learning_rate']!r}, "
                             f"{settings['weight_decay']!r}")
        if not 0 <= settings["dropout"] < 1:
            raise ValueError(f"dropout must be in [0, 1), got {settings['dropout']!r}")
        if len(datamodule.inner_val_rows_) == 0:
            raise ValueError(f"mlp_es needs an inner validation split: build the FoldDataModule with "
                             f"inner_val_fraction={self.inner_val_fraction} (got inner_val_fraction="
                             f"{datamodule.inner_val_fraction})")


def merge_outputs(modules: list[StandardizedMLPModule], chosen: np.ndarray) -> StandardizedMLPModule:
    """One module whose output ``k`` is output ``k`` of ``modules[chosen[k]]`` (same predictions, exactly).

    Narrower MLPs are padded to the widest chosen width with hidden units whose incoming and outgoing weights and
    bias are 0: ``relu(0) * 0`` adds nothing. Target scaling and the first module's other settings are kept. Under
    ``--layers weighted`` each candidate learned its own layer weights: they are folded into its first layer
    (:meth:`~probes.mlp.BatchedMLPModule.served_weight1`), so the merged module reads the served features directly.
    """
    first = modules[0]
    width = max(modules[index].hparams.hidden_dim for index in np.unique(chosen))
    served_width = first.served_weight1().shape[1]
    with torch.random.fork_rng(devices=[]):  # its initial draw is overwritten; the caller's RNG stays untouched
        merged = StandardizedMLPModule(input_dim=served_width, n_outputs=len(chosen), hidden_dim=width,
                                       learning_rate=first.hparams.learning_rate,
                                       weight_decay=first.hparams.weight_decay)
    merged.set_target_scaling(first.target_mean.cpu().numpy(), first.target_scale.cpu().numpy())
    with torch.no_grad():
        for tensor in (merged.weight1, merged.bias1, merged.weight2):
            tensor.zero_()
        for output, index in enumerate(chosen.tolist()):
            source = modules[index]
            hidden = source.hparams.hidden_dim
            merged.weight1[output, :, :hidden] = source.served_weight1()[output]
            merged.bias1[output, :hidden] = source.bias1[output]
            merged.weight2[output, :hidden] = source.weight2[output]
            merged.bias2[output] = source.bias2[output]
    return merged.to(first.device)
