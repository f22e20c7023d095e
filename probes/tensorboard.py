"""TensorBoard loggers for probers: one run per (prober, fold), hyper-parameters logged with final metrics.

Layout: ``<save_dir>/<prober name>/fold<k>/events.out.tfevents.*`` plus ``hparams.yaml``, which is
``TensorBoardLogger(save_dir, name, version=f"fold{k}")``'s own layout.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lightning.pytorch.loggers import TensorBoardLogger


def make_logger(save_dir: Path | str, prober_name: str, fold: int) -> TensorBoardLogger:
    """A TensorBoard logger for fold ``fold`` of ``prober_name`` under ``save_dir`` (e.g. ``<out>/tensorboard``).

    ``default_hp_metric=False``: the prober logs its hyper-parameters once, with real final metrics, at the end
    of ``fit`` (see :func:`log_final`), instead of a placeholder ``hp_metric`` of -1 at the start.
    """
    return TensorBoardLogger(save_dir=str(save_dir), name=prober_name, version=f"fold{fold}", default_hp_metric=False)


def loggable_params(params: dict[str, Any]) -> dict[str, Any]:
    """``params`` with values TensorBoard's hparams plugin accepts: numbers, strings and booleans; others as ``str``."""
    return {
        key: value if isinstance(value, (bool, int, float, str)) else str(value)
        for key, value in sorted(params.items())
    }


def log_final(logger: Any, params: dict[str, Any], metrics: dict[str, float]) -> None:
    """``logger.log_hyperparams(params, metrics)`` then ``save()``; nothing when ``logger`` is None or False.

    Parameters
    ----------
    logger : lightning.pytorch.loggers.Logger or None
    params : dict
        The prober's ``get_params()`` (and derived values such as the mean chosen alpha).
    metrics : dict of str to float
        Final metrics, named ``hparams/<metric>`` (e.g. ``hparams/train_loss``), shown beside the hyper-parameters.
    """
    if not logger:
        return
    logger.log_hyperparams(loggable_params(params), {key: float(value) for key, value in metrics.items()})
    logger.save()
