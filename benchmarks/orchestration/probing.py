"""The probing fit: cross-validate every requested prober and compute permutation nulls, resumably."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path
from typing import Any

import numpy as np

from analyses.baselines import BaselinePredictionsResult
from analyses.context import AuditContext
from analyses.probe_metrics import probe_scores
from analyses.probing_comparison import FDR_LEVEL
from benchmarks.config import RunConfig
from benchmarks.console import ProgressLine, say
from benchmarks.orchestration.cross_validation import (
    PREDICTIONS_DIR,
    OutOfFoldPredictions,
    build_prober,
    cross_validate,
    prober_overrides,
    seed_directories,
)
from benchmarks.orchestration.executor import (
    CacheSource,
    FitUnit,
    ThreadPlan,
    UnitResult,
    compute_threads,
    phase_threads,
    run_units,
    thread_plan,
)
from benchmarks.orchestration.permutation_nulls import permutation_null
from datamodules.cache import PercepianoCache
from probes.descriptor_baseline import descriptor_baseline
from probes.registry import ProberConfigurationError, check_prober_params, register_prober


def check_prober_settings(config: RunConfig) -> None:
    """Register the run's class-path probers and check every prober name and configured hyper-parameter.

    Raises
    ------
    UnknownProberError
        For a prober name that is neither built in, a plugin, nor given a class path.
    ProberConfigurationError
        For a class path that does not load or whose name differs, or an unknown hyper-parameter.
    """
    for name, class_path in config.prober_plugins.items():
        registered = register_prober(class_path)
        if registered != name:
            raise ProberConfigurationError(f"class path {class_path!r} declares prober name {registered!r}, "
                                           f"not {name!r}")
    for name in config.probes:
        check_prober_params(name, config.prober_params.get(name, {}))


def prober_kwargs(name: str, config: RunConfig) -> dict[str, Any]:
    """A run's keyword arguments for prober ``name``: its configured hyper-parameters, scaled epochs and the
    accelerator, where the prober takes them."""
    return prober_overrides(name, config.prober_params.get(name), config.epochs_scale, config.accelerator)


def run_probing(context: AuditContext, config: RunConfig) -> None:
    """Fill ``context.predictions[name]`` (out-of-fold) and ``context.inputs['nulls'][name]`` for each prober.

    Refit permutation nulls are computed here for probers with a stacked Ridge solve (all permutations in one
    solve per fold). Refitting the trained probers hundreds of times would multiply the run time by hundreds, so
    they are tested later without refits (:mod:`analyses.prediction_permutation`). Nulls are cached under
    ``predictions/<prober>/`` and reused when the run's configuration fingerprint matches.
    """
    nulls: dict[str, np.ndarray] = {}
    per_seed: dict[str, dict] = {}
    trainer_kwargs = {"enable_progress_bar": False}
    plan = run_thread_plan(config)
    trained = [name for name in config.probes if is_trained(name)]
    prefitted = prefit_in_workers(context, config, trained, plan) if uses_workers(config, plan) else {}
    main_threads = phase_threads(plan, "probing", context.inputs.setdefault("main_threads", {}))
    failed = failed_probers(context)
    for name in config.probes:
        if name in failed:
            say(f"{name}: left out of the audit, {failed[name]}")
            continue
        kwargs = prober_kwargs(name, config)
        seeds = seed_runs(name, config)
        line = ProgressLine(name, len(seeds) * len(context.cache.folds))
        if name in prefitted:
            line.n_fitted, line.n_resumed = prefitted[name]
        with compute_threads(plan.unit_threads if name in trained else main_threads):
            runs = [cross_validate(name, context.cache, out, seed=seed, logger_root=Path(out) / "tensorboard",
                                   trainer_kwargs=trainer_kwargs, datamodule_kwargs=config.datamodule_kwargs(),
                                   on_fold=None if name in prefitted else line.on_fold, **kwargs)
                    for seed, out in seeds]
        oof = seed_ensemble(runs)
        context.predictions[name] = oof
        if len(runs) > 1:
            per_seed[name] = {"seeds": [run.seed for run in runs], "predictions": [run.predictions for run in runs]}
        template = build_prober(name, config.seed, **kwargs)
        stacked = template.view == "stats" and hasattr(template, "fit_arrays")
        if stacked and config.n_permutations > 0:
            with compute_threads(main_threads):
                nulls[name] = _cached_null(name, context, config, kwargs, oof.config_hash)
        line.close((f" over {len(runs)} seeds" if len(runs) > 1 else "")
                   + (" (fitted in worker processes, read back)" if name in prefitted else "")
                   + (f", permutation null ({config.n_permutations})" if name in nulls else ""))
    context.inputs["nulls"] = nulls
    context.inputs["seed_runs"] = per_seed
    context.inputs["fitted_baselines"] = {"descriptors": descriptor_baseline_or_reason(context.cache, config.clip)}


def descriptor_baseline_or_reason(cache: PercepianoCache, clip: float | None) -> BaselinePredictionsResult | str:
    """The descriptor baseline's out-of-fold predictions, or why it is skipped (a store without descriptors)."""
    described = cache.descriptors()
    if described is None:
        return (f"skipped: the embedding store {cache.store.store_dir if cache.store else '(none)'} declares no "
                "segment descriptors (extractors declare them; MuQ caches converted from muq_embeddings.pt have none)")
    values, names = described
    return descriptor_baseline(values, names, cache.labels, cache.folds, np.asarray(cache.excerpts), clip=clip)


def run_thread_plan(config: RunConfig) -> ThreadPlan:
    """The run's workers and threads (:func:`~benchmarks.orchestration.executor.thread_plan`)."""
    return thread_plan(config.workers, config.threads)


def uses_workers(config: RunConfig, plan: ThreadPlan) -> bool:
    """Whether the trained probers' units go to an executor (Ray, or more than one local worker process)."""
    return config.executor == "ray" or plan.workers > 1


def describe_executor(config: RunConfig) -> str:
    """The run's executor in words, for ``audit.json`` and the report."""
    plan = run_thread_plan(config)
    if config.executor == "ray":
        where = f"the Ray cluster at {config.ray_address}" if config.ray_address else "a local Ray"
        return (f"Ray tasks of {plan.unit_threads} thread{'s' if plan.unit_threads != 1 else ''} on {where} for "
                f"the trained probers, {plan.main_threads} threads for the rest")
    return plan.describe()


def failed_probers(context: AuditContext, layers: str | None = None) -> dict[str, str]:
    """``{prober: reason}`` for probers with a unit that failed in an executor (at ``layers``; None: the main fit)."""
    failed: dict[str, list] = {}
    for failure in context.inputs.get("failed_trials", []):
        if failure.unit.layers == layers:
            failed.setdefault(failure.unit.prober, []).append(failure)
    return {name: (f"{len(failures)} fold fit{'s' if len(failures) != 1 else ''} failed after "
                   f"{failures[0].attempts} attempts (first: seed {failures[0].unit.seed}, fold "
                   f"{failures[0].unit.fold}: {failures[0].error})")
            for name, failures in failed.items()}


def is_trained(name: str) -> bool:
    """Whether prober ``name`` trains for epochs (its folds are the units worth a worker process each)."""
    return "max_epochs" in build_prober(name, 0).get_params()


def prefit_in_workers(context: AuditContext, config: RunConfig, names: list[str],
                      plan: ThreadPlan) -> dict[str, tuple[int, int]]:
    """Fit every (prober, seed, fold) unit of ``names`` in worker processes, writing their fold files.

    Returns ``{name: (n_fitted, n_resumed)}``; the probing step then reads the folds back from the files.
    """
    units = [FitUnit(prober=name, seed=seed, fold=fold, out_dir=Path(out), kwargs=prober_kwargs(name, config),
                     datamodule_kwargs=config.datamodule_kwargs(), logger_root=Path(out) / "tensorboard")
             for name in names for seed, out in seed_runs(name, config) for fold in range(len(context.cache.folds))]
    counts = fit_in_workers(context, config, units, plan, "trained probers")
    return {name: counts[(name, None)] for name in names}


def fit_in_workers(context: AuditContext, config: RunConfig, units: list[FitUnit], plan: ThreadPlan,
                   label: str) -> dict[tuple[str, str | None], tuple[int, int]]:
    """Run ``units`` on the run's executor with one progress line; ``{(prober, layers): (fitted, resumed)}``.

    Local worker processes raise on the first failing unit. Ray retries a failing unit once, then records it in
    ``context.inputs["failed_trials"]`` (:class:`~benchmarks.orchestration.executor.UnitFailure`) and goes on; its
    start-up time and cluster go to ``context.inputs["executor_runs"]``. Each finished unit's times
    (:class:`~benchmarks.orchestration.executor.UnitResult`) go to ``context.inputs["unit_times"]``.
    """
    source = CacheSource(cache_dir=Path(context.inputs["cache_dir"]), folds_file=config.folds_file,
                         store_dir=context.cache.store.store_dir, layers=config.layers,
                         prober_plugins=dict(config.prober_plugins))
    counts: dict[tuple[str, str | None], list[int]] = {(unit.prober, unit.layers): [0, 0] for unit in units}
    line = ProgressLine(f"{label} ({describe_executor(config)})", len(units))

    unit_times = context.inputs.setdefault("unit_times", [])

    def done(unit: FitUnit, result: UnitResult) -> None:
        counts[(unit.prober, unit.layers)][int(result.resumed)] += 1
        unit_times.append(result.to_dict(unit))
        line.advance(result.resumed)

    if config.executor == "ray":
        from benchmarks.orchestration.ray_executor import run_units_on_ray

        ray_run = run_units_on_ray(units, source, plan, address=config.ray_address, on_done=done)
        context.inputs.setdefault("failed_trials", []).extend(ray_run.failures)
        context.inputs.setdefault("executor_runs", []).append(
            {"label": label, "startup_s": ray_run.startup_s, "cluster": ray_run.cluster, "n_units": len(units)})
        line.close(f", Ray started in {ray_run.startup_s:.1f} s ({ray_run.cluster})"
                   + (f", {len(ray_run.failures)} failed after a retry" if ray_run.failures else ""))
    else:
        run_units(units, source, plan, on_done=done)
        line.close()
    return {key: (fitted, resumed) for key, (fitted, resumed) in counts.items()}


def seed_runs(name: str, config: RunConfig) -> list[tuple[int, Path]]:
    """``(seed, output directory)`` of each run of ``name``
    (:func:`~benchmarks.orchestration.cross_validation.seed_directories`)."""
    return seed_directories(name, Path(config.out), config.seed, config.prober_seeds)


def seed_ensemble(runs: list[OutOfFoldPredictions]) -> OutOfFoldPredictions:
    """One run, or the runs' out-of-fold predictions averaged over seeds (same folds and rows).

    The ensemble keeps the first run's bookkeeping; its ``config_hash`` combines every run's, so statistics keyed on
    it are recomputed when any seed's predictions change.
    """
    if len(runs) == 1:
        return runs[0]
    first = runs[0]
    if any(not np.array_equal(run.fold_of_row, first.fold_of_row) for run in runs):
        raise ValueError(f"{first.prober}: seed runs predicted different rows; expected the same folds")
    combined = hashlib.sha256("+".join(run.config_hash for run in runs).encode()).hexdigest()
    return dataclasses.replace(first, predictions=np.mean([run.predictions for run in runs], axis=0),
                               config_hash=combined)


def _cached_null(name: str, context: AuditContext, config: RunConfig, kwargs: dict,
                 predictions_hash: str) -> np.ndarray:
    """The prober's refit null, reused only for the same run fingerprint and the same prober configuration."""
    key = f"{context.fingerprint[:16]}_{predictions_hash[:16]}"
    path = Path(config.out) / PREDICTIONS_DIR / name / f"permutation_null_sequential_{key}.npy"
    if path.is_file():
        return np.load(path)
    observed = probe_scores(*context.predictions[name].scored(context.cache.labels)).r2_pooled
    result = permutation_null(name, context.cache, config.n_permutations, config.seed,
                              datamodule_kwargs=config.datamodule_kwargs(), observed=observed,
                              stop_threshold=FDR_LEVEL, **kwargs)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp.npy")
    np.save(temporary, result.null_distribution)
    temporary.replace(path)
    return result.null_distribution
