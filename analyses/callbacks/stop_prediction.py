"""Callback: teacher STOP vs CONTINUE prediction from predicted qualities (section 8 of the original audit)."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import numpy as np
from matplotlib.figure import Figure

from analyses.callbacks.base import AuditSectionCallback
from analyses.callbacks.downstream_inputs import (
    DEFAULT_QUALITY_PROBER,
    embedded,
    quality_scores,
    quality_seed_directories,
    run_datamodule_kwargs,
    run_prober_overrides,
    stats_features,
)
from analyses.context import AuditContext
from analyses.factor_retention import parallel_analysis
from analyses.plots_downstream import plot_stop_auc
from analyses.probe_metrics import probe_scores
from analyses.stop_prediction import build_feature_sets, stop_prediction, stop_prediction_unavailable
from datamodules.masterclass import load_moments, segment_moments
from probes.cross_validation import cross_validate


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
            n_resamples=int(context.settings.get("n_bootstrap", 1000)), seed=context.seed, exclusions=exclusions,
        )
        payload = {**result.to_dict(), "quality_source": source, "moments_file": str(path)}
        return {"stop_prediction": payload}, {"stop_auc_by_configuration": plot_stop_auc(payload)}


def _probe_r2(context: AuditContext) -> np.ndarray:
    """Pooled out-of-fold R2 per dimension of the quality prober: from the probing section when it ran, else
    from the prober's own (resumable) cross-validation."""
    prober = context.settings.get("quality_prober") or DEFAULT_QUALITY_PROBER
    scores = context.results.get("probing_comparison", {}).get("probers", {}).get(prober)
    if scores is not None:
        return np.asarray(scores["r2_pooled"], dtype=np.float64)
    runs = [cross_validate(prober, context.cache, directory, seed=seed, datamodule_kwargs=run_datamodule_kwargs(context),
                           **run_prober_overrides(context, prober))
            for seed, directory in quality_seed_directories(context, prober)]  # fmt: skip
    ensemble = dataclasses.replace(runs[0], predictions=np.mean([run.predictions for run in runs], axis=0))
    return probe_scores(*ensemble.scored(context.cache.labels)).r2_pooled


def _n_label_components(context: AuditContext) -> int:
    retention = context.results.get("factor_retention")
    if retention is not None:
        return max(int(retention["pca_parallel_analysis"]), 1)
    return max(parallel_analysis(context.cache.label_table.values, context.seed).n_retained, 1)
