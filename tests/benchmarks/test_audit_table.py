"""benchmarks/audit_table.py: the probing comparison as one Markdown table, and the CI of a mean R2."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import r2_score

from benchmarks.audit_table import mean_r2_interval, table
from datamodules.dimensions import DIMENSIONS


def _entry(value: float, audible: bool) -> dict:
    return {"r2_pooled": [value] * 19, "ci_low": [value - 0.1] * 19, "ci_high": [value + 0.1] * 19,
            "audible": [audible] * 19}


def test_table_rows_and_means() -> None:
    audit = {"probing_comparison": {
        "probers": {"ridge_tuned": _entry(0.3, True), "mlp_es": _entry(0.2, False)},
        "baselines": {"descriptors": _entry(0.25, False), "excerpt_identity_ceiling": {"r2_pooled": [0.5] * 19}},
        "noise_ceiling": [0.8] * 19}}
    text = table(audit, {"ridge_tuned": (0.25, 0.35)})
    lines = text.splitlines()
    assert lines[0] == ("| dimension | ridge_tuned R2 [95% CI] | mlp_es R2 [95% CI] | descriptors R2 [95% CI] | "
                        "excerpt identity | noise ceiling |")
    assert lines[2] == (f"| {DIMENSIONS[0]} | 0.300* [0.20, 0.40] | 0.200 [0.10, 0.30] | 0.250 [0.15, 0.35] | "
                        "0.500 | 0.80 |")
    assert lines[-1] == "| **mean** | **0.300** [0.250, 0.350] | **0.200** | **0.250** | 0.500 | 0.80 |"
    assert len(lines) == 2 + 19 + 1


def test_mean_interval_brackets_the_mean_r2() -> None:
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(40), 5)
    labels = rng.normal(size=(200, 19))
    predictions = labels + rng.normal(scale=0.7, size=labels.shape)
    low, high = mean_r2_interval(labels, predictions, groups, n_resamples=200, seed=0)
    mean = float(np.mean(r2_score(labels, predictions, multioutput="raw_values")))
    assert low < mean < high and high - low < 0.3
