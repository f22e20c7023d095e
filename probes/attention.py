"""Attention-pooling probers on frame sequences: the original recipe and an early-stopped, tuned variant.

A small scorer gives each frame a weight (masked softmax over the segment's real frames), the weighted sum of the
frames is the segment's pooled ``(D,)`` vector, and a joint linear head predicts the 19 labels during training.
After training, the head is set aside: a Ridge readout is fitted on the pooled features of the training rows and
predicts the validation rows from theirs (the original notebook's two-stage recipe).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from sklearn.exceptions import NotFittedError
from torch import nn

from datamodules.batching import segment_ids
from datamodules.dimensions import N_DIMENSIONS
from probes.base import Prober
from probes.fused_attention import fast_product_dtype, fused_attention_head, segment_softmax, segment_sum
from probes.layer_weights import LayerMix, layer_shape
from probes.ridge import RidgeProber, training_rows
from probes.tensorboard import log_final
from probes.training import RegressionModule, final_metrics, fit_module, map_batches, trained_device

#: ``product_precision`` values: "float32" multiplies in the frames' own dtype (exact), "bfloat16" rounds for the two
#: frame products, "auto" takes bfloat16 where the device has bfloat16 matrix kernels.
PRODUCT_PRECISIONS: tuple[str, ...] = ("auto", "bfloat16", "float32")


def product_dtype(precision: str, frames: torch.Tensor) -> torch.dtype:
    """The dtype of the frame products for ``precision`` on ``frames`` (their device and dtype)."""
    if precision not in PRODUCT_PRECISIONS:
        raise ValueError(f"product_precision must be one of {PRODUCT_PRECISIONS}, got {precision!r}")
    if precision == "bfloat16" or (precision == "auto" and fast_product_dtype(frames.device) == torch.bfloat16):
        return torch.bfloat16
    return frames.dtype


class AttentionPoolingModule(RegressionModule):
    """Masked attention pooling over frames and a joint linear head.

    Parameters
    ----------
    input_dim : int
        Frame dimension D (1024 for MuQ); each layer's width under ``n_layers > 1``.
    n_outputs : int, default=19
    hidden_dim : int, default=128
        Width of the scorer ``Linear(D, hidden_dim) - tanh - Linear(hidden_dim, 1)``.
    learning_rate, weight_decay : float, default=1e-3
        Adam settings (``weight_decay`` is Adam's L2 term).
    n_layers : int, default=1
        Layers served side by side (``--layers weighted``): frames ``(batch, max_frames, n_layers * D)`` are first
        mixed by a learned :class:`~probes.layer_weights.LayerMix`.
    product_precision : {"float32", "bfloat16", "auto"}, default="float32"
        Dtype of the two frame products of :meth:`forward` (:mod:`probes.fused_attention`); "auto" takes bfloat16
        where the device has bfloat16 matrix kernels. :meth:`pool` always computes in float32.
    """

    def __init__(
        self, input_dim: int, n_outputs: int = N_DIMENSIONS, hidden_dim: int = 128,
        learning_rate: float = 1e-3, weight_decay: float = 1e-3, n_layers: int = 1, product_precision: str = "float32",
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.layer_mix = LayerMix(n_layers, input_dim)
        self.scorer = nn.Sequential(nn.Linear(input_dim, hidden_dim), nn.Tanh(), nn.Linear(hidden_dim, 1))
        self.head = nn.Linear(input_dim, n_outputs)
        self._build_metrics()

    def pool(self, frames: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Attention-pool a packed batch.

        Parameters
        ----------
        frames : Tensor of shape (n_frames, D)
            The batch's segments one after another (:class:`~datamodules.batching.PackedBatch`).
        lengths : Tensor of shape (batch,), int64
            Frames of each segment; every segment needs at least one.

        Returns
        -------
        pooled : Tensor of shape (batch, D)
        weights : Tensor of shape (n_frames,)
            Sum to 1 over each segment's frames.
        """
        frames = self.layer_mix(frames)  # (n_frames, D)
        ids = segment_ids(lengths)  # (n_frames,)
        weights = segment_softmax(self.scorer(frames).squeeze(-1), ids, len(lengths))  # (n_frames,)
        return segment_sum(weights[:, None] * frames, ids, len(lengths)), weights  # (batch, D), (n_frames,)

    def forward(self, frames: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Predictions of the joint head, shape ``(batch, n_outputs)``, for packed ``frames`` ``(n_frames, D)``.

        Computed as ``head(pool(frames))`` rearranged: the head acts on every frame, in the same product as the
        scorer's first layer (:mod:`probes.fused_attention`).
        """
        first, score = self.scorer[0], self.scorer[2]
        projection = torch.cat([first.weight, self.head.weight])  # (hidden_dim + n_outputs, D)
        outputs, _ = fused_attention_head(self.layer_mix(frames), lengths, projection, first.bias,
                                          score.weight.reshape(-1), score.bias,
                                          product_dtype(self.hparams.product_precision, frames))
        return outputs + self.head.bias  # (batch, n_outputs)


class PooledReadoutProber(Prober):
    """A prober that pools frames with a trained ``module_`` and predicts from the pooled features with ``readout_``.

    Subclasses fit ``module_`` (whose ``pool(frames, lengths)`` returns the pooled ``(batch, width)`` features first),
    ``device_`` and ``readout_`` (a :class:`~probes.ridge.RidgeProber`).
    """

    def pooled_features(self, loader: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Pooled features ``(n_rows, width)``, targets ``(n_rows, 19)`` and rows ``(n_rows,)`` of a frames loader."""
        if not hasattr(self, "module_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted yet: call fit(datamodule) before predict")
        return map_batches(lambda inputs: self.module_.pool(*inputs)[0], loader, self.device_)

    def predict(self, loader: Any) -> tuple[np.ndarray, np.ndarray]:
        """Readout predictions ``(n_rows, 19)`` from the pooled features, and rows ``(n_rows,)``."""
        self._check_fitted()
        pooled, _, rows = self.pooled_features(loader)
        return self.readout_.predict_arrays(pooled), rows


class AttentionPoolingProber(PooledReadoutProber):
    """Attention pooling trained with a joint head, then a Ridge readout on the pooled features (faithful).

    Parameters
    ----------
    hidden_dim : int, default=128
    learning_rate : float, default=1e-3
    weight_decay : float, default=1e-3
    max_epochs : int, default=50
        No early stopping: all epochs run.
    batch_size : int, default=32
        Packed, length-bucketed batches (see Notes).
    ridge_alpha : float, default=1.0
        Penalty of the readout (one multi-target Ridge solve).
    seed : int, default=0
        Seeds the initial weights (``torch.manual_seed`` inside ``fit``, global RNG restored afterwards).
    accelerator : str, default="auto"
        Lightning accelerator: cuda, then mps, else cpu.
    product_precision : {"float32", "bfloat16", "auto"}, default="float32"
        Dtype of the training forward's two frame products (see Notes); "auto": bfloat16 where the device has
        bfloat16 matrix kernels (:func:`~probes.fused_attention.fast_product_dtype`), else float32.
    monitor_every_n_epochs : int, default=5
        Epochs between passes of ``val/loss`` over the validation rows (a monitoring curve that selects nothing);
        at least one pass, after the last epoch, when ``max_epochs`` is smaller. The final ``val_loss`` logged is
        the last monitored epoch's.

    Attributes
    ----------
    module_ : AttentionPoolingModule
    readout_ : RidgeProber
        Fitted on the pooled features ``(n_train, D)`` of the training part.
    device_ : torch.device
    n_outputs_ : int
        19.
    product_dtype_ : str
        The frame products' dtype the training used ("float32" or "bfloat16").

    Notes
    -----
    bfloat16 products round each frame value and weight to 8 significant bits for the two large products only
    (accumulation, the softmax, the loss and Adam stay float32); the pooled features the readout is fitted on are
    computed in float32. They are not the default: on the speed benchmark's cache they moved the batch-1 replay's R2
    by up to 0.026 (float32: 0.005; the target is 0.02), and the freed bfloat16 copies of each batch's frames grow
    the process's resident memory (BENCHMARKS.md).

    The original notebook trained with batch size 1; a packed batch computes, for each segment, exactly what a batch
    of one does (tested), but the optimiser takes one step per batch instead of per segment, so the trajectories
    differ (``batch_size=1`` replays the original's). Without an inner split the DataModule's
    ``val_dataloader`` serves the fold's validation rows: ``val/loss`` is then a monitoring curve only and selects
    nothing.
    """

    name = "attention"
    view = "frames"
    variant = "faithful"
    learns_layer_weights = True

    def __init__(
        self, hidden_dim: int = 128, learning_rate: float = 1e-3, weight_decay: float = 1e-3, max_epochs: int = 50,
        batch_size: int = 32, ridge_alpha: float = 1.0, seed: int = 0, accelerator: str = "auto",
        product_precision: str = "float32", monitor_every_n_epochs: int = 5,
    ) -> None:
        self.hidden_dim = hidden_dim
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.ridge_alpha = ridge_alpha
        self.seed = seed
        self.accelerator = accelerator
        self.product_precision = product_precision
        self.monitor_every_n_epochs = monitor_every_n_epochs

    def datamodule_kwargs(self) -> dict[str, Any]:
        """``view="frames"`` and this prober's ``batch_size``."""
        return {"view": self.view, "batch_size": self.batch_size}

    def fit(self, datamodule: Any, logger: Any = None, trainer_kwargs: dict | None = None) -> AttentionPoolingProber:
        """Train the pooling module on ``fit_rows_``, then the Ridge readout on the whole training part."""
        self._check_datamodule(datamodule)
        self._validate()
        module, trainer = fit_module(
            self._builder(*layer_shape(datamodule)), datamodule, seed=self.seed, max_epochs=self.max_epochs,
            accelerator=self.accelerator, logger=logger, callbacks=self._callbacks(datamodule),
            trainer_kwargs={"check_val_every_n_epoch": min(self.monitor_every_n_epochs, self.max_epochs),
                            **(trainer_kwargs or {})},
        )
        self.device_ = trained_device(trainer)
        used = product_dtype(self.product_precision, torch.empty(0, device=self.device_))
        self.product_dtype_ = "bfloat16" if used == torch.bfloat16 else "float32"
        self.module_ = module.eval().to(self.device_)
        self._after_training()
        pooled, targets, _ = self.pooled_features(datamodule.loader(training_rows(datamodule), shuffle=False))
        self.readout_ = self._readout().fit_arrays(pooled, targets)
        self.n_outputs_ = self.readout_.n_outputs_
        log_final(logger, self._logged_params(), {**final_metrics(trainer), **self._extra_metrics()})
        return self

    def _validate(self) -> None:
        for name in ("hidden_dim", "max_epochs", "batch_size", "monitor_every_n_epochs"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate!r}")
        if not self.weight_decay >= 0:
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay!r}")
        if self.product_precision not in PRODUCT_PRECISIONS:
            raise ValueError(f"product_precision must be one of {PRODUCT_PRECISIONS}, "
                             f"got {self.product_precision!r}")

    def _builder(self, n_layers: int, input_dim: int):
        return lambda: AttentionPoolingModule(
            input_dim=input_dim, n_outputs=N_DIMENSIONS, hidden_dim=self.hidden_dim,
            learning_rate=self.learning_rate, weight_decay=self.weight_decay, n_layers=n_layers,
            product_precision=self.product_precision,
        )

    def _callbacks(self, datamodule: Any) -> list:
        return []

    def _after_training(self) -> None:
        """Hook between training and the readout fit (the early-stopping variant records its best epoch)."""

    def _readout(self) -> RidgeProber:
        return RidgeProber(alpha=self.ridge_alpha)

    def _extra_metrics(self) -> dict[str, float]:
        return {}

    def _logged_params(self) -> dict[str, Any]:
        return {**self.get_params(), "product_dtype": self.product_dtype_}
