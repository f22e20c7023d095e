"""One key's panel of raters, shared by the reliability statistics, and their bootstrap helpers.

Ratings arrive in long format (one row per rating with its key and rater, as in
:class:`datamodules.inputs.ratings.RatingTable`); :class:`RatingPanel` packs them per key and panel slot. ``repeats``
says what a panel member is (see :mod:`analyses.reliability`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

REPEATS = ("mean", "keep")


@dataclass(frozen=True, slots=True)
class RatingPanel:
    """Per key and panel slot: summed values and counts (``(n_keys, n_slots, n_dimensions)``), and alpha's units.

    Attributes
    ----------
    sums, counts : ndarray of shape (n_keys, n_slots, n_dimensions)
        Per panel member (slot) of each key: summed ratings and their count (repeats averaged first when
        ``repeats="mean"``: then sums are means and counts 0/1).
    n_members : ndarray of shape (n_keys,)
        Panel members per key.
    unit_values : ndarray of shape (n_keys, n_values, n_dimensions)
        What alpha pairs within a key (member means, or every rating row with ``repeats="keep"``), NaN-padded.
    n_repeated_pairs : int
        (key, rater) pairs rated more than once.
    repeats : str
    """

    sums: np.ndarray
    counts: np.ndarray
    n_members: np.ndarray
    unit_values: np.ndarray
    n_repeated_pairs: int
    repeats: str

    @classmethod
    def build(cls, ratings: np.ndarray, key_index: np.ndarray, rater_index: np.ndarray, repeats: str) -> RatingPanel:
        ratings, keys, raters = validate_ratings(ratings, key_index, rater_index, repeats)
        _, keys = np.unique(keys, return_inverse=True)  # keys without ratings are not units
        pairs, pair_of_row, pair_sizes = np.unique(
            keys * (raters.max() + 1) + raters, return_inverse=True, return_counts=True
        )
        pair_key = keys[np.unique(pair_of_row, return_index=True)[1]]
        n_members = np.bincount(pair_key)
        slot = np.arange(pairs.size) - np.concatenate(([0], np.cumsum(n_members)[:-1]))[pair_key]
        shape = (n_members.size, int(n_members.max()), ratings.shape[1])
        sums, counts = np.zeros(shape), np.zeros(shape)
        np.add.at(sums, (pair_key[pair_of_row], slot[pair_of_row]), np.nan_to_num(ratings))
        np.add.at(counts, (pair_key[pair_of_row], slot[pair_of_row]), ~np.isnan(ratings))
        with np.errstate(invalid="ignore", divide="ignore"):
            means = np.where(counts > 0, sums / counts, np.nan)
        if repeats == "mean":
            sums, counts, unit_values = np.nan_to_num(means), (counts > 0).astype(np.float64), means
        else:
            unit_values = pack_rows(ratings, keys)
        return cls(sums, counts, n_members, unit_values, int(np.count_nonzero(pair_sizes > 1)), repeats)


def validate_ratings(
    ratings: np.ndarray, key_index: np.ndarray, rater_index: np.ndarray, repeats: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if repeats not in REPEATS:
        raise ValueError(f"repeats={repeats!r}, expected one of {REPEATS}")
    ratings = np.asarray(ratings, dtype=np.float64)
    if ratings.ndim != 2 or ratings.shape[0] == 0:
        raise ValueError(f"ratings has shape {ratings.shape}, expected (n_ratings > 0, n_dimensions)")
    indices = []
    for name, index in (("key_index", key_index), ("rater_index", rater_index)):
        index = np.asarray(index)
        if index.shape != ratings.shape[:1] or not np.issubdtype(index.dtype, np.integer):
            raise ValueError(
                f"{name} must hold {ratings.shape[0]} non-negative integers (one per rating row), "
                f"got dtype {index.dtype} and shape {index.shape}"
            )
        if index.min() < 0:
            raise ValueError(f"{name} holds {index.min()} at row {int(index.argmin())}, expected non-negative integers")
        indices.append(index.astype(np.int64))
    return ratings, indices[0], indices[1]


def pack_rows(ratings: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Rating rows packed per key, NaN-padded: shape ``(n_keys, max rows per key, n_dimensions)``."""
    order = np.argsort(keys, kind="stable")
    sizes = np.bincount(keys)
    position = np.arange(keys.size) - np.repeat(np.concatenate(([0], np.cumsum(sizes)[:-1])), sizes)
    packed = np.full((sizes.size, int(sizes.max()), ratings.shape[1]), np.nan)
    packed[keys[order], position] = ratings[order]
    return packed


def key_weights(n_keys: int, n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    """Bootstrap multiplicities: row b counts how often each key is drawn, shape (n_resamples, n_keys)."""
    draws = rng.integers(0, n_keys, size=(n_resamples, n_keys)) + n_keys * np.arange(n_resamples)[:, None]
    return np.bincount(draws.ravel(), minlength=n_resamples * n_keys).reshape(n_resamples, n_keys).astype(np.float64)


def percentile_ci(boot: np.ndarray, confidence_level: float, n_dimensions: int) -> tuple[np.ndarray, np.ndarray]:
    if boot.shape[0] == 0:
        return np.full(n_dimensions, np.nan), np.full(n_dimensions, np.nan)
    tail = (1.0 - confidence_level) / 2.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        low, high = np.nanquantile(boot, [tail, 1.0 - tail], axis=0)
    return low, high


def check_protocol(**settings: float) -> None:
    for name, value in settings.items():
        if name == "confidence_level" and not 0.0 < value < 1.0:
            raise ValueError(f"confidence_level={value!r}, expected a number in (0, 1)")
        if name == "n_splits" and (not isinstance(value, (int, np.integer)) or value < 1):
            raise ValueError(f"n_splits={value!r}, expected an integer >= 1")
        if name == "n_resamples" and (not isinstance(value, (int, np.integer)) or value < 0):
            raise ValueError(f"n_resamples={value!r}, expected an integer >= 0")


def fields_to_dict(result: object) -> dict:
    """JSON-able builtins of a result's fields: arrays to lists, NaN to None, nested results to dicts."""
    payload = {}
    for name in result.__slots__:  # type: ignore[attr-defined]
        value = getattr(result, name)
        if hasattr(value, "to_dict"):
            value = value.to_dict()
        elif isinstance(value, np.ndarray):
            value = [None if isinstance(v, float) and not np.isfinite(v) else v for v in value.tolist()]
        elif isinstance(value, (np.integer, np.floating)):
            value = value.item()
        payload[name] = value
    return payload
