"""The STOP AUC figure draws one bar per feature set with its CI and the baselines."""

from __future__ import annotations

from analyses.plots_downstream import plot_stop_auc


def test_one_bar_per_configuration_with_baselines() -> None:
    result = {"results": {"all_19_dims": {"auc": 0.7, "ci_low": 0.6, "ci_high": 0.8},
                          "category_means": {"auc": 0.55, "ci_low": 0.4, "ci_high": 0.7}},
              "baseline_auc": 0.65, "chance_auc": 0.5, "n_segments": 40, "n_stop": 25, "n_continue": 15}
    figure = plot_stop_auc(result)
    axes = figure.axes[0]
    assert [patch.get_width() for patch in axes.patches] == [0.7, 0.55]
    assert [label.get_text() for label in axes.get_yticklabels()] == ["all_19_dims", "category_means"]
    vertical = {line.get_xdata()[0] for line in axes.lines if line.get_linestyle() in (":", "--")}
    assert vertical == {0.5, 0.65}
    assert "40 segments" in axes.get_title()
