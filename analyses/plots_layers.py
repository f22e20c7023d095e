"""Figure for the layer sweep: a layer x dimension heatmap of pooled R2, the best layer per dimension marked."""

from __future__ import annotations

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from analyses.layer_sweep import LayerSweepResult


def plot_layer_sweep(result: LayerSweepResult, *, prober: str, n_folds: int) -> Figure:
    """Heatmap of ``result.r2`` (layers as rows, dimensions as columns); a dot marks each dimension's best layer,
    with ``p_best`` written in its cell; the right column is the mean over dimensions."""
    n_layers, n_dimensions = result.r2.shape
    figure = Figure(figsize=(max(8.0, 0.55 * n_dimensions + 3), max(3.0, 0.45 * n_layers + 2)))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot(1, 1, 1)
    table = np.column_stack([result.r2, result.mean_r2])  # (L, d + 1)
    bound = max(float(np.nanmax(np.abs(table))), 1e-6)
    image = axes.imshow(table, cmap="RdBu_r", vmin=-bound, vmax=bound, aspect="auto")
    best_rows = [result.layers.index(layer) for layer in result.best_layer]
    for column, row in enumerate(best_rows):
        axes.plot(column, row, "k.", markersize=6)
        axes.text(column, row + 0.3, f"{result.p_best[row, column]:.2f}", ha="center", va="center", fontsize=6)
    axes.set_xticks(range(n_dimensions + 1), [*result.dimensions, "mean"], rotation=60, ha="right", fontsize=7)
    axes.set_yticks(range(n_layers), result.layers, fontsize=7)
    axes.set_ylabel("layer selection")
    axes.set_title(f"{prober}: pooled out-of-fold R2 per layer ({n_folds} folds); dot = best layer, number = share "
                   "of paired excerpt resamples where it is best", fontsize=8)
    figure.colorbar(image, ax=axes, shrink=0.8, label="R2")
    figure.tight_layout()
    return figure
