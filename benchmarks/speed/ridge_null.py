"""``python -m benchmarks.speed.ridge_null --cache DIR``: the tuned Ridge permutation null with one SVD per fold
against one factorisation per target, on a real cache, in one process.

``ridge_tuned`` gives every stacked target (19 dimensions x permutations) its own alpha. sklearn's default solver
then factorises the features once per target; the ``svd`` solver (what the prober uses) shares one SVD among all
targets. Both nulls are computed here with the same permutations; the ratio of their times and the largest
difference between them are printed (they are the same null up to rounding).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from unittest import mock

import numpy as np
from sklearn.linear_model import Ridge

import probes.ridge
from benchmarks.orchestration.permutation_nulls import permutation_null
from datamodules.cache import open_cache


def _default_solver_ridge(**kwargs) -> Ridge:
    """sklearn's Ridge with its default solver (Cholesky for dense data: one factorisation per distinct alpha)."""
    return Ridge(**{**kwargs, "solver": "auto"})


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.speed.ridge_null", description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, required=True)
    parser.add_argument("--permutations", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--result", type=Path)
    arguments = parser.parse_args(argv)
    cache = open_cache(arguments.cache)
    timings, nulls = {}, {}
    for label in ("one SVD per fold", "one factorisation per target"):
        patch = (mock.patch.object(probes.ridge, "Ridge", _default_solver_ridge) if label.endswith("target")
                 else mock.patch.object(probes.ridge, "Ridge", Ridge))
        with patch:
            started = time.perf_counter()
            nulls[label] = permutation_null("ridge_tuned", cache, arguments.permutations, arguments.seed,
                                            datamodule_kwargs={"clip": 5.0}).null_distribution
            timings[label] = time.perf_counter() - started
    shared, separate = timings["one SVD per fold"], timings["one factorisation per target"]
    difference = float(np.max(np.abs(nulls["one SVD per fold"] - nulls["one factorisation per target"])))
    result = {"cache": str(arguments.cache), "n_permutations": arguments.permutations, "timings_s": timings,
              "speedup": separate / shared, "max_abs_null_difference": difference,
              "features": int(2 * cache.store.dim), "n_segments": cache.n_segments}
    print(json.dumps(result, indent=2))
    if arguments.result is not None:
        arguments.result.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
