"""The probing comparison: every prober's out-of-fold scores, CIs, permutation p-values, baselines and ceilings.

One pure function, :func:`compare_probers`, turns out-of-fold predictions into the table the report prints: per
dimension and prober the pooled and mean-per-fold R2, Pearson and Spearman, a 95% CI from an excerpt-cluster
bootstrap, a permutation p-value (BH-corrected over dimensions) where a null was computed, the best method, the
training-mean and excerpt baselines, paired bootstrap differences against plain Ridge, and the noise ceiling.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from analyses.baselines import excerpt_identity_ceiling, excerpt_mean_baseline, training_mean_baseline
from analyses.permutation import permutation_test_r2
from analyses.probe_metrics import probe_scores
from analyses.uncertainty import GroupBootstrapResult, group_bootstrap_ci, paired_group_bootstrap
from datamodules.dimensions import DIMENSIONS

#: Audibility is judged on this prober's permutation test when present (pre-specified, not picked after the fact).
PRIMARY_PROBERS: tuple[str, ...] = ("ridge_tuned", "ridge")
REFERENCE_PROBER = "ridge"


@dataclass(frozen=True, slots=True)
class ProbingComparisonResult:
    """Scores of every prober on the same out-of-fold rows.

    Attributes
    ----------
    probers : dict
        Prober name -> ``{r2_pooled, r2_fold_mean, r2_fold_sd, pearson, spearman, ci_low, ci_high, pvalue,
        pvalue_bh, audible, n_rows, variant, protocol}``, each a list over the 19 dimensions (p-values None
        where no permutation null was computed).
    baselines : dict
        Baseline name -> ``{r2_pooled, r2_fold_mean, n_fallback, protocol}``.
    paired_differences : dict
        ``"<prober> - ridge"`` -> ``{difference, ci_low, ci_high, pvalue}`` per dimension (pooled R2).
    best_method : dict
        Dimension -> prober with the highest pooled R2.
    audible_dimensions : list of str
        Dimensions whose pooled R2 is significantly above the permutation null of ``primary_prober`` (BH).
    primary_prober : str or None
    noise_ceiling : list of float or None
        Split-half reliability per dimension (the R2 ceiling), from the label audit.
    n_folds, n_bootstrap, n_permutations, seed : int
    """

    probers: dict
    baselines: dict
    paired_differences: dict
    best_method: dict
    audible_dimensions: list
    primary_prober: str | None
    noise_ceiling: list | None
    n_folds: int
    n_bootstrap: int
    n_permutations: int
    seed: int

    def to_dict(self) -> dict:
        return {name: getattr(self, name) for name in self.__slots__}


def compare_probers(
    labels: np.ndarray,
    groups: np.ndarray,
    folds: list[tuple[np.ndarray, np.ndarray]],
    predictions: Mapping[str, tuple[np.ndarray, np.ndarray, str]],
    nulls: Mapping[str, np.ndarray],
    *,
    noise_ceiling: np.ndarray | None = None,
    n_bootstrap: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> tuple[ProbingComparisonResult, dict[str, GroupBootstrapResult]]:
    """Score and compare probers.

    Parameters
    ----------
    labels : ndarray of shape (n_segments, 19)
    groups : ndarray of shape (n_segments,)
        Excerpt of each row: the bootstrap resampling unit.
    folds : list of (train_rows, val_rows)
    predictions : mapping
        Prober name -> ``(y_pred (n_segments, 19) with NaN outside val sets, fold_of_row (n_segments,), variant)``.
    nulls : mapping
        Prober name -> null pooled R2 ``(n_permutations, 19)`` from refits on permuted labels.
    noise_ceiling : ndarray of shape (19,), optional
    n_bootstrap : int, default=1000
    seed : int, default=0
    alpha : float, default=0.05
        False discovery rate of the audibility test.

    Returns
    -------
    ProbingComparisonResult, and the per-prober bootstrap results (for the figure).
    """
    groups = np.asarray(groups)
    probers, bootstraps = {}, {}
    for name, (y_pred, fold_of_row, variant) in predictions.items():
        rows = np.flatnonzero(fold_of_row >= 0)
        scores = probe_scores(labels[rows], y_pred[rows], fold_of_row[rows])
        bootstrap = group_bootstrap_ci(labels[rows], y_pred[rows], groups[rows], n_resamples=n_bootstrap, seed=seed)
        bootstraps[name] = bootstrap
        entry = {"variant": variant, "n_rows": int(rows.size), "protocol": scores.protocol,
                 "r2_pooled": _list(scores.r2_pooled), "r2_fold_mean": _list(scores.r2_fold_mean),
                 "r2_fold_sd": _list(scores.r2_fold_sd), "pearson": _list(scores.pearson),
                 "spearman": _list(scores.spearman), "ci_low": _list(bootstrap.ci_low), "ci_high": _list(bootstrap.ci_high),
                 "pvalue": None, "pvalue_bh": None, "audible": None}
        if name in nulls:
            test = permutation_test_r2(scores.r2_pooled, nulls[name], alpha=alpha)
            entry.update(pvalue=_list(test.pvalue), pvalue_bh=_list(test.pvalue_corrected),
                         audible=[bool(flag) for flag in test.audible], n_permutations=int(nulls[name].shape[0]))
        probers[name] = entry
    primary = next((name for name in PRIMARY_PROBERS if name in nulls), next(iter(nulls), None))
    audible = [] if primary is None else [DIMENSIONS[i] for i, flag in enumerate(probers[primary]["audible"]) if flag]
    result = ProbingComparisonResult(
        probers=probers, baselines=_baselines(labels, groups, folds), best_method=_best(probers),
        paired_differences=_paired(labels, groups, predictions, n_bootstrap, seed), audible_dimensions=audible,
        primary_prober=primary, noise_ceiling=None if noise_ceiling is None else _list(noise_ceiling),
        n_folds=len(folds), n_bootstrap=n_bootstrap,
        n_permutations=max((int(null.shape[0]) for null in nulls.values()), default=0), seed=seed,
    )
    return result, bootstraps


def _baselines(labels: np.ndarray, groups: np.ndarray, folds: list) -> dict:
    baselines = {}
    for result in (training_mean_baseline(labels, folds), excerpt_mean_baseline(labels, folds, groups),
                   excerpt_identity_ceiling(labels, folds, groups)):
        scores = probe_scores(labels[result.rows], result.y_pred, result.fold_of_row)
        baselines[result.name] = {"r2_pooled": _list(scores.r2_pooled), "r2_fold_mean": _list(scores.r2_fold_mean),
                                  "n_fallback": int(result.n_fallback), "protocol": result.protocol}
    return baselines


def _paired(labels: np.ndarray, groups: np.ndarray, predictions: Mapping, n_bootstrap: int, seed: int) -> dict:
    if REFERENCE_PROBER not in predictions:
        return {}
    reference, reference_folds, _ = predictions[REFERENCE_PROBER]
    differences = {}
    for name, (y_pred, fold_of_row, _) in predictions.items():
        if name == REFERENCE_PROBER:
            continue
        rows = np.flatnonzero((fold_of_row >= 0) & (reference_folds >= 0))
        paired = paired_group_bootstrap(labels[rows], y_pred[rows], reference[rows], groups[rows],
                                        n_resamples=n_bootstrap, seed=seed)
        differences[f"{name} - {REFERENCE_PROBER}"] = {
            "difference": _list(paired.statistic), "ci_low": _list(paired.ci_low), "ci_high": _list(paired.ci_high),
            "pvalue": _list(paired.pvalue)}
    return differences


def _best(probers: dict) -> dict:
    best = {}
    for index, dimension in enumerate(DIMENSIONS):
        candidates = {name: entry["r2_pooled"][index] for name, entry in probers.items()
                      if entry["variant"] != "leaky" and entry["r2_pooled"][index] is not None}
        best[dimension] = max(candidates, key=candidates.get) if candidates else None
    return best


def _list(values: np.ndarray) -> list:
    return [None if value is None or not np.isfinite(value) else float(value) for value in np.asarray(values, float)]
