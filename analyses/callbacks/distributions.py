"""Callback: the distributions section (variance, skew, floor/ceiling shares, flags, KDE entropy)."""

from __future__ import annotations

from typing import Any, ClassVar

from matplotlib.figure import Figure

from analyses.callbacks.base import AuditSectionCallback
from analyses.context import AuditContext
from analyses.distributions import distribution_analysis
from analyses.notebook_keys import distribution_keys
from datamodules.dimensions import DIMENSIONS


class DistributionsCallback(AuditSectionCallback):
    """Fill ``distributions`` from every labelled segment."""

    sections: ClassVar[tuple[str, ...]] = ("distributions",)

    def compute(self, context: AuditContext) -> tuple[dict[str, Any], dict[str, Figure]]:
        table = context.cache.label_table
        result = distribution_analysis(table.values, DIMENSIONS)
        payload = {**result.to_dict(), "protocol": f"all {len(table)} labelled segments"}
        payload.update(distribution_keys(payload["dimensions"], payload["n_segments"]))  # the original notebook's keys
        return {"distributions": payload}, {}
