"""Layer x dimension probing table: pooled R2 per layer with excerpt-bootstrap CIs, and how sure "best layer" is.

Every layer's out-of-fold predictions (same folds, same rows) are scored on the *same* bootstrap resamples of whole
excerpts (paired), so the uncertainty of which layer is best is the uncertainty of a comparison, not of separate
intervals: per dimension, ``p_best[l]`` is the share of resamples in which layer ``l`` has the highest pooled R2,
and the best layer's lead over the runner-up has a paired percentile interval.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from analyses._resampling import GroupResampler, percentile_interval
from datamodules.dimensions import DIMENSIONS


@dataclass(frozen=True)
class LayerSweepResult:
    """Scores of one prober over layers.

    Attributes
    ----------
    layers : tuple of str
        Layer selections in sweep order (``"0"``, ..., ``"9-12"``).
    dimensions : tuple of str
    r2 : ndarray of shape (n_layers, n_dimensions)
        Pooled out-of-fold R2 on the original rows.
    ci_low, ci_high : ndarray of shape (n_layers, n_dimensions)
        Percentile bootstrap interval of each.
    best_layer : tuple of str, length n_dimensions
        The layer with the highest ``r2`` per dimension.
    p_best : ndarray of shape (n_layers, n_dimensions)
        Share of (paired) resamples in which each layer has the highest R2; columns sum to 1.
    lead, lead_ci_low, lead_ci_high : ndarray of shape (n_dimensions,)
        R2 of the best layer minus the runner-up's (on the original rows), and its paired percentile interval.
    mean_r2 : ndarray of shape (n_layers,)
        Mean over dimensions of ``r2``.
    protocol : str
    """

    layers: tuple[str, ...]
    dimensions: tuple[str, ...]
    r2: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    best_layer: tuple[str, ...]
    p_best: np.ndarray
    lead: np.ndarray
    lead_ci_low: np.ndarray
    lead_ci_high: np.ndarray
    mean_r2: np.ndarray
    protocol: str

    def to_dict(self) -> dict:
        """JSON form (arrays as nested lists; layer-major tables)."""
        return {"layers": list(self.layers), "dimensions": list(self.dimensions), "r2": self.r2.tolist(),
                "ci_low": self.ci_low.tolist(), "ci_high": self.ci_high.tolist(), "best_layer": list(self.best_layer),
                "p_best": self.p_best.tolist(), "lead": self.lead.tolist(), "lead_ci_low": self.lead_ci_low.tolist(),
                "lead_ci_high": self.lead_ci_high.tolist(), "mean_r2": self.mean_r2.tolist(),
                "protocol": self.protocol}


def layer_sweep_scores(
    labels: np.ndarray,
    predictions: Mapping[str, np.ndarray],
    groups: Sequence | np.ndarray,
    *,
    n_bootstrap: int = 1000,
    confidence_level: float = 0.95,
    seed: int = 0,
    dimensions: Sequence[str] = DIMENSIONS,
) -> LayerSweepResult:
    """Score every layer's out-of-fold predictions on the same excerpt resamples.

    Parameters
    ----------
    labels : ndarray of shape (n_rows, n_dimensions)
        Labels of the scored rows.
    predictions : mapping of layer selection to ndarray of shape (n_rows, n_dimensions)
        Out-of-fold predictions of the same rows, one entry per layer (at least one).
    groups : sequence, length n_rows
        Excerpt of each row (the resampling unit).
    n_bootstrap, confidence_level, seed
        As :func:`analyses.uncertainty.group_bootstrap_ci`.

    Raises
    ------
    ValueError
        Without predictions, or on bad shapes (from the resampler).
    """
    if not predictions:
        raise ValueError("predictions is empty; expected one (n_rows, n_dimensions) array per layer")
    layers = tuple(predictions)
    setup = GroupResampler(labels, groups, "r2", n_bootstrap, confidence_level, seed, dimensions,
                           *[predictions[layer] for layer in layers])
    counts = setup.counts()  # (n_resamples, n_groups), shared by every layer: paired
    r2 = np.stack([setup.score(prediction, None) for prediction in setup.predictions])  # (L, d)
    resampled = np.stack([setup.score(prediction, counts) for prediction in setup.predictions])  # (L, B, d)
    bounds = [percentile_interval(resampled[index], setup.confidence_level) for index in range(len(layers))]
    ci_low = np.stack([low for low, _, _ in bounds])
    ci_high = np.stack([high for _, high, _ in bounds])
    winners = np.argmax(np.nan_to_num(resampled, nan=-np.inf), axis=0)  # (B, d)
    p_best = np.stack([(winners == index).mean(axis=0) for index in range(len(layers))])  # (L, d)
    order = np.argsort(-r2, axis=0, kind="stable")  # (L, d)
    best, columns = order[0], np.arange(r2.shape[1])
    if len(layers) > 1:
        runner_up = order[1]
        lead = r2[best, columns] - r2[runner_up, columns]
        lead_distribution = resampled[best, :, columns].T - resampled[runner_up, :, columns].T  # (B, d)
        lead_low, lead_high, _ = percentile_interval(lead_distribution, setup.confidence_level)
    else:
        lead = lead_low = lead_high = np.zeros(r2.shape[1])
    return LayerSweepResult(
        layers=layers, dimensions=setup.dimensions, r2=r2, ci_low=ci_low, ci_high=ci_high,
        best_layer=tuple(layers[index] for index in best), p_best=p_best, lead=lead, lead_ci_low=lead_low,
        lead_ci_high=lead_high, mean_r2=r2.mean(axis=1),
        protocol=(setup.protocol(f"per layer ({len(layers)}), out-of-fold pooled") + "; the same resamples score "
                  "every layer (paired): p_best is the share of resamples in which a layer scores highest, the lead "
                  "is best minus runner-up with its paired interval"),
    )
