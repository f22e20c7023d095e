"""compare_probers: scores, joint BH audibility, leaky variants untested, baselines and paired differences."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import r2_score

from analyses.baselines import BaselinePredictionsResult
from analyses.probing_comparison import compare_probers
from datamodules.dimensions import DIMENSIONS

N_EXCERPTS, SIZE, N_FOLDS = 48, 4, 4


@pytest.fixture(scope="module")
def planted() -> dict:
    rng = np.random.default_rng(3)
    groups = np.repeat(np.arange(N_EXCERPTS), SIZE)
    fold_of_row = groups % N_FOLDS
    folds = [(np.flatnonzero(fold_of_row != k), np.flatnonzero(fold_of_row == k)) for k in range(N_FOLDS)]
    labels = rng.uniform(0.2, 0.8, size=(groups.size, 19))
    signal = labels + 0.05 * rng.normal(size=labels.shape)
    good = labels.mean(0) + 0.1 * rng.normal(size=labels.shape)
    good[:, [2, 7]] = signal[:, [2, 7]]  # the "ridge" prober hears dims 2 and 7
    other = labels.mean(0) + 0.1 * rng.normal(size=labels.shape)
    other[:, 12] = signal[:, 12]  # a trained prober hears dim 12 only
    leaky = labels + 0.01 * rng.normal(size=labels.shape)  # hears everything, but is a leaky variant
    predictions = {"ridge": (good, fold_of_row, "faithful"), "mlp": (other, fold_of_row, "faithful"),
                   "factor_leaky": (leaky, fold_of_row, "leaky")}
    result, bootstraps = compare_probers(labels, groups, folds, predictions, {}, n_bootstrap=200, n_permutations=999,
                                         seed=0)
    return {"result": result, "labels": labels, "good": good, "bootstraps": bootstraps}


class TestCompareProbers:
    def test_audible_dimensions_are_exactly_the_planted_ones(self, planted: dict) -> None:
        result = planted["result"]
        assert result.audible_dimensions == [DIMENSIONS[2], DIMENSIONS[7], DIMENSIONS[12]]
        assert result.audible_by[DIMENSIONS[12]] == ["mlp"]

    def test_leaky_variants_are_scored_but_never_tested(self, planted: dict) -> None:
        result = planted["result"]
        assert result.tested_probers == ["ridge", "mlp"]
        assert result.probers["factor_leaky"]["pvalue"] is None
        assert result.best_method[DIMENSIONS[0]] != "factor_leaky"

    def test_pooled_r2_equals_sklearn(self, planted: dict) -> None:
        entry = planted["result"].probers["ridge"]
        expected = r2_score(planted["labels"], planted["good"], multioutput="raw_values")
        np.testing.assert_allclose(entry["r2_pooled"], expected, atol=1e-6)

    def test_cis_bracket_the_estimate(self, planted: dict) -> None:
        entry = planted["result"].probers["ridge"]
        assert all(low <= r2 <= high
                   for low, r2, high in zip(entry["ci_low"], entry["r2_pooled"], entry["ci_high"], strict=True))

    def test_joint_bh_is_at_least_the_raw_pvalue(self, planted: dict) -> None:
        for name in planted["result"].tested_probers:
            entry = planted["result"].probers[name]
            assert all(q >= p - 1e-12 for p, q in zip(entry["pvalue"], entry["pvalue_bh"], strict=True))

    def test_baselines_and_paired_differences(self, planted: dict) -> None:
        result = planted["result"]
        assert set(result.baselines) == {"training_mean", "excerpt_mean", "excerpt_identity_ceiling"}
        assert set(result.paired_differences) == {"mlp - ridge", "factor_leaky - ridge"}
        difference = result.paired_differences["mlp - ridge"]["difference"]
        assert difference[12] > 0 > difference[2]

    def test_serialises(self, planted: dict) -> None:
        import json

        json.dumps(planted["result"].to_dict(), allow_nan=False)


def test_tuned_probers_are_also_compared_with_the_tuned_ridge(planted: dict) -> None:
    """Pairs against both references, each pair once; the difference is the pooled R2 difference."""
    labels, good = planted["labels"], planted["good"]
    groups = np.repeat(np.arange(N_EXCERPTS), SIZE)
    fold_of_row = groups % N_FOLDS
    folds = [(np.flatnonzero(fold_of_row != k), np.flatnonzero(fold_of_row == k)) for k in range(N_FOLDS)]
    rng = np.random.default_rng(5)
    tuned = labels + 0.1 * rng.normal(size=labels.shape)
    predictions = {"ridge": (good, fold_of_row, "faithful"), "ridge_tuned": (tuned, fold_of_row, "tuned"),
                   "mlp_es": (labels + 0.2 * rng.normal(size=labels.shape), fold_of_row, "tuned")}
    result, _ = compare_probers(labels, groups, folds, predictions, {}, n_bootstrap=50, n_permutations=9, seed=0)
    assert set(result.paired_differences) == {"ridge_tuned - ridge", "mlp_es - ridge", "mlp_es - ridge_tuned"}
    expected = (r2_score(labels, predictions["mlp_es"][0], multioutput="raw_values")
                - r2_score(labels, tuned, multioutput="raw_values"))
    np.testing.assert_allclose(result.paired_differences["mlp_es - ridge_tuned"]["difference"], expected, atol=1e-6)


class TestFittedBaselines:
    def test_descriptor_baseline_is_scored_and_probers_below_it_are_listed(self, planted: dict) -> None:
        """A baseline that hears dims 2 and 12 perfectly: 'ridge' is below it on 12 (and wherever its noise loses),
        'mlp' on 2; the leaky variant is not listed."""
        labels = planted["labels"]
        rng = np.random.default_rng(5)
        groups = np.repeat(np.arange(N_EXCERPTS), SIZE)
        fold_of_row = groups % N_FOLDS
        folds = [(np.flatnonzero(fold_of_row != k), np.flatnonzero(fold_of_row == k)) for k in range(N_FOLDS)]
        y_pred = labels.mean(0) + 0.1 * rng.normal(size=labels.shape)
        y_pred[:, [2, 12]] = labels[:, [2, 12]]
        fitted = BaselinePredictionsResult("descriptors", np.arange(labels.shape[0]), y_pred, fold_of_row, 0,
                                           (0,) * N_FOLDS, "test protocol")
        predictions = {"ridge": (planted["good"], fold_of_row, "faithful"),
                       "factor_leaky": (labels, fold_of_row, "leaky")}
        result, _ = compare_probers(labels, groups, folds, predictions, {}, fitted_baselines={"descriptors": fitted,
                                    "other": "skipped: no descriptors"}, n_bootstrap=50, n_permutations=0)
        entry = result.baselines["descriptors"]
        np.testing.assert_allclose(entry["r2_pooled"], r2_score(labels, y_pred, multioutput="raw_values"), atol=1e-9)
        assert (entry["ci_low"][2] <= entry["r2_pooled"][2] <= entry["ci_high"][2]
                and entry["protocol"] == "test protocol")
        assert result.baselines["other"] == {"skipped": "skipped: no descriptors"}
        ridge_r2 = np.asarray(result.probers["ridge"]["r2_pooled"])
        expected = [DIMENSIONS[i] for i in range(19) if ridge_r2[i] < entry["r2_pooled"][i]]
        assert result.below_baselines["ridge"]["descriptors"] == expected and DIMENSIONS[12] in expected
        assert "factor_leaky" not in result.below_baselines
