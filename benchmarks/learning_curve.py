"""``python -m benchmarks.learning_curve``: out-of-fold R2 against the share of training excerpts a prober sees.

For each fraction and repeat, every fold's training part is cut to that share of its excerpts (whole excerpts,
drawn with a seeded generator; the validation parts are untouched), the probers and the descriptor baseline are
cross-validated on the cut folds, and the mean over the 19 dimensions of the pooled out-of-fold R2 is recorded.
The curve says whether more performances of more passages would raise R2, and roughly how fast::

    python -m benchmarks.learning_curve --cache runs/midi-cache-invariant --probes ridge_tuned \\
        --fractions 0.25,0.5,0.75,1 --repeats 3

prints a Markdown table (mean and range over repeats) and writes it, with every value, to ``--output`` (JSON).
"""

from __future__ import annotations

import argparse
import dataclasses
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from analyses.probe_metrics import probe_scores
from benchmarks.orchestration.cross_validation import cross_validate
from benchmarks.orchestration.probing import descriptor_baseline_or_reason
from datamodules.cache import PercepianoCache, open_cache
from datamodules.clip import DEFAULT_CLIP
from datamodules.jsonio import write_json_atomic


def cut_folds(folds: Sequence[tuple[np.ndarray, np.ndarray]], groups: np.ndarray, fraction: float,
              rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each fold's training rows cut to ``round(fraction * n_excerpts)`` whole excerpts (at least 2); val kept.

    Examples
    --------
    >>> folds = [(np.arange(6), np.array([6, 7]))]
    >>> groups = np.array(["a", "a", "b", "b", "c", "c", "d", "d"])
    >>> [len(train) for train, _ in cut_folds(folds, groups, 0.7, np.random.default_rng(0))]
    [4]
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    cut = []
    for train, val in folds:
        excerpts = np.unique(groups[train])
        kept = rng.choice(excerpts, size=max(2, round(fraction * len(excerpts))), replace=False)
        cut.append((train[np.isin(groups[train], kept)], val))
    return cut


def learning_curve(cache: PercepianoCache, probes: Sequence[str], fractions: Sequence[float], repeats: int,
                   seed: int = 0, clip: float | None = DEFAULT_CLIP) -> dict:
    """Mean pooled out-of-fold R2 per prober (and ``descriptors``) for each fraction and repeat.

    Returns ``{"fractions", "n_train_rows" (per fraction, mean over folds and repeats), "mean_r2": {name: [[r2 per
    repeat] per fraction]}, "protocol"}``.
    """
    groups = np.asarray(cache.excerpts)
    rng = np.random.default_rng(seed)
    mean_r2: dict[str, list[list[float]]] = {}
    n_train = []
    for fraction in fractions:
        sizes = []
        for _ in range(repeats):
            folds = cut_folds(cache.folds, groups, fraction, rng)
            sizes.append(np.mean([len(train) for train, _ in folds]))
            cut = dataclasses.replace(cache, folds=folds)
            for name in probes:
                oof = cross_validate(name, cut, None, seed=seed, datamodule_kwargs={"clip": clip})
                scores = probe_scores(*oof.scored(cache.labels))
                mean_r2.setdefault(name, [[] for _ in fractions])[list(fractions).index(fraction)].append(
                    float(np.mean(scores.r2_pooled)))
            baseline = descriptor_baseline_or_reason(cut, clip)
            if not isinstance(baseline, str):
                scores = probe_scores(cache.labels[baseline.rows], baseline.y_pred, baseline.fold_of_row)
                mean_r2.setdefault("descriptors", [[] for _ in fractions])[list(fractions).index(fraction)].append(
                    float(np.mean(scores.r2_pooled)))
        n_train.append(float(np.mean(sizes)))
    return {"fractions": list(fractions), "n_train_rows": n_train, "mean_r2": mean_r2, "repeats": repeats,
            "protocol": (f"{len(cache.folds)} folds of {cache.directory}; each training part cut to a share of its "
                         f"excerpts ({repeats} seeded draws, seed {seed}), validation parts kept; mean over the 19 "
                         "dimensions of the R2 pooled over all out-of-fold rows; clip "
                         f"{clip}")}


def markdown(curve: dict) -> str:
    """The curve as a Markdown table: mean [min, max] over repeats per prober and fraction."""
    header = "| prober | " + " | ".join(f"{fraction:g} ({rows:.0f} rows)" for fraction, rows in
                                         zip(curve["fractions"], curve["n_train_rows"], strict=True)) + " |"
    lines = [header, "|---" * (len(curve["fractions"]) + 1) + "|"]
    for name, values in curve["mean_r2"].items():
        cells = [f"{np.mean(v):.3f} [{min(v):.3f}, {max(v):.3f}]" for v in values]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.learning_curve", description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, required=True)
    parser.add_argument("--probes", default="ridge_tuned", help="comma-separated prober names")
    parser.add_argument("--fractions", default="0.25,0.5,0.75,1")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, default=None, help="JSON file for every value")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", message="ridge_tuned: .* smallest alpha")
    curve = learning_curve(open_cache(args.cache), [name for name in args.probes.split(",") if name],
                           [float(value) for value in args.fractions.split(",")], args.repeats, args.seed)
    print(markdown(curve))
    print(curve["protocol"])
    if args.output is not None:
        write_json_atomic(args.output, curve)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
