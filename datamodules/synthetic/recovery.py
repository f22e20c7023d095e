"""How strongly the planted signals show in the realised cache: oracle R^2 along the recorded directions.

These numbers are computed once at generation time from the float16 frames as written, and recorded in
``ground_truth.json`` under ``"recovery"``; they are the ceilings a probe can approach.
"""

from __future__ import annotations

import numpy as np

from datamodules.dimensions import DIMENSIONS, N_DIMENSIONS
from datamodules.synthetic.frames import FrameEncoder


def squared_correlation(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson r^2 of two vectors of shape (n,); 0 when either is constant."""
    x, y = x - x.mean(), y - y.mean()
    denominator = np.sqrt((x @ x) * (y @ y))
    return float((x @ y / denominator) ** 2) if denominator > 0 else 0.0


def in_sample_r2(features: np.ndarray, target: np.ndarray) -> float:
    """R^2 of an ordinary least-squares fit with intercept of ``target`` (n,) on ``features`` (n, p), in sample."""
    design = np.column_stack([np.ones(len(target)), features])
    coef, *_ = np.linalg.lstsq(design, target, rcond=None)
    residual = target - design @ coef
    centred = target - target.mean()
    return float(1.0 - residual @ residual / (centred @ centred))


def recovery_report(
    encoder: FrameEncoder, mean_frames: np.ndarray, marked_mean: np.ndarray, quality: np.ndarray, labels: np.ndarray
) -> dict:
    """Oracle R^2 per dimension.

    Parameters
    ----------
    encoder : FrameEncoder
    mean_frames : ndarray of shape (n_segments, dim)
        Per-segment mean over all frames.
    marked_mean : ndarray of shape (n_segments, dim)
        Per-segment mean over the marked frames (zeros when nothing is marked).
    quality, labels : ndarray of shape (n_segments, 19)
        Planted quality and rater-mean labels, on [0, 1].

    Returns
    -------
    dict
        Per dimension name: ``label_reliability_r2`` (r^2 of label with quality), ``mean_projection_r2`` (in-sample
        OLS R^2 of the label on the mean frame projected on every planted direction: what a linear probe on mean
        features can reach, correlated dimensions included) and, for audible dimensions, the mechanism's oracle
        feature r^2 with quality and with the label.
    """
    projections = mean_frames @ encoder.planted_basis.T  # (n_segments, n_directions)
    report = {}
    for dimension in range(N_DIMENSIONS):
        report[DIMENSIONS[dimension]] = {
            "index": dimension,
            "label_reliability_r2": squared_correlation(labels[:, dimension], quality[:, dimension]),
            "mean_projection_r2": in_sample_r2(projections, labels[:, dimension]),
        }
    for position, dimension in enumerate(encoder.linear_dimensions):
        feature = mean_frames @ encoder.linear_directions[position]
        report[DIMENSIONS[dimension]].update(_oracle("mean_along_direction", feature, quality, labels, dimension))
    for position, dimension in enumerate(encoder.sparse_dimensions):
        direction = encoder.sparse_directions[position]
        entry = report[DIMENSIONS[dimension]]
        entry.update(_oracle("marked_mean_along_direction", marked_mean @ direction, quality, labels, dimension))
        entry["plain_mean_r2_label"] = squared_correlation(mean_frames @ direction, labels[:, dimension])
    for position, dimension in enumerate(encoder.nonlinear_dimensions):
        projection = mean_frames @ encoder.nonlinear_directions[position]
        entry = report[DIMENSIONS[dimension]]
        entry.update(_oracle("abs_mean_along_direction", np.abs(projection), quality, labels, dimension))
        entry["linear_mean_r2_label"] = squared_correlation(projection, labels[:, dimension])
    return report


def _oracle(feature_name: str, feature: np.ndarray, quality: np.ndarray, labels: np.ndarray, dimension: int) -> dict:
    return {
        "oracle_feature": feature_name,
        "oracle_r2_quality": squared_correlation(feature, quality[:, dimension]),
        "oracle_r2_label": squared_correlation(feature, labels[:, dimension]),
    }
