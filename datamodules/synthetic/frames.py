"""The frame encoder: how a 19-dimensional quality vector becomes MuQ-like frames ``(n_frames, dim)``.

Every frame is isotropic Gaussian noise (``frame_noise_std``) plus a per-segment offset (``segment_noise_std``)
plus an optional content vector, plus the planted signals. With ``z = (quality - quality_mean) / quality_std``:

* linear dimension ``d`` (direction ``u_d``): every frame is shifted by ``strength_d * z[d] * u_d``, so the
  segment mean carries ``z[d]`` linearly;
* sparse dimension ``d`` (direction ``v_d``): only the marked frames (``sparse_fraction`` of them, at least one)
  are shifted, by ``marker_strength * m + sparse_strength * z[d] * v_d``; the marker direction ``m`` tells an
  attention pool which frames to read, while the plain mean sees the shift diluted by the marked fraction;
* nonlinear dimension ``d`` (direction ``a_d``): every frame is shifted by ``s * c * (offset + z[d]) * a_d`` with
  a random sign ``s = +-1`` per segment, so ``E[mean | z] = 0`` (no linear signal in the mean, none in the std)
  while ``|mean @ a_d| = c * (offset + z[d])`` up to noise: one ReLU pair of an MLP on pooled stats reads it.

All directions are orthonormal (QR of a Gaussian matrix); content vectors are projected off them. The marker and
the sparse directions live on disjoint sets of frame coordinates, so the per-coordinate standard deviation over a
segment's frames (half of the stats-pooled features) carries no term linear in the sparse dimension's quality.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from datamodules.dimensions import N_DIMENSIONS
from datamodules.synthetic.spec import SyntheticSpec


@dataclass(frozen=True, slots=True)
class FrameEncoder:
    """Planted directions and strengths.

    Attributes
    ----------
    dim : int
        Frame width D.
    quality_mean, quality_std : ndarray of shape (19,)
        Standardisation of quality before encoding (from the labelled segments' quality).
    linear_dimensions : tuple of int
    linear_directions : ndarray of shape (n_linear, dim)
    linear_strengths : ndarray of shape (n_linear,)
    sparse_dimensions : tuple of int
    sparse_directions : ndarray of shape (n_sparse, dim)
    marker_direction : ndarray of shape (dim,)
    sparse_fraction, sparse_strength, marker_strength : float
    nonlinear_dimensions : tuple of int
    nonlinear_directions : ndarray of shape (n_nonlinear, dim)
        ``a_d`` per nonlinear dimension.
    nonlinear_strength, nonlinear_offset : float
    frame_noise_std, segment_noise_std : float
    """

    dim: int
    quality_mean: np.ndarray
    quality_std: np.ndarray
    linear_dimensions: tuple[int, ...]
    linear_directions: np.ndarray
    linear_strengths: np.ndarray
    sparse_dimensions: tuple[int, ...]
    sparse_directions: np.ndarray
    marker_direction: np.ndarray
    sparse_fraction: float
    sparse_strength: float
    marker_strength: float
    nonlinear_dimensions: tuple[int, ...]
    nonlinear_directions: np.ndarray
    nonlinear_strength: float
    nonlinear_offset: float
    frame_noise_std: float
    segment_noise_std: float

    @property
    def planted_basis(self) -> np.ndarray:
        """All planted directions as rows, shape ``(n_directions, dim)``."""
        return np.concatenate([self.linear_directions, self.sparse_directions, self.marker_direction[None],
                               self.nonlinear_directions])

    def standardize(self, quality: np.ndarray) -> np.ndarray:
        """``(quality - quality_mean) / quality_std``, same shape as ``quality`` (..., 19)."""
        return (quality - self.quality_mean) / self.quality_std

    def project_off(self, vectors: np.ndarray) -> np.ndarray:
        """``vectors`` (..., dim) with their components along every planted direction removed."""
        basis = self.planted_basis
        return vectors - (vectors @ basis.T) @ basis

    def mechanisms(self) -> dict[int, str]:
        """Mechanism per audible dimension: ``"linear"``, ``"sparse"`` or ``"nonlinear"``."""
        return {**{d: "linear" for d in self.linear_dimensions}, **{d: "sparse" for d in self.sparse_dimensions},
                **{d: "nonlinear" for d in self.nonlinear_dimensions}}

    def to_dict(self) -> dict:
        return {name: getattr(self, name) for name in self.__slots__}


@dataclass(frozen=True, slots=True)
class RenderedSegment:
    """Frames of one segment and which of them carry the sparse signal.

    Attributes
    ----------
    frames : ndarray of shape (n_frames, dim), float32
    marked_frames : ndarray of shape (n_marked,), int64
        Sorted indices of the marked frames (empty when the encoder has no sparse dimension).
    sign : int
        The nonlinear mechanism's random sign ``s`` (+1 or -1).
    """

    frames: np.ndarray
    marked_frames: np.ndarray
    sign: int


def make_frame_encoder(spec: SyntheticSpec, quality: np.ndarray, rng: np.random.Generator) -> FrameEncoder:
    """Draw orthonormal directions for ``spec``; standardise by the mean and std of ``quality`` (n, 19)."""
    sparse_directions, marker_direction = _sparse_directions(spec, rng)
    head = np.concatenate([sparse_directions, marker_direction[None]]) if spec.sparse_dimensions else sparse_directions
    n_linear, n_nonlinear = len(spec.linear_dimensions), len(spec.nonlinear_dimensions)
    draws = np.concatenate([head.T, rng.standard_normal((spec.dim, n_linear + n_nonlinear))], axis=1)
    basis, _ = np.linalg.qr(draws)  # (dim, n_directions): the first columns span the sparse and marker directions
    rest = basis[:, len(head) :].T  # (n_linear + n_nonlinear, dim), orthogonal to them
    return FrameEncoder(
        dim=spec.dim,
        quality_mean=quality.mean(axis=0),
        quality_std=quality.std(axis=0),
        linear_dimensions=spec.linear_dimensions,
        linear_directions=rest[:n_linear],
        linear_strengths=np.asarray(spec.linear_strengths, dtype=np.float64),
        sparse_dimensions=spec.sparse_dimensions,
        sparse_directions=sparse_directions,
        marker_direction=marker_direction,
        sparse_fraction=spec.sparse_fraction,
        sparse_strength=spec.sparse_strength,
        marker_strength=spec.marker_strength if spec.sparse_dimensions else 0.0,
        nonlinear_dimensions=spec.nonlinear_dimensions,
        nonlinear_directions=rest[n_linear:],
        nonlinear_strength=spec.nonlinear_strength,
        nonlinear_offset=spec.nonlinear_offset,
        frame_noise_std=spec.frame_noise_std,
        segment_noise_std=spec.segment_noise_std,
    )


def _sparse_directions(spec: SyntheticSpec, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Sparse directions ``(n_sparse, dim)`` and the marker ``(dim,)`` on disjoint sets of coordinates.

    A marked frame is shifted by ``marker_strength * m + sparse_strength * z * v``; the per-coordinate variance over
    a segment's frames then holds ``m_i * v_i * z``, linear in ``z``, unless ``m_i * v_i = 0`` for every coordinate
    ``i``. Disjoint supports keep the sparse dimension out of the stats-pooled std features (only ``z ** 2`` remains).
    """
    n_sparse = len(spec.sparse_dimensions)
    if not n_sparse:
        return np.zeros((0, spec.dim)), np.zeros(spec.dim)
    coordinates = rng.permutation(spec.dim)
    marker_support, sparse_support = coordinates[: spec.dim // 2], coordinates[spec.dim // 2 :]
    marker = np.zeros(spec.dim)
    marker[marker_support] = rng.standard_normal(marker_support.size)
    sparse = np.zeros((n_sparse, spec.dim))
    sparse[:, sparse_support] = np.linalg.qr(rng.standard_normal((sparse_support.size, n_sparse)))[0].T
    return sparse, marker / np.linalg.norm(marker)


def render_segment(
    quality: np.ndarray,
    n_frames: int,
    encoder: FrameEncoder,
    rng: np.random.Generator,
    content: np.ndarray | None = None,
) -> RenderedSegment:
    """Render one segment's frames from its quality vector; see the module docstring for the mechanisms.

    Parameters
    ----------
    quality : ndarray of shape (19,)
        Perceived quality on [0, 1] (label scale).
    n_frames : int
        Frames to render (25 per second).
    encoder : FrameEncoder
    rng : numpy.random.Generator
    content : ndarray of shape (dim,), optional
        Musical content added to every frame (should be orthogonal to the planted directions).

    Returns
    -------
    RenderedSegment

    Raises
    ------
    ValueError
        If ``quality`` is not of shape (19,) or ``n_frames`` < 1.
    """
    quality = np.asarray(quality, dtype=np.float64)
    if quality.shape != (N_DIMENSIONS,):
        raise ValueError(f"quality has shape {quality.shape}, expected ({N_DIMENSIONS},)")
    if isinstance(n_frames, bool) or not isinstance(n_frames, (int, np.integer)) or n_frames < 1:
        raise ValueError(f"n_frames={n_frames!r}, expected an integer >= 1")
    z = encoder.standardize(quality)  # (19,)
    frames = rng.standard_normal((n_frames, encoder.dim), dtype=np.float32) * np.float32(encoder.frame_noise_std)
    shift = rng.standard_normal(encoder.dim) * encoder.segment_noise_std  # (dim,)
    if content is not None:
        shift = shift + content
    shift += (encoder.linear_strengths * z[list(encoder.linear_dimensions)]) @ encoder.linear_directions
    sign = int(rng.choice((-1, 1)))
    for index, dimension in enumerate(encoder.nonlinear_dimensions):
        magnitude = encoder.nonlinear_strength * (encoder.nonlinear_offset + z[dimension])
        shift += sign * magnitude * encoder.nonlinear_directions[index]
    frames += shift.astype(np.float32)  # (n_frames, dim)
    marked = np.zeros(0, dtype=np.int64)
    if encoder.sparse_dimensions:
        n_marked = max(1, round(encoder.sparse_fraction * n_frames))
        marked = np.sort(rng.choice(n_frames, size=n_marked, replace=False))
        sparse = encoder.sparse_strength * z[list(encoder.sparse_dimensions)] @ encoder.sparse_directions
        frames[marked] += (encoder.marker_strength * encoder.marker_direction + sparse).astype(np.float32)
    return RenderedSegment(frames=frames, marked_frames=marked, sign=sign)


def render_frames(
    quality: np.ndarray,
    n_frames: int,
    encoder: FrameEncoder,
    rng: np.random.Generator,
    content: np.ndarray | None = None,
) -> np.ndarray:
    """Frames of one segment, shape ``(n_frames, dim)``, float32; :func:`render_segment` without the bookkeeping.

    Examples
    --------
    >>> spec = SyntheticSpec(dim=16)
    >>> rng = np.random.default_rng(0)
    >>> encoder = make_frame_encoder(spec, rng.uniform(0.2, 0.8, size=(50, 19)), rng)
    >>> render_frames(np.full(19, 0.5), 30, encoder, rng).shape
    (30, 16)
    """
    return render_segment(quality, n_frames, encoder, rng, content).frames
