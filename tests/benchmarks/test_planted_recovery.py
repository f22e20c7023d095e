"""On the synthetic default cache the tuned probers hear exactly the planted dimensions, each by its mechanism.

The cache is the one ``python -m benchmarks.run`` builds without ``--cache`` (``SyntheticSpec()``, seed 0), written to
``tmp_path``. ``ground_truth.json`` says which dimensions are audible, by which mechanism, and which tuned probers are
designed to recover each (``recovered_by``). Thresholds:

* a predictor independent of the labels has out-of-fold R2 at most ``r ** 2`` (``r`` its sample correlation with
  the labels: the best affine map of it reaches that), and ``n * r ** 2`` is chi-square with 1 degree of freedom,
  so with ``n`` out-of-fold rows no inaudible (prober, dimension) pair may exceed the chi-square quantile at
  ``1 - 0.01 / n_pairs`` divided by ``n`` (about 0.04 at n = 328; Bonferroni over the pairs);
* a planted dimension must clear that bound three times over with each prober designed to recover it.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.stats import chi2

from analyses.probe_metrics import r2_per_dimension
from analyses.uncertainty import paired_group_bootstrap
from benchmarks.orchestration.cross_validation import cross_validate
from datamodules.cache import open_cache
from datamodules.synthetic import GROUND_TRUTH_FILE, SyntheticSpec, generate_synthetic_cache

TUNED = ("ridge_tuned", "attention_es", "mlp_es")
TRAINED = {"attention_es", "mlp_es"}


def _kwargs(name: str) -> dict:
    return {"accelerator": "cpu"} if name in TRAINED else {}


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """One intra-op thread: the default probers are small, and thread hand-offs dominate on a shared CPU."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = generate_synthetic_cache(tmp_path_factory.mktemp("synthetic") / "cache", SyntheticSpec(), seed=0)
    cache = open_cache(root)
    truth = json.loads((root / GROUND_TRUTH_FILE).read_text())
    results = {name: cross_validate(name, cache, None, seed=0, **_kwargs(name)) for name in (*TUNED, "ridge")}
    y_true, _, _ = results["ridge"].scored(cache.labels)
    r2 = {name: r2_per_dimension(*result.scored(cache.labels)[:2]) for name, result in results.items()}
    audible = {entry["index"]: entry for entry in truth["audible_dimensions"].values()}
    inaudible = [truth["dimensions"].index(name) for name in truth["inaudible_dimensions"]]
    bound = chi2.ppf(1 - 0.01 / (len(TUNED) * len(inaudible)), df=1) / len(y_true)
    return {"cache": cache, "truth": truth, "results": results, "r2": r2, "audible": audible,
            "inaudible": inaudible, "bound": bound}


class TestPlantedRecovery:
    def test_ground_truth_partitions_the_dimensions(self, planted) -> None:
        assert sorted(planted["audible"]) == list(SyntheticSpec().audible_dimensions)
        assert sorted([*planted["audible"], *planted["inaudible"]]) == list(range(19))
        assert {entry["mechanism"] for entry in planted["audible"].values()} == {"linear", "sparse", "nonlinear"}

    def test_each_planted_dimension_is_heard_by_its_probers(self, planted) -> None:
        for dimension, entry in planted["audible"].items():
            for name in entry["recovered_by"]:
                assert planted["r2"][name][dimension] > 3 * planted["bound"], (name, dimension, entry["mechanism"])

    def test_no_prober_hears_an_inaudible_dimension(self, planted) -> None:
        for name in TUNED:
            worst = planted["inaudible"][int(np.argmax(planted["r2"][name][planted["inaudible"]]))]
            assert planted["r2"][name][worst] < planted["bound"], (name, worst)

    def test_flagged_dimensions_are_exactly_the_planted_ones(self, planted) -> None:
        best = np.max([planted["r2"][name] for name in TUNED], axis=0)  # (19,)
        assert set(np.flatnonzero(best > planted["bound"]).tolist()) == set(planted["audible"])

    def test_mechanisms_need_their_probers(self, planted) -> None:
        """Stats-pooled linear Ridge hears neither the sparse-frame nor the nonlinear dimension."""
        for dimension, entry in planted["audible"].items():
            if entry["mechanism"] != "linear":
                assert planted["r2"]["ridge_tuned"][dimension] < planted["bound"], (dimension, entry["mechanism"])

    def test_attention_beats_stats_pooled_ridge_on_the_sparse_dimension(self, planted) -> None:
        cache, results = planted["cache"], planted["results"]
        sparse = [d for d, entry in planted["audible"].items() if entry["mechanism"] == "sparse"]
        y_true, attention, _ = results["attention_es"].scored(cache.labels)
        mask = results["attention_es"].fold_of_row >= 0
        excerpts = np.asarray(cache.excerpts)[mask]
        for name in ("ridge_tuned", "ridge"):
            _, ridge, _ = results[name].scored(cache.labels)
            paired = paired_group_bootstrap(y_true[:, sparse], attention[:, sparse], ridge[:, sparse], excerpts,
                                            n_resamples=1000, seed=0, dimensions=[f"d{d}" for d in sparse])
            assert np.all(paired.ci_low > 0), (name, paired.statistic, paired.ci_low)

    def test_seeded_reruns_repeat_the_numbers(self, planted) -> None:
        cache = planted["cache"]
        for name in TUNED:
            folds = None if name not in TRAINED else [0]
            again = cross_validate(name, cache, None, seed=0, folds=folds, **_kwargs(name))
            rows = again.fold_of_row >= 0
            np.testing.assert_array_equal(again.predictions[rows], planted["results"][name].predictions[rows])
