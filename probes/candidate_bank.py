"""Hyper-parameter candidates trained side by side in one Lightning loop, each early-stopped on its own.

The tuned probers try ``n_candidates`` settings per fold. Trained one after another, every candidate pays the whole
loop: reading and packing each batch, Lightning's step machinery and logging, the validation pass. On small frames
(the real MIDI cache's 24 dimensions) that overhead is a large share of a step. :class:`CandidateBank` trains them
together: each batch is read once, every active candidate predicts it, and the loss is the sum of the candidates'
losses, so each candidate's gradient is the one its own loss gives. One Adam holds a parameter group per candidate
with the candidate's learning rate and L2 term; Adam's state is per element, so each candidate's update is the one
it would get alone.

Each candidate has a :class:`CandidateSelection`: after every validation pass it keeps the candidate's best weights
and says whether the candidate is still improving. A candidate that has stopped leaves the forward pass; its
parameters then get no gradient and Adam leaves them and their state alone. Training ends when none is active. A
candidate thus follows exactly the trajectory of a bank holding it alone (tested bit for bit in
``tests/probes/test_candidate_bank.py``), provided its randomness is its own: dropout draws from the module's own
generator (:class:`probes.training.SeededDropout`), not the global one shared by the candidates.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import lightning as L
import numpy as np
import torch
from torch import nn

from probes.base import unpack_batch
from probes.training import RegressionModule, fit_module, fused_adam_available


class CandidateSelection:
    """Early stopping and best weights of one candidate, from its inner-validation squared errors.

    The score of output ``k`` is its mean squared error over the validation rows in units of the label's training
    variance (the module's ``target_scale``; 1 without one). With ``per_output=False`` the candidate is one model:
    its score is the mean over outputs (the standardised loss of ``attention_es``), a better score keeps a copy of
    the whole state, and the candidate stops ``patience`` epochs after its best. With ``per_output=True`` the outputs
    are independent models (:class:`~probes.mlp.BatchedMLPModule`, each tensor of ``tensor_names`` holding the
    outputs on its first axis): each output keeps the slice of the epoch where it was best, and the candidate stops
    once no output has improved for ``patience`` epochs. A non-finite score never counts as an improvement.

    Parameters
    ----------
    n_outputs : int
    patience : int
        Validation epochs without improvement before the candidate stops.
    per_output : bool, default=False
    tensor_names : tuple of str, optional
        With ``per_output``: attributes of the module holding all its trainable weights, outputs first (views are
        fine: writes into them must reach the parameters).

    Attributes
    ----------
    best_scores : ndarray of shape (n_outputs,) or (1,)
        Best score so far (per output, or the one score).
    best_epochs : ndarray of int64, same shape
        Epoch of each best score (-1 before any).

    Raises
    ------
    ValueError
        If ``patience`` is not a positive integer, or ``per_output`` comes without ``tensor_names``.
    """

    def __init__(self, n_outputs: int, patience: int, per_output: bool = False,
                 tensor_names: tuple[str, ...] = ()) -> None:
        if isinstance(patience, bool) or not isinstance(patience, (int, np.integer)) or patience < 1:
            raise ValueError(f"patience must be a positive integer, got {patience!r}")
        if per_output and not tensor_names:
            raise ValueError("per_output selection needs the tensor_names that hold the outputs' weights")
        self.n_outputs = int(n_outputs)
        self.patience = int(patience)
        self.per_output = per_output
        self.tensor_names = tuple(tensor_names)
        self.best_scores = np.full(self.n_outputs if per_output else 1, math.inf)
        self.best_epochs = np.full(self.best_scores.shape, -1, dtype=np.int64)
        self.best_state: dict[str, torch.Tensor] | None = None

    def check(self, module: nn.Module) -> None:
        """Raise ``ValueError`` if a per-output selection's tensors do not hold ``module``'s outputs first or do not
        hold all its trainable weights."""
        if not self.per_output:
            return
        for name in self.tensor_names:
            shape = tuple(getattr(module, name).shape)
            if not shape or shape[0] != self.n_outputs:
                raise ValueError(f"CandidateSelection: {type(module).__name__}.{name} has shape {shape}; expected "
                                 f"the {self.n_outputs} outputs on its first axis")
        named = sum(getattr(module, name).numel() for name in self.tensor_names)
        trainable = sum(parameter.numel() for parameter in module.parameters() if parameter.requires_grad)
        if named != trainable:
            raise ValueError(f"CandidateSelection: tensors {list(self.tensor_names)} hold {named} weights, but "
                             f"{type(module).__name__} trains {trainable}; expected them to hold all")

    def update(self, module: nn.Module, epoch: int, scores: np.ndarray) -> bool:
        """Record epoch ``epoch``'s per-output ``scores`` ``(n_outputs,)``; keep improved weights. True while the
        candidate should go on training."""
        scores = np.asarray(scores, dtype=np.float64)
        if not self.per_output:
            scores = scores.mean(keepdims=True)  # (1,)
        improved = scores < self.best_scores
        if np.any(improved):
            if not self.per_output:
                self.best_state = {key: value.detach().clone() for key, value in module.state_dict().items()}
            else:
                tensors = {name: getattr(module, name).detach() for name in self.tensor_names}
                if self.best_state is None:
                    self.best_state = {name: tensor.clone() for name, tensor in tensors.items()}
                for name, tensor in tensors.items():
                    mask = torch.as_tensor(improved, device=tensor.device)
                    self.best_state[name][mask] = tensor[mask]
            self.best_scores[improved] = scores[improved]
            self.best_epochs[improved] = epoch
        return epoch - int(self.best_epochs.max()) < self.patience

    def restore(self, module: nn.Module) -> None:
        """Load the best weights into ``module`` (nothing before the first improvement)."""
        if self.best_state is None:
            return
        if not self.per_output:
            module.load_state_dict(self.best_state)
            return
        with torch.no_grad():
            for name in self.tensor_names:
                getattr(module, name).copy_(self.best_state[name])


class CandidateBank(L.LightningModule):
    """Several :class:`~probes.training.RegressionModule` candidates trained on the same batches in one loop.

    Parameters
    ----------
    candidates : sequence of RegressionModule
        Each with ``hparams.learning_rate`` and ``hparams.weight_decay`` (its Adam group) and a ``loss``.
    selections : sequence of CandidateSelection
        One per candidate.

    Logged per epoch, for each candidate ``k`` still training: ``candidate{k}/train_loss`` (the batch-size weighted
    mean of its loss) and ``candidate{k}/val_loss`` (its selection score: the mean over outputs of the standardised
    MSE on the validation rows); and ``val/best_loss``, the lowest score any candidate has reached.

    Attributes
    ----------
    active : list of bool
        Which candidates are still training.
    stopped_epochs : list of int
        Epoch after which each candidate stopped (-1 while it trains).
    """

    def __init__(self, candidates: Sequence[RegressionModule], selections: Sequence[CandidateSelection]) -> None:
        super().__init__()
        if len(candidates) != len(selections) or not candidates:
            raise ValueError(f"expected one selection per candidate and at least one candidate, got "
                             f"{len(candidates)} candidates and {len(selections)} selections")
        self.candidates = nn.ModuleList(candidates)
        self.selections = list(selections)
        self.active = [True] * len(candidates)
        self.stopped_epochs = [-1] * len(candidates)
        self._val_sums: list[torch.Tensor | None] = [None] * len(candidates)  # (n_outputs,) squared errors
        self._val_count = 0

    def on_fit_start(self) -> None:
        for candidate, selection in zip(self.candidates, self.selections, strict=True):
            selection.check(candidate)

    def training_step(self, batch: Any, batch_index: int) -> torch.Tensor:
        inputs, targets, _ = unpack_batch(batch)
        losses = []
        for index in self._active_indices():
            candidate = self.candidates[index]
            loss = candidate.loss(candidate.forward_inputs(inputs), targets)
            candidate.train_loss.update(loss.detach(), weight=targets.shape[0])  # the candidate's own MeanMetric
            losses.append(loss)
        return torch.stack(losses).sum()  # each candidate's gradient is its own loss's

    def on_train_epoch_end(self) -> None:
        for index, candidate in enumerate(self.candidates):
            if candidate.train_loss.update_count:
                self.log(f"candidate{index}/train_loss", candidate.train_loss.compute())
                candidate.train_loss.reset()

    def on_validation_epoch_start(self) -> None:
        self._val_sums, self._val_count = [None] * len(self.candidates), 0

    def validation_step(self, batch: Any, batch_index: int) -> None:
        inputs, targets, _ = unpack_batch(batch)
        for index in self._active_indices():
            candidate = self.candidates[index]
            error = (candidate.forward_inputs(inputs) - targets) / getattr(candidate, "target_scale", 1.0)
            squared = (error.double() ** 2).sum(dim=0).cpu()  # (n_outputs,)
            previous = self._val_sums[index]
            self._val_sums[index] = squared if previous is None else previous + squared
        self._val_count += targets.shape[0]

    def on_validation_epoch_end(self) -> None:
        if self.trainer.sanity_checking or self._val_count == 0:
            return
        epoch = self.trainer.current_epoch
        for index in self._active_indices():
            scores = (self._val_sums[index] / self._val_count).numpy()  # (n_outputs,)
            self.log(f"candidate{index}/val_loss", float(scores.mean()))
            if not self.selections[index].update(self.candidates[index], epoch, scores):
                self.active[index], self.stopped_epochs[index] = False, epoch
        best = min(float(selection.best_scores.mean()) for selection in self.selections)
        self.log("val/best_loss", best)
        if not any(self.active):
            self.trainer.should_stop = True

    def on_fit_end(self) -> None:
        for candidate, selection in zip(self.candidates, self.selections, strict=True):
            selection.restore(candidate)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        """One Adam, a parameter group per candidate (its ``learning_rate`` and ``weight_decay``); fused where the
        device has the kernel (:meth:`~probes.training.RegressionModule.configure_optimizers`)."""
        groups = [{"params": list(candidate.parameters()), "lr": candidate.hparams.learning_rate,
                   "weight_decay": candidate.hparams.weight_decay} for candidate in self.candidates]
        return torch.optim.Adam(groups, fused=fused_adam_available(self.parameters()))

    def _active_indices(self) -> list[int]:
        return [index for index, active in enumerate(self.active) if active]


def fit_candidates(
    builders: Sequence[Callable[[], RegressionModule]], selections: Sequence[CandidateSelection],
    datamodule: L.LightningDataModule, *, seed: int, max_epochs: int, accelerator: str, logger: Any = None,
    trainer_kwargs: dict | None = None,
) -> tuple[CandidateBank, L.Trainer]:
    """Build every candidate under ``torch.manual_seed(seed)`` (each starts where its own fit would) and train them
    in one :class:`CandidateBank` (:func:`~probes.training.fit_module`). Each candidate ends with its best weights
    loaded."""

    def build() -> CandidateBank:
        candidates = []
        for builder in builders:
            torch.manual_seed(seed)
            candidates.append(builder())
        return CandidateBank(candidates, selections)

    return fit_module(build, datamodule, seed=seed, max_epochs=max_epochs, accelerator=accelerator, logger=logger,
                      trainer_kwargs=trainer_kwargs)
