"""Null distribution of a prober's pooled out-of-fold R2 under permuted labels (for the permutation test).

Labels are permuted by :func:`analyses.permutation.permute_within_groups` (whole excerpt blocks by default), the
prober is refitted on every fold for every permutation, and the pooled out-of-fold R2 of each permutation is one
draw of the null. :func:`analyses.permutation.permutation_test_r2` turns it into p-values.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from analyses.permutation import STOP_CONFIDENCE, permute_within_groups, pooled_r2_many, sequential_stop
from benchmarks.orchestration.cross_validation import build_prober, cross_validate, fold_datamodule
from datamodules.cache import PercepianoCache
from datamodules.dimensions import N_DIMENSIONS
from probes.ridge import training_rows


@dataclass(frozen=True)
class PermutationNullResult:
    """Pooled out-of-fold R2 of a prober refitted on permuted labels.

    Attributes
    ----------
    null_distribution : ndarray of shape (n_resamples, 19)
        Pooled R2 per permutation and dimension, against the permuted labels.
    n_resamples : int
    prober, variant : str
    seed : int
        Seeds the permutations (one Generator through all of them) and every refit.
    scheme : str
        Permutation scheme of :func:`analyses.permutation.permute_within_groups`.
    stacked_solve : bool
        True when all permutations were solved at once as extra Ridge targets (one factorisation per fold).
    n_rows : int
        Rows with an out-of-fold prediction (the rows the R2 pools).
    protocol : str
    """

    null_distribution: np.ndarray
    n_resamples: int
    prober: str
    variant: str
    seed: int
    scheme: str
    stacked_solve: bool
    n_rows: int
    protocol: str

    def to_dict(self) -> dict:
        """JSON form (the null distribution as nested lists)."""
        payload = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        payload["null_distribution"] = self.null_distribution.tolist()
        return payload


#: Columns of one stacked Ridge solve in the permutation null: ``19 * n`` targets for ``n`` permutations. With
#: 2 x 1024 features the coefficients of one chunk take 2048 x 2052 x 8 bytes = 32 MiB, whatever ``n_permutations``.
MAX_STACKED_TARGETS = 2052


def permuted_label_sets(
    cache: PercepianoCache, n_permutations: int, seed: int, scheme: str = "excerpt_blocks",
    groups: Sequence | None = None, strata: Sequence | None = None, chunk_size: int | None = None,
) -> Iterator[np.ndarray]:
    """``n_permutations`` permuted copies of ``cache.labels`` in chunks of shape ``(chunk, n_segments, 19)``.

    One ``numpy.random.default_rng(seed)`` is passed through all permutations in order, so the copies do not depend
    on ``chunk_size`` (default: all in one chunk); ``groups`` defaults to the cache's excerpts.
    """
    rng = np.random.default_rng(seed)
    groups = cache.excerpts if groups is None else groups
    chunk_size = n_permutations if chunk_size is None else chunk_size
    for start in range(0, n_permutations, chunk_size):
        yield np.stack([permute_within_groups(cache.labels, groups, rng, scheme=scheme, strata=strata)
                        for _ in range(min(chunk_size, n_permutations - start))])


def permutation_null(
    prober: str | Callable[..., Any],
    cache: PercepianoCache,
    n_permutations: int,
    seed: int,
    *,
    scheme: str = "excerpt_blocks",
    groups: Sequence | None = None,
    strata: Sequence | None = None,
    folds: Sequence[int] | None = None,
    trainer_kwargs: dict | None = None,
    max_stacked_targets: int = MAX_STACKED_TARGETS,
    datamodule_kwargs: dict | None = None,
    observed: np.ndarray | None = None,
    stop_threshold: float | None = None,
    **kwargs: Any,
) -> PermutationNullResult:
    """Refit ``prober`` on ``n_permutations`` permuted label sets over the folds; return the null pooled R2.

    Parameters
    ----------
    prober : str or callable
        Registry name, class or factory (as for :func:`~benchmarks.orchestration.cross_validation.cross_validate`).
    cache : PercepianoCache
    n_permutations : int
        At least 1.
    seed : int
    scheme, groups, strata
        Passed to :func:`analyses.permutation.permute_within_groups` (``groups`` default: excerpts).
    folds : sequence of int, optional
        Folds to run (default all); the R2 pools their validation rows.
    trainer_kwargs : dict, optional
    max_stacked_targets : int, default=MAX_STACKED_TARGETS
        Ridge probers solve the permutations in chunks of at most this many stacked targets, which caps the
        memory of the coefficients and predictions whatever ``n_permutations`` (the null does not depend on it).
    datamodule_kwargs : dict, optional
        :class:`FoldDataModule` overrides, as for :func:`~benchmarks.orchestration.cross_validation.cross_validate`.
    observed : ndarray of shape (19,), optional
        The prober's pooled out-of-fold R2 on the real labels. With ``stop_threshold``, a dimension stops drawing
        permutations once :func:`analyses.permutation.sequential_stop` shows its p-value above ``stop_threshold``
        (Ridge probers only); its later rows of the null are NaN.
    stop_threshold : float, optional
        The largest p-value that matters (the FDR level of the BH correction that follows).
    **kwargs
        Prober hyper-parameters.

    Returns
    -------
    PermutationNullResult

    Raises
    ------
    ValueError
        If ``n_permutations < 1``.

    Notes
    -----
    Ridge probers (those with ``fit_arrays``/``predict_arrays``, ``stats`` view) take the fast path: per fold, the
    permuted label matrices are stacked as ``19 * n`` targets of one multi-target solve (``n`` up to
    ``max_stacked_targets // 19`` per chunk), so the features are factorised once per fold and chunk, not once per
    permutation (``ridge_tuned`` also chooses one alpha per stacked target, exactly as separate fits would). Other
    probers refit per permutation.
    """
    if isinstance(n_permutations, bool) or not isinstance(n_permutations, (int, np.integer)) or n_permutations < 1:
        raise ValueError(f"n_permutations must be a positive integer, got {n_permutations!r}")
    if isinstance(max_stacked_targets, bool) or not isinstance(max_stacked_targets, (int, np.integer)) \
            or max_stacked_targets < 1:
        raise ValueError(f"max_stacked_targets must be a positive integer, got {max_stacked_targets!r}")
    template = build_prober(prober, seed, **kwargs)
    stacked = template.view == "stats" and hasattr(template, "fit_arrays") and hasattr(template, "predict_arrays")
    if stacked:
        null, rows = _stacked_null(prober, cache, int(n_permutations), seed, scheme, groups, strata, folds,
                                   max_stacked_targets, datamodule_kwargs, kwargs, observed, stop_threshold)
    else:
        null = []
        for permuted in permuted_label_sets(cache, int(n_permutations), seed, scheme, groups, strata, 1):
            null_predictions, rows = _refit_each(prober, cache, permuted, seed, folds, trainer_kwargs,
                                                 datamodule_kwargs, kwargs)
            null.append(pooled_r2_many(permuted[:, rows], null_predictions[:, rows]))  # (1, 19)
        null = np.concatenate(null)
    stopped = int(np.sum(np.isnan(null[-1]))) if len(null) else 0
    return PermutationNullResult(
        null_distribution=null, n_resamples=int(n_permutations), prober=template.name, variant=template.variant,
        seed=seed, scheme=scheme, stacked_solve=stacked, n_rows=int(rows.size),
        protocol=(f"{template.name} refitted on every fold for each of {n_permutations} label permutations "
                  f"(scheme {scheme}, seed {seed}); pooled out-of-fold R2 against the permuted labels"
                  + (f"; {stopped} dimensions stopped early, once their p-value was above {stop_threshold:g} with "
                     f"{STOP_CONFIDENCE:.1%} confidence" if stopped else "")),
    )


def _stacked_null(prober, cache, n_permutations, seed, scheme, groups, strata, folds, max_stacked_targets,
                  datamodule_kwargs, kwargs, observed, stop_threshold) -> tuple[np.ndarray, np.ndarray]:
    """The stacked-Ridge null ``(n_permutations, 19)``: chunks of permutations, each one multi-target solve per
    fold over the dimensions still drawing (all of them without ``stop_threshold``).

    The permutations are drawn from one Generator in order whatever the chunking and stopping, so a dimension that
    never stops gets exactly the null of a run without stopping.
    """
    rng = np.random.default_rng(seed)
    groups = cache.excerpts if groups is None else groups
    null = np.full((n_permutations, N_DIMENSIONS), np.nan)
    active = np.ones(N_DIMENSIONS, dtype=bool)
    exceedances = np.zeros(N_DIMENSIONS)
    start, rows = 0, None
    while start < n_permutations and active.any():
        size = min(n_permutations - start, max(1, max_stacked_targets // int(active.sum())))
        permuted = np.stack([permute_within_groups(cache.labels, groups, rng, scheme=scheme, strata=strata)
                             for _ in range(size)])[:, :, active]  # (size, n_segments, n_active)
        null_predictions, rows = _stacked_ridge(prober, cache, permuted, seed, folds, datamodule_kwargs, kwargs)
        null[start:start + size, active] = pooled_r2_many(permuted[:, rows], null_predictions[:, rows])
        start += size
        if observed is not None and stop_threshold is not None:
            exceedances[active] = np.sum(null[:start, active] >= np.asarray(observed)[active], axis=0)
            active &= ~sequential_stop(exceedances, start, stop_threshold)
    return null, rows


def _stacked_ridge(prober, cache, permuted, seed, folds, datamodule_kwargs, kwargs) -> tuple[np.ndarray, np.ndarray]:
    n_permutations, n_targets = permuted.shape[0], permuted.shape[2]
    predictions = np.full(permuted.shape, np.nan)
    all_rows = []
    for fold in range(len(cache.folds)) if folds is None else folds:
        model = build_prober(prober, seed, **kwargs)
        datamodule = fold_datamodule(model, cache, fold, seed, datamodule_kwargs)
        train, val = training_rows(datamodule), datamodule.val_rows_
        targets = permuted[:, train].transpose(1, 0, 2).reshape(len(train), n_permutations * n_targets)
        groups = np.asarray(cache.excerpts)[train]
        model.fit_arrays(datamodule.features(train), targets, groups=groups)  # one solve for all permutations
        stacked = model.predict_arrays(datamodule.features(val))  # (n_val, n_perm * 19)
        predictions[:, val] = stacked.reshape(len(val), n_permutations, n_targets).transpose(1, 0, 2)
        all_rows.append(val)
    return predictions, np.sort(np.concatenate(all_rows))


def _refit_each(prober, cache, permuted, seed, folds, trainer_kwargs, datamodule_kwargs,
                kwargs) -> tuple[np.ndarray, np.ndarray]:
    predictions = np.full(permuted.shape, np.nan)
    rows = None
    for index, labels in enumerate(permuted):
        null_cache = dataclasses.replace(cache, labels=labels)
        result = cross_validate(prober, null_cache, None, seed=seed, folds=folds, trainer_kwargs=trainer_kwargs,
                                datamodule_kwargs=datamodule_kwargs, **kwargs)
        predictions[index] = result.predictions
        rows = np.flatnonzero(result.fold_of_row >= 0)
    return predictions, rows
