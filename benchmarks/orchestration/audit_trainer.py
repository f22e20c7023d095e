"""Fire the audit callbacks through a Lightning Trainer once the probers' fits are done.

The suite's fitting happens before (each prober's own Trainer, fold by fold). This Trainer runs zero epochs:
its only job is to give the post-fit callbacks Lightning's hook order, rank-zero handling and the TensorBoard
logger (figures and scalars go under ``<out>/tensorboard/audit``).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.loggers import TensorBoardLogger
from torch.utils.data import DataLoader

from analyses.callbacks.base import AuditSectionCallback
from analyses.context import AuditContext


class AuditDataModule(L.LightningDataModule):
    """Carries the :class:`AuditContext` to the callbacks; serves no batches (zero epochs are run)."""

    def __init__(self, context: AuditContext) -> None:
        super().__init__()
        self.context = context

    def train_dataloader(self) -> DataLoader:
        return DataLoader([])


class AuditModule(L.LightningModule):
    """The empty model of the audit Trainer: nothing is trained after the probers' own fits."""

    def training_step(self, batch: object, batch_index: int) -> None:
        raise RuntimeError("the audit Trainer runs zero epochs; training_step must not be reached")

    def configure_optimizers(self) -> None:
        return None


def run_audit_callbacks(context: AuditContext, callbacks: list[AuditSectionCallback], tensorboard_dir: Path) -> None:
    """Run ``callbacks`` (their ``on_fit_end``) with a zero-epoch Trainer and a TensorBoard logger."""
    if not callbacks:
        return
    logger = TensorBoardLogger(save_dir=str(tensorboard_dir), name="audit", version="post_fit", default_hp_metric=False)
    trainer = L.Trainer(
        max_epochs=0,
        accelerator="cpu",
        logger=logger,
        callbacks=callbacks,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*configure_optimizers.*")
        warnings.filterwarnings("ignore", message=".*max_epochs=0.*")
        warnings.filterwarnings("ignore", message=".*Total length of .* across ranks is zero.*")  # no batches
        torch.set_grad_enabled(True)
        trainer.fit(AuditModule(), datamodule=AuditDataModule(context))
    logger.experiment.flush()
