"""Tests of analyses/plots_probing.py: the figure builds, carries its protocol and refuses mismatched inputs."""

from __future__ import annotations

import numpy as np
import pytest

from analyses.plots_probing import plot_probe_r2
from analyses.uncertainty import group_bootstrap_ci

NAMES = ["a", "b", "c"]


def _bootstrap(seed, metric="r2"):
    rng = np.random.default_rng(seed)
    groups = np.repeat(np.arange(10), 3)
    y_true = rng.uniform(size=(30, 3))
    return group_bootstrap_ci(y_true, y_true + rng.normal(0, 0.1, size=(30, 3)), groups, metric=metric,
                              n_resamples=50, seed=seed, dimensions=NAMES)


class TestPlotProbeR2:
    def test_builds_and_saves(self, tmp_path):
        figure = plot_probe_r2(
            {"ridge": _bootstrap(0), "mlp": _bootstrap(1)},
            n_folds=4,
            baselines={"training mean": np.zeros(3), "excerpt identity ceiling": np.full(3, 0.3)},
            noise_ceiling=np.full(3, 0.8),
            data_description="synthetic",
        )
        title = figure.axes[0].get_title()
        assert "4 folds" in title and "50 excerpt-bootstrap resamples, 95% percentile CI, seed 0" in title
        assert "seed 1" in title and "synthetic" in title
        assert [tick.get_text() for tick in figure.axes[0].get_xticklabels()] == NAMES
        figure.savefig(tmp_path / "r2.png")
        assert (tmp_path / "r2.png").stat().st_size > 0

    @pytest.mark.parametrize(
        ("kwargs", "match"),
        [
            ({"probers": {}}, "probers is empty"),
            ({"probers": {"p": _bootstrap(0, metric="pearson")}}, r"probers\['p'\]: metric 'pearson'"),
            ({"noise_ceiling": np.zeros(2)}, r"noise_ceiling has shape \(2,\), expected \(3,\)"),
            ({"baselines": {"mean": np.zeros(4)}}, r"baselines\['mean'\] has shape \(4,\), expected \(3,\)"),
        ],
    )
    def test_errors(self, kwargs, match):
        arguments = {"probers": {"ridge": _bootstrap(0)}, "n_folds": 4, **kwargs}
        with pytest.raises(ValueError, match=match):
            plot_probe_r2(**arguments)


def test_probing_figure_says_which_probers_are_seed_ensembles():
    from analyses.callbacks.probing import _seeds_line

    assert _seeds_line({}) == ""
    line = _seeds_line({"mlp_es": {"seeds": [0, 1, 2]}, "attention_es": {"seeds": [0, 1, 2]}})
    assert line == "; mlp_es, attention_es: predictions averaged over 3 seeds"
