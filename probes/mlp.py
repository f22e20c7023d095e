"""One independent two-layer MLP per dimension on stats-pooled features, trained as one batched module."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from datamodules.dimensions import N_DIMENSIONS
from probes.base import Prober
from probes.layer_weights import LOGIT_SCALE, layer_shape
from probes.tensorboard import log_final
from probes.training import RegressionModule, final_metrics, fit_module, map_batches, trained_device


class BatchedMLPModule(RegressionModule):
    """``n_outputs`` independent MLPs ``(2 * D) -> hidden_dim -> 1`` (ReLU) evaluated with batched matrix products.

    Parameters
    ----------
    input_dim : int
        Feature width (``2 * D``: mean and std of each frame dimension; of each layer under ``n_layers > 1``).
    n_outputs : int, default=19
    hidden_dim : int, default=256
    learning_rate, weight_decay : float, default=1e-3
        Adam settings (``weight_decay`` is Adam's coupled L2 term, applied element-wise).
    n_layers : int, default=1
        Layers served side by side (``--layers weighted``): features ``(batch, n_layers * input_dim)``; each output's
        MLP learns its own softmax weights over the layers (``layer_logits``), as the 19 MLPs are independent
        models (:mod:`probes.layer_weights`).

    Attributes
    ----------
    weight1 : Tensor of shape (n_outputs, input_dim, hidden_dim)
        A view of ``weight1_input_major``: slice ``k`` is MLP ``k``'s first layer.
    weight1_input_major : Parameter of shape (input_dim, n_outputs, hidden_dim)
        The first layers stored input-major and contiguous, so that the 19 of them are one
        ``(batch, input_dim) @ (input_dim, n_outputs * hidden_dim)`` matrix product and the fused Adam update
        runs on contiguous memory.
    bias1 : Parameter of shape (n_outputs, hidden_dim)
    weight2 : Parameter of shape (n_outputs, hidden_dim, 1)
    bias2 : Parameter of shape (n_outputs, 1)

    Notes
    -----
    MLP ``k`` uses only slice ``k`` of each parameter, and the loss is the *sum* over outputs of each output's MSE,
    so the gradient of slice ``k`` is the gradient MLP ``k`` would get alone. Adam's state is per element, so
    training the batch equals training the MLPs one by one on the same batches (tested). All outputs start from the
    same ``nn.Linear`` draw (see :meth:`reset_parameters`), as the original's per-dimension models did.
    """

    def __init__(
        self, input_dim: int, n_outputs: int = N_DIMENSIONS, hidden_dim: int = 256,
        learning_rate: float = 1e-3, weight_decay: float = 1e-3, n_layers: int = 1,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.layer_logits = nn.Parameter(torch.zeros(n_outputs, n_layers)) if n_layers > 1 else None
        self.weight1_input_major = nn.Parameter(torch.empty(input_dim, n_outputs, hidden_dim))
        self.bias1 = nn.Parameter(torch.empty(n_outputs, hidden_dim))
        self.weight2 = nn.Parameter(torch.empty(n_outputs, hidden_dim, 1))
        self.bias2 = nn.Parameter(torch.empty(n_outputs, 1))
        self.reset_parameters()
        self._build_metrics()

    @property
    def weight1(self) -> torch.Tensor:
        """First-layer weights, shape ``(n_outputs, input_dim, hidden_dim)`` (a view: writes reach the parameter)."""
        return self.weight1_input_major.permute(1, 0, 2)

    def reset_parameters(self) -> None:
        """Start every output's MLP from the one draw ``nn.Linear(input_dim, hidden_dim), nn.Linear(hidden_dim, 1)``.

        The draw consumes the global torch RNG exactly as building those two layers does, so under
        ``torch.manual_seed(seed)`` each of the 19 MLPs starts where the original notebook's per-dimension model
        (seeded with the same ``seed`` before each dimension) starts.
        """
        input_dim, n_outputs, hidden_dim = self.weight1_input_major.shape
        first, second = nn.Linear(input_dim, hidden_dim), nn.Linear(hidden_dim, 1)  # uniform on +-1/sqrt(fan_in)
        with torch.no_grad():
            self.weight1.copy_(first.weight.T.expand(n_outputs, input_dim, hidden_dim))
            self.bias1.copy_(first.bias.expand(n_outputs, hidden_dim))
            self.weight2.copy_(second.weight.T.expand(n_outputs, hidden_dim, 1))
            self.bias2.copy_(second.bias.expand(n_outputs, 1))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Predictions ``(batch, n_outputs)`` for ``features`` of shape ``(batch, input_dim)``."""
        return self.output(self.hidden(features))

    def hidden(self, features: torch.Tensor) -> torch.Tensor:
        """Every MLP's hidden activations, ``(batch, n_outputs, hidden_dim)``, from ``features (batch, input_dim)``."""
        input_dim, n_outputs, hidden_dim = self.weight1_input_major.shape
        if self.layer_logits is not None:  # --layers weighted: each output mixes the layers with its own weights
            hidden = torch.einsum("bi,kih->bkh", features, self.served_weight1()) + self.bias1  # (batch, k, hidden)
            return torch.relu(hidden)
        first = self.weight1_input_major.view(input_dim, n_outputs * hidden_dim)  # (input_dim, k * hidden)
        hidden = torch.addmm(self.bias1.reshape(-1), features, first)  # (batch, k * hidden): one matrix product
        return torch.relu(hidden).view(-1, n_outputs, hidden_dim)  # (batch, k, hidden)

    def layer_weights(self) -> torch.Tensor:
        """Each output's softmax weights over the layers, ``(n_outputs, n_layers)`` (rows sum to 1; one column when
        the module reads one layer)."""
        if self.layer_logits is None:
            return torch.ones(self.bias1.shape[0], 1)
        return torch.softmax(LOGIT_SCALE * self.layer_logits, dim=1)

    def served_weight1(self) -> torch.Tensor:
        """First-layer weights on the served features, ``(n_outputs, served_width, hidden_dim)``: ``weight1`` with
        each output's layer weights folded in (``served_width = n_layers * input_dim``; served features are every
        layer's means, then every layer's standard deviations), so that ``features @ served_weight1[k]`` is MLP
        ``k``'s first layer applied to its own mix of the layers."""
        if self.layer_logits is None:
            return self.weight1
        n_outputs, input_dim, hidden_dim = self.weight1.shape
        blocks = self.weight1.reshape(n_outputs, 2, 1, input_dim // 2, hidden_dim)  # (k, 2, 1, D, hidden)
        weights = self.layer_weights()[:, None, :, None, None]  # (k, 1, L, 1, 1)
        return (blocks * weights).reshape(n_outputs, -1, hidden_dim)  # (k, 2 * L * D, hidden)

    def output(self, hidden: torch.Tensor) -> torch.Tensor:
        """Every MLP's output ``(batch, n_outputs)`` from its hidden activations ``(batch, n_outputs, hidden_dim)``.

        An element-wise product summed over the hidden units: as ``einsum("bkh,kh->bk")`` (a batched product over
        the outputs, with the activations permuted and copied forward and backward) a 19-MLP training step took 8.2
        ms on a CPU, against 3.5 ms this way (BENCHMARKS.md, "Chunked attention head, MLP output layer").
        """
        return (hidden * self.weight2.squeeze(-1)).sum(dim=-1) + self.bias2.squeeze(-1)  # (batch, k)

    def loss(self, predictions: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Sum over outputs of each output's mean squared error (keeps the MLPs' gradients independent)."""
        return ((predictions - targets) ** 2).mean(dim=0).sum()


class MLPProber(Prober):
    """Per-dimension two-layer MLPs on standardised stats-pooled features (faithful).

    Parameters
    ----------
    hidden_dim : int, default=256
    learning_rate : float, default=1e-3
    weight_decay : float, default=1e-3
    max_epochs : int, default=80
        No early stopping.
    batch_size : int, default=64
    seed : int, default=0
        Seeds the initial weights (``torch.manual_seed`` inside ``fit``; global RNG restored afterwards).
    accelerator : str, default="auto"

    Attributes
    ----------
    module_ : BatchedMLPModule
    device_ : torch.device
    n_outputs_ : int
        19.

    Notes
    -----
    The logged ``train/loss`` is the sum of the 19 per-dimension MSEs (``train/mse`` is their mean). Without an
    inner split, ``val/*`` curves are measured on the fold's validation rows for monitoring only.
    """

    name = "mlp"
    view = "stats"
    variant = "faithful"
    learns_layer_weights = True

    def __init__(
        self, hidden_dim: int = 256, learning_rate: float = 1e-3, weight_decay: float = 1e-3, max_epochs: int = 80,
        batch_size: int = 64, seed: int = 0, accelerator: str = "auto",
    ) -> None:
        self.hidden_dim = hidden_dim
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.seed = seed
        self.accelerator = accelerator

    def datamodule_kwargs(self) -> dict[str, Any]:
        """``view="stats"`` and this prober's ``batch_size``."""
        return {"view": self.view, "batch_size": self.batch_size}

    def fit(self, datamodule: Any, logger: Any = None, trainer_kwargs: dict | None = None) -> MLPProber:
        """Train the 19 MLPs on ``fit_rows_`` of the fold."""
        self._check_datamodule(datamodule)
        for name in ("hidden_dim", "max_epochs", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not self.learning_rate > 0 or not self.weight_decay >= 0:
            raise ValueError(f"learning_rate must be > 0 and weight_decay >= 0, got {self.learning_rate!r}, "
                             f"{self.weight_decay!r}")
        n_layers, width = layer_shape(datamodule)
        module, trainer = fit_module(
            lambda: BatchedMLPModule(input_dim=2 * width, n_outputs=N_DIMENSIONS, hidden_dim=self.hidden_dim,
                                     learning_rate=self.learning_rate, weight_decay=self.weight_decay,
                                     n_layers=n_layers),
            datamodule, seed=self.seed, max_epochs=self.max_epochs, accelerator=self.accelerator, logger=logger,
            trainer_kwargs=trainer_kwargs,
        )
        self.device_ = trained_device(trainer)
        self.module_ = module.eval().to(self.device_)
        self.n_outputs_ = N_DIMENSIONS
        log_final(logger, self.get_params(), final_metrics(trainer))
        return self

    def predict(self, loader: Any) -> tuple[np.ndarray, np.ndarray]:
        """Predictions ``(n_rows, 19)`` and rows ``(n_rows,)`` for a ``stats``-view loader."""
        self._check_fitted()
        predictions, _, rows = map_batches(self.module_, loader, self.device_)
        return predictions, rows
