"""Callback: the fold-integrity audit of every fold file found for the run."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from matplotlib.figure import Figure

from analyses.callbacks.base import AuditSectionCallback
from analyses.context import AuditContext
from analyses.fold_integrity import fold_integrity
from datamodules.errors import DataContractError
from datamodules.inputs.folds import load_folds


class FoldIntegrityCallback(AuditSectionCallback):
    """Fill ``fold_integrity`` with one result per fold file (a file that fails validation reports its error)."""

    sections: ClassVar[tuple[str, ...]] = ("fold_integrity",)

    def compute(self, context: AuditContext) -> tuple[dict[str, Any], dict[str, Figure]]:
        label_keys = context.cache.label_table.keys
        audits: dict[str, Any] = {}
        for path in context.inputs.get("folds_files", []):
            try:
                splits = load_folds(Path(path), label_keys)
            except DataContractError as error:
                audits[Path(path).name] = {"status": f"invalid: {error}"}
                continue
            audits[Path(path).name] = {"path": str(path), **fold_integrity(splits, label_keys).to_dict()}
        return {"fold_integrity": audits}, {}
