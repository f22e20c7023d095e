"""``python -m benchmarks.ablation``: which change moved the real-data R2, and by how much, on each dimension.

Each configuration is one (cache, clip, prober, prober keywords) cross-validation, seed 0, scored as the probing
section scores it (pooled out-of-fold R2 per dimension); the descriptor baseline is scored per (cache, clip). The
table gives every configuration's mean R2 and, per dimension, its R2; ``--output`` keeps every value (JSON)::

    python -m benchmarks.ablation --cache full=runs/midi-cache --cache invariant=runs/midi-cache-invariant \\
        --output runs/ablation.json

Configurations (``--quick`` keeps the Ridge rows only): ``ridge_tuned`` on both caches without and with clipping;
``mlp_es`` and ``attention_es`` on the invariant cache, without the search (``n_candidates=1``, the earlier hand-set
recipe) and with it; the earlier attention_es readout (alpha by leave-one-segment-out GCV) is not rebuilt here.
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

from analyses.probe_metrics import probe_scores
from benchmarks.orchestration.cross_validation import cross_validate
from benchmarks.orchestration.probing import descriptor_baseline_or_reason
from datamodules.cache import open_cache
from datamodules.dimensions import DIMENSIONS
from datamodules.jsonio import write_json_atomic

#: ``(cache name, clip, prober, prober keywords)`` of the full ablation, in the order changes were made.
CONFIGURATIONS: tuple[tuple[str, float | None, str, dict], ...] = (
    ("full", None, "ridge_tuned", {}),
    ("full", 5.0, "ridge_tuned", {}),
    ("invariant", None, "ridge_tuned", {}),
    ("invariant", 5.0, "ridge_tuned", {}),
    ("invariant", 5.0, "mlp_es", {"n_candidates": 1}),
    ("invariant", 5.0, "mlp_es", {}),
    ("invariant", 5.0, "attention_es", {"n_candidates": 1}),
    ("invariant", 5.0, "attention_es", {}),
)


def configuration_name(cache_name: str, clip: float | None, prober: str, kwargs: dict) -> str:
    """A folder name for one configuration, e.g. ``invariant-clip5-mlp_es-n_candidates1``."""
    settings = "".join(f"-{key}{value}" for key, value in sorted(kwargs.items()))
    return f"{cache_name}-clip{'off' if clip is None else f'{clip:g}'}-{prober}{settings}"


def run_ablation(caches: dict[str, Path], quick: bool = False, out: Path | None = None) -> list[dict]:
    """Every configuration whose cache is given (Ridge rows only when ``quick``), then the descriptor baselines;
    fold files under ``out/<configuration>/`` when ``out`` is given (resumable)."""
    rows, opened = [], {name: open_cache(path) for name, path in caches.items()}
    for cache_name, clip, prober, kwargs in CONFIGURATIONS:
        if cache_name not in opened or (quick and prober != "ridge_tuned"):
            continue
        cache = opened[cache_name]
        started = time.perf_counter()
        directory = None if out is None else out / configuration_name(cache_name, clip, prober, kwargs)
        oof = cross_validate(prober, cache, directory, seed=0, datamodule_kwargs={"clip": clip},
                             trainer_kwargs={"enable_progress_bar": False}, **kwargs)
        r2 = probe_scores(*oof.scored(cache.labels)).r2_pooled
        rows.append({"cache": cache_name, "dim": cache.store.dim, "clip": clip, "prober": prober, "kwargs": kwargs,
                     "r2_pooled": r2.tolist(), "mean_r2": float(r2.mean()), "seconds": time.perf_counter() - started,
                     "resumed_folds": list(oof.resumed_folds)})
        print(_line(rows[-1]), flush=True)
    for cache_name, cache in opened.items():
        for clip in (None, 5.0):
            baseline = descriptor_baseline_or_reason(cache, clip)
            if isinstance(baseline, str):
                continue
            r2 = probe_scores(cache.labels[baseline.rows], baseline.y_pred, baseline.fold_of_row).r2_pooled
            rows.append({"cache": cache_name, "dim": cache.store.dim, "clip": clip, "prober": "descriptors",
                         "kwargs": {}, "r2_pooled": r2.tolist(), "mean_r2": float(r2.mean()), "seconds": 0.0})
            print(_line(rows[-1]), flush=True)
    return rows


def _line(row: dict) -> str:
    settings = ", ".join(f"{key}={value}" for key, value in row["kwargs"].items())
    resumed = f", {len(row['resumed_folds'])} folds resumed" if row.get("resumed_folds") else ""
    return (f"{row['cache']} (D={row['dim']}), clip {row['clip']}, {row['prober']}"
            + (f" ({settings})" if settings else "")
            + f": mean R2 {row['mean_r2']:.3f} in {row['seconds']:.0f} s{resumed}")


def markdown(rows: list[dict]) -> str:
    """Mean R2 and the per-dimension R2 of every configuration, one row each."""
    header = "| cache | clip | prober | mean R2 | " + " | ".join(DIMENSIONS) + " |"
    lines = [header, "|---" * (4 + len(DIMENSIONS)) + "|"]
    for row in rows:
        settings = ", ".join(f"{key}={value}" for key, value in row["kwargs"].items())
        prober = row["prober"] + (f" ({settings})" if settings else "")
        clip = "off" if row["clip"] is None else f"{row['clip']:g}"
        lines.append(f"| {row['cache']} (D={row['dim']}) | {clip} | {prober} | {row['mean_r2']:.3f} | "
                     + " | ".join(f"{value:.2f}" for value in row["r2_pooled"]) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ablation", description=__doc__.splitlines()[0])
    parser.add_argument("--cache", action="append", required=True, metavar="NAME=DIR",
                        help="a cache by configuration name: full=DIR and/or invariant=DIR")
    parser.add_argument("--quick", action="store_true", help="Ridge rows and descriptor baselines only")
    parser.add_argument("--out", type=Path, default=None,
                        help="folder for every configuration's fold files (resumable)")
    parser.add_argument("--output", type=Path, default=None, help="JSON file for every value")
    args = parser.parse_args(argv)
    caches = {}
    for item in args.cache:
        name, _, path = item.partition("=")
        if name not in {row[0] for row in CONFIGURATIONS} or not path:
            parser.error(f"--cache {item!r}: expected full=DIR or invariant=DIR")
        caches[name] = Path(path)
    warnings.filterwarnings("ignore", message="ridge_tuned: .* smallest alpha")
    rows = run_ablation(caches, quick=args.quick, out=args.out)
    print(markdown(rows))
    if args.output is not None:
        write_json_atomic(args.output, {"rows": rows, "protocol": "4 folds of each cache's folds.json, seed 0, "
                                        "pooled out-of-fold R2 per dimension"})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
