"""Callback: residual analysis of a multi-output Ridge from stats-pooled embeddings (out-of-fold main result)."""

from __future__ import annotations

from typing import Any, ClassVar

from matplotlib.figure import Figure

from analyses.callbacks.base import AuditSectionCallback
from analyses.context import AuditContext
from analyses.residuals import residual_analysis

RIDGE_ALPHA = 1.0


class ResidualsCallback(AuditSectionCallback):
    """Fill ``residuals``: out-of-fold residuals (main) beside the original in-sample variant (labelled)."""

    sections: ClassVar[tuple[str, ...]] = ("residuals",)

    def compute(self, context: AuditContext) -> tuple[dict[str, Any], dict[str, Figure]]:
        cache = context.cache
        n_resamples = min(context.n_resamples("n_permutations"), 200)
        result = residual_analysis(cache.stats_features(), cache.labels, cache.folds, alpha=RIDGE_ALPHA,
                                   n_resamples=n_resamples, seed=context.seed)
        protocol = (f"Ridge (alpha {RIDGE_ALPHA}, one multi-output solve) on stats-pooled features standardised on "
                    f"training rows; out-of-fold over {len(cache.folds)} folds is the main result, in-sample "
                    f"(fit and evaluate on the same rows, as the original notebook) is labelled; noise floor from "
                    f"{n_resamples} pseudo-label draws; seed {context.seed}")
        return {"residuals": {**result.to_dict(), "protocol": protocol}}, {}
