"""The layer sweep fit: the probing section once per layer (and per chosen range) of a multi-layer store, resumably.

Each selection's fits go to ``<out>/layer_sweep/<selection>/`` with the same per-fold resume as the main probing
fit (a fold is refitted only when its configuration hash, which names the layer selection, changes); the run's own
selection reuses the main fit's predictions. :class:`~analyses.callbacks.layer_sweep.LayerSweepCallback` scores them.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from analyses.context import AuditContext
from benchmarks.config import RunConfig
from benchmarks.console import ProgressLine, say
from benchmarks.orchestration.cross_validation import OutOfFoldPredictions, cross_validate
from benchmarks.orchestration.executor import FitUnit, compute_threads, phase_threads
from benchmarks.orchestration.probing import (
    failed_probers,
    fit_in_workers,
    is_trained,
    prober_kwargs,
    run_thread_plan,
    seed_ensemble,
    seed_runs,
    uses_workers,
)

SWEEP_DIR = "layer_sweep"


def sweep_selections(layer_names: tuple[str, ...], extra: tuple[str, ...]) -> tuple[str, ...]:
    """Every single layer in store order, then the ``extra`` selections (ranges, lists, ``weighted``) not already
    listed."""
    return tuple(dict.fromkeys((*layer_names, *extra)))


def selection_dir(spec: str) -> str:
    """A directory name for a selection (``"9-12"`` stays, ``"9,11"`` becomes ``"9_11"``)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", spec)


def _layer_config(config: RunConfig, spec: str) -> RunConfig:
    """The run's configuration with its output under ``<out>/layer_sweep/<selection>/``."""
    return dataclasses.replace(config, out=Path(config.out) / SWEEP_DIR / selection_dir(spec))


def _logger_root(config: RunConfig, spec: str) -> Path:
    return Path(config.out) / "tensorboard" / SWEEP_DIR / selection_dir(spec)


def run_layer_sweep(context: AuditContext, config: RunConfig) -> None:
    """Fill ``context.inputs["layer_sweep"]`` with ``{prober: {selection: out-of-fold predictions}}``.

    Raises
    ------
    ValueError
        If the cache's store holds a single layer (nothing to sweep), or a selection is invalid for the store.
    """
    store = context.cache.store
    if store is None or not store.is_multi_layer:
        where = "no embeddings" if store is None else f"one layer ({store.store_dir})"
        raise ValueError(f"--layer-sweep needs a multi-layer store; the cache has {where}")
    selections = sweep_selections(store.layer_names, tuple(config.layer_sweep or ()))
    sweep: dict[str, dict[str, OutOfFoldPredictions]] = {name: {} for name in config.probes}
    trainer_kwargs = {"enable_progress_bar": False}
    plan = run_thread_plan(config)
    trained = [name for name in config.probes if is_trained(name)]
    reused = {name for name in config.probes if name in context.predictions}
    prefitted = {}
    if uses_workers(config, plan) and trained:
        n_folds = len(context.cache.folds)
        units = [FitUnit(prober=name, seed=seed, fold=fold, out_dir=Path(out), kwargs=prober_kwargs(name, config),
                         datamodule_kwargs=config.datamodule_kwargs(), logger_root=_logger_root(config, spec),
                         layers=spec)
                 for spec in selections for name in trained
                 if not (store.with_layers(spec).selection.spec == store.selection.spec and name in reused)
                 for seed, out in seed_runs(name, _layer_config(config, spec)) for fold in range(n_folds)]
        prefitted = fit_in_workers(context, config, units, plan, "layer sweep, trained probers")
    main_threads = phase_threads(plan, "layer sweep", context.inputs.setdefault("main_threads", {}))
    for spec in selections:
        cache = dataclasses.replace(context.cache, store=store.with_layers(spec))
        line = ProgressLine(f"layer sweep {spec} ({cache.store.selection.describe()})",
                            len(config.probes) * len(cache.folds) * config.prober_seeds)
        failed = failed_probers(context, spec)
        for name in config.probes:
            if name in failed:
                say(f"layer sweep {spec}, {name}: left out, {failed[name]}")
                continue
            if cache.store.selection.spec == store.selection.spec and name in reused:
                sweep[name][spec] = context.predictions[name]  # the main fit, same layers
                continue
            if (name, spec) in prefitted:
                fitted, resumed = prefitted[(name, spec)]
                line.n_fitted, line.n_resumed = line.n_fitted + fitted, line.n_resumed + resumed
            with compute_threads(plan.unit_threads if name in trained else main_threads):
                runs = [cross_validate(name, cache, out, seed=seed, logger_root=_logger_root(config, spec),
                                       trainer_kwargs=trainer_kwargs, datamodule_kwargs=config.datamodule_kwargs(),
                                       on_fold=None if (name, spec) in prefitted else line.on_fold,
                                       **prober_kwargs(name, config))
                        for seed, out in seed_runs(name, _layer_config(config, spec))]
            sweep[name][spec] = seed_ensemble(runs)
        line.close()
    context.inputs["layer_sweep"] = {name: by_layer for name, by_layer in sweep.items() if by_layer}
