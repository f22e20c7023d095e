"""Callback: PCA with parallel analysis (the original ``pca`` key), more retention rules, oblique EFA, stability."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from matplotlib.figure import Figure

from analyses.callbacks.base import AuditSectionCallback
from analyses.context import AuditContext
from analyses.efa import efa
from analyses.factor_retention import map_test, parallel_analysis
from analyses.factor_stability import factor_count_bootstrap
from analyses.notebook_keys import pca_keys
from analyses.pca import pca_analysis
from analyses.plots_labels import plot_scree
from datamodules.dimensions import DIMENSIONS
from datamodules.keys import excerpt_groups, performer_groups

#: Simulations per parallel analysis inside each bootstrap resample (the main analysis uses the run's setting).
BOOTSTRAP_SIMULATIONS = 20


class FactorStructureCallback(AuditSectionCallback):
    """Fill ``pca``, ``factor_retention``, ``efa`` and ``factor_stability`` from every labelled segment.

    The number of factors for the EFA is the PCA parallel-analysis count (the original notebook's rule).
    """

    sections: ClassVar[tuple[str, ...]] = ("pca", "factor_retention", "efa", "factor_stability")

    def compute(self, context: AuditContext) -> tuple[dict[str, Any], dict[str, Figure]]:
        table = context.cache.label_table
        labels, seed = table.values, context.seed
        n_simulations = context.n_resamples("n_parallel")
        parallel = parallel_analysis(labels, seed, n_simulations=n_simulations, method="pca")
        factor_parallel = parallel_analysis(labels, seed, n_simulations=n_simulations, method="factor")
        map_result = map_test(labels)
        pca = pca_analysis(labels, DIMENSIONS, n_retained=max(parallel.n_retained, 1))
        n_factors = max(parallel.n_retained, 1)
        oblique = efa(labels, DIMENSIONS, n_factors=n_factors, extraction="minres", rotation="oblimin")
        n_resamples = context.n_resamples("n_stability")
        stability = {
            kind: factor_count_bootstrap(labels, np.asarray(groups(list(table.keys))), seed, n_resamples=n_resamples,
                                         n_simulations=BOOTSTRAP_SIMULATIONS, group_kind=kind).to_dict()
            for kind, groups in (("excerpt", excerpt_groups), ("performer", performer_groups))
        }
        protocol = f"standardised labels of all {len(table)} labelled segments (in-sample); seed {seed}"
        results = {
            "pca": {**pca.to_dict(), "parallel_analysis": parallel.to_dict(), "protocol": protocol,
                    **pca_keys(pca.to_dict(), parallel.observed, parallel.threshold)},  # + the notebook's keys
            "factor_retention": {
                "pca_parallel_analysis": parallel.n_retained,
                "factor_parallel_analysis": factor_parallel.n_retained,
                "map_squared": map_result.n_factors_squared,
                "map_fourth_power": map_result.n_factors_fourth,
                "components_for_90_percent": pca.n_components_90,
                "components_for_95_percent": pca.n_components_95,
                "factor_parallel": factor_parallel.to_dict(),
                "map": map_result.to_dict(),
                "protocol": protocol,
            },
            "efa": {**oblique.to_dict(), "protocol": f"{protocol}; minres extraction, oblimin rotation, "
                                                     f"{n_factors} factors (PCA parallel analysis)"},
            "factor_stability": {**stability, "protocol": f"cluster bootstrap ({n_resamples} resamples of whole "
                                                          f"excerpts or performers), {BOOTSTRAP_SIMULATIONS} "
                                                          f"simulations per parallel analysis; seed {seed}"},
        }
        figure = plot_scree(pca, parallel, f"{table.source.name}, {len(table)} segments", factor_parallel)
        return results, {"scree_parallel_analysis": figure}
