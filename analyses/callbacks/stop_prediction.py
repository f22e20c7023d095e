"""Callback: teacher STOP vs CONTINUE prediction from predicted qualities (section 8 of the original audit)."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from matplotlib.figure import Figure

from analyses.callbacks.base import AuditSectionCallback
from analyses.callbacks.downstream_inputs import embedded, quality_scores, stats_features
from analyses.context import AuditContext
from analyses.factor_retention import parallel_analysis
from analyses.plots_downstream import plot_stop_auc
from analyses.stop_prediction import build_feature_sets, stop_prediction, stop_prediction_unavailable
from datamodules.inputs.masterclass import load_moments, segment_moments


class StopPredictionCallback(AuditSectionCallback):
    """Fill ``stop_prediction``; without moments or embeddings it reports the counts and why nothing was scored."""

    sections: ClassVar[tuple[str, ...]] = ("stop_prediction",)

    def compute(self, context: AuditContext) -> tuple[dict[str, Any], dict[str, Figure]]:
        path = context.inputs.get("moments")
        if path is None:
            return {"stop_prediction": {"status": "not run: no masterclass moments file (give --moments or put "
                                                  "all_moments.jsonl in the cache directory)",
                                        "results": {}, "baseline_auc": None, "n_segments": 0, "n_stop": 0,
                                        "n_continue": 0}}, {}
        segments = segment_moments(load_moments(path))
        exclusions = segments.to_dict()
        quality, found, source = quality_scores(context, segments.keys, "masterclass_embeddings")
        in_store = embedded(context, segments.keys, "masterclass_embeddings")
        if quality is not None and in_store is not None:  # a predictions file may cover other segments
            quality, found = quality[in_store[found]], found & in_store
        labels, groups = segments.labels, np.asarray(segments.video_ids)
        if quality is None or not found.any():
            reason = source if quality is None else "no masterclass segment has embeddings or predictions"
            result = stop_prediction_unavailable(labels, groups, reason, exclusions=exclusions)
            return {"stop_prediction": {**result.to_dict(), "moments_file": str(path)}}, {}
        exclusions["n_segments_without_features"] = int((~found).sum())
        exclusions["segments_without_features"] = [key for key, ok in zip(segments.keys, found, strict=True) if not ok]
        kept = [key for key, ok in zip(segments.keys, found, strict=True) if ok]
        feature_sets = build_feature_sets(
            quality, _probe_r2(context), _n_label_components(context),
            embeddings=stats_features(context, kept, "masterclass_embeddings"),
        )
        result = stop_prediction(
            feature_sets, labels[found], groups[found], durations_s=segments.duration_s[found],
            n_resamples=context.n_resamples("n_bootstrap"), seed=context.seed, exclusions=exclusions,
        )
        payload = {**result.to_dict(), "quality_source": source, "moments_file": str(path)}
        return {"stop_prediction": payload}, {"stop_auc_by_configuration": plot_stop_auc(payload)}


def _probe_r2(context: AuditContext) -> np.ndarray:
    """Pooled out-of-fold R2 per dimension of the quality prober (computed by the downstream fits).

    Raises
    ------
    RuntimeError
        If the downstream fits left no R2.
    """
    r2 = context.inputs.get("quality_prober_r2")
    if r2 is None:
        raise RuntimeError("no quality-prober R2; benchmarks.orchestration.downstream.run_downstream_fits runs before "
                           "the callbacks")
    return np.asarray(r2, dtype=np.float64)


def _n_label_components(context: AuditContext) -> int:
    retention = context.results.get("factor_retention")
    if retention is not None:
        return max(int(retention["pca_parallel_analysis"]), 1)
    return max(parallel_analysis(context.cache.label_table.values, context.seed).n_retained, 1)
