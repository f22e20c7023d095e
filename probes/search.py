"""Hyper-parameter candidates for the tuned probers: the hand-set defaults first, then random grid points.

As HEAR's predictor does, a small grid is declared per prober and a few of its points are tried; here the prober's
own hyper-parameters are always candidate 0 (``n_candidates=1`` is no search at all), and the others are drawn
from the grid (:class:`sklearn.model_selection.ParameterGrid`) without replacement, in an order drawn with an
explicit seed. Every
candidate is trained on the fold's fit rows and judged on its inner validation rows (whole excerpts of the
training part); the fold's validation rows are never seen.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from sklearn.model_selection import ParameterGrid


def search_candidates(defaults: Mapping[str, Any], space: Mapping[str, Sequence], n_candidates: int,
                      seed: int) -> list[dict[str, Any]]:
    """The hyper-parameter settings to try.

    Parameters
    ----------
    defaults : mapping
        The prober's own value of every searched name: candidate 0.
    space : mapping of str to sequence
        Values per hyper-parameter; the grid is their product.
    n_candidates : int
        How many settings to return, at least 1 (at most the grid size, or the grid size plus one when the defaults
        are not a grid point).
    seed : int
        Seeds the draw.

    Returns
    -------
    list of dict
        ``n_candidates`` distinct settings over the names of ``space``.

    Raises
    ------
    ValueError
        If ``n_candidates`` is not a positive integer, ``space`` names a value ``defaults`` lacks, or has an
        empty value list.

    Examples
    --------
    >>> search_candidates({"lr": 1e-3}, {"lr": [1e-3, 1e-2]}, 2, seed=0)
    [{'lr': 0.001}, {'lr': 0.01}]
    """
    if isinstance(n_candidates, bool) or not isinstance(n_candidates, int) or n_candidates < 1:
        raise ValueError(f"n_candidates must be a positive integer, got {n_candidates!r}")
    missing = sorted(set(space) - set(defaults))
    if missing:
        raise ValueError(f"search_space names {missing}, which are not hyper-parameters of the prober")
    empty = sorted(name for name, values in space.items() if len(values) == 0)
    if empty:
        raise ValueError(f"search_space gives no values for {empty}")
    first = {name: defaults[name] for name in space}
    grid = list(ParameterGrid({name: list(values) for name, values in space.items()}))
    order = np.random.default_rng(seed).permutation(len(grid))
    others = [dict(grid[index]) for index in order if dict(grid[index]) != first]
    return [first, *others][:n_candidates]
