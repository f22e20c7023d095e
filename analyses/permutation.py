"""Permutation test of "features carry no information about the labels", respecting excerpt structure.

The prober is refitted on labels permuted by :func:`permute_within_groups` (same features, same folds), its
pooled out-of-fold R2 per permutation forms the null distribution, and :func:`permutation_test_r2` turns
observed and null R2 into p-values, Benjamini-Hochberg corrected, and an ``audible`` flag per dimension.
:func:`pooled_r2_many` (defined in :mod:`analyses.probe_metrics`, re-exported here) scores all refits at once.

Permutation scheme
------------------
Labels of performances of the same excerpt share an excerpt component, and the features of those rows share
the music, so single label rows are not exchangeable: a free row shuffle yields label matrices without excerpt
clusters, which the real labels never are, so the R2 of refits on them is not the null distribution of the
statistic (mis-calibrated, in a direction that depends on how the cross-validated R2 reacts to clustering).
The default scheme ``"excerpt_blocks"`` instead moves whole excerpt blocks: within each class of excerpts with
the same number of rows (and the same stratum, if ``strata`` is given), excerpts receive the label block of a
uniformly permuted excerpt, with the rows inside each block in uniformly random order. Under the null (all
features independent of all labels), if excerpts of equal size are exchangeable and performances within an
excerpt are exchangeable, this permuted label matrix has the same distribution as the original, so the test is
exact: within-excerpt dependence, block sizes and the folds (defined on the rows) are all kept, while the link
between an excerpt's features and its labels, excerpt-level and performance-level, is broken. An excerpt
alone in its class cannot move; such excerpts are counted by :func:`permutation_plan` (and warned about), and
make the test conservative. PercePiano's excerpts have 3, 9, 13 or 14 rows, each size shared by 5 or more
excerpts, so with no strata no block is fixed.

``"within_excerpt"`` only shuffles rows inside each excerpt. It keeps every excerpt's labels with its own
features, so it tests the narrower null "no performance-level information beyond the excerpt" and is
conservative for the null above.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from analyses._scoring import as_generator, check_ids, json_floats, resolve_dimensions
from analyses.multiple_testing import benjamini_hochberg
from analyses.probe_metrics import pooled_r2_many
from analyses.row_folds import check_matrix

__all__ = [
    "PermutationPlanResult", "PermutationTestResult", "permutation_plan", "permutation_rows", "permutation_test_r2",
    "permute_within_groups", "pooled_r2_many",
]

SCHEMES = ("excerpt_blocks", "within_excerpt")


@dataclass(frozen=True, slots=True)
class PermutationPlanResult:
    """How :func:`permutation_rows` will permute: exchangeable classes and the excerpts that cannot move.

    Attributes
    ----------
    scheme : str
    n_groups, n_classes : int
        Excerpts, and classes of mutually exchangeable excerpts (same size and stratum).
    n_fixed_groups, n_fixed_rows : int
        Excerpts alone in their class under ``"excerpt_blocks"`` (their rows are only shuffled internally), and
        their rows. Under ``"within_excerpt"`` every excerpt is fixed by design and these count all of them.
    fixed_groups : tuple of str
    """

    scheme: str
    n_groups: int
    n_classes: int
    n_fixed_groups: int
    n_fixed_rows: int
    fixed_groups: tuple[str, ...]

    def to_dict(self) -> dict:
        """JSON form."""
        return {**{name: getattr(self, name) for name in self.__slots__}, "fixed_groups": list(self.fixed_groups)}


@dataclass(frozen=True, slots=True)
class PermutationTestResult:
    """One-sided permutation test of R2 above chance, per dimension, with BH correction.

    Attributes
    ----------
    dimensions : tuple of str
    statistic : ndarray of shape (n_dimensions,)
        The observed pooled out-of-fold R2.
    pvalue : ndarray of shape (n_dimensions,)
        ``(1 + #{null >= observed}) / (1 + n_resamples)``.
    pvalue_corrected : ndarray of shape (n_dimensions,)
        Benjamini-Hochberg adjusted over the dimensions.
    audible : ndarray of shape (n_dimensions,), bool
        ``pvalue_corrected < alpha``: the probe hears the dimension.
    null_distribution : ndarray of shape (n_resamples, n_dimensions)
    null_mean, null_q95 : ndarray of shape (n_dimensions,)
        Mean and 95th percentile of the null R2 (the chance level of this prober and protocol).
    n_resamples : int
    alpha : float
    alternative, correction : str
        ``"greater"`` and ``"fdr_bh"``.
    permutation_scheme : str or None
        How the null labels were permuted, as given by the caller.
    protocol : str
    """

    dimensions: tuple[str, ...]
    statistic: np.ndarray
    pvalue: np.ndarray
    pvalue_corrected: np.ndarray
    audible: np.ndarray
    null_distribution: np.ndarray
    null_mean: np.ndarray
    null_q95: np.ndarray
    n_resamples: int
    alpha: float
    alternative: str
    correction: str
    permutation_scheme: str | None
    protocol: str

    def to_dict(self, include_null: bool = False) -> dict:
        """JSON form (nothing rounded); the null distribution only when asked."""
        payload = {name: getattr(self, name) for name in self.__slots__ if name != "null_distribution"}
        for name in ("statistic", "pvalue", "pvalue_corrected", "null_mean", "null_q95"):
            payload[name] = json_floats(payload[name])
        payload.update(dimensions=list(self.dimensions), audible=self.audible.tolist())
        if include_null:
            payload["null_distribution"] = json_floats(self.null_distribution)
        return payload


#: Confidence of the lower bound that lets a permutation test stop early (:func:`sequential_stop`).
STOP_CONFIDENCE = 0.999


def permutation_test_r2(
    observed_r2: np.ndarray,
    null_r2: np.ndarray,
    *,
    alpha: float = 0.05,
    dimensions: Sequence[str] | None = None,
    permutation_scheme: str | None = None,
) -> PermutationTestResult:
    """P-values of observed R2 against R2 of refits on permuted labels, BH-corrected over dimensions.

    Parameters
    ----------
    observed_r2 : ndarray of shape (n_dimensions,)
        Pooled out-of-fold R2 on the real labels.
    null_r2 : ndarray of shape (n_resamples, n_dimensions)
        The same statistic after refitting on each permutation (e.g. from
        :func:`analyses.probe_metrics.pooled_r2_many`). NaN marks permutations not drawn for a dimension whose test
        stopped early (:func:`sequential_stop`); each column needs at least one drawn value.
    alpha : float, default=0.05
        False discovery rate for ``audible``.
    dimensions : sequence of str, optional
        Default :data:`datamodules.dimensions.DIMENSIONS` (19 columns).
    permutation_scheme : str, optional
        Recorded in the result, e.g. ``"excerpt_blocks"``.

    Returns
    -------
    PermutationTestResult

    Raises
    ------
    ValueError
        On shapes that disagree, NaN/inf, or ``alpha`` outside (0, 1).

    Notes
    -----
    :math:`p = (1 + \\#\\{b: R^2_b \\ge R^2_{obs}\\}) / (1 + B)`, which counts the observed labelling as one
    of the permutations and is never 0 (Phipson & Smyth 2010, doi:10.2202/1544-6115.1585); ``B`` is the number of
    permutations drawn for that dimension.

    Examples
    --------
    >>> null = np.array([[0.0], [0.1], [0.3]])
    >>> permutation_test_r2(np.array([0.2]), null, dimensions=["timing"]).pvalue.tolist()
    [0.5]
    """
    observed = np.asarray(observed_r2, dtype=np.float64)
    if observed.ndim != 1 or not np.all(np.isfinite(observed)):
        raise ValueError(f"observed_r2 must be a finite (n_dimensions,) array, got shape {observed.shape}")
    null = np.asarray(null_r2, dtype=np.float64)
    if null.ndim != 2 or np.any(np.isinf(null)):
        raise ValueError(f"null_r2 must be a (n_resamples, n_dimensions) array without inf, got shape {null.shape}")
    if null.shape[1] != observed.shape[0]:
        raise ValueError(f"null_r2 has {null.shape[1]} columns, expected {observed.shape[0]} (one per dimension)")
    drawn = np.sum(~np.isnan(null), axis=0)
    if np.any(drawn == 0):
        raise ValueError(f"null_r2 columns {np.flatnonzero(drawn == 0).tolist()} hold no drawn permutation (all NaN)")
    names = resolve_dimensions(dimensions, observed.shape[0])
    with np.errstate(invalid="ignore"):
        exceed = np.sum(null >= observed, axis=0)  # NaN compares False: undrawn permutations do not count
    pvalue = (1.0 + exceed) / (1.0 + drawn)
    corrected = benjamini_hochberg(pvalue, alpha=alpha)
    return PermutationTestResult(
        dimensions=names,
        statistic=observed.copy(),
        pvalue=pvalue,
        pvalue_corrected=corrected.pvalue_corrected,
        audible=corrected.reject,
        null_distribution=null,
        null_mean=np.nanmean(null, axis=0),
        null_q95=np.nanquantile(null, 0.95, axis=0),
        n_resamples=int(null.shape[0]),
        alpha=float(alpha),
        alternative="greater",
        correction="fdr_bh",
        permutation_scheme=permutation_scheme,
        protocol=(
            f"one-sided permutation test of pooled out-of-fold R2 against {null.shape[0]} refits on permuted "
            f"labels (scheme {permutation_scheme}); p = (1 + #null >= observed) / (1 + n); Benjamini-Hochberg "
            f"over {observed.shape[0]} dimensions; audible when corrected p < {alpha:g}"
        ),
    )


def permutation_plan(
    groups: Sequence | np.ndarray, *, scheme: str = "excerpt_blocks", strata: Sequence | np.ndarray | None = None
) -> PermutationPlanResult:
    """The exchangeable classes :func:`permutation_rows` uses and the excerpts that cannot move.

    Raises
    ------
    ValueError
        On an unknown ``scheme``, ids of the wrong length, or a group spread over two strata.
    """
    classes, names = _classes(groups, scheme, strata)
    fixed_blocks = [block for block in classes if scheme == "within_excerpt" or block.shape[0] == 1]
    fixed_rows = [rows for block in fixed_blocks for rows in block]
    return PermutationPlanResult(
        scheme=scheme,
        n_groups=sum(block.shape[0] for block in classes),
        n_classes=len(classes),
        n_fixed_groups=len(fixed_rows),
        n_fixed_rows=int(sum(rows.size for rows in fixed_rows)),
        fixed_groups=tuple(str(names[rows[0]]) for rows in fixed_rows),
    )


def permutation_rows(
    groups: Sequence | np.ndarray,
    rng: np.random.Generator | int,
    *,
    scheme: str = "excerpt_blocks",
    strata: Sequence | np.ndarray | None = None,
) -> np.ndarray:
    """Source row of each row's permuted label: ``labels[permutation_rows(...)]`` is a null labelling.

    Parameters
    ----------
    groups : sequence, length n_rows
        Excerpt id of each row.
    rng : numpy.random.Generator or int
        Pass one Generator through all permutations of a test.
    scheme : {"excerpt_blocks", "within_excerpt"}, default="excerpt_blocks"
        See the module docstring.
    strata : sequence, length n_rows, optional
        Blocks only move within a stratum (e.g. the fold of each row); every group must lie in one stratum.

    Returns
    -------
    ndarray of shape (n_rows,), int64
        A permutation of ``range(n_rows)`` that maps each excerpt's rows onto the rows of one excerpt of the
        same size (itself under ``"within_excerpt"``).

    Warns
    -----
    UserWarning
        Under ``"excerpt_blocks"`` when some excerpt is alone in its class and keeps its labels' excerpt.
    """
    rng = as_generator(rng, "rng")
    classes, names = _classes(groups, scheme, strata)
    n_rows = sum(block.size for block in classes)
    source = np.empty(n_rows, dtype=np.int64)
    n_fixed, n_groups = 0, sum(block.shape[0] for block in classes)
    for block in classes:  # block: (n_groups_in_class, group_size) row indices
        order = np.arange(block.shape[0]) if scheme == "within_excerpt" else rng.permutation(block.shape[0])
        source[block] = rng.permuted(block[order], axis=1)
        n_fixed += int(block.shape[0] == 1)
    if n_fixed and scheme == "excerpt_blocks":
        warnings.warn(
            f"{n_fixed} of {n_groups} excerpts are alone in their size/stratum class and keep their own labels "
            "(shuffled within); the permutation test is conservative for them",
            UserWarning,
            stacklevel=2,
        )
    return source


def permute_within_groups(
    labels: np.ndarray,
    groups: Sequence | np.ndarray,
    rng: np.random.Generator | int,
    *,
    scheme: str = "excerpt_blocks",
    strata: Sequence | np.ndarray | None = None,
) -> np.ndarray:
    """Labels ``(n_rows, n_dimensions)`` permuted for a null refit, respecting excerpt groups.

    By default whole excerpt label blocks move between excerpts of equal size (see the module docstring for
    why this is exchangeable under "features carry no information about labels"). Arguments as for
    :func:`permutation_rows`; ``labels`` has one row per entry of ``groups``.

    Examples
    --------
    >>> labels = np.arange(6.0)[:, None]
    >>> permuted = permute_within_groups(labels, ["a", "a", "b", "b", "c", "c"], np.random.default_rng(0))
    >>> sorted(sorted(permuted[i:i + 2, 0].tolist()) for i in (0, 2, 4))
    [[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]]
    """
    labels = check_matrix("labels", labels)
    if labels.shape[0] != np.asarray(groups).shape[0]:
        raise ValueError(f"labels has {labels.shape[0]} rows but groups has {np.asarray(groups).shape[0]} entries")
    return labels[permutation_rows(groups, rng, scheme=scheme, strata=strata)]


def _classes(groups, scheme: str, strata) -> tuple[list[np.ndarray], np.ndarray]:
    """Row blocks ``(n_groups_in_class, group_size)`` per class of same-size, same-stratum groups."""
    if scheme not in SCHEMES:
        raise ValueError(f"scheme must be one of {list(SCHEMES)}, got {scheme!r}")
    names = np.asarray(groups).astype(str)
    codes = check_ids("groups", groups, names.shape[0])
    n_rows = names.shape[0]
    stratum = np.zeros(n_rows, dtype=np.int64) if strata is None else check_ids("strata", strata, n_rows)
    members = [np.flatnonzero(codes == group) for group in range(int(codes.max()) + 1)]
    keys = []
    for rows in members:
        if np.unique(stratum[rows]).size > 1:
            raise ValueError(f"group {names[rows[0]]!r} spans strata {np.unique(stratum[rows]).tolist()}; expected one")
        keys.append((int(stratum[rows[0]]), rows.size))
    classes = {}
    for key, rows in zip(keys, members, strict=True):
        classes.setdefault(key, []).append(rows)
    return [np.stack(classes[key]) for key in sorted(classes)], names


def sequential_stop(exceedances: np.ndarray, n_drawn: int | np.ndarray, threshold: float,
                    confidence: float = STOP_CONFIDENCE) -> np.ndarray:
    """Which permutation tests may stop drawing: their p-value is clearly above ``threshold``.

    Parameters
    ----------
    exceedances : ndarray of shape (n_tests,)
        Drawn null statistics at or above the observed one, per test.
    n_drawn : int or ndarray of shape (n_tests,)
        Permutations drawn per test.
    threshold : float
        The largest p-value that could matter: for Benjamini-Hochberg at FDR ``q`` that is ``q`` itself (the
        threshold when every test is rejected), so a test above it can never be rejected.
    confidence : float, default=STOP_CONFIDENCE
        One-sided confidence of the Clopper-Pearson lower bound on the test's exceedance probability.

    Returns
    -------
    ndarray of shape (n_tests,), bool
        True where the lower bound exceeds ``threshold``.

    Notes
    -----
    A sequential Monte Carlo test in the spirit of Besag & Clifford (1991, doi:10.1093/biomet/78.2.301): drawing
    stops for a test once its p-value is known to lie above every threshold BH could use. The exceedance
    probability ``p`` of a stopped test exceeds ``threshold`` with probability at least ``confidence``, so the
    chance that drawing all permutations would have given it a p-value at or below ``threshold`` is below
    ``1 - confidence`` per test; its reported p-value ``(1 + e) / (1 + n)`` from the ``n`` permutations drawn is
    above ``threshold`` whenever it stops. Tests that never stop draw every permutation and are exact.
    """
    exceedances = np.asarray(exceedances, dtype=np.float64)
    n_drawn = np.broadcast_to(np.asarray(n_drawn, dtype=np.float64), exceedances.shape)
    if not 0 < threshold < 1 or not 0.5 < confidence < 1:
        raise ValueError(f"threshold must be in (0, 1) and confidence in (0.5, 1), got {threshold}, {confidence}")
    lower = np.where(exceedances > 0, stats.beta.ppf(1.0 - confidence, np.maximum(exceedances, 1),
                                                      n_drawn - exceedances + 1), 0.0)
    return lower > threshold
