"""The original notebook's ``audit_results`` keys, kept beside the suite's own where they mean the same quantity.

Code written against the notebook's dictionary reads these; the suite's own keys (and the protocol) stay the
reference. Where the notebook's quantity differs from the suite's under the same or a similar name, no alias is
written (listed in the README): ``stop_prediction.baseline_auc`` (the notebook's is the all-19-dimensions AUC),
``cca.total_shared_variance`` (a sum of squared correlations, the suite's is a mean), ``correlation.cluster_order``
(the notebook clusters rows of the square ``1 - r`` matrix), PCA loadings (eigenvector entries against the suite's
correlation loadings), ``residuals.n_structured_components`` (another noise floor), and the label variance
(``ddof=0``: given as ``var`` beside the suite's ``ddof=1`` ``variance``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np


def correlation_keys(entry: Mapping[str, Any]) -> dict[str, Any]:
    """``n_high_corr`` (\\|r\\| > 0.7), ``n_moderate_corr`` (0.5 < \\|r\\| <= 0.7), ``total_pairs``, ``vifs``,
    ``severe_vif_count`` (VIF > 10) from the suite's ``correlation`` section."""
    return {"n_high_corr": entry["n_strong_pairs"], "n_moderate_corr": entry["n_moderate_pairs"],
            "total_pairs": entry["n_pairs"], "vifs": dict(entry["vif"]), "severe_vif_count": entry["n_high_vif"]}


def pca_keys(entry: Mapping[str, Any], observed: Sequence[float], threshold: Sequence[float]) -> dict[str, Any]:
    """``n_significant`` (every eigenvalue above its parallel-analysis threshold, as the notebook counts; the
    suite's ``n_retained`` stops at the first one below), ``n_90_variance``, ``n_95_variance``,
    ``explained_variance`` (the notebook's name for the ratio) and ``cumulative_variance``."""
    return {"n_significant": int(np.sum(np.asarray(observed) > np.asarray(threshold))),
            "n_90_variance": entry["n_components_90"], "n_95_variance": entry["n_components_95"],
            "explained_variance": list(entry["explained_variance_ratio"]),
            "cumulative_variance": list(entry["cumulative_explained_variance"])}


def distribution_keys(dimensions: Mapping[str, Mapping[str, Any]], n_segments: int) -> dict[str, Any]:
    """``dim_stats``: per dimension ``var`` (population variance, ``ddof=0``), ``skew``, ``floor_pct`` (share
    below 0.05) and ``ceil_pct`` (share above 0.95)."""
    scale = (n_segments - 1) / n_segments
    return {"dim_stats": {name: {"var": values["variance"] * scale, "skew": values["skewness"],
                                 "floor_pct": values["floor_share"], "ceil_pct": values["ceiling_share"]}
                          for name, values in dimensions.items()}}


def probing_keys(family: str, probers: Mapping[str, Mapping[str, Any]], names: Sequence[str]) -> dict[str, Any]:
    """Per dimension name, the notebook's ``{r2, fold_r2[, delta_vs_ridge]}`` of a faithful prober family.

    ``ridge_probing``: pooled R2 of ``ridge``; ``mlp_probing``: pooled R2 of ``mlp`` and its difference from
    ``ridge``'s; ``attention_probing``: the mean of the per-fold R2 (the notebook's estimator for attention) and its
    difference from ``ridge``'s pooled R2 (as the notebook subtracts). ``fold_r2``: R2 within each validation fold.
    Empty when the family's faithful prober (or, for a difference, ``ridge``) did not run.
    """
    prober = {"ridge_probing": "ridge", "attention_probing": "attention", "mlp_probing": "mlp"}.get(family)
    entry = probers.get(prober) if prober else None
    if entry is None or "r2_per_fold" not in entry:
        return {}
    r2 = entry["r2_fold_mean"] if prober == "attention" else entry["r2_pooled"]
    ridge = probers.get("ridge", {}).get("r2_pooled")
    keys: dict[str, Any] = {}
    for index, name in enumerate(names):
        values: dict[str, Any] = {"r2": r2[index], "fold_r2": [fold[index] for fold in entry["r2_per_fold"]]}
        if prober != "ridge" and ridge is not None and r2[index] is not None and ridge[index] is not None:
            values["delta_vs_ridge"] = r2[index] - ridge[index]
        keys[name] = values
    return keys
