"""Callback: rater reliability and the noise ceiling, from the raw ratings file when one is given."""

from __future__ import annotations

from typing import Any, ClassVar

from matplotlib.figure import Figure

from analyses.callbacks.base import AuditSectionCallback
from analyses.context import AuditContext
from analyses.plots_reliability import plot_reliability
from analyses.reliability import reliability
from datamodules.dimensions import DIMENSIONS
from datamodules.inputs.ratings import load_ratings

N_SPLITS = 100


class ReliabilityCallback(AuditSectionCallback):
    """Fill ``reliability`` (Krippendorff's alpha, split-half, noise ceilings) or say why it could not run."""

    sections: ClassVar[tuple[str, ...]] = ("reliability",)

    def compute(self, context: AuditContext) -> tuple[dict[str, Any], dict[str, Figure]]:
        path = context.inputs.get("ratings")
        if path is None:
            return {"reliability": {"status": "skipped: no raw ratings file (give --ratings total_2rounds.csv or put "
                                              "it in the cache directory)"}}, {}
        table = load_ratings(path)
        n_resamples = context.n_resamples("n_bootstrap")
        result = reliability(table.values, table.key_index, table.rater_index, dimensions=DIMENSIONS,
                             n_splits=N_SPLITS, n_resamples=n_resamples, seed=context.seed)
        payload = {
            **result.to_dict(),
            "ratings_file": str(path),
            "exclusions": table.report.to_dict(),
            "key_alignment": _key_alignment(table.keys, context.cache.label_table.keys),
            "protocol": f"{table.n_ratings} ratings of {len(table.keys)} keys by {len(table.raters)} raters; "
                        f"{N_SPLITS} random rater splits; 95% CIs from {n_resamples} bootstrap resamples of keys; "
                        f"seed {context.seed}",
        }
        return {"reliability": payload}, {"reliability": plot_reliability(result, sort=False)}


def _key_alignment(rated: tuple[str, ...], labelled: tuple[str, ...]) -> dict[str, Any]:
    """Rated keys without labels and labelled keys without ratings (reliability uses every rated key)."""
    without_labels, without_ratings = sorted(set(rated) - set(labelled)), sorted(set(labelled) - set(rated))
    return {"n_rated_keys_without_labels": len(without_labels), "rated_keys_without_labels": without_labels,
            "n_labelled_keys_without_ratings": len(without_ratings), "labelled_keys_without_ratings": without_ratings}
