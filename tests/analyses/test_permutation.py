"""Tests of analyses/permutation.py: p-values, BH, the excerpt-block permutation and vectorised R2."""

from __future__ import annotations

import json

import numpy as np
import pytest
from statsmodels.stats.multitest import multipletests

from analyses.permutation import permutation_plan, permutation_rows, permutation_test_r2, permute_within_groups
from analyses.probe_metrics import pooled_r2_many

# 9 excerpts (26 rows): sizes 3 (x4), 2 (x3), 4 (x2), rows interleaved so groups are not contiguous.
SIZES = [3, 3, 3, 3, 2, 2, 2, 4, 4]
GROUPS = np.random.default_rng(0).permutation(np.repeat([f"x{k}" for k in range(len(SIZES))], SIZES))


def _source_group_of(groups, source):
    """For each group, the set of groups its rows' labels came from."""
    return {name: set(groups[source[groups == name]]) for name in np.unique(groups)}


class TestPermutationTestR2:
    def test_pvalue_formula_and_bh(self):
        rng = np.random.default_rng(1)
        null = rng.normal(0, 0.02, size=(99, 19))
        observed = np.linspace(-0.02, 0.1, 19)
        result = permutation_test_r2(observed, null, permutation_scheme="excerpt_blocks")
        expected = np.array([(1 + sum(null[b, j] >= observed[j] for b in range(99))) / 100 for j in range(19)])
        np.testing.assert_allclose(result.pvalue, expected)
        reject, corrected, _, _ = multipletests(expected, alpha=0.05, method="fdr_bh")
        np.testing.assert_allclose(result.pvalue_corrected, corrected)
        np.testing.assert_array_equal(result.audible, corrected < 0.05)
        assert result.audible[-1] and not result.audible[0]
        assert result.pvalue.min() == pytest.approx(1 / 100)  # never 0
        np.testing.assert_allclose(result.null_q95, np.quantile(null, 0.95, axis=0))
        assert result.n_resamples == 99 and "scheme excerpt_blocks" in result.protocol
        payload = json.loads(json.dumps(result.to_dict(include_null=True), allow_nan=False))
        assert len(payload["null_distribution"]) == 99 and payload["audible"][-1] is True

    def test_ties_count_against(self):
        result = permutation_test_r2(np.array([0.2]), np.array([[0.2], [0.2], [0.1]]), dimensions=["a"])
        assert result.pvalue.tolist() == [0.75]

    @pytest.mark.parametrize(
        ("observed", "null", "match"),
        [
            (np.zeros((19, 1)), np.zeros((5, 19)), "observed_r2 must be a finite"),
            (np.zeros(19), np.zeros((5, 18)), "null_r2 has 18 columns, expected 19"),
            (np.zeros(19), np.full((5, 19), np.nan), "hold no drawn permutation"),
            (np.zeros(19), np.full((5, 19), np.inf), "without inf"),
        ],
    )
    def test_errors(self, observed, null, match):
        with pytest.raises(ValueError, match=match):
            permutation_test_r2(observed, null)


class TestPermutationRows:
    @pytest.mark.parametrize("seed", range(5))
    def test_excerpt_blocks_move_whole_excerpts_between_equal_sizes(self, seed):
        source = permutation_rows(GROUPS, np.random.default_rng(seed))
        assert np.array_equal(np.sort(source), np.arange(GROUPS.size))
        origin = _source_group_of(GROUPS, source)
        assert all(len(names) == 1 for names in origin.values())  # one excerpt's block per excerpt
        mapped = {name: next(iter(names)) for name, names in origin.items()}
        assert sorted(mapped.values()) == sorted(mapped)  # a bijection between excerpts
        assert all(np.sum(GROUPS == name) == np.sum(GROUPS == mapped[name]) for name in mapped)

    def test_within_excerpt_keeps_every_excerpt(self):
        source = permutation_rows(GROUPS, 3, scheme="within_excerpt")
        np.testing.assert_array_equal(GROUPS[source], GROUPS)
        assert not np.array_equal(source, np.arange(GROUPS.size))

    def test_seeded(self):
        first = permutation_rows(GROUPS, np.random.default_rng(4))
        np.testing.assert_array_equal(first, permutation_rows(GROUPS, np.random.default_rng(4)))
        assert not np.array_equal(first, permutation_rows(GROUPS, np.random.default_rng(5)))

    def test_blocks_are_uniformly_reassigned(self):
        # Each size-3 excerpt should receive each of the 4 size-3 blocks with probability 1/4.
        rng = np.random.default_rng(6)
        target = GROUPS[np.flatnonzero(GROUPS == "x0")[0]]
        draws = [GROUPS[permutation_rows(GROUPS, rng)[GROUPS == target][0]] for _ in range(800)]
        frequencies = np.array([draws.count(f"x{k}") for k in range(4)]) / 800
        np.testing.assert_allclose(frequencies, 0.25, atol=0.06)  # 4 binomial sds at n=800

    def test_strata_confine_blocks(self):
        strata = np.isin(GROUPS, ["x0", "x1", "x4", "x5", "x7"]).astype(int)
        with pytest.warns(UserWarning, match="3 of 9 excerpts are alone"):
            sources = [permutation_rows(GROUPS, seed, strata=strata) for seed in range(5)]
        for source in sources:
            np.testing.assert_array_equal(strata[source], strata)
        plan = permutation_plan(GROUPS, strata=strata)
        assert (plan.n_groups, plan.n_classes, plan.n_fixed_groups) == (9, 6, 3)
        assert plan.fixed_groups == ("x6", "x8", "x7") and plan.n_fixed_rows == 10
        json.dumps(plan.to_dict())

    def test_plan_without_strata_has_no_fixed_excerpt(self):
        plan = permutation_plan(GROUPS)
        assert plan.n_fixed_groups == 0 and plan.n_classes == 3

    @pytest.mark.parametrize(
        ("kwargs", "match"),
        [
            ({"scheme": "rows"}, r"scheme must be one of \['excerpt_blocks', 'within_excerpt'\], got 'rows'"),
            ({"strata": np.arange(GROUPS.size) % 2}, "spans strata"),
            ({"strata": np.zeros(3)}, r"strata has shape \(3,\), expected \(26,\)"),
        ],
    )
    def test_errors(self, kwargs, match):
        with pytest.raises(ValueError, match=match):
            permutation_rows(GROUPS, 0, **kwargs)


class TestPermuteWithinGroups:
    def test_labels_follow_rows(self):
        labels = np.random.default_rng(7).uniform(size=(GROUPS.size, 19))
        permuted = permute_within_groups(labels, GROUPS, np.random.default_rng(8))
        np.testing.assert_array_equal(permuted, labels[permutation_rows(GROUPS, np.random.default_rng(8))])
        np.testing.assert_array_equal(np.sort(permuted, axis=0), np.sort(labels, axis=0))

    def test_errors(self):
        with pytest.raises(ValueError, match="labels has 5 rows but groups has 26 entries"):
            permute_within_groups(np.zeros((5, 2)), GROUPS, 0)
        with pytest.raises(TypeError, match="rng must be an int or a numpy.random.Generator"):
            permute_within_groups(np.zeros((26, 2)), GROUPS, "seed")


def _ridge_out_of_fold_operator(features, fold, alpha=1.0):
    """Matrix H with out-of-fold ridge predictions = H @ labels (ridge with intercept is linear in the labels)."""
    n_rows = features.shape[0]
    operator = np.zeros((n_rows, n_rows))
    for value in np.unique(fold):
        train, val = fold != value, fold == value
        mean = features[train].mean(axis=0)
        centred = features[train] - mean
        weights = np.linalg.solve(centred.T @ centred + alpha * np.eye(features.shape[1]), centred.T)
        n_train = int(train.sum())
        operator[np.ix_(val, train)] = (features[val] - mean) @ weights @ (np.eye(n_train) - 1 / n_train) + 1 / n_train
    return operator


class TestPermutationSchemeEndToEnd:
    """Refit a grouped-CV ridge on permuted labels (16 excerpts x 5 performances, 4 folds by excerpt)."""

    GROUPS = np.repeat(np.arange(16), 5)
    FOLD = GROUPS % 4

    def _pvalues(self, features, labels, rng, scheme, n_permutations=49):
        operator = _ridge_out_of_fold_operator(features, self.FOLD)
        observed = pooled_r2_many(labels, (operator @ labels)[None])[0]
        permuted = labels[np.stack([permutation_rows(self.GROUPS, rng, scheme=scheme) for _ in range(n_permutations)])]
        null = pooled_r2_many(permuted, np.einsum("ij,bjk->bik", operator, permuted))
        return permutation_test_r2(observed, null, dimensions=["a", "b", "c", "d"]).pvalue

    def test_calibrated_under_the_null(self):
        # Features and labels both clustered by excerpt but independent: P(p <= 0.1) should be about 0.1
        # (240 p-values, binomial sd 0.019).
        rng = np.random.default_rng(0)
        pvalues = []
        for _ in range(60):
            features = rng.normal(size=(16, 3))[self.GROUPS] + 0.3 * rng.normal(size=(80, 3))
            labels = rng.normal(size=(16, 4))[self.GROUPS] + 0.5 * rng.normal(size=(80, 4))
            pvalues.append(self._pvalues(features, labels, rng, "excerpt_blocks"))
        assert 0.03 <= np.mean(np.array(pvalues) <= 0.1) <= 0.19

    def test_excerpt_level_signal_is_detected_only_by_moving_blocks(self):
        # Labels depend on the features' excerpt component only: moving whole blocks breaks that link and
        # detects it; shuffling within excerpts keeps it in the null and (by design) does not.
        rng = np.random.default_rng(1)
        blocks, within = [], []
        for _ in range(10):
            excerpt_features = rng.normal(size=(16, 3))
            features = excerpt_features[self.GROUPS] + 0.3 * rng.normal(size=(80, 3))
            labels = 0.6 * (excerpt_features @ rng.normal(size=(3, 4)))[self.GROUPS] + 0.5 * rng.normal(size=(80, 4))
            blocks.append(self._pvalues(features, labels, rng, "excerpt_blocks"))
            within.append(self._pvalues(features, labels, rng, "within_excerpt"))
        assert np.mean(np.array(blocks) <= 0.05) >= 0.8
        assert np.mean(np.array(within) <= 0.05) <= 0.15
