"""The base of every audit callback: run after fit, write the section atomically, log figures."""

from __future__ import annotations

import logging
import time
from abc import abstractmethod
from pathlib import Path
from typing import Any, ClassVar

import lightning as L
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.utilities import rank_zero_only
from matplotlib.figure import Figure
from typing_extensions import override

from analyses.context import AuditContext
from datamodules.jsonio import read_json, write_json_atomic

_log = logging.getLogger("percepiano_bench.audit")


class AuditSectionCallback(Callback):
    """Compute one or more ``audit.json`` sections when fit ends.

    Subclasses set :attr:`sections` (the ``audit.json`` keys they fill) and implement :meth:`compute`, which calls
    the pure analysis functions and returns ``{key: JSON-able result}`` plus figures. The callback finds the
    :class:`~analyses.context.AuditContext` on ``trainer.datamodule.context``.

    Each finished section is written atomically to ``<out>/sections/<key>.json`` together with the run's
    configuration fingerprint; a re-run with the same fingerprint loads it instead of recomputing (resume).

    Raises
    ------
    RuntimeError
        In ``on_fit_end`` when the datamodule carries no audit context.
    """

    sections: ClassVar[tuple[str, ...]] = ()

    def __init__(self) -> None:
        self.completed: list[str] = []
        self.resumed: list[str] = []

    @abstractmethod
    def compute(self, context: AuditContext) -> tuple[dict[str, Any], dict[str, Figure]]:
        """Return ``({section key: result dict}, {figure name: Figure})``."""

    @override
    @rank_zero_only
    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        context = getattr(trainer.datamodule, "context", None)
        if not isinstance(context, AuditContext):
            raise RuntimeError(f"{type(self).__name__} needs a datamodule with an AuditContext as `.context`")
        self.run(context, getattr(trainer.logger, "experiment", None))

    def section_keys(self, context: AuditContext) -> tuple[str, ...]:
        """The ``audit.json`` keys this callback fills in this run (default: :attr:`sections`)."""
        return self.sections

    def fingerprint(self, context: AuditContext) -> str:
        """What a stored section must have been computed with to be reused (default: the run's fingerprint)."""
        return context.fingerprint

    def run(self, context: AuditContext, writer: Any = None) -> None:
        """Load the sections if already computed with this configuration, else compute and write them."""
        fingerprint = self.fingerprint(context)
        keys = self.section_keys(context)
        stored = {key: _load_section(context, key, fingerprint) for key in keys}
        if keys and all(value is not None for value in stored.values()):
            context.results.update(stored)
            self.resumed.extend(keys)
            progress(f"{', '.join(keys)}: resumed from {context.sections_dir}")
            return
        started = time.perf_counter()
        results, figures = self.compute(context)
        for name, figure in figures.items():
            _save_figure(context.figures_dir, name, figure, writer)
        for key, value in results.items():
            write_json_atomic(context.sections_dir / f"{key}.json", {"fingerprint": fingerprint, "result": value})
            context.results[key] = value
            self.completed.append(key)
        progress(f"{', '.join(results)}: done in {time.perf_counter() - started:.1f} s")

    def state_dict(self) -> dict[str, Any]:
        return {"completed": list(self.completed), "resumed": list(self.resumed)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.completed = list(state_dict.get("completed", []))
        self.resumed = list(state_dict.get("resumed", []))


def _load_section(context: AuditContext, key: str, fingerprint: str) -> Any:
    path = context.sections_dir / f"{key}.json"
    if not path.is_file():
        return None
    stored = read_json(path)
    if not isinstance(stored, dict) or stored.get("fingerprint") != fingerprint:
        return None
    return stored.get("result")


def _save_figure(directory: Path, name: str, figure: Figure, writer: Any) -> None:
    import matplotlib.pyplot as plt

    directory.mkdir(parents=True, exist_ok=True)
    temporary = directory / f".{name}.tmp.png"
    figure.savefig(temporary, dpi=120, bbox_inches="tight")
    temporary.replace(directory / f"{name}.png")
    if writer is not None:
        writer.add_figure(f"audit/{name}", figure, close=False)
    plt.close(figure)


def progress(message: str) -> None:
    """One line per finished step, logged at INFO on the ``percepiano_bench`` logger (shown with ``--verbose``)."""
    _log.info(message)
