"""Which callbacks each section runs, and the probing fit that precedes them."""

from __future__ import annotations

from analyses.callbacks.base import AuditSectionCallback
from analyses.callbacks.cca import CCACallback
from analyses.callbacks.competition import CompetitionCallback
from analyses.callbacks.distributions import DistributionsCallback
from analyses.callbacks.factor_structure import FactorStructureCallback
from analyses.callbacks.fold_integrity import FoldIntegrityCallback
from analyses.callbacks.label_correlation import LabelCorrelationCallback
from analyses.callbacks.layer_sweep import LayerSweepCallback
from analyses.callbacks.probing import ProbingCallback
from analyses.callbacks.reliability import ReliabilityCallback
from analyses.callbacks.residuals import ResidualsCallback
from analyses.callbacks.stop_prediction import StopPredictionCallback
from benchmarks.config import RunConfig


def callbacks_for(section: str, config: RunConfig) -> list[AuditSectionCallback]:
    """The post-fit callbacks of ``section``, in report order."""
    if section == "labels":
        return [LabelCorrelationCallback(), FactorStructureCallback(), DistributionsCallback(), ReliabilityCallback(),
                FoldIntegrityCallback()]
    if section == "probing":
        return [ProbingCallback(), *([LayerSweepCallback()] if config.layer_sweep is not None else [])]
    if section == "embedding":
        return [ResidualsCallback(), CCACallback()]
    if section == "downstream":
        return [StopPredictionCallback(), CompetitionCallback()]
    return []
