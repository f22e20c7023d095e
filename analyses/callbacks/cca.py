"""Callback: canonical correlations between embeddings (PCA-50, fitted on training rows) and the labels."""

from __future__ import annotations

from typing import Any, ClassVar

from matplotlib.figure import Figure

from analyses.callbacks.base import AuditSectionCallback
from analyses.cca import cca_analysis
from analyses.context import AuditContext

N_PCA_COMPONENTS = 50


class CCACallback(AuditSectionCallback):
    """Fill ``cca``: held-out canonical correlations (main) beside the in-sample ones (labelled)."""

    sections: ClassVar[tuple[str, ...]] = ("cca",)

    def compute(self, context: AuditContext) -> tuple[dict[str, Any], dict[str, Figure]]:
        cache = context.cache
        features = cache.stats_features()
        n_components = min(N_PCA_COMPONENTS, features.shape[1], min(len(train) for train, _ in cache.folds) - 1)
        result = cca_analysis(features, cache.labels, cache.folds, n_pca_components=n_components, seed=context.seed)
        payload = {**result.to_dict(), "folds": len(cache.folds)}
        payload["n_significant"] = payload["n_above_threshold_in_sample"]  # the original notebook's key (r > 0.3)
        return {"cca": payload}, {}
