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
* the Ridge readout on the pooled features chooses its alpha per dimension by GCV on the whole training part.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from lightning.pytorch.callbacks import EarlyStopping
from torch import nn

from datamodules.dimensions import N_DIMENSIONS
from probes.attention import PooledReadoutProber
from probes.best_weights import RestoreBestWeights
from probes.mlp_es import target_scaling
from probes.ridge import TunedRidgeProber, training_rows
from probes.tensorboard import log_final
from probes.training import RegressionModule, final_metrics, fit_module, trained_device


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
        Frame dimension D.
    n_outputs : int, default=19
    hidden_dim : int, default=128
    n_heads : int, default=4
    learning_rate, weight_decay : float, default=3e-3, 1e-3
        Adam settings (``weight_decay`` is Adam's L2 term).
    """

    def __init__(
        self, input_dim: int, n_outputs: int = N_DIMENSIONS, hidden_dim: int = 128, n_heads: int = 4,
        learning_rate: float = 3e-3, weight_decay: float = 1e-3,
    ) -> None:  # fmt: skip
        super().__init__()
        self.save_hyperparameters()
        self.scorer = nn.Sequential(nn.Linear(input_dim, hidden_dim), nn.Tanh(), nn.Linear(hidden_dim, n_heads))
        self.head = nn.Linear(n_heads * input_dim, n_outputs)
        self.register_buffer("target_mean", torch.zeros(n_outputs))
        self.register_buffer("target_scale", torch.ones(n_outputs))
        self._build_metrics()

    def set_target_scaling(self, mean: np.ndarray, scale: np.ndarray) -> None:
        """Set the label mean and scale ``(n_outputs,)`` (from the fit rows only)."""
        self.target_mean.copy_(torch.as_tensor(mean, dtype=self.target_mean.dtype))
        self.target_scale.copy_(torch.as_tensor(scale, dtype=self.target_scale.dtype))

    def pool(self, frames: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Attention-pool a padded batch with every head.

        Parameters
        ----------
        frames : Tensor of shape (batch, max_frames, D)
            Values beyond each segment's length are ignored, whatever they hold.
        mask : Tensor of shape (batch, max_frames), bool
            True on real frames; every segment needs at least one.

        Returns
        -------
        pooled : Tensor of shape (batch, n_heads * D)
            Head ``h``'s pooled vector in columns ``h * D`` to ``(h + 1) * D``.
        weights : Tensor of shape (batch, max_frames, n_heads)
            Sum to 1 over each segment's real frames for every head and are exactly 0 on padding.
        """
        frames = frames.masked_fill(~mask.unsqueeze(-1), 0.0)  # (batch, max_frames, D): padding can never leak
        scores = self.scorer(frames)  # (batch, max_frames, n_heads)
        scores = scores.masked_fill(~mask.unsqueeze(-1), float("-inf"))  # (batch, max_frames, n_heads)
        weights = torch.softmax(scores, dim=1)  # (batch, max_frames, n_heads)
        pooled = torch.einsum("bth,btd->bhd", weights, frames)  # (batch, n_heads, D)
        return pooled.flatten(1), weights  # (batch, n_heads * D)

    def forward(self, frames: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Predictions of the joint head on the label scale, shape ``(batch, n_outputs)``."""
        pooled, _ = self.pool(frames, mask)  # (batch, n_heads * D)
        return self.head(pooled) * self.target_scale + self.target_mean  # (batch, n_outputs)

    def loss(self, predictions: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Mean squared error of the standardised targets, over the batch and all outputs."""
        return (((predictions - targets) / self.target_scale) ** 2).mean()


class AttentionEarlyStoppingProber(PooledReadoutProber):
    """Multi-head attention pooling on standardised targets, early-stopped on an inner split, then a tuned readout.

    Parameters
    ----------
    hidden_dim : int, default=128
        Width of the shared frame scorer ``Linear(D, hidden_dim) - tanh - Linear(hidden_dim, n_heads)``.
    n_heads : int, default=4
        Attention heads; the readout sees their ``n_heads * D`` pooled features.
    learning_rate : float, default=3e-3
        Adam learning rate.
    weight_decay : float, default=1e-3
    max_epochs : int, default=40
        Upper bound; training stops after ``patience`` epochs without improvement of the inner ``val/loss``.
    patience : int, default=10
    batch_size : int, default=32
        Padded, masked, length-bucketed batches.
    inner_val_fraction : float, default=0.2
        Share of the fold's training rows (whole excerpts) held out for early stopping; the DataModule must be
        built with it (:meth:`datamodule_kwargs` says so). The fold's validation rows are never used.
    ridge_alphas : sequence of float, optional
        Readout grid for :class:`~probes.ridge.TunedRidgeProber` (GCV on the whole training part).
    seed : int, default=0
        Seeds the initial weights (``torch.manual_seed`` inside ``fit``; global RNG restored afterwards).
    accelerator : str, default="auto"

    Attributes
    ----------
    module_ : MultiHeadAttentionPoolingModule
        With the best epoch's weights restored.
    target_mean_, target_scale_ : ndarray of shape (19,)
        Label standardisation, from the fit rows (the inner validation rows excluded).
    best_epoch_ : int
        Epoch whose weights were restored.
    best_inner_val_loss_ : float
        Its inner-validation loss (mean squared error of the standardised targets).
    readout_ : TunedRidgeProber
        Fitted on the pooled features ``(n_train, n_heads * D)`` of the training part.
    device_ : torch.device
    n_outputs_ : int
        19.

    Raises
    ------
    ValueError
        In ``fit``, for bad hyper-parameters or a DataModule without inner validation rows.

    Notes
    -----
    Selection uses the inner validation rows only; the fold's validation rows are predicted once, at the end.
    With ``n_heads=1`` and unit target scaling the module is the faithful architecture (tested).
    """

    name = "attention_es"
    view = "frames"
    variant = "tuned"

    def __init__(
        self, hidden_dim: int = 128, n_heads: int = 4, learning_rate: float = 3e-3, weight_decay: float = 1e-3,
        max_epochs: int = 40, patience: int = 10, batch_size: int = 32, inner_val_fraction: float = 0.2,
        ridge_alphas: Any = None, seed: int = 0, accelerator: str = "auto",
    ) -> None:  # fmt: skip
        self.hidden_dim = hidden_dim
        self.n_heads = n_heads
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.max_epochs = max_epochs
        self.patience = patience
        self.batch_size = batch_size
        self.inner_val_fraction = inner_val_fraction
        self.ridge_alphas = ridge_alphas
        self.seed = seed
        self.accelerator = accelerator

    def datamodule_kwargs(self) -> dict[str, Any]:
        """``view="frames"``, ``batch_size`` and ``inner_val_fraction``."""
        return {"view": self.view, "batch_size": self.batch_size, "inner_val_fraction": self.inner_val_fraction}

    def fit(
        self, datamodule: Any, logger: Any = None, trainer_kwargs: dict | None = None
    ) -> AttentionEarlyStoppingProber:
        """Train the pooling on ``fit_rows_`` (early stopping on ``inner_val_rows_``), then the readout."""
        self._check_datamodule(datamodule)
        self._validate(datamodule)
        self.target_mean_, self.target_scale_ = target_scaling(datamodule.targets(datamodule.fit_rows_))
        best = RestoreBestWeights(monitor="val/loss", mode="min")
        callbacks = [EarlyStopping(monitor="val/loss", mode="min", patience=self.patience), best]
        module, trainer = fit_module(
            self._builder(datamodule.cache.store.dim), datamodule, seed=self.seed, max_epochs=self.max_epochs,
            accelerator=self.accelerator, logger=logger, callbacks=callbacks, trainer_kwargs=trainer_kwargs,
        )  # fmt: skip
        self.best_epoch_, self.best_inner_val_loss_ = best.best_epoch, best.best_score
        self.device_ = trained_device(trainer)
        self.module_ = module.eval().to(self.device_)
        pooled, targets, _ = self.pooled_features(datamodule.loader(training_rows(datamodule), shuffle=False))
        self.readout_ = TunedRidgeProber(alphas=self.ridge_alphas).fit_arrays(pooled, targets)
        self.n_outputs_ = self.readout_.n_outputs_
        log_final(logger, {**self.get_params(), "alpha_median": float(np.median(self.readout_.alpha_))}, {
            **final_metrics(trainer), "hparams/best_epoch": self.best_epoch_,
            "hparams/best_inner_val_loss": self.best_inner_val_loss_,
        })  # fmt: skip
        return self

    def fold_outputs(self, datamodule: Any) -> dict[str, np.ndarray]:
        """``{"best_epoch": (), "alpha": (19,)}``."""
        self._check_fitted()
        return {"best_epoch": np.asarray(self.best_epoch_), "alpha": self.readout_.alpha_}

    def _builder(self, input_dim: int):
        def build() -> MultiHeadAttentionPoolingModule:
            module = MultiHeadAttentionPoolingModule(
                input_dim=input_dim, n_outputs=N_DIMENSIONS, hidden_dim=self.hidden_dim, n_heads=self.n_heads,
                learning_rate=self.learning_rate, weight_decay=self.weight_decay,
            )  # fmt: skip
            module.set_target_scaling(self.target_mean_, self.target_scale_)
            return module

        return build

    def _validate(self, datamodule: Any) -> None:
        for name in ("hidden_dim", "n_heads", "max_epochs", "patience", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not self.learning_rate > 0 or not self.weight_decay >= 0:
            raise ValueError(f"learning_rate must be > 0 and weight_decay >= 0, got {self.learning_rate!r}, "
                             f"{self.weight_decay!r}")
        if len(datamodule.inner_val_rows_) == 0:
            raise ValueError(f"attention_es needs an inner validation split: build the FoldDataModule with "
                             f"inner_val_fraction={self.inner_val_fraction} (got inner_val_fraction="
                             f"{datamodule.inner_val_fraction})")
