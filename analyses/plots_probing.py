"""Figure for the probing benchmark: per-dimension pooled R2 by prober with excerpt-bootstrap CIs.

Built with :class:`matplotlib.figure.Figure` on an Agg canvas (no pyplot state); save with ``fig.savefig(path)``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from analyses.uncertainty import GroupBootstrapResult


def plot_probe_r2(
    probers: Mapping[str, GroupBootstrapResult],
    *,
    n_folds: int,
    baselines: Mapping[str, np.ndarray] | None = None,
    noise_ceiling: np.ndarray | None = None,
    data_description: str = "",
) -> Figure:
    """Pooled out-of-fold R2 per dimension for each prober, with bootstrap CIs, baselines and noise ceiling.

    Parameters
    ----------
    probers : mapping of str to GroupBootstrapResult
        Prober name to its :func:`analyses.uncertainty.group_bootstrap_ci` result (``metric="r2"``); drawn as
        points with ``[ci_low, ci_high]`` error bars, offset side by side within each dimension.
    n_folds : int
        Cross-validation folds the out-of-fold predictions came from (shown in the title).
    baselines : mapping of str to ndarray of shape (n_dimensions,), optional
        Baseline name to its pooled R2 (e.g. from :mod:`analyses.baselines` scored by ``probe_scores``),
        drawn as horizontal ticks.
    noise_ceiling : ndarray of shape (n_dimensions,), optional
        Highest attainable R2 per dimension given label reliability, drawn as triangles.
    data_description : str, default=""
        Extra title line (data set, embedding model).

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        If ``probers`` is empty, a result is not an R2 bootstrap, or arrays disagree on the dimensions.
    """
    if not probers:
        raise ValueError("probers is empty, expected at least one name -> GroupBootstrapResult")
    first = next(iter(probers.values()))
    names, size = first.dimensions, len(first.dimensions)
    for name, result in probers.items():
        if result.metric != "r2" or result.dimensions != names:
            raise ValueError(f"probers[{name!r}]: metric {result.metric!r} over {len(result.dimensions)} dimensions; "
                             f"expected 'r2' over the {size} dimensions of the first prober")
    extras = {f"baselines[{key!r}]": value for key, value in (baselines or {}).items()}
    if noise_ceiling is not None:
        extras["noise_ceiling"] = noise_ceiling
    for label, values in extras.items():
        if np.shape(values) != (size,):
            raise ValueError(f"{label} has shape {np.shape(values)}, expected ({size},)")
    figure = Figure(figsize=(0.55 * size + 4.0, 5.0), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    position = np.arange(size)
    width = 0.7 / len(probers)
    for index, (name, result) in enumerate(probers.items()):
        offset = position - 0.35 + width * (index + 0.5)
        # The CI as a line from ci_low to ci_high, not as error bars around the point: a percentile CI of a
        # biased statistic (pooled R2) may exclude the point estimate, which error bars cannot draw.
        axes.vlines(offset, result.ci_low, result.ci_high, color=f"C{index}", linewidth=1.2)
        axes.plot(offset, result.statistic, "o", markersize=4, color=f"C{index}", label=name)
    for index, (name, values) in enumerate((baselines or {}).items()):
        axes.scatter(position, values, marker="_", s=250, color=f"C{len(probers) + index}", label=f"baseline: {name}")
    if noise_ceiling is not None:
        axes.scatter(position, noise_ceiling, marker="v", color="black", s=25, label="noise ceiling")
    axes.axhline(0.0, color="grey", linewidth=0.8)
    axes.set_xticks(position, names, rotation=60, ha="right", fontsize=8)
    axes.set_ylabel("pooled out-of-fold $R^2$")
    axes.legend(fontsize=7, loc="best")
    runs = sorted({(r.n_resamples, f"{r.confidence_level:.0%}", r.seed) for r in probers.values()})
    bootstrap = "; ".join(
        f"{n} excerpt-bootstrap resamples, {level} percentile CI, seed {seed}" for n, level, seed in runs
    )
    axes.set_title(
        f"Pooled out-of-fold $R^2$ by dimension ({n_folds} folds, n = {first.n_rows} rows, {first.n_groups} excerpts)"
        f"\n{bootstrap}" + (f"\n{data_description}" if data_description else ""),
        fontsize=9,
    )
    return figure
