"""Attention pooling, tuned: several heads, standardised targets, early stopping on an inner validation split.

The faithful :class:`~probes.attention.AttentionPoolingProber` trains one attention head with a joint linear head on
the raw labels (on [0, 1], standard deviations near 0.1) for a fixed 50 epochs. Its single pooled vector has to
serve all 19 dimensions at once: dimensions carried by every frame want the plain mean (the least noisy), a
dimension carried by a few frames wants those frames only, and the first pull wins. On the synthetic default the
planted sparse-frame dimension is not learned. This variant changes, inside the fold's training part only:

* ``n_heads`` attention heads share the scorer's hidden layer, each pools the frames with its own weights, and the
  pooled vectors are concatenated (one head can average, another can pick the few informative frames);
* targets are standardised by the fit rows' mean and standard deviation, so every dimension pulls on the scorer
  with comparable weight;
* training stops after ``patience`` epochs without improvement of the inner-validation loss, and the best
  epoch's weights are restored;
* width, learning rate, weight decay and dropout (on the pooled vectors) are searched: ``n_candidates`` settings
  (:mod:`probes.search`) are trained as above, side by side in one loop (:mod:`probes.candidate_bank`), and the one
  with the lowest inner-validation loss is kept;
* the Ridge readout on the pooled features chooses its alpha per dimension by 5-fold cross-validation over whole
  excerpts of the training part (leave-one-segment-out GCV, used before, favours alphas that memorise excerpts).
"""

from __future__ import annotations

import json
import time
from typing import Any

import numpy as np
import torch
from torch import nn

from datamodules.dimensions import N_DIMENSIONS
from probes.attention import PooledReadoutProber
from probes.candidate_bank import CandidateSelection, fit_candidates
from probes.fused_pooling import fused_multihead_pooling
from probes.layer_weights import LayerMix, layer_shape
from probes.mlp_es import target_scaling
from probes.ridge import TunedRidgeProber, training_rows
from probes.search import search_candidates
from probes.tensorboard import log_final
from probes.training import RegressionModule, SeededDropout, trained_device


class MultiHeadAttentionPoolingModule(RegressionModule):
    """Masked multi-head attention pooling over frames and a joint linear head trained on standardised targets.

    A shared scorer ``Linear(D, hidden_dim) - tanh - Linear(hidden_dim, n_heads)`` gives every frame one score per
    head; each head's masked softmax over the segment's real frames weights its own sum of the frames, and the
    ``n_heads`` pooled vectors are concatenated. With ``n_heads=1`` this is the faithful
    :class:`~probes.attention.AttentionPoolingModule`'s architecture. ``forward`` returns
    ``head(pooled) * target_scale + target_mean`` (label scale); the loss is the mean over the batch and the outputs
    of ``((prediction - target) / target_scale) ** 2``. Call :meth:`set_target_scaling` before training.

    Parameters
    ----------
    input_dim : int
        Frame dimension D (each layer's width under ``n_layers > 1``).
    n_outputs : int, default=19
    hidden_dim : int, default=128
    n_heads : int, default=4
    learning_rate, weight_decay : float, default=3e-3, 1e-3
        Adam settings (``weight_decay`` is Adam's L2 term).
    dropout : float, default=0.0
        Dropout on the pooled vectors before the joint head, in training only, with the module's own generator
        (:class:`~probes.training.SeededDropout`).
    n_layers : int, default=1
        Layers served side by side (``--layers weighted``), mixed first by a learned
        :class:`~probes.layer_weights.LayerMix`.
    """

    def __init__(
        self, input_dim: int, n_outputs: int = N_DIMENSIONS, hidden_dim: int = 128, n_heads: int = 4,
        learning_rate: float = 3e-3, weight_decay: float = 1e-3, dropout: float = 0.0, n_layers: int = 1,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.layer_mix = LayerMix(n_layers, input_dim)
        self.scorer = nn.Sequential(nn.Linear(input_dim, hidden_dim), nn.Tanh(), nn.Linear(hidden_dim, n_heads))
        self.head = nn.Linear(n_heads * input_dim, n_outputs)
        self.pooled_dropout = SeededDropout(dropout)
        self.register_buffer("target_mean", torch.zeros(n_outputs))
        self.register_buffer("target_scale", torch.ones(n_outputs))
        self._build_metrics()

    def set_target_scaling(self, mean: np.ndarray, scale: np.ndarray) -> None:
        """Set the label mean and scale ``(n_outputs,)`` (from the fit rows only)."""
        self.target_mean.copy_(torch.as_tensor(mean, dtype=self.target_mean.dtype))
        self.target_scale.copy_(torch.as_tensor(scale, dtype=self.target_scale.dtype))

    def pool(self, frames: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Attention-pool a packed batch with every head.

        Parameters
        ----------
        frames : Tensor of shape (n_frames, D)
            The batch's segments one after another (:class:`~datamodules.batching.PackedBatch`).
        lengths : Tensor of shape (batch,), int64
            Frames of each segment; every segment needs at least one.

        Returns
        -------
        pooled : Tensor of shape (batch, n_heads * D)
            Head ``h``'s pooled vector in columns ``h * D`` to ``(h + 1) * D``.
        weights : Tensor of shape (n_frames, n_heads)
            Each head's sum to 1 over each segment's frames.

        Notes
        -----
        One fused function with its own backward (:mod:`probes.fused_pooling`); dropout on the pooled vectors keeps
        the head from being folded into the frames' product as the faithful module does.
        """
        first, score = self.scorer[0], self.scorer[2]
        pooled, weights = fused_multihead_pooling(self.layer_mix(frames), lengths, first.weight, first.bias,
                                                  score.weight, score.bias)  # (batch, n_heads, D), (n_frames, n_heads)
        return pooled.flatten(1), weights  # (batch, n_heads * D)

    def forward(self, frames: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Predictions of the joint head on the label scale, shape ``(batch, n_outputs)``."""
        pooled, _ = self.pool(frames, lengths)  # (batch, n_heads * D)
        return self.head(self.pooled_dropout(pooled)) * self.target_scale + self.target_mean  # (batch, n_outputs)

    def loss(self, predictions: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Mean squared error of the standardised targets, over the batch and all outputs."""
        return (((predictions - targets) / self.target_scale) ** 2).mean()


#: Grid of :class:`AttentionEarlyStoppingProber`'s search: scorer width, Adam's learning rate and L2 term, dropout.
SEARCH_SPACE: dict[str, tuple] = {
    "hidden_dim": (64, 128), "learning_rate": (1e-3, 3e-3), "weight_decay": (1e-3, 1e-2), "dropout": (0.0, 0.2),
}


class AttentionEarlyStoppingProber(PooledReadoutProber):
    """Multi-head attention pooling on standardised targets, early-stopped and tuned on an inner split, then a tuned
    readout.

    Parameters
    ----------
    hidden_dim : int, default=128
        Width of the shared frame scorer ``Linear(D, hidden_dim) - tanh - Linear(hidden_dim, n_heads)``.
    n_heads : int, default=4
        Attention heads; the readout sees their ``n_heads * D`` pooled features.
    learning_rate : float, default=3e-3
        Adam learning rate.
    weight_decay : float, default=1e-3
    dropout : float, default=0.0
        Dropout on the pooled vectors during training.
    max_epochs : int, default=40
        Upper bound; training stops after ``patience`` epochs without improvement of the inner ``val/loss``.
    patience : int, default=10
    batch_size : int, default=32
        Packed, length-bucketed batches.
    inner_val_fraction : float, default=0.2
        Share of the fold's training rows (whole excerpts) held out for early stopping and the search; the
        DataModule must be built with it (:meth:`datamodule_kwargs` says so). The fold's validation rows are never
        used.
    n_candidates : int, default=4
        Hyper-parameter settings tried (:func:`probes.search.search_candidates`): the ones above first, then points of
        ``search_space`` drawn with ``seed``. 1: no search.
    search_space : dict, optional
        Values per searched hyper-parameter (among ``hidden_dim``, ``n_heads``, ``learning_rate``,
        ``weight_decay``, ``dropout``); default :data:`SEARCH_SPACE`.
    ridge_alphas : sequence of float, optional
        Readout grid for :class:`~probes.ridge.TunedRidgeProber` (5-fold excerpt-grouped CV on the training part).
    seed : int, default=0
        Seeds the initial weights (``torch.manual_seed`` inside ``fit``; global RNG restored afterwards) and the draw
        of candidates.
    accelerator : str, default="auto"

    Attributes
    ----------
    module_ : MultiHeadAttentionPoolingModule
        The chosen candidate, with its best epoch's weights restored.
    candidates_ : list of dict
        The settings tried, candidate 0 first.
    chosen_candidate_ : int
        Index into ``candidates_`` of the kept module (lowest inner-validation loss).
    search_inner_val_loss_ : ndarray of shape (n_candidates,)
        Each candidate's best inner-validation loss.
    search_seconds_ : float
        Wall time of training all candidates (together, in one loop).
    target_mean_, target_scale_ : ndarray of shape (19,)
        Label standardisation, from the fit rows (the inner validation rows excluded).
    best_epoch_ : int
        Epoch whose weights were restored (of the chosen candidate).
    best_inner_val_loss_ : float
        Its inner-validation loss (mean squared error of the standardised targets).
    readout_ : TunedRidgeProber
        Fitted on the pooled features ``(n_train, n_heads * D)`` of the training part, alpha per dimension chosen
        over whole excerpts.
    device_ : torch.device
    n_outputs_ : int
        19.

    Raises
    ------
    ValueError
        In ``fit``, for bad hyper-parameters or a DataModule without inner validation rows.

    Notes
    -----
    Selection (epochs and settings) uses the inner validation rows only; the fold's validation rows are predicted
    once, at the end. The candidates train side by side in one loop (:class:`~probes.candidate_bank.CandidateBank`:
    each batch read once, each candidate early-stopped on its own, exactly as if trained alone). With ``n_heads=1``
    and unit target scaling the module is the faithful architecture (tested).
    """

    name = "attention_es"
    view = "frames"
    variant = "tuned"
    learns_layer_weights = True

    def __init__(
        self, hidden_dim: int = 128, n_heads: int = 4, learning_rate: float = 3e-3, weight_decay: float = 1e-3,
        dropout: float = 0.0, max_epochs: int = 40, patience: int = 10, batch_size: int = 32,
        inner_val_fraction: float = 0.2, n_candidates: int = 4, search_space: dict | None = None,
        ridge_alphas: Any = None, seed: int = 0, accelerator: str = "auto",
    ) -> None:
        self.hidden_dim = hidden_dim
        self.n_heads = n_heads
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.dropout = dropout
        self.max_epochs = max_epochs
        self.patience = patience
        self.batch_size = batch_size
        self.inner_val_fraction = inner_val_fraction
        self.n_candidates = n_candidates
        self.search_space = search_space
        self.ridge_alphas = ridge_alphas
        self.seed = seed
        self.accelerator = accelerator

    def datamodule_kwargs(self) -> dict[str, Any]:
        """``view="frames"``, ``batch_size`` and ``inner_val_fraction``."""
        return {"view": self.view, "batch_size": self.batch_size, "inner_val_fraction": self.inner_val_fraction}

    def fit(
        self, datamodule: Any, logger: Any = None, trainer_kwargs: dict | None = None
    ) -> AttentionEarlyStoppingProber:
        """Train every candidate's pooling on ``fit_rows_`` (early stopping on ``inner_val_rows_``), keep the best,
        then fit the readout on the whole training part."""
        self._check_datamodule(datamodule)
        self.candidates_ = search_candidates(self.get_params(), self.search_space or SEARCH_SPACE, self.n_candidates,
                                             self.seed)
        for candidate in self.candidates_:
            self._validate(datamodule, {**self.get_params(), **candidate})
        self.target_mean_, self.target_scale_ = target_scaling(datamodule.targets(datamodule.fit_rows_))
        started = time.perf_counter()
        selections = [CandidateSelection(N_DIMENSIONS, self.patience) for _ in self.candidates_]
        bank, trainer = fit_candidates(
            [self._builder(layer_shape(datamodule), candidate) for candidate in self.candidates_], selections,
            datamodule, seed=self.seed, max_epochs=self.max_epochs, accelerator=self.accelerator, logger=logger,
            trainer_kwargs=trainer_kwargs,
        )
        self.search_seconds_ = time.perf_counter() - started
        self.search_inner_val_loss_ = np.array([selection.best_scores[0] for selection in selections])
        self.chosen_candidate_ = int(np.argmin(self.search_inner_val_loss_))
        chosen = selections[self.chosen_candidate_]
        self.best_epoch_, self.best_inner_val_loss_ = int(chosen.best_epochs[0]), float(chosen.best_scores[0])
        self.device_ = trained_device(trainer)
        self.module_ = bank.candidates[self.chosen_candidate_].eval().to(self.device_)
        rows = training_rows(datamodule)
        pooled, targets, pooled_rows = self.pooled_features(datamodule.loader(rows, shuffle=False))
        groups = np.asarray(datamodule.cache.excerpts)[pooled_rows]
        self.readout_ = TunedRidgeProber(alphas=self.ridge_alphas).fit_arrays(pooled, targets, groups=groups)
        self.n_outputs_ = self.readout_.n_outputs_
        log_final(logger, {**self.get_params(), **self.candidates_[self.chosen_candidate_],
                           "alpha_median": float(np.median(self.readout_.alpha_))}, {
            "hparams/best_epoch": self.best_epoch_, "hparams/best_inner_val_loss": self.best_inner_val_loss_,
        })
        return self

    def fold_outputs(self, datamodule: Any) -> dict[str, np.ndarray]:
        """Best epoch, readout alpha per dimension, the chosen candidate, every candidate's inner loss, the candidates'
        settings (JSON) and the search's wall time."""
        self._check_fitted()
        return {"best_epoch": np.asarray(self.best_epoch_), "alpha": self.readout_.alpha_,
                "chosen_candidate": np.asarray(self.chosen_candidate_),
                "search_inner_val_loss": self.search_inner_val_loss_,
                "candidates": np.asarray(json.dumps(self.candidates_)),
                "search_seconds": np.asarray(self.search_seconds_)}

    def _builder(self, shape: tuple[int, int], candidate: dict[str, Any]):
        settings = {**self.get_params(), **candidate}
        n_layers, input_dim = shape

        def build() -> MultiHeadAttentionPoolingModule:
            module = MultiHeadAttentionPoolingModule(
                input_dim=input_dim, n_layers=n_layers, n_outputs=N_DIMENSIONS, hidden_dim=settings["hidden_dim"],
                n_heads=settings["n_heads"], learning_rate=settings["learning_rate"],
                weight_decay=settings["weight_decay"], dropout=settings["dropout"],
            )
            module.set_target_scaling(self.target_mean_, self.target_scale_)
            return module

        return build

    def _validate(self, datamodule: Any, settings: dict[str, Any]) -> None:
        for name in ("hidden_dim", "n_heads", "max_epochs", "patience", "batch_size"):
            value = settings[name]
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not settings["learning_rate"] > 0 or not settings["weight_decay"] >= 0:
            raise ValueError(f"learning_rate must be > 0 and weight_decay >= 0, got {settings['learning_rate']!r}, "
                             f"{settings['weight_decay']!r}")
        if not 0 <= settings["dropout"] < 1:
            raise ValueError(f"dropout must be in [0, 1), got {settings['dropout']!r}")
        if len(datamodule.inner_val_rows_) == 0:
            raise ValueError(f"attention_es needs an inner validation split: build the FoldDataModule with "
                             f"inner_val_fraction={self.inner_val_fraction} (got inner_val_fraction="
                             f"{datamodule.inner_val_fraction})")
