"""Callback: score every prober's out-of-fold predictions (sections 5-5d of the original audit)."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from matplotlib.figure import Figure

from analyses.callbacks.base import AuditSectionCallback
from analyses.context import AuditContext
from analyses.notebook_keys import probing_keys
from analyses.plots_probing import plot_probe_r2
from analyses.probe_metrics import r2_per_dimension
from analyses.probing_comparison import compare_probers
from datamodules.dimensions import DIMENSIONS
from datamodules.layers import LayerSelection
from probes.registry import available_probers

#: ``audit.json`` key of the original notebook for each prober (variants share their family's key).
ORIGINAL_SECTION: dict[str, str] = {
    "ridge": "ridge_probing", "ridge_tuned": "ridge_probing", "attention": "attention_probing",
    "attention_es": "attention_probing", "mlp": "mlp_probing", "factor": "factor_probing",
    "factor_leaky": "factor_probing",
}


class ProbingCallback(AuditSectionCallback):
    """Fill ``probing_comparison`` and the original per-family keys (``ridge_probing``, ...)."""

    sections: ClassVar[tuple[str, ...]] = ("probing_comparison",)

    def section_keys(self, context: AuditContext) -> tuple[str, ...]:
        """``probing_comparison`` and the original family key of every prober run."""
        families = sorted({ORIGINAL_SECTION.get(name, f"{name}_probing") for name in context.predictions})
        return ("probing_comparison", *families)

    def fingerprint(self, context: AuditContext) -> str:
        """The run's fingerprint plus each prober's prediction configuration hash: adding a prober, or predictions
        refitted under a changed prober configuration, recomputes the comparison."""
        hashes = ",".join(f"{name}={oof.config_hash}" for name, oof in sorted(context.predictions.items()))
        return f"{context.fingerprint}:{hashes}"

    def compute(self, context: AuditContext) -> tuple[dict[str, Any], dict[str, Figure]]:
        cache = context.cache
        predictions = {name: (oof.predictions, oof.fold_of_row, oof.variant)
                       for name, oof in context.predictions.items()}
        reliability = context.results.get("reliability") or {}
        ceiling = reliability.get("noise_ceiling")
        comparison, bootstraps = compare_probers(
            cache.labels, np.asarray(cache.excerpts), cache.folds, predictions, context.inputs.get("nulls", {}),
            noise_ceiling=None if ceiling is None else np.asarray(ceiling, dtype=float),
            fitted_baselines=context.inputs.get("fitted_baselines", {}),
            n_bootstrap=context.n_resamples("n_bootstrap"),
            n_permutations=context.n_resamples("n_permutations"), seed=context.seed,
        )
        payload = comparison.to_dict()
        if cache.store is not None:
            payload["layers"] = {"selection": cache.store.selection.spec, "available": list(cache.store.layer_names)}
            for name, entry in payload["probers"].items():
                entry["layers"] = layers_protocol(name, cache.store.selection)
                entry["protocol"] = f"{entry['protocol']}; frames: {entry['layers']}"
        for name, runs in context.inputs.get("seed_runs", {}).items():
            payload["probers"][name]["seed_runs"] = _seed_scores(cache.labels, context.predictions[name], runs)
        results: dict[str, Any] = {"probing_comparison": payload}
        for name, oof in context.predictions.items():
            key = ORIGINAL_SECTION.get(name, f"{name}_probing")
            entry = payload["probers"][name]
            results.setdefault(key, {"dimensions": list(DIMENSIONS)})[name] = {
                **entry, "prediction_files": oof.to_dict(), "fold_outputs": _fold_outputs(oof.fold_outputs)}
        for key, section in results.items():
            section.update(probing_keys(key, payload["probers"], DIMENSIONS))  # the original notebook's keys
        figure = plot_probe_r2(
            bootstraps, n_folds=len(cache.folds),
            baselines={name: np.asarray(base["r2_pooled"], float) for name, base in payload["baselines"].items()
                       if "r2_pooled" in base},
            noise_ceiling=None if ceiling is None else np.asarray(ceiling, dtype=float),
            data_description=f"{cache.directory}" + _seeds_line(context.inputs.get("seed_runs", {})),
        )
        return results, {"probe_r2_by_prober": figure}


def layers_protocol(prober: str, selection: LayerSelection) -> str:
    """What ``prober`` read of a store's layers, for its protocol line."""
    if selection.kind != "weighted":
        return selection.describe()
    if getattr(available_probers().get(prober), "learns_layer_weights", False):
        return f"softmax-weighted sum of {len(selection.layers)} layers, weights learned in each training fold"
    return f"{len(selection.layers)} layers side by side (concatenated; this prober learns no layer weights)"


def _seed_scores(labels: np.ndarray, ensemble: Any, runs: dict) -> dict[str, Any]:
    """Pooled out-of-fold R2 per dimension of each seed's own predictions, beside their ensemble's."""
    rows = ensemble.fold_of_row >= 0
    r2 = [r2_per_dimension(labels[rows], predictions[rows]) for predictions in runs["predictions"]]
    return {"seeds": list(runs["seeds"]), "r2_pooled": [values.tolist() for values in r2],
            "mean_r2": [float(np.mean(values)) for values in r2],
            "protocol": f"each of {len(r2)} seeds scored alone (same folds and rows); the prober's other statistics "
                        "use the seed ensemble (out-of-fold predictions averaged over seeds)"}


def _seeds_line(seed_runs: dict) -> str:
    """``"; <probers>: out-of-fold predictions averaged over <n> seeds"`` for a figure title, or ``""``."""
    if not seed_runs:
        return ""
    n_seeds = sorted({len(runs["seeds"]) for runs in seed_runs.values()})
    return f"; {', '.join(seed_runs)}: predictions averaged over {'/'.join(map(str, n_seeds))} seeds"


def _fold_outputs(outputs: tuple[dict, ...]) -> list[dict]:
    return [{key: np.asarray(value).tolist() for key, value in fold.items()} for fold in outputs]
