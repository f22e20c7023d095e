"""Reliability statistics against published numbers, textbook formulas and planted classical-test-theory data."""

from __future__ import annotations

import json
from pathlib import Path

import krippendorff
import numpy as np
import pytest

from analyses.krippendorff_alpha import _alpha_from_sums, _alpha_unit_stats, krippendorff_alpha
from analyses.rating_panel import RatingPanel
from analyses.reliability import reliability
from analyses.split_half import spearman_brown, split_half_reliability

NAN = np.nan
# Krippendorff (2011), "Computing Krippendorff's alpha-reliability", section C: 4 coders x 12 units with gaps.
# Published: interval alpha = 0.849 (nominal 0.743, ordinal 0.815, ratio 0.797).
KRIPPENDORFF_2011 = np.array(
    [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, NAN, NAN, NAN],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, NAN, 3],
        [NAN, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, NAN],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, NAN],
    ]
)


def _long(table: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(n_coders, n_units) table with NaN gaps -> long-format ratings (n, 1), key_index, rater_index."""
    coders, units = np.nonzero(~np.isnan(table))
    return table[coders, units][:, None], units, coders


def _reference_alpha_textbook(table: np.ndarray) -> float:
    """Interval alpha from the coincidence matrix, written out as in Krippendorff (2011)."""
    coincidences: dict[tuple[float, float], float] = {}
    for unit in table.T:
        values = unit[~np.isnan(unit)]
        for i in range(len(values)):
            for j in range(len(values)):
                if i != j:
                    pair = (values[i], values[j])
                    coincidences[pair] = coincidences.get(pair, 0.0) + 1.0 / (len(values) - 1)
    marginals: dict[float, float] = {}
    for (c, _), o in coincidences.items():
        marginals[c] = marginals.get(c, 0.0) + o
    n = sum(marginals.values())
    observed = sum(o * (c - k) ** 2 for (c, k), o in coincidences.items())
    expected = sum(n_c * n_k * (c - k) ** 2 for c, n_c in marginals.items() for k, n_k in marginals.items())
    return 1.0 - (n - 1.0) * observed / expected


def _random_table(seed: int, n_coders: int = 5, n_units: int = 9, p_missing: float = 0.3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    table = rng.integers(1, 8, size=(n_coders, n_units)).astype(float) + rng.integers(0, 3, size=n_units)
    table[rng.random(table.shape) < p_missing] = NAN
    return table


def _simulate(n_keys: int, noise_sd: np.ndarray, seed: int) -> tuple[np.ndarray, ...]:
    """Classical test theory: rating = true score (var 1) + independent noise; 4-12 raters per key from a pool of 40.

    Returns ratings (n, n_dims), key_index, rater_index, panel sizes (n_keys,), true scores (n_keys, n_dims).
    """
    rng = np.random.default_rng(seed)
    true = rng.standard_normal((n_keys, noise_sd.size))
    sizes = rng.integers(4, 13, size=n_keys)
    raters = np.concatenate([rng.choice(40, size=m, replace=False) for m in sizes])
    keys = np.repeat(np.arange(n_keys), sizes)
    ratings = true[keys] + noise_sd * rng.standard_normal((keys.size, noise_sd.size))
    return ratings, keys, raters, sizes, true


class TestKrippendorffAlpha:
    def test_published_example(self) -> None:
        result = krippendorff_alpha(*_long(KRIPPENDORFF_2011), n_resamples=0)
        assert result.statistic[0] == pytest.approx(0.849, abs=5e-4)
        assert result.n_units[0] == 11 and result.n_values[0] == 40

    @pytest.mark.parametrize("seed", range(4))
    def test_matches_textbook_and_package_and_fast_path(self, seed: int) -> None:
        table = _random_table(seed)
        expected = _reference_alpha_textbook(table)
        assert krippendorff.alpha(reliability_data=table, level_of_measurement="interval") == pytest.approx(expected)
        assert krippendorff_alpha(*_long(table), n_resamples=0).statistic[0] == pytest.approx(expected, abs=1e-12)
        panel = RatingPanel.build(*_long(table), repeats="mean")
        fast = _alpha_from_sums(_alpha_unit_stats(panel.unit_values).sum(axis=0), 1)
        assert fast[0] == pytest.approx(expected, abs=1e-12)

    def test_perfect_agreement_with_missing_cells(self) -> None:
        table = np.tile(np.arange(1.0, 11.0) % 7 + 1, (6, 1))
        table[np.random.default_rng(0).random(table.shape) < 0.3] = NAN
        result = krippendorff_alpha(*_long(table), n_resamples=50)
        assert result.statistic[0] == pytest.approx(1.0) and result.ci_low[0] == pytest.approx(1.0)

    def test_invariant_to_row_order_and_rescaling(self) -> None:
        ratings, keys, raters = _long(_random_table(7, n_coders=6, n_units=30))
        order = np.random.default_rng(1).permutation(keys.size)
        base = krippendorff_alpha(ratings, keys, raters, seed=3, n_resamples=200)
        moved = krippendorff_alpha(ratings[order] / 7, keys[order], raters[order], seed=3, n_resamples=200)
        np.testing.assert_allclose(moved.statistic, base.statistic, atol=1e-12)
        np.testing.assert_allclose([moved.ci_low, moved.ci_high], [base.ci_low, base.ci_high], atol=1e-12)

    def test_repeats_mean_ignores_identical_duplicates_keep_counts_them(self) -> None:
        ratings, keys, raters = _long(_random_table(2, n_units=20))
        twice = tuple(np.concatenate([array, array[:10]]) for array in (ratings, keys, raters))
        base = krippendorff_alpha(ratings, keys, raters, n_resamples=0).statistic[0]
        assert krippendorff_alpha(*twice, repeats="mean", n_resamples=0).statistic[0] == pytest.approx(base, abs=1e-12)
        assert krippendorff_alpha(*twice, repeats="keep", n_resamples=0).statistic[0] > base

    def test_constant_ratings_warn_and_give_nan(self) -> None:
        with pytest.warns(UserWarning, match="alpha undefined: 1 distinct pairable value"):
            result = krippendorff_alpha(np.full((6, 1), 4.0), np.repeat([0, 1, 2], 2), np.tile([0, 1], 3))
        assert np.isnan(result.statistic[0])

    def test_recovers_single_rating_reliability(self) -> None:
        noise_sd = np.array([1.0, 2.0])  # single-rating reliability 1 / (1 + sd^2) = 0.5, 0.2
        ratings, keys, raters, sizes, true = _simulate(1500, noise_sd, seed=11)
        result = krippendorff_alpha(ratings, keys, raters, n_resamples=200, seed=0)
        rho = true.var(axis=0, ddof=1) / (true.var(axis=0, ddof=1) + noise_sd**2)
        m = sizes.mean()  # Fisher's large-sample SE of a one-way ICC with m ratings per unit
        se = np.sqrt(2 * (1 - rho) ** 2 * (1 + (m - 1) * rho) ** 2 / (m * (m - 1) * (sizes.size - 1)))
        np.testing.assert_array_less(np.abs(result.statistic - rho), 4 * se)
        np.testing.assert_allclose(result.ci_high - result.ci_low, 2 * 1.96 * se, rtol=0.4)


class TestSplitHalfReliability:
    def test_recovers_reliability_of_the_mean_label(self) -> None:
        noise_sd = np.array([1.0, 2.0, 3.0])
        ratings, keys, raters, sizes, true = _simulate(1500, noise_sd, seed=5)
        result = split_half_reliability(ratings, keys, raters, n_splits=20, n_resamples=200, seed=0)
        var_true = true.var(axis=0, ddof=1)
        rho = var_true / (var_true + noise_sd**2 * np.mean(1.0 / sizes))  # noise of a mean of m: sd^2 / m
        np.testing.assert_allclose(result.n_panel, sizes.size / np.sum(1.0 / sizes))
        r, k = result.half_correlation, result.spearman_brown_factor
        se = k * (1 - r**2) / (1 + (k - 1) * r) ** 2 / np.sqrt(sizes.size)  # delta method on SE(r) = (1 - r^2)/sqrt(n)
        np.testing.assert_array_less(np.abs(result.statistic - rho), 4 * se)
        np.testing.assert_allclose(result.ci_high - result.ci_low, 2 * 1.96 * se, rtol=0.4)
        assert np.all(np.diff(result.statistic) < 0)

    def test_even_panels_give_textbook_spearman_brown(self) -> None:
        rng = np.random.default_rng(0)
        keys, raters = np.repeat(np.arange(50), 6), np.tile(np.arange(6), 50)
        ratings = rng.standard_normal(50)[keys, None] + rng.standard_normal((300, 2))
        result = split_half_reliability(ratings, keys, raters, n_splits=5, n_resamples=0)
        np.testing.assert_allclose(result.spearman_brown_factor, 2.0)
        r = result.half_correlation
        np.testing.assert_allclose(result.statistic, 2 * r / (1 + r))
        assert np.all(np.isnan(result.ci_low)) and result.n_keys_used.tolist() == [50, 50]

    def test_perfect_agreement_with_missing_cells(self) -> None:
        table = np.tile(np.arange(1.0, 21.0) % 7 + 1, (6, 1))
        table[np.random.default_rng(0).random(table.shape) < 0.2] = NAN
        result = split_half_reliability(*_long(table), n_splits=10, n_resamples=20)
        assert result.statistic[0] == pytest.approx(1.0) and result.ci_low[0] == pytest.approx(1.0)

    def test_row_order_and_rescaling_change_nothing(self) -> None:
        ratings, keys, raters, _, _ = _simulate(60, np.array([1.0]), seed=1)
        order = np.random.default_rng(2).permutation(keys.size)
        settings = {"n_splits": 8, "n_resamples": 30, "seed": 4}
        base = split_half_reliability(ratings, keys, raters, **settings)
        moved = split_half_reliability(ratings[order] / 7, keys[order], raters[order], **settings)
        np.testing.assert_allclose([moved.statistic, moved.ci_low], [base.statistic, base.ci_low], atol=1e-12)

    def test_deterministic_per_seed(self) -> None:
        data = _simulate(80, np.array([1.5]), seed=3)[:3]
        first, again = (split_half_reliability(*data, n_splits=4, n_resamples=20, seed=9) for _ in range(2))
        other = split_half_reliability(*data, n_splits=4, n_resamples=20, seed=10)
        assert first.to_dict() == again.to_dict() and first.to_dict() != other.to_dict()

    def test_keep_puts_a_raters_repeats_in_one_half(self) -> None:
        # Two raters per key, each rating twice with identical rows: keep-mode halves are always one rater each,
        # so r is the same as in mean mode while the panel counts rows (4 vs 2).
        ratings, keys, raters = _long(_random_table(3, n_coders=2, n_units=40, p_missing=0.0))
        doubled = np.concatenate([ratings, ratings]), np.concatenate([keys, keys]), np.concatenate([raters, raters])
        kept = split_half_reliability(*doubled, repeats="keep", n_splits=3, n_resamples=0)
        mean = split_half_reliability(*doubled, repeats="mean", n_splits=3, n_resamples=0)
        np.testing.assert_allclose(kept.half_correlation, mean.half_correlation)
        np.testing.assert_allclose([kept.n_panel[0], mean.n_panel[0]], [4.0, 2.0])

    @pytest.mark.parametrize(
        ("overrides", "match"),
        [
            ({"repeats": "first"}, "repeats='first', expected one of \\('mean', 'keep'\\)"),
            ({"n_splits": 0}, "n_splits=0, expected an integer >= 1"),
            ({"n_resamples": -1}, "n_resamples=-1, expected an integer >= 0"),
            ({"confidence_level": 95}, "confidence_level=95, expected a number in \\(0, 1\\)"),
        ],
    )
    def test_bad_settings(self, overrides: dict, match: str) -> None:
        with pytest.raises(ValueError, match=match):
            split_half_reliability(*_long(_random_table(0)), **overrides)

    @pytest.mark.parametrize(
        ("arrays", "match"),
        [
            ((np.ones((4, 2)), np.arange(3), np.arange(4)), "key_index must hold 4 non-negative .* shape \\(3,\\)"),
            ((np.ones((4, 2)), np.arange(4), np.arange(4) - 1), "rater_index holds -1 at row 0, expected non-negative"),
            ((np.ones((4, 2)), np.arange(4.0), np.arange(4)), "key_index .* got dtype float64"),
            ((np.ones(4), np.arange(4), np.arange(4)), "ratings has shape \\(4,\\), expected \\(n_ratings > 0"),
            ((np.ones((4, 2)), np.arange(4), np.zeros(4, int)), "no key has two or more raters"),
        ],
    )
    def test_bad_arrays(self, arrays: tuple, match: str) -> None:
        with pytest.raises(ValueError, match=match):
            split_half_reliability(*arrays, n_resamples=0)


class TestReliability:
    def test_noise_ceilings_and_protocol(self) -> None:
        ratings, keys, raters, _, _ = _simulate(200, np.array([1.0, 2.0]), seed=8)
        result = reliability(ratings, keys, raters, dimensions=("a", "b"), n_splits=10, n_resamples=50, seed=2)
        np.testing.assert_array_equal(result.noise_ceiling, result.split_half.statistic)
        n = result.split_half.n_panel
        alpha = result.alpha.statistic
        np.testing.assert_allclose(result.noise_ceiling_from_alpha, n * alpha / (1 + (n - 1) * alpha))
        assert (result.n_keys, result.n_raters, result.n_ratings, result.n_repeated_pairs) == (200, 40, keys.size, 0)
        payload = json.loads(json.dumps(result.to_dict(), allow_nan=False))
        assert payload["dimensions"] == ["a", "b"] and payload["seed"] == 2
        assert payload["alpha"]["level_of_measurement"] == "interval" and payload["split_half"]["n_splits"] == 10

    def test_nan_becomes_none_in_to_dict(self) -> None:
        ratings, keys, raters, _, _ = _simulate(30, np.array([1.0]), seed=0)
        payload = reliability(ratings, keys, raters, n_splits=2, n_resamples=0).to_dict()
        assert payload["alpha"]["ci_low"] == [None] and json.dumps(payload, allow_nan=False)

    def test_spearman_brown(self) -> None:
        np.testing.assert_allclose(spearman_brown([0.5, 0.0, 1.0], 2.0), [2 / 3, 0.0, 1.0])
        np.testing.assert_allclose(spearman_brown(0.2, 8.0), 1.6 / 2.4)


@pytest.mark.real_data
class TestRealReliability:
    def test_percepiano_panel(self, real_data_dir: Path) -> None:
        from datamodules.dimensions import DIMENSIONS
        from datamodules.inputs.ratings import load_ratings

        table = load_ratings(real_data_dir / "percepiano" / "labels" / "total_2rounds.csv")
        arrays = (table.values, table.key_index, table.rater_index)
        result = reliability(*arrays, dimensions=DIMENSIONS, n_splits=10, n_resamples=100)
        assert (result.n_keys, result.n_raters, result.n_ratings) == (1202, 63, 14726)
        assert result.n_repeated_pairs == table.n_repeated_pairs > 0
        assert np.all((result.alpha.statistic > 0) & (result.alpha.statistic < 1))
        assert np.all(result.split_half.statistic > result.alpha.statistic)
        assert np.all(result.split_half.n_keys_used >= 1200)
