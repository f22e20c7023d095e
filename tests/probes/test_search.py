"""search_candidates: the defaults first, then distinct grid points, seeded."""

from __future__ import annotations

import pytest
from sklearn.model_selection import ParameterGrid

from probes.search import search_candidates

SPACE = {"lr": [1e-3, 1e-2, 1e-1], "width": [8, 32]}


class TestSearchCandidates:
    def test_defaults_first_then_distinct_grid_points(self) -> None:
        candidates = search_candidates({"lr": 1e-3, "width": 32, "other": 1}, SPACE, 4, seed=0)
        assert candidates[0] == {"lr": 1e-3, "width": 32}
        assert len({tuple(sorted(c.items())) for c in candidates}) == 4
        grid = [dict(point) for point in ParameterGrid(SPACE)]
        assert all(candidate in grid for candidate in candidates)

    def test_defaults_off_the_grid_are_kept_and_the_whole_grid_follows(self) -> None:
        candidates = search_candidates({"lr": 5e-4, "width": 16}, SPACE, 100, seed=0)
        assert candidates[0] == {"lr": 5e-4, "width": 16} and len(candidates) == 1 + 6

    def test_seeded(self) -> None:
        defaults = {"lr": 1e-3, "width": 8}
        assert search_candidates(defaults, SPACE, 4, seed=1) == search_candidates(defaults, SPACE, 4, seed=1)
        draws = {tuple(map(str, search_candidates(defaults, SPACE, 3, seed=seed))) for seed in range(10)}
        assert len(draws) > 1

    def test_one_candidate_is_no_search(self) -> None:
        assert search_candidates({"lr": 0.5, "width": 1}, SPACE, 1, seed=0) == [{"lr": 0.5, "width": 1}]

    @pytest.mark.parametrize(("defaults", "space", "n", "message"), [
        ({"lr": 1}, SPACE, 2, r"search_space names \['width'\], which are not hyper-parameters"),
        ({"lr": 1}, {"lr": []}, 2, r"search_space gives no values for \['lr'\]"),
        ({"lr": 1}, {"lr": [1]}, 0, "n_candidates must be a positive integer, got 0"),
        ({"lr": 1}, {"lr": [1]}, True, "n_candidates must be a positive integer, got True"),
    ])
    def test_bad_arguments(self, defaults, space, n, message) -> None:
        with pytest.raises(ValueError, match=message):
            search_candidates(defaults, space, n, seed=0)
