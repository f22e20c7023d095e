"""The knobs of the synthetic PercePiano-like cache: :class:`SyntheticSpec`.

Every size, every planted effect and every noise level of :func:`~datamodules.synthetic.generate_synthetic_cache`
is a field here, so that ``(spec, seed)`` alone determines the cache (and is what ``ground_truth.json`` records).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass

from datamodules.dimensions import N_DIMENSIONS


@dataclass(frozen=True, kw_only=True)
class SyntheticSpec:
    """Sizes, planted structure and noise levels of a synthetic cache.

    Parameters
    ----------
    n_segments : int, default=384
        Labelled segments (PercePiano: 1,202); 8 per excerpt by default, enough for the tuned probers to recover
        every planted mechanism out of fold.
    n_works : int, default=4
        Works; keys read ``Synth_W{w}_{n_bars}bars_{player}_{segment}``.
    n_excerpts_per_work : int, default=12
        Excerpts (work + bars + segment) per work; segments are spread evenly over excerpts.
    n_players : int, default=8
        Numbered players ``"1"..."n_players"``; every excerpt also has one deadpan ``"Score"`` rendition.
    n_bars : int, default=8
        Bars per segment (a key token only).
    n_folds : int, default=4
        Cross-validation folds grouped by excerpt.
    held_out_fraction : float, default=0.15
        Fraction of excerpts whose keys are in no fold (the held-out test set).
    n_factors : int, default=4
        Latent factors behind the 19 labels.
    loading_range : (float, float), default=(0.6, 0.9)
        Range of each dimension's loading on its primary factor.
    cross_loading_std : float, default=0.1
        Standard deviation of cross-loadings of inaudible dimensions on the other silent factors (never on the
        audible factor: see :func:`~datamodules.synthetic.labels.make_label_model`).
    excerpt_variance : float, default=0.3
        Variance of the excerpt effect (shared by all performances of an excerpt, independent per dimension),
        on the latent score scale where a factor has variance 1.
    unique_variance : float, default=0.2
        Variance of the per-segment, per-dimension unique part of the latent score.
    label_spread : float, default=0.5
        Logistic slope: quality = 1/7 + 6/7 * sigmoid(offset + label_spread * standardised latent score).
    raters_per_key : (int, int), default=(4, 19)
        Inclusive range of kept rating rows per key.
    n_rater_pool : int, default=65
        Distinct raters (the ``user`` column).
    rater_noise_range : (float, float), default=(0.6, 2.2)
        Range of the planted per-dimension rater noise standard deviation, on the 1-7 scale.
    rater_bias_std : float, default=0.3
        Standard deviation of each rater's leniency (added to all 19 ratings of a row), 1-7 scale.
    missing_fraction : float, default=0.03
        Probability that a rating cell is missing (written blank or ``0.0``, half each).
    out_of_range_fraction : float, default=0.02
        Probability that a key gets one extra rating row holding an 8 or 9 (dropped by the loader).
    dim : int, default=32
        Embedding width D (MuQ: 1024).
    frames_per_segment : (int, int), default=(60, 120)
        Inclusive range of frames per segment (25 frames per second).
    linear_dimensions : tuple of int, default=(8, 10, 16, 3)
        Dimensions encoded as a shift of every frame along one direction, proportional to the standardised quality.
    linear_strengths : tuple of float, default=(0.8, 0.7, 0.6, 0.5)
        Shift per standard deviation of quality, one per linear dimension (frame noise has std ``frame_noise_std``).
    sparse_dimensions : tuple of int, default=(0,)
        Dimensions encoded only in a few marked frames.
    sparse_fraction : float, default=0.05
        Fraction of frames marked (at least one per segment).
    sparse_strength : float, default=4.0
        Shift of a marked frame along the sparse dimension's direction per standard deviation of quality (the
        plain mean sees ``sparse_fraction`` of it).
    marker_strength : float, default=8.0
        Shift of every marked frame along the marker direction (how attention finds them). Marker and sparse
        directions use disjoint coordinates, so the per-coordinate std carries no linear trace of the quality.
    nonlinear_dimensions : tuple of int, default=(4,)
        Dimensions encoded only in the magnitude of a mean shift with a random sign (no linear signal).
    nonlinear_strength : float, default=2.5
        Slope ``c`` of that shift: the mean along direction ``a`` is ``s * c * (nonlinear_offset + z)``, ``s = +-1``.
    nonlinear_offset : float, default=2.0
        Keeps ``nonlinear_offset + z`` positive (z is the standardised quality), so ``|mean @ a|`` rises with z.
    frame_noise_std : float, default=1.0
        Per-frame isotropic Gaussian noise.
    segment_noise_std : float, default=0.3
        Per-segment isotropic offset (recording conditions), shared by all frames of a segment.
    content_std : float, default=0.3
        Per-excerpt (per-video, per-recording) content vector, orthogonal to every planted direction.
    n_videos : int, default=4
        Masterclass videos in ``all_moments.jsonl``.
    moments_per_video : (int, int), default=(6, 10)
        Inclusive range of teacher stops per video.
    playing_window_s : (float, float), default=(4.0, 12.0)
        Range of the playing window before a stop, in seconds.
    feedback_s : (float, float), default=(20.0, 60.0)
        Range of a feedback's length, in seconds.
    continue_gap_s : (float, float), default=(1.0, 16.0)
        Range of the playing between a feedback's end and the next playing window, in seconds (kept as a
        CONTINUE segment when at least 5 s).
    repeated_window_fraction : float, default=0.1
        Probability that a moment reuses the previous moment's playing window (as in the real file).
    stop_dimensions : tuple of int, default=(8, 10)
        Audible dimensions on which STOP segments have lower quality than CONTINUE segments.
    stop_shift : float, default=1.5
        How much lower, in standard deviations of the latent score.
    n_competition_performers : int, default=8
        Performers ranked 1 (best) to n.
    competition_rounds : tuple of (str, int), default=(("stage2", 8), ("stage3", 6), ("final", 4))
        Rounds and how many of the best performers play in each; placement is 1..k within a round.
    placement_dimensions : tuple of int, default=(8, 16)
        Audible dimensions whose quality increases with better placement.
    placement_slope : float, default=2.0
        Latent-score shift of the best performer (+slope) to the worst (-slope), linear in rank.
    recording_frames : (int, int), default=(100, 200)
        Inclusive range of frames per competition recording (``duration_seconds`` = frames / 25).
    n_duplicate_recording_lines : int, default=3
        Lines of ``recordings.jsonl`` written twice.

    Raises
    ------
    ValueError
        Naming the field and value, for sizes below their minimum, ranges with ``low > high``, fractions outside
        [0, 1], negative noise levels, dimension indices outside 0-18, a dimension in two mechanisms, more
        planted directions than ``dim``, or downstream dimensions that are not audible.

    Examples
    --------
    >>> SyntheticSpec().n_segments
    384
    >>> SyntheticSpec.real_scale().dim
    1024
    """

    n_segments: int = 384
    n_works: int = 4
    n_excerpts_per_work: int = 12
    n_players: int = 8
    n_bars: int = 8
    n_folds: int = 4
    held_out_fraction: float = 0.15
    n_factors: int = 4
    loading_range: tuple[float, float] = (0.6, 0.9)
    cross_loading_std: float = 0.1
    excerpt_variance: float = 0.3
    unique_variance: float = 0.2
    label_spread: float = 0.5
    raters_per_key: tuple[int, int] = (4, 19)
    n_rater_pool: int = 65
    rater_noise_range: tuple[float, float] = (0.6, 2.2)
    rater_bias_std: float = 0.3
    missing_fraction: float = 0.03
    out_of_range_fraction: float = 0.02
    dim: int = 32
    frames_per_segment: tuple[int, int] = (60, 120)
    linear_dimensions: tuple[int, ...] = (8, 10, 16, 3)
    linear_strengths: tuple[float, ...] = (0.8, 0.7, 0.6, 0.5)
    sparse_dimensions: tuple[int, ...] = (0,)
    sparse_fraction: float = 0.05
    sparse_strength: float = 4.0
    marker_strength: float = 8.0
    nonlinear_dimensions: tuple[int, ...] = (4,)
    nonlinear_strength: float = 2.5
    nonlinear_offset: float = 2.0
    frame_noise_std: float = 1.0
    segment_noise_std: float = 0.3
    content_std: float = 0.3
    n_videos: int = 4
    moments_per_video: tuple[int, int] = (6, 10)
    playing_window_s: tuple[float, float] = (4.0, 12.0)
    feedback_s: tuple[float, float] = (20.0, 60.0)
    continue_gap_s: tuple[float, float] = (1.0, 16.0)
    repeated_window_fraction: float = 0.1
    stop_dimensions: tuple[int, ...] = (8, 10)
    stop_shift: float = 1.5
    n_competition_performers: int = 8
    competition_rounds: tuple[tuple[str, int], ...] = (("stage2", 8), ("stage3", 6), ("final", 4))
    placement_dimensions: tuple[int, ...] = (8, 16)
    placement_slope: float = 2.0
    recording_frames: tuple[int, int] = (100, 200)
    n_duplicate_recording_lines: int = 3

    def __post_init__(self) -> None:
        _check_sizes(self)
        _check_ranges(self)
        _check_mechanisms(self)

    @classmethod
    def real_scale(cls, **overrides: object) -> SyntheticSpec:
        """PercePiano's size: 1,202 segments of 150-450 frames (about 300) of width 1,024, 22 players.

        Masterclass and competition sizes follow the real files too (5 videos, about 65 moments; 11 performers
        in each of 3 rounds). ``overrides`` replace any field.
        """
        values: dict[str, object] = dict(
            n_segments=1202, n_works=8, n_excerpts_per_work=16, n_players=21, dim=1024,
            frames_per_segment=(150, 450), n_videos=5, moments_per_video=(10, 16),
            n_competition_performers=11, competition_rounds=(("stage2", 11), ("stage3", 11), ("final", 11)),
            recording_frames=(750, 1500),
        )
        values.update(overrides)
        return cls(**values)

    @property
    def n_excerpts(self) -> int:
        """Excerpts in all: ``n_works * n_excerpts_per_work``."""
        return self.n_works * self.n_excerpts_per_work

    @property
    def audible_dimensions(self) -> tuple[int, ...]:
        """Dimensions encoded in the frames by any mechanism, sorted."""
        return tuple(sorted({*self.linear_dimensions, *self.sparse_dimensions, *self.nonlinear_dimensions}))

    @property
    def n_directions(self) -> int:
        """Orthonormal frame directions the planted mechanisms use (one marker included)."""
        marker = 1 if self.sparse_dimensions else 0
        return len(self.linear_dimensions) + len(self.sparse_dimensions) + marker + len(self.nonlinear_dimensions)

    def to_dict(self) -> dict:
        """JSON form (tuples become lists), as recorded in ``ground_truth.json``."""
        return json.loads(json.dumps(asdict(self)))


def _fail(name: str, value: object, expected: str) -> ValueError:
    return ValueError(f"SyntheticSpec.{name}={value!r}, expected {expected}")


def _check_sizes(spec: SyntheticSpec) -> None:
    minimum = {"n_works": 1, "n_excerpts_per_work": 1, "n_players": 1, "n_bars": 1, "n_folds": 2, "n_factors": 1,
               "n_rater_pool": 1, "dim": 1, "n_videos": 1, "n_competition_performers": 2,
               "n_duplicate_recording_lines": 0}
    for name, low in minimum.items():
        value = getattr(spec, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise _fail(name, value, f"an integer >= {low}")
    if spec.n_factors > N_DIMENSIONS:
        raise _fail("n_factors", spec.n_factors, f"at most {N_DIMENSIONS}")
    n_excerpts = spec.n_excerpts
    if not n_excerpts <= spec.n_segments <= n_excerpts * (spec.n_players + 1):
        raise _fail("n_segments", spec.n_segments, f"between n_excerpts={n_excerpts} and n_excerpts * "
                    f"(n_players + 1)={n_excerpts * (spec.n_players + 1)} (one deadpan plus numbered players each)")
    n_in_folds = n_excerpts - round(spec.held_out_fraction * n_excerpts)
    if n_in_folds < spec.n_folds:
        raise _fail("n_folds", spec.n_folds, f"at most the {n_in_folds} excerpts left after holding out "
                    f"held_out_fraction={spec.held_out_fraction}")
    if spec.raters_per_key[1] > spec.n_rater_pool:
        raise _fail("raters_per_key", spec.raters_per_key, f"a maximum <= n_rater_pool={spec.n_rater_pool}")
    for name, size in spec.competition_rounds:
        if not isinstance(name, str) or not name or not 2 <= size <= spec.n_competition_performers:
            raise _fail("competition_rounds", spec.competition_rounds, "(round name, size) pairs with 2 <= size "
                        f"<= n_competition_performers={spec.n_competition_performers}")


def _check_ranges(spec: SyntheticSpec) -> None:
    positive_ranges = ("loading_range", "raters_per_key", "rater_noise_range", "frames_per_segment",
                       "moments_per_video", "playing_window_s", "feedback_s", "continue_gap_s", "recording_frames")
    for name in positive_ranges:
        low, high = getattr(spec, name)
        if not (math.isfinite(low) and math.isfinite(high) and 0 < low <= high):
            raise _fail(name, getattr(spec, name), "a (low, high) pair with 0 < low <= high")
    for name in ("raters_per_key", "frames_per_segment", "moments_per_video", "recording_frames"):
        if not all(isinstance(value, int) and not isinstance(value, bool) for value in getattr(spec, name)):
            raise _fail(name, getattr(spec, name), "a pair of integers")
    for name in ("held_out_fraction", "missing_fraction", "out_of_range_fraction", "sparse_fraction",
                 "repeated_window_fraction"):
        value = getattr(spec, name)
        if not 0.0 <= value <= 1.0:
            raise _fail(name, value, "a fraction in [0, 1]")
    if spec.missing_fraction >= 0.5:
        raise _fail("missing_fraction", spec.missing_fraction, "a fraction below 0.5")
    for name in ("cross_loading_std", "excerpt_variance", "unique_variance", "label_spread", "rater_bias_std",
                 "sparse_strength", "marker_strength", "nonlinear_strength", "nonlinear_offset", "frame_noise_std",
                 "segment_noise_std", "content_std", "stop_shift", "placement_slope"):
        value = getattr(spec, name)
        if not (math.isfinite(value) and value >= 0):
            raise _fail(name, value, "a finite number >= 0")


def _check_mechanisms(spec: SyntheticSpec) -> None:
    groups = ("linear_dimensions", "sparse_dimensions", "nonlinear_dimensions")
    seen: dict[int, str] = {}
    for name in (*groups, "stop_dimensions", "placement_dimensions"):
        for index in getattr(spec, name):
            if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < N_DIMENSIONS:
                raise _fail(name, getattr(spec, name), f"dimension indices in 0..{N_DIMENSIONS - 1}")
    for name in groups:
        for index in getattr(spec, name):
            if index in seen:
                raise _fail(name, getattr(spec, name), f"dimensions in one mechanism only ({index} is also in "
                            f"{seen[index]})")
            seen[index] = name
    if len(spec.linear_strengths) != len(spec.linear_dimensions):
        raise _fail("linear_strengths", spec.linear_strengths, f"one strength per linear dimension "
                    f"({len(spec.linear_dimensions)})")
    if any(not (math.isfinite(value) and value >= 0) for value in spec.linear_strengths):
        raise _fail("linear_strengths", spec.linear_strengths, "finite numbers >= 0")
    if spec.n_directions > spec.dim:
        raise _fail("dim", spec.dim, f"at least the {spec.n_directions} directions the planted mechanisms need")
    if spec.sparse_dimensions and spec.dim // 2 < len(spec.sparse_dimensions):
        raise _fail("dim", spec.dim, f"at least {2 * len(spec.sparse_dimensions)} (the marker and the sparse "
                    "directions use disjoint halves of the coordinates)")
    for name in ("stop_dimensions", "placement_dimensions"):
        outside = sorted(set(getattr(spec, name)) - set(spec.audible_dimensions))
        if outside:
            raise _fail(name, getattr(spec, name), f"audible dimensions {list(spec.audible_dimensions)} "
                        f"(not {outside})")
