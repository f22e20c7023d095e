"""Figure of per-dimension reliability with bootstrap CIs: Krippendorff's alpha and split-half (Spearman-Brown)."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from analyses.reliability import ReliabilityResult


def plot_reliability(result: ReliabilityResult, sort: bool = False) -> Figure:
    """Dot-and-interval plot of alpha and split-half reliability per dimension.

    Parameters
    ----------
    result : ReliabilityResult
        From :func:`analyses.reliability.reliability`.
    sort : bool, default=False
        Order dimensions by split-half reliability (lowest at the bottom) instead of PercePiano order.

    Returns
    -------
    matplotlib.figure.Figure
        One axis, dimensions on y, reliability on x; error bars are the percentile bootstrap CIs over keys. The title
        states raters, keys, ratings, resamples, splits and how repeated ratings were treated. Built without
        pyplot (no global figure state); save with ``fig.savefig``.
    """
    n_dimensions = len(result.dimensions)
    order = np.argsort(result.split_half.statistic) if sort else np.arange(n_dimensions)[::-1]
    rows = np.arange(n_dimensions)
    figure = Figure(figsize=(7.5, 0.32 * n_dimensions + 1.6), layout="constrained")
    axis = figure.add_subplot()
    series = (
        ("Krippendorff's alpha (interval, one rating)", result.alpha, -0.15, "tab:blue"),
        ("split-half, Spearman-Brown to the panel = R2 ceiling", result.split_half, 0.15, "tab:orange"),
    )
    for label, part, offset, color in series:
        statistic = part.statistic[order]
        error = np.abs(np.vstack([statistic - part.ci_low[order], part.ci_high[order] - statistic]))
        axis.errorbar(
            statistic, rows + offset, xerr=np.nan_to_num(error), fmt="o", ms=4, capsize=2, color=color, label=label
        )
    axis.set_yticks(rows, [result.dimensions[i] for i in order])
    axis.set_xlim(min(0.0, float(np.nanmin(result.alpha.ci_low, initial=0.0))), 1.0)
    axis.set_xlabel("reliability")
    axis.grid(axis="x", alpha=0.3)
    figure.legend(loc="outside lower center", fontsize="small")
    split = result.split_half
    axis.set_title(
        f"Reliability per dimension: {result.n_raters} raters, {result.n_keys} keys, {result.n_ratings} ratings\n"
        f"repeats={result.repeats}; {split.n_splits} random rater splits, harmonic-mean panel "
        f"{np.nanmean(split.n_panel):.1f}\n{int(round(split.confidence_level * 100))}% bootstrap CI over keys, "
        f"{split.n_resamples} resamples",
        fontsize="medium",
    )
    return figure
