"""The probing comparison: every prober's out-of-fold scores, CIs, permutation p-values, baselines and ceilings.

One pure function, :func:`compare_probers`, turns out-of-fold predictions into the table the report prints: per
dimension and prober the pooled and mean-per-fold R2, Pearson and Spearman, a 95% CI from an excerpt-cluster
bootstrap, a permutation p-value, the best method, the training-mean and excerpt baselines, paired bootstrap
differences against plain Ridge, and the noise ceiling.

Audibility. Every prober that is not a deliberately leaky variant is tested: Ridge probers against refits on
permuted labels (given as ``refit_nulls``), the others by the no-refit within-fold permutation of their
out-of-fold predictions (:mod:`analyses.prediction_permutation`). The p-values of all (prober, dimension) pairs
are Benjamini-Hochberg corrected together; a dimension is *audible* when some tested prober is significant at the
false discovery rate ``alpha`` and its pooled R2 is above 0 (better than predicting the training mean).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from analyses.baselines import (
    BaselinePredictionsResult,
    excerpt_identity_ceiling,
    excerpt_mean_baseline,
    training_mean_baseline,
)
from analyses.multiple_testing import benjamini_hochberg
from analyses.permutation import permutation_test_r2
from analyses.prediction_permutation import prediction_permutation_null
from analyses.probe_metrics import probe_scores
from analyses.uncertainty import GroupBootstrapResult, group_bootstrap_ci, paired_group_bootstrap
from datamodules.dimensions import DIMENSIONS

#: Probers every other prober is compared with in paired bootstraps: the original's Ridge, and the tuned linear
#: probe (the fair baseline for "do attention pooling or a nonlinear probe help?").
#: False discovery rate of the joint Benjamini-Hochberg correction of the audibility tests.
FDR_LEVEL = 0.05
REFERENCE_PROBERS: tuple[str, ...] = ("ridge", "ridge_tuned")


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
        Baseline name -> ``{r2_pooled, r2_fold_mean, n_fallback, protocol}``; fitted baselines (``descriptors``)
        add ``ci_low``/``ci_high`` (excerpt bootstrap) and ``mean_r2``; a fitted baseline that could not run is
        ``{"skipped": reason}``.
    below_baselines : dict
        Prober -> fitted baseline -> the dimensions where the prober's pooled R2 is below the baseline's (leaky
        variants excluded).
    paired_differences : dict
        ``"<prober> - <reference>"`` -> ``{difference, ci_low, ci_high, pvalue}`` per dimension (pooled R2), for
        each reference of :data:`REFERENCE_PROBERS` that was run (``ridge``, then ``ridge_tuned``).
    best_method : dict
        Dimension -> prober with the highest pooled R2.
    audible_dimensions : list of str
        Dimensions with some tested prober significant (joint BH) and pooled R2 > 0.
    audible_by : dict
        Audible dimension -> the probers that found it.
    tested_probers : list of str
        Probers with a permutation test (leaky variants are never tested).
    noise_ceiling : list of float or None
        Split-half reliability per dimension (the R2 ceiling), from the label audit.
    n_folds, n_bootstrap, n_permutations, seed : int
    """

    probers: dict
    baselines: dict
    below_baselines: dict
    paired_differences: dict
    best_method: dict
    audible_dimensions: list
    audible_by: dict
    tested_probers: list
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
    refit_nulls: Mapping[str, np.ndarray],
    *,
    noise_ceiling: np.ndarray | None = None,
    fitted_baselines: Mapping[str, BaselinePredictionsResult | str] | None = None,
    n_bootstrap: int = 1000,
    n_permutations: int = 200,
    seed: int = 0,
    alpha: float = FDR_LEVEL,
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
    refit_nulls : mapping
        Prober name -> null pooled R2 ``(n_permutations, 19)`` from refits on permuted labels.
    noise_ceiling : ndarray of shape (19,), optional
    fitted_baselines : mapping, optional
        Baseline name -> out-of-fold predictions of a baseline fitted on the training parts (the descriptor
        baseline, :func:`probes.descriptor_baseline.descriptor_baseline`), or the reason it was skipped (str).
    n_bootstrap : int, default=1000
    n_permutations : int, default=200
        Permutations of the no-refit test for tested probers without a refit null (0: test only those with one).
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
                 "r2_fold_sd": _list(scores.r2_fold_sd), "r2_per_fold": [_list(fold) for fold in scores.r2_per_fold],
                 "pearson": _list(scores.pearson),
                 "spearman": _list(scores.spearman), "ci_low": _list(bootstrap.ci_low),
                 "ci_high": _list(bootstrap.ci_high), "pvalue": None, "pvalue_bh": None, "audible": None}
        null, kind = _null(name, variant, refit_nulls, labels[rows], y_pred[rows], groups[rows], fold_of_row[rows],
                           n_permutations, seed)
        if null is not None:
            test = permutation_test_r2(scores.r2_pooled, null, alpha=alpha)
            entry.update(pvalue=_list(test.pvalue), n_permutations=int(null.shape[0]), permutation_test=kind,
                         n_permutations_drawn=[int(n) for n in np.sum(~np.isnan(null), axis=0)])
        probers[name] = entry
    tested = [name for name, entry in probers.items() if entry["pvalue"] is not None]
    audible_by = _joint_audibility(probers, tested, alpha)
    baselines = _baselines(labels, groups, folds)
    for name, fitted in (fitted_baselines or {}).items():
        baselines[name] = {"skipped": fitted} if isinstance(fitted, str) else \
            _fitted_baseline(labels, groups, fitted, n_bootstrap, seed)
    result = ProbingComparisonResult(
        probers=probers, baselines=baselines, below_baselines=_below(probers, baselines), best_method=_best(probers),
        paired_differences=_paired(labels, groups, predictions, n_bootstrap, seed),
        audible_dimensions=[name for name in DIMENSIONS if name in audible_by], audible_by=audible_by,
        tested_probers=tested, noise_ceiling=None if noise_ceiling is None else _list(noise_ceiling),
        n_folds=len(folds), n_bootstrap=n_bootstrap, n_permutations=n_permutations, seed=seed,
    )
    return result, bootstraps


def _null(name, variant, refit_nulls, y_true, y_pred, groups, fold_of_row, n_permutations, seed):
    """The prober's permutation null and its kind, or ``(None, None)`` for leaky variants / no permutations."""
    if variant == "leaky":
        return None, None
    if name in refit_nulls:
        return np.asarray(refit_nulls[name]), "refit on labels permuted in excerpt blocks"
    if n_permutations < 1:
        return None, None
    null = prediction_permutation_null(y_true, y_pred, groups, fold_of_row, n_permutations, seed)
    return null, "no refit: labels permuted in excerpt blocks within each validation fold"


def _joint_audibility(probers: dict, tested: list[str], alpha: float) -> dict[str, list[str]]:
    """BH over every tested (prober, dimension) p-value; fills ``pvalue_bh`` and ``audible`` in place."""
    if not tested:
        return {}
    raw = np.array([[np.nan if p is None else p for p in probers[name]["pvalue"]] for name in tested])  # (k, 19)
    corrected = benjamini_hochberg(raw.ravel(), alpha=alpha).pvalue_corrected.reshape(raw.shape)
    audible_by: dict[str, list[str]] = {}
    for row, name in enumerate(tested):
        r2 = probers[name]["r2_pooled"]
        flags = [bool(np.isfinite(q) and q < alpha and r2[i] is not None and r2[i] > 0)
                 for i, q in enumerate(corrected[row])]
        probers[name].update(pvalue_bh=_list(corrected[row]), audible=flags)
        for index, flag in enumerate(flags):
            if flag:
                audible_by.setdefault(DIMENSIONS[index], []).append(name)
    return audible_by


def _baselines(labels: np.ndarray, groups: np.ndarray, folds: list) -> dict:
    baselines = {}
    for result in (training_mean_baseline(labels, folds), excerpt_mean_baseline(labels, folds, groups),
                   excerpt_identity_ceiling(labels, folds, groups)):
        scores = probe_scores(labels[result.rows], result.y_pred, result.fold_of_row)
        baselines[result.name] = {"r2_pooled": _list(scores.r2_pooled), "r2_fold_mean": _list(scores.r2_fold_mean),
                                  "n_fallback": int(result.n_fallback), "protocol": result.protocol}
    return baselines


def _fitted_baseline(labels: np.ndarray, groups: np.ndarray, fitted: BaselinePredictionsResult, n_bootstrap: int,
                     seed: int) -> dict:
    """A fitted baseline scored like a prober: pooled and per-fold R2 with the excerpt-bootstrap CI."""
    scores = probe_scores(labels[fitted.rows], fitted.y_pred, fitted.fold_of_row)
    bootstrap = group_bootstrap_ci(labels[fitted.rows], fitted.y_pred, groups[fitted.rows], n_resamples=n_bootstrap,
                                   seed=seed)
    return {"r2_pooled": _list(scores.r2_pooled), "r2_fold_mean": _list(scores.r2_fold_mean),
            "ci_low": _list(bootstrap.ci_low), "ci_high": _list(bootstrap.ci_high),
            "mean_r2": float(np.mean(scores.r2_pooled)), "n_fallback": int(fitted.n_fallback),
            "protocol": fitted.protocol}


def _below(probers: dict, baselines: dict) -> dict:
    """Prober -> fitted baseline -> dimensions where the prober's pooled R2 is below the baseline's."""
    fitted = {name: entry for name, entry in baselines.items() if "ci_low" in entry}
    return {name: {baseline: [DIMENSIONS[i] for i, (ours, theirs) in enumerate(zip(entry["r2_pooled"],
                                                                                      values["r2_pooled"], strict=True))
                              if ours is not None and theirs is not None and ours < theirs]
                   for baseline, values in fitted.items()}
            for name, entry in probers.items() if entry["variant"] != "leaky" and fitted}


def _paired(labels: np.ndarray, groups: np.ndarray, predictions: Mapping, n_bootstrap: int, seed: int) -> dict:
    differences = {}
    for reference_name in (name for name in REFERENCE_PROBERS if name in predictions):
        reference, reference_folds, _ = predictions[reference_name]
        for name, (y_pred, fold_of_row, _) in predictions.items():
            if name in REFERENCE_PROBERS[: REFERENCE_PROBERS.index(reference_name) + 1]:
                continue  # itself, or a pair already formed the other way round
            rows = np.flatnonzero((fold_of_row >= 0) & (reference_folds >= 0))
            paired = paired_group_bootstrap(labels[rows], y_pred[rows], reference[rows], groups[rows],
                                            n_resamples=n_bootstrap, seed=seed)
            differences[f"{name} - {reference_name}"] = {
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
