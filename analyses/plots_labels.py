"""Figures for the label audit: cluster-ordered correlation heatmap and scree plot with parallel analysis.

Figures are built with :class:`matplotlib.figure.Figure` directly (Agg canvas, no pyplot state), so callers save
them with ``fig.savefig(path)`` and nothing leaks between calls.
"""

from __future__ import annotations

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from analyses.correlation import CorrelationResult
from analyses.factor_retention import ParallelAnalysisResult
from analyses.pca import PCAResult


def plot_correlation_heatmap(result: CorrelationResult, data_description: str) -> Figure:
    """Heatmap of the Pearson matrix in hierarchical-cluster order, annotated with ``r``.

    Parameters
    ----------
    result : CorrelationResult
        From :func:`analyses.correlation.correlation_analysis`.
    data_description : str
        Which labels these are (e.g. ``"PercePiano labels.json, all segments"``), shown in the title.

    Returns
    -------
    matplotlib.figure.Figure
    """
    order = result.cluster_order
    matrix = result.correlation[np.ix_(order, order)]
    names = [result.names[i] for i in order]
    size = len(names)
    figure = Figure(figsize=(0.5 * size + 3.5, 0.5 * size + 2.5), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    image = axes.imshow(matrix, cmap="RdBu_r", vmin=-1.0, vmax=1.0)
    axes.set_xticks(range(size), names, rotation=90, fontsize=8)
    axes.set_yticks(range(size), names, fontsize=8)
    for i in range(size):
        for j in range(size):
            colour = "white" if abs(matrix[i, j]) > 0.6 else "black"
            axes.text(j, i, f"{matrix[i, j]:.2f}", ha="center", va="center", fontsize=5, color=colour)
    figure.colorbar(image, ax=axes, shrink=0.8, label="Pearson r")
    axes.set_title(
        f"Label correlations, average-linkage order on 1 - r\n{data_description}; n = {result.n_segments} segments; "
        f"{result.n_strong_pairs}/{result.n_pairs} pairs |r| > {result.strong_threshold:g}",
        fontsize=9,
    )
    return figure


def plot_scree(
    pca: PCAResult,
    parallel: ParallelAnalysisResult,
    data_description: str,
    factor_parallel: ParallelAnalysisResult | None = None,
) -> Figure:
    """Scree plot of observed eigenvalues against the parallel-analysis percentile thresholds.

    Parameters
    ----------
    pca : PCAResult
    parallel : ParallelAnalysisResult
        PCA-based parallel analysis (``method="pca"``) of the same labels.
    data_description : str
        Which labels these are, shown in the title.
    factor_parallel : ParallelAnalysisResult, optional
        Factor-based parallel analysis (``method="factor"``), drawn with its own threshold.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        If ``parallel`` is not PCA-based or the results disagree on the number of dimensions.
    """
    if parallel.method != "pca":
        raise ValueError(f"parallel.method={parallel.method!r}; expected 'pca'")
    if factor_parallel is not None and factor_parallel.method != "factor":
        raise ValueError(f"factor_parallel.method={factor_parallel.method!r}; expected 'factor'")
    size = pca.eigenvalues.size
    if parallel.observed.size != size or (factor_parallel is not None and factor_parallel.observed.size != size):
        raise ValueError(f"results have different numbers of dimensions; expected {size} everywhere")
    rank = np.arange(1, size + 1)
    figure = Figure(figsize=(7.0, 4.5), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.plot(rank, pca.eigenvalues, "o-", color="C0", label="PCA eigenvalues (observed)")
    axes.plot(rank, parallel.threshold, "--", color="C0",
              label=f"PCA random {parallel.percentile:g}th pct. (retain {parallel.n_retained})")
    if factor_parallel is not None:
        axes.plot(rank, factor_parallel.observed, "s-", color="C1", label="reduced-matrix eigenvalues (SMC)")
        axes.plot(rank, factor_parallel.threshold, "--", color="C1",
                  label=f"FA random {factor_parallel.percentile:g}th pct. (retain {factor_parallel.n_retained})")
    axes.axhline(1.0, color="grey", linewidth=0.8, linestyle=":", label="eigenvalue 1 (Kaiser)")
    axes.set_xticks(rank)
    axes.set_xlabel("component / factor rank")
    axes.set_ylabel("eigenvalue")
    axes.legend(fontsize=8)
    n_sims = f"{parallel.n_simulations}"
    if factor_parallel is not None:
        n_sims += f" (PCA) / {factor_parallel.n_simulations} (FA)"
    axes.set_title(
        f"Scree plot with Horn's parallel analysis\n{data_description}; n = {pca.n_segments} segments\n"
        f"{n_sims} simulated standard-normal data sets of the same shape (seed {parallel.seed})",
        fontsize=9,
    )
    return figure
