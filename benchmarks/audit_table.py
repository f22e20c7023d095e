"""``python -m benchmarks.audit_table AUDIT_JSON``: the probing comparison of a run as one Markdown table.

One row per dimension: every prober's pooled out-of-fold R2 with its 95% excerpt-bootstrap CI (``*``: audible,
significant after the joint BH correction with R2 > 0), the descriptor baseline with its CI when it ran, the
excerpt-identity ceiling and the noise ceiling; a last row gives the means over the 19 dimensions (for the probers,
with a 95% CI of the mean from the same excerpt bootstrap when ``--cache`` is given). This is the table
``BENCHMARKS.md`` shows for real-data runs.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from analyses.uncertainty import group_bootstrap_ci
from benchmarks.orchestration.probing import descriptor_baseline_or_reason
from datamodules.cache import open_cache
from datamodules.dimensions import DIMENSIONS


def mean_r2_interval(labels: np.ndarray, y_pred: np.ndarray, groups: np.ndarray, n_resamples: int,
                     seed: int) -> tuple[float, float]:
    """95% CI of the mean over dimensions of the pooled R2, from excerpt-bootstrap resamples (percentile)."""
    result = group_bootstrap_ci(labels, y_pred, groups, n_resamples=n_resamples, seed=seed)
    means = np.asarray(result.bootstrap_distribution).mean(axis=1)  # (n_resamples,)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def table(audit: dict, mean_intervals: dict[str, tuple[float, float]] | None = None) -> str:
    """The Markdown table of ``audit["probing_comparison"]``."""
    result = audit["probing_comparison"]
    probers, baselines = result["probers"], result["baselines"]
    descriptors = baselines.get("descriptors", {})
    names = list(probers)
    header = ["dimension", *[f"{name} R2 [95% CI]" for name in names]]
    header += ["descriptors R2 [95% CI]"] * ("r2_pooled" in descriptors) + ["excerpt identity", "noise ceiling"]
    lines = ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    ceiling = result.get("noise_ceiling") or [None] * len(DIMENSIONS)
    for index, dimension in enumerate(DIMENSIONS):
        cells = [dimension]
        for name in names:
            entry = probers[name]
            mark = "*" if entry.get("audible") and entry["audible"][index] else ""
            cells.append(f"{entry['r2_pooled'][index]:.3f}{mark} [{entry['ci_low'][index]:.2f}, "
                         f"{entry['ci_high'][index]:.2f}]")
        if "r2_pooled" in descriptors:
            cells.append(f"{descriptors['r2_pooled'][index]:.3f} [{descriptors['ci_low'][index]:.2f}, "
                         f"{descriptors['ci_high'][index]:.2f}]")
        cells.append(f"{baselines['excerpt_identity_ceiling']['r2_pooled'][index]:.3f}")
        cells.append("—" if ceiling[index] is None else f"{ceiling[index]:.2f}")
        lines.append("| " + " | ".join(cells) + " |")
    means = ["**mean**"]
    for name in names:
        interval = (mean_intervals or {}).get(name)
        means.append(f"**{np.mean(probers[name]['r2_pooled']):.3f}**"
                     + (f" [{interval[0]:.3f}, {interval[1]:.3f}]" if interval else ""))
    if "r2_pooled" in descriptors:
        interval = (mean_intervals or {}).get("descriptors")
        means.append(f"**{np.mean(descriptors['r2_pooled']):.3f}**" + (f" [{interval[0]:.3f}, {interval[1]:.3f}]"
                                                                      if interval else ""))
    means.append(f"{np.mean(baselines['excerpt_identity_ceiling']['r2_pooled']):.3f}")
    means.append("—" if ceiling[0] is None else f"{np.mean(ceiling):.2f}")
    lines.append("| " + " | ".join(means) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.audit_table", description=__doc__.splitlines()[0])
    parser.add_argument("audit", type=Path)
    parser.add_argument("--cache", type=Path, help="the run's cache: adds the CI of each mean R2 (excerpt bootstrap)")
    parser.add_argument("--bootstrap", type=int, default=1000)
    args = parser.parse_args(argv)
    audit = json.loads(args.audit.read_text())
    intervals = None
    if args.cache is not None:
        cache = open_cache(args.cache)
        groups = np.asarray(cache.excerpts)
        intervals = {}
        out = args.audit.parent
        for name in audit["probing_comparison"]["probers"]:
            predictions = _ensemble(out, name)
            rows = ~np.isnan(predictions[:, 0])
            intervals[name] = mean_r2_interval(cache.labels[rows], predictions[rows], groups[rows], args.bootstrap,
                                               audit["probing_comparison"]["seed"])
        baseline = descriptor_baseline_or_reason(cache, audit["run"]["config"].get("clip"))
        if not isinstance(baseline, str):  # refitted: deterministic, the audit's own predictions
            intervals["descriptors"] = mean_r2_interval(cache.labels[baseline.rows], baseline.y_pred,
                                                        groups[baseline.rows], args.bootstrap,
                                                        audit["probing_comparison"]["seed"])
    print(table(audit, intervals))
    return 0


def _ensemble(out: Path, name: str) -> np.ndarray:
    """The out-of-fold predictions the audit scored: the mean over the run's seed directories."""
    files = [directory / "predictions" / name / "oof.npz"
             for directory in [out, *sorted((out / "seeds").glob("seed*"))]]
    return np.mean([np.load(path)["predictions"] for path in files if path.is_file()], axis=0)


if __name__ == "__main__":
    raise SystemExit(main())
