"""Callback: the correlation section (Pearson matrix, cluster order, top pairs, VIF) and its heatmap."""

from __future__ import annotations

from typing import Any, ClassVar

from matplotlib.figure import Figure

from analyses.callbacks.base import AuditSectionCallback
from analyses.context import AuditContext
from analyses.correlation import correlation_analysis
from analyses.notebook_keys import correlation_keys
from analyses.plots_labels import plot_correlation_heatmap
from datamodules.dimensions import DIMENSIONS


class LabelCorrelationCallback(AuditSectionCallback):
    """Fill ``correlation`` from every labelled segment (in-sample by nature: no model is fitted).

    Example::

        Trainer(max_epochs=0, callbacks=[LabelCorrelationCallback()]).fit(AuditModule(), AuditDataModule(context))
    """

    sections: ClassVar[tuple[str, ...]] = ("correlation",)

    def compute(self, context: AuditContext) -> tuple[dict[str, Any], dict[str, Figure]]:
        table = context.cache.label_table
        result = correlation_analysis(table.values, DIMENSIONS)
        payload = {**result.to_dict(),
                   "protocol": f"Pearson r over all {len(table)} labelled segments of {table.source.name}"}
        payload.update(correlation_keys(payload))  # the original notebook's keys
        figure = plot_correlation_heatmap(result, f"{table.source.name}, all {len(table)} labelled segments")
        return {"correlation": payload}, {"correlation_heatmap": figure}
