"""``python -m benchmarks.speed.original.run``: the original approach end to end in one process, timed section by
section.

Writes ``--result`` (JSON: per-section wall and CPU time and peak memory, counts for the FLOP tally) and
``--predictions`` (npz: keys, and out-of-fold predictions ``(n_segments, 19)`` of ``ridge``, ``attention``, ``mlp``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from benchmarks.speed.measure import SectionTimer, set_threads
from benchmarks.speed.original.attention import attention_probe
from benchmarks.speed.original.audit import label_audit, residuals_and_cca
from benchmarks.speed.original.loading import load
from benchmarks.speed.original.mlp import mlp_per_dimension
from benchmarks.speed.original.ridge import ridge_per_dimension

JOBS: tuple[str, ...] = ("labels", "ridge", "attention", "mlp", "embedding")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.speed.original.run", description=__doc__)
    parser.add_argument("--cache", type=Path, required=True, help="cache directory with muq_embeddings.pt")
    parser.add_argument("--result", type=Path, required=True, help="JSON file to write")
    parser.add_argument("--predictions", type=Path, help="npz file for the out-of-fold predictions")
    parser.add_argument("--attention-epochs", type=int, default=50)
    parser.add_argument("--mlp-epochs", type=int, default=80)
    parser.add_argument("--jobs", default=",".join(JOBS), help=f"comma-separated subset of {','.join(JOBS)}")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, help="torch intra-op threads (default: all CPUs)")
    return parser


def main(argv: list[str] | None = None) -> int:
    arguments = build_parser().parse_args(argv)
    jobs = [job for job in arguments.jobs.split(",") if job]
    unknown = sorted(set(jobs) - set(JOBS))
    if unknown:
        print(f"error: unknown jobs {unknown}; expected names from {list(JOBS)}", file=sys.stderr)
        return 2
    threads = set_threads(arguments.threads)
    timer = SectionTimer()
    with timer.section("load"):
        data = load(arguments.cache)
    predictions, counts = {}, {}
    if "labels" in jobs:
        with timer.section("labels"):
            label_audit(data.labels)
    if "ridge" in jobs:
        with timer.section("ridge"):
            predictions["ridge"] = ridge_per_dimension(data.stats, data.labels, data.folds)
    if "attention" in jobs:
        with timer.section("attention"):
            predictions["attention"], counts["attention"] = attention_probe(
                data.embeddings, data.keys, data.labels, data.folds, max_epochs=arguments.attention_epochs,
                seed=arguments.seed)
    if "mlp" in jobs:
        with timer.section("mlp"):
            predictions["mlp"] = mlp_per_dimension(data.stats, data.labels, data.folds,
                                                   max_epochs=arguments.mlp_epochs, seed=arguments.seed)
    if "embedding" in jobs:
        with timer.section("embedding"):
            residuals_and_cca(data.stats, data.labels)
    if arguments.predictions is not None and predictions:
        arguments.predictions.parent.mkdir(parents=True, exist_ok=True)
        np.savez(arguments.predictions, keys=np.asarray(data.keys), **predictions)
    dim = next(iter(data.embeddings.values())).shape[1]
    result = {**timer.summary(), "threads": threads, "counts": counts, "dim": dim, "n_segments": len(data.keys),
              "n_frames": int(sum(tensor.shape[0] for tensor in data.embeddings.values())),
              "epochs": {"attention": arguments.attention_epochs, "mlp": arguments.mlp_epochs}}
    arguments.result.parent.mkdir(parents=True, exist_ok=True)
    arguments.result.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
