"""The reliability figure: one marker per dimension and statistic, protocol in the title."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from analyses.plots_reliability import plot_reliability
from analyses.reliability import reliability


@pytest.fixture(scope="module")
def result():
    rng = np.random.default_rng(0)
    keys, raters = np.repeat(np.arange(40), 6), np.tile(np.arange(6), 40)
    ratings = np.round(rng.standard_normal((40, 3))[keys] + rng.standard_normal((240, 3)))
    return reliability(ratings, keys, raters, dimensions=("a", "b", "c"), n_splits=4, n_resamples=30, seed=1)


@pytest.mark.parametrize("sort", [False, True])
def test_figure(result, sort: bool, tmp_path: Path) -> None:
    figure = plot_reliability(result, sort=sort)
    (axis,) = figure.axes
    assert sorted(tick.get_text() for tick in axis.get_yticklabels()) == ["a", "b", "c"]
    title = axis.get_title()
    assert "6 raters, 40 keys, 240 ratings" in title and "30 resamples" in title and "4 random rater splits" in title
    assert len(figure.legends[0].get_texts()) == 2
    figure.savefig(tmp_path / "reliability.png")
    assert (tmp_path / "reliability.png").stat().st_size > 0
