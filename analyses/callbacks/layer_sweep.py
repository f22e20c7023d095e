"""Callback: score the layer sweep's out-of-fold predictions (layer x dimension R2, best layer per dimension)."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from matplotlib.figure import Figure

from analyses.callbacks.base import AuditSectionCallback
from analyses.context import AuditContext
from analyses.layer_sweep import layer_sweep_scores
from analyses.plots_layers import plot_layer_sweep
from datamodules.layers import parse_layers


class LayerSweepCallback(AuditSectionCallback):
    """Fill ``layer_sweep``: per prober, the layer x dimension table with CIs and the best layer per dimension."""

    sections: ClassVar[tuple[str, ...]] = ("layer_sweep",)

    def fingerprint(self, context: AuditContext) -> str:
        """The run's fingerprint plus every swept fit's configuration hash."""
        sweep = context.inputs.get("layer_sweep", {})
        hashes = ",".join(f"{name}/{spec}={oof.config_hash}" for name, by_layer in sorted(sweep.items())
                          for spec, oof in by_layer.items())
        return f"{context.fingerprint}:{hashes}"

    def compute(self, context: AuditContext) -> tuple[dict[str, Any], dict[str, Figure]]:
        cache = context.cache
        sweep = context.inputs.get("layer_sweep", {})
        probers, figures = {}, {}
        for name, by_layer in sweep.items():
            first = next(iter(by_layer.values()))
            rows = np.flatnonzero(first.fold_of_row >= 0)
            if any(not np.array_equal(oof.fold_of_row, first.fold_of_row) for oof in by_layer.values()):
                raise ValueError(f"{name}: the layer sweep's fits predicted different rows; expected the same folds")
            result = layer_sweep_scores(
                cache.labels[rows], {spec: oof.predictions[rows] for spec, oof in by_layer.items()},
                np.asarray(cache.excerpts)[rows], n_bootstrap=context.n_resamples("n_bootstrap"),
                seed=context.seed,
            )
            probers[name] = {**result.to_dict(), "n_rows": int(rows.size), "variant": first.variant,
                             "layers_served": {spec: parse_layers(spec, cache.store.layer_names,
                                                                  cache.store.default_layers).describe()
                                               for spec in by_layer}}
            figures[f"layer_sweep_{name}"] = plot_layer_sweep(result, prober=name, n_folds=len(cache.folds))
        payload = {"store": str(cache.store.store_dir), "available_layers": list(cache.store.layer_names),
                   "probers": probers,
                   "protocol": (f"each layer selection probed as the probing section ({len(cache.folds)} folds, "
                                "out-of-fold predictions, seed ensembles where --prober-seeds > 1); scored on the "
                                "same excerpt resamples")}
        return {"layer_sweep": payload}, figures
