"""The latent label model: factors, loadings, group (excerpt) effects and the squashing into quality on [1/7, 1].

A segment's latent score on dimension ``d`` is

``score[d] = sum_k loadings[d, k] * factor[k] + group_effect[d] + unique[d]``

with ``factor ~ N(0, I)``, ``group_effect ~ N(0, excerpt_variance)`` shared by all segments of a group (an
excerpt, a video, a performer) and ``unique ~ N(0, unique_variance)``. The score is divided by its theoretical
standard deviation and squashed: ``quality[d] = 1/7 + 6/7 * sigmoid(offset[d] + label_spread * score[d] + shift[d])``,
so ``7 * quality`` lies in (1, 7), the rating scale. Quality is what raters perceive and what frames encode.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from datamodules.dimensions import N_DIMENSIONS
from datamodules.synthetic.spec import SyntheticSpec


@dataclass(frozen=True, slots=True)
class LabelModel:
    """Planted label structure.

    Attributes
    ----------
    loadings : ndarray of shape (19, n_factors)
        Primary loadings positive; audible dimensions have no cross-loadings, silent-factor dimensions cross-load on
        the other silent factors only.
    primary_factor : ndarray of shape (19,), int64
        -1 for a dimension on no factor (sparse and nonlinear dimensions).
    silent_factors : tuple of int
        Factors on which no audible dimension loads: their dimensions leave no trace in the frames.
    offsets : ndarray of shape (19,)
        Logistic offsets (set each dimension's mean quality).
    score_std : ndarray of shape (19,)
        Theoretical standard deviation of the raw latent score.
    excerpt_variance, unique_variance, label_spread : float
    """

    loadings: np.ndarray
    primary_factor: np.ndarray
    silent_factors: tuple[int, ...]
    offsets: np.ndarray
    score_std: np.ndarray
    excerpt_variance: float
    unique_variance: float
    label_spread: float

    @property
    def n_factors(self) -> int:
        return int(self.loadings.shape[1])

    def sample_scores(self, group_index: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Standardised latent scores, shape ``(n, 19)``, for segments in groups ``group_index`` (shape (n,)).

        Segments with the same group index share the group effect.
        """
        group_index = np.asarray(group_index, dtype=np.int64)
        n_groups = int(group_index.max()) + 1 if group_index.size else 0
        factors = rng.standard_normal((group_index.size, self.n_factors))  # (n, n_factors)
        effects = rng.standard_normal((n_groups, N_DIMENSIONS)) * np.sqrt(self.excerpt_variance)
        unique = rng.standard_normal((group_index.size, N_DIMENSIONS)) * np.sqrt(self.unique_variance)
        return (factors @ self.loadings.T + effects[group_index] + unique) / self.score_std  # (n, 19)

    def quality(self, scores: np.ndarray, shift: np.ndarray | None = None) -> np.ndarray:
        """Quality on (1/7, 1) from standardised scores ``(n, 19)``; ``shift`` (n, 19) or (19,) adds to the score."""
        scores = scores if shift is None else scores + shift
        return 1.0 / 7.0 + 6.0 / 7.0 / (1.0 + np.exp(-(self.offsets + self.label_spread * scores)))

    def to_dict(self) -> dict:
        return {
            "n_factors": self.n_factors,
            "loadings": self.loadings,
            "primary_factor": self.primary_factor,
            "silent_factors": list(self.silent_factors),
            "offsets": self.offsets,
            "score_std": self.score_std,
            "excerpt_variance": self.excerpt_variance,
            "unique_variance": self.unique_variance,
            "label_spread": self.label_spread,
            "formula": "quality = 1/7 + 6/7 * sigmoid(offsets + label_spread * (F @ loadings.T + excerpt + unique)"
                       " / score_std)",
        }


def make_label_model(spec: SyntheticSpec, rng: np.random.Generator) -> LabelModel:
    """Draw loadings and offsets for ``spec`` so that exactly the planted dimensions are predictable from frames.

    Factor 0 is the *audible* factor when there are linear dimensions: the linear dimensions load on it and no other
    dimension does, so their shared variance is itself encoded. Sparse and nonlinear dimensions load on no factor
    (their latent score is the excerpt effect plus a unique part): no other label carries them, so a linear probe
    cannot reach them through a correlated linear dimension. The inaudible dimensions fill the remaining *silent*
    factors evenly (in random order), with N(0, cross_loading_std) cross-loadings on the other silent factors only;
    with no silent factor they load on none. Every inaudible dimension's quality is then independent of every
    audible dimension's quality, hence of the frames. Primary loadings are uniform on ``loading_range``.
    """
    primary = _assign_factors(spec, rng)
    silent = tuple(range(1 if spec.linear_dimensions else 0, spec.n_factors))
    loadings = np.zeros((N_DIMENSIONS, spec.n_factors))
    on_factor = np.flatnonzero(primary >= 0)
    loadings[on_factor, primary[on_factor]] = rng.uniform(*spec.loading_range, size=on_factor.size)
    for dimension in on_factor:
        if primary[dimension] in silent:
            for factor in silent:
                if factor != primary[dimension]:
                    loadings[dimension, factor] = rng.normal(0.0, spec.cross_loading_std)
    score_std = np.sqrt((loadings**2).sum(axis=1) + spec.excerpt_variance + spec.unique_variance)
    return LabelModel(
        loadings=loadings,
        primary_factor=primary,
        silent_factors=silent,
        offsets=rng.uniform(-0.6, 0.6, size=N_DIMENSIONS),
        score_std=score_std,
        excerpt_variance=spec.excerpt_variance,
        unique_variance=spec.unique_variance,
        label_spread=spec.label_spread,
    )


def _assign_factors(spec: SyntheticSpec, rng: np.random.Generator) -> np.ndarray:
    """Primary factor per dimension, shape (19,): 0 for linear dimensions, -1 for sparse, nonlinear and (without
    silent factors) inaudible ones, silent factors dealt evenly to the inaudible dimensions in random order."""
    primary = np.full(N_DIMENSIONS, -1, dtype=np.int64)
    primary[list(spec.linear_dimensions)] = 0
    first_silent = 1 if spec.linear_dimensions else 0
    inaudible = rng.permutation(np.setdiff1d(np.arange(N_DIMENSIONS), spec.audible_dimensions))
    n_silent = spec.n_factors - first_silent
    if n_silent > 0:
        primary[inaudible] = first_silent + np.arange(inaudible.size) % n_silent
    return primary
