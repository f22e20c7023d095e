"""The probing fit: cross-validate every requested prober and compute permutation nulls, resumably."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from analyses.callbacks.base import progress
from analyses.context import AuditContext
from benchmarks.config import RunConfig
from probes.cross_validation import PREDICTIONS_DIR, build_prober, cross_validate
from probes.permutation import permutation_null


def prober_kwargs(name: str, config: RunConfig) -> dict[str, Any]:
    """Hyper-parameter overrides of a run: scaled epochs and the accelerator, where the prober takes them."""
    params = build_prober(name, config.seed).get_params()
    kwargs: dict[str, Any] = {}
    if "max_epochs" in params and config.epochs_scale != 1.0:
        kwargs["max_epochs"] = max(1, round(params["max_epochs"] * config.epochs_scale))
    if "accelerator" in params:
        kwargs["accelerator"] = config.accelerator
    return kwargs


def run_probing(context: AuditContext, config: RunConfig) -> None:
    """Fill ``context.predictions[name]`` (out-of-fold) and ``context.inputs['nulls'][name]`` for each prober.

    Refit permutation nulls are computed here for probers with a stacked Ridge solve (all permutations in one
    solve per fold). Refitting the trained probers hundreds of times would multiply the run time by hundreds, so
    they are tested later without refits (:mod:`analyses.prediction_permutation`). Nulls are cached under
    ``predictions/<prober>/`` and reused when the run's configuration fingerprint matches.
    """
    nulls: dict[str, np.ndarray] = {}
    trainer_kwargs = {"enable_progress_bar": sys.stderr.isatty()}
    for name in config.probes:
        kwargs = prober_kwargs(name, config)
        started = time.perf_counter()
        oof = cross_validate(name, context.cache, config.out, seed=config.seed,
                             logger_root=Path(config.out) / "tensorboard", trainer_kwargs=trainer_kwargs, **kwargs)
        context.predictions[name] = oof
        template = build_prober(name, config.seed, **kwargs)
        stacked = template.view == "stats" and hasattr(template, "fit_arrays")
        if stacked and config.n_permutations > 0:
            nulls[name] = _cached_null(name, context, config, kwargs, oof.config_hash)
        progress(f"{name}: {len(oof.fitted_folds)} folds fitted, {len(oof.resumed_folds)} resumed"
                  + (f", permutation null ({config.n_permutations})" if name in nulls else "")
                  + f" in {time.perf_counter() - started:.1f} s")
    context.inputs["nulls"] = nulls


def _cached_null(name: str, context: AuditContext, config: RunConfig, kwargs: dict, predictions_hash: str) -> np.ndarray:
    """The prober's refit null, reused only for the same run fingerprint and the same prober configuration."""
    key = f"{context.fingerprint[:16]}_{predictions_hash[:16]}"
    path = Path(config.out) / PREDICTIONS_DIR / name / f"permutation_null_{key}.npy"
    if path.is_file():
        return np.load(path)
    result = permutation_null(name, context.cache, config.n_permutations, config.seed, **kwargs)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp.npy")
    np.save(temporary, result.null_distribution)
    temporary.replace(path)
    return result.null_distribution
