"""Default resample counts of the statistics (the run configuration's defaults; callbacks fall back to them)."""

from __future__ import annotations

#: Setting name -> default count: label permutations per prober, bootstrap resamples of every CI, parallel-analysis
#: simulations, cluster-bootstrap resamples of the factor count.
RESAMPLE_DEFAULTS: dict[str, int] = {"n_permutations": 1000, "n_bootstrap": 1000, "n_parallel": 1000,
                                     "n_stability": 100}
