"""Shared Lightning pieces of the trained probers: a regression module base, a seeded fit, batched inference."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import lightning as L
import numpy as np
import torch
from torchmetrics import MeanMetric, MeanSquaredError, MetricCollection, R2Score

from probes.base import unpack_batch

STAGES: tuple[str, ...] = ("train", "val")
#: Devices with a fused Adam kernel in torch 2.13.
_FUSED_ADAM_DEVICES: frozenset[str] = frozenset({"cpu", "cuda"})


class RegressionModule(L.LightningModule):
    """Base of the probers' LightningModules: metrics cloned per split, the training ones logged once per epoch.

    Subclasses call ``save_hyperparameters()`` first, build their layers, call :meth:`_build_metrics`, and
    implement ``forward(inputs)`` (inputs as given by :func:`probes.base.unpack_batch`) and :meth:`loss`.
    Logged per epoch: ``{stage}/loss`` and ``{stage}/mse``, ``{stage}/r2`` (mean over outputs). In training the
    metrics accumulate in torchmetrics' states each step and are logged at the epoch's end: ``self.log`` on every
    step cost a fifth of a 19-MLP fold's time (BENCHMARKS.md, "Frames-first multi-head pooling and the candidate
    bank"); the values are the same batch-size weighted epoch means.
    """

    def _build_metrics(self) -> None:
        metrics = MetricCollection({"mse": MeanSquaredError(), "r2": R2Score(multioutput="uniform_average")})
        for stage in STAGES:
            setattr(self, f"{stage}_metrics", metrics.clone(prefix=f"{stage}/"))
        self.train_loss = MeanMetric()

    def forward_inputs(self, inputs: Any) -> torch.Tensor:
        """``forward`` on the inputs of :func:`~probes.base.unpack_batch` (a tensor, or ``(frames, lengths)``)."""
        return self(*inputs) if isinstance(inputs, tuple) else self(inputs)

    def loss(self, predictions: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Mean squared error over the batch and all outputs."""
        return torch.nn.functional.mse_loss(predictions, targets)

    def training_step(self, batch: Any, batch_index: int) -> torch.Tensor:
        inputs, targets, _ = unpack_batch(batch)
        predictions = self.forward_inputs(inputs)  # (batch, n_outputs)
        loss = self.loss(predictions, targets)
        self.train_loss.update(loss.detach(), weight=targets.shape[0])
        self.train_metrics.update(preds=predictions.detach().contiguous(), target=targets)
        return loss

    def on_train_epoch_end(self) -> None:
        if self.train_loss.update_count == 0:
            return
        self.log("train/loss", self.train_loss.compute())
        self.log_dict(self.train_metrics.compute())
        self.train_loss.reset()
        self.train_metrics.reset()

    def validation_step(self, batch: Any, batch_index: int) -> torch.Tensor:
        inputs, targets, _ = unpack_batch(batch)
        predictions = self.forward_inputs(inputs)  # (batch, n_outputs)
        loss = self.loss(predictions, targets)
        batch_size = targets.shape[0]
        self.log("val/loss", loss, on_step=False, on_epoch=True, batch_size=batch_size)
        self.val_metrics.update(preds=predictions.detach().contiguous(), target=targets)
        self.log_dict(self.val_metrics, on_step=False, on_epoch=True, batch_size=batch_size)
        return loss

    def configure_optimizers(self) -> torch.optim.Optimizer:
        """Adam with ``weight_decay`` as its L2 term; the fused kernel (one pass per parameter) where it exists.

        The fused update computes the same formula as the default one, element by element, without the temporaries;
        on a CPU it made Adam's share of a 19-MLP step fall from about half to a tenth.
        """
        parameters = list(self.parameters())
        return torch.optim.Adam(parameters, lr=self.hparams.learning_rate, weight_decay=self.hparams.weight_decay,
                                fused=fused_adam_available(parameters))


def fused_adam_available(parameters: Iterable[torch.Tensor]) -> bool:
    """Whether every parameter lies on a device with torch's fused Adam kernel (cpu, cuda)."""
    return all(parameter.device.type in _FUSED_ADAM_DEVICES for parameter in parameters)


class SeededDropout(torch.nn.Module):
    """Dropout whose masks come from the module's own random generator, not torch's global one.

    Candidates trained side by side (:class:`~probes.candidate_bank.CandidateBank`) would otherwise draw their masks
    from one shared stream, interleaved, so that each candidate's training would depend on the others. The
    generator's seed is drawn from the global RNG when the module is built (so it follows the caller's
    ``torch.manual_seed``); the generator is made on the device of the first tensor it masks. In training, each
    element is zeroed with probability ``p`` and the others scaled by ``1 / (1 - p)``, as
    ``torch.nn.functional.dropout``; in evaluation, and with ``p = 0``, the input is returned as it is. The mask
    compares uniform draws with ``p`` (on a CPU 2.6 times faster than ``bernoulli_`` with a generator, for a
    ``(64, 19, 256)`` block), in place on the draws: 1.4 ms against 2.1 ms with a separate boolean mask and its
    conversion, the same values.

    Parameters
    ----------
    p : float
        Probability of zeroing an element, in [0, 1).
    """

    def __init__(self, p: float) -> None:
        super().__init__()
        if not 0 <= p < 1:
            raise ValueError(f"dropout must be in [0, 1), got {p!r}")
        self.p = float(p)
        self.seed = int(torch.randint(2**62, (1,)))
        self._generator: torch.Generator | None = None

    def forward(self, values: torch.Tensor) -> torch.Tensor:
        """``values`` of any shape, masked and rescaled in training."""
        if not self.training or self.p == 0:
            return values
        if self._generator is None or self._generator.device != values.device:
            self._generator = torch.Generator(device=values.device).manual_seed(self.seed)
        uniform = torch.rand(values.shape, generator=self._generator, dtype=values.dtype, device=values.device)
        return values * uniform.ge_(self.p).mul_(1.0 / (1.0 - self.p))  # kept with prob. 1 - p; mask in place


def fit_module(
    build: Callable[[], L.LightningModule],
    datamodule: L.LightningDataModule,
    *,
    seed: int,
    max_epochs: int,
    accelerator: str,
    logger: Any = None,
    callbacks: Sequence[L.Callback] = (),
    trainer_kwargs: dict | None = None,
) -> tuple[L.LightningModule, L.Trainer]:
    """Build a module under ``torch.manual_seed(seed)`` and train it on ``datamodule``.

    The global torch RNG is forked, so seeding here does not disturb the caller's random state (explicit seeding;
    ``seed_everything`` is left to ``benchmarks/``). Data order is seeded by the DataModule's own ``seed``.

    Parameters
    ----------
    build : callable
        Returns a fresh LightningModule (called after seeding: its initial weights depend on ``seed`` only).
    datamodule : FoldDataModule
    seed, max_epochs : int
    accelerator : str
        Lightning accelerator, ``"auto"`` picks cuda, then mps, else cpu.
    logger : Logger, optional
    callbacks : sequence of Callback
    trainer_kwargs : dict, optional
        Overrides of the defaults (``enable_checkpointing=False``, no progress bar, no sanity validation).
    """
    options = {
        "max_epochs": max_epochs, "accelerator": accelerator, "devices": 1, "logger": logger if logger else False,
        "callbacks": list(callbacks), "enable_checkpointing": False, "enable_progress_bar": False,
        "enable_model_summary": False, "num_sanity_val_steps": 0, "log_every_n_steps": 1,
    }
    options.update(trainer_kwargs or {})
    with torch.random.fork_rng(devices=[]), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        warnings.filterwarnings("ignore", message=".*GPU available but not used.*")
        warnings.filterwarnings("ignore", message=".*isinstance\\(treespec, LeafSpec\\)` is deprecated.*")
        torch.manual_seed(seed)
        module = build()
        trainer = L.Trainer(**options)
        trainer.fit(module, datamodule=datamodule)
    return module, trainer


def final_metrics(trainer: L.Trainer, names: Iterable[str] = ("train/loss", "val/loss")) -> dict[str, float]:
    """Last epoch values of ``names`` from ``trainer.callback_metrics``, as ``{"hparams/<stage>_<metric>": value}``."""
    metrics = {}
    for name in names:
        if name in trainer.callback_metrics:
            metrics["hparams/" + name.replace("/", "_")] = float(trainer.callback_metrics[name])
    return metrics


@torch.no_grad()
def map_batches(
    function: Callable[[Any], torch.Tensor], loader: Iterable, device: torch.device
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Apply ``function(inputs)`` to every batch on ``device``.

    Returns
    -------
    outputs : ndarray of shape (n_rows, ...), float64
    targets : ndarray of shape (n_rows, 19), float64
    rows : ndarray of shape (n_rows,), int64
    """
    outputs, targets, rows = [], [], []
    for batch in loader:
        inputs, batch_targets, batch_rows = unpack_batch(batch)
        inputs = tuple(part.to(device) for part in inputs) if isinstance(inputs, tuple) else inputs.to(device)
        outputs.append(function(inputs).cpu().double().numpy())  # float64 on the host (mps has none)
        targets.append(batch_targets.double().numpy())
        rows.append(batch_rows.numpy().astype(np.int64))
    if not rows:
        raise ValueError("the loader yielded no batches; expected at least one row")
    return np.concatenate(outputs), np.concatenate(targets), np.concatenate(rows)


def trained_device(trainer: L.Trainer) -> torch.device:
    """The device the trainer used (inference after ``fit`` runs there)."""
    return trainer.strategy.root_device
