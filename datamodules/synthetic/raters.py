"""Simulated raters: integer 1-7 ratings of each segment's quality, written like ``total_2rounds.csv``.

A rating is ``clip(round(7 * quality[d] + bias[rater] + noise[d] * eps), 1, 7)`` with ``eps ~ N(0, 1)``: the
per-dimension noise ``noise[d]`` is planted (noisy dimensions have low reliability) and each rater's leniency
``bias`` shifts all 19 of their ratings. Labels are computed *from* these ratings exactly as the loader
(:mod:`datamodules.inputs.ratings`) does: drop rows holding a value above 7, treat blank and 0 as missing, and take
``sum / count / 7`` of the rest per key and dimension.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

import numpy as np

from datamodules.dimensions import N_DIMENSIONS
from datamodules.synthetic.spec import SyntheticSpec

#: The real file's header: 19 rating columns, one free-text question, then ``message``.
QUESTION_COLUMNS: tuple[str, ...] = (
    "Question_1_1_1", "Question_2_1_1", "Question_2_2_1", "Question_3_1_1", "Question_3_2_1", "Question_4_1_1",
    "Question_4_2_1", "Question_4_3_1", "Question_4_4_1_5_2_1", "Question_5_3_1", "Question_5_5_1",
    "Question_6_1_1", "Question_6_4_1", "Question_6_5_1_5_4_1", "Question_6_6_1_5_1_1", "Question_7_1_1",
    "Question_7_2_1", "Question_8_1_1", "Question_9_1_1", "Question_9_2_1",
)
HEADER: tuple[str, ...] = ("user", "dataID", "filename", *QUESTION_COLUMNS, "message")
_MESSAGES = ("convincing", "ambiguous", "expressive but rushed", "hard to judge, the recording is quiet")


@dataclass(frozen=True, slots=True)
class SimulatedRatings:
    """All rating rows, including those the loader drops.

    Attributes
    ----------
    key_index : ndarray of shape (n_rows,), int64
        Segment of each row.
    users : ndarray of shape (n_rows,), int64
        Rater id (the ``user`` column).
    values : ndarray of shape (n_rows, 19), int64
        Ratings 1-7; 0 where missing; an 8 or 9 somewhere in a dropped row.
    blank : ndarray of shape (n_rows, 19), bool
        Missing cells written blank (the other missing cells are written ``0.0``).
    dropped : ndarray of shape (n_rows,), bool
        Rows holding a value above 7.
    rater_noise_std : ndarray of shape (19,)
        Planted noise per dimension, 1-7 scale.
    rater_bias : ndarray of shape (n_rater_pool,)
        Planted leniency per rater, 1-7 scale.
    """

    key_index: np.ndarray
    users: np.ndarray
    values: np.ndarray
    blank: np.ndarray
    dropped: np.ndarray
    rater_noise_std: np.ndarray
    rater_bias: np.ndarray

    def labels(self, n_keys: int) -> np.ndarray:
        """Labels on [0, 1], shape ``(n_keys, 19)``: per key, ``sum / count / 7`` of the kept, non-missing ratings."""
        kept = ~self.dropped
        values = self.values[kept].astype(np.float64)  # (n_kept, 19)
        sums = np.zeros((n_keys, N_DIMENSIONS))
        counts = np.zeros((n_keys, N_DIMENSIONS))
        np.add.at(sums, self.key_index[kept], values)
        np.add.at(counts, self.key_index[kept], values > 0)
        return sums / counts / 7.0

    def n_kept_raters(self, n_keys: int) -> np.ndarray:
        """Kept rating rows per key, shape ``(n_keys,)``."""
        return np.bincount(self.key_index[~self.dropped], minlength=n_keys)


def simulate_ratings(quality: np.ndarray, spec: SyntheticSpec, rng: np.random.Generator) -> SimulatedRatings:
    """Rate every segment of ``quality`` (shape (n_keys, 19), on (1/7, 1)).

    Each key gets ``raters_per_key`` kept rows from distinct raters; a cell is missing with probability
    ``missing_fraction`` (never every cell of a key's dimension); with probability ``out_of_range_fraction`` a key
    gets one more row, from another rater, holding an 8 or 9 in one to three cells.
    """
    n_keys = quality.shape[0]
    noise_std = rng.uniform(*spec.rater_noise_range, size=N_DIMENSIONS)
    bias = rng.normal(0.0, spec.rater_bias_std, size=spec.n_rater_pool)
    n_rows = rng.integers(spec.raters_per_key[0], spec.raters_per_key[1] + 1, size=n_keys)
    extra = rng.random(n_keys) < spec.out_of_range_fraction
    key_index = np.repeat(np.arange(n_keys), n_rows + extra)
    users = np.concatenate([rng.permutation(spec.n_rater_pool)[: count + flag]
                            for count, flag in zip(n_rows, extra, strict=True)])
    eps = rng.standard_normal((key_index.size, N_DIMENSIONS))
    raw = 7.0 * quality[key_index] + bias[users, None] + noise_std * eps  # (n_rows, 19)
    values = np.clip(np.rint(raw), 1, 7).astype(np.int64)
    dropped = np.zeros(key_index.size, dtype=bool)
    last_of_key = np.cumsum(n_rows + extra) - 1
    for row in last_of_key[extra]:
        cells = rng.permutation(N_DIMENSIONS)[: rng.integers(1, 4)]
        values[row, cells] = rng.integers(8, 10, size=cells.size)
        dropped[row] = True
    missing = (rng.random(values.shape) < spec.missing_fraction) & ~dropped[:, None]
    _keep_one_rating(missing, key_index, dropped)
    values[missing] = 0
    blank = missing & (rng.random(values.shape) < 0.5)
    return SimulatedRatings(key_index, users, values, blank, dropped, noise_std, bias)


def _keep_one_rating(missing: np.ndarray, key_index: np.ndarray, dropped: np.ndarray) -> None:
    """Un-mark, in place, the first kept row's cell wherever a key would have no rating in a dimension."""
    kept = np.flatnonzero(~dropped)
    n_keys = int(key_index.max()) + 1
    present = np.zeros((n_keys, N_DIMENSIONS), dtype=np.int64)
    np.add.at(present, key_index[kept], ~missing[kept])
    first_row = np.full(n_keys, -1, dtype=np.int64)
    for row in kept[::-1]:
        first_row[key_index[row]] = row
    empty_keys, empty_dimensions = np.nonzero(present == 0)
    missing[first_row[empty_keys], empty_dimensions] = False


def ratings_csv(ratings: SimulatedRatings, keys: tuple[str, ...], rng: np.random.Generator) -> str:
    """The rows as ``total_2rounds.csv`` text: grouped by user, ``dataID`` counting per user, cells like ``3.0``.

    Missing cells are blank or ``0.0``; ``Question_9_2_1`` is mostly blank (sometimes a number, as in the real
    file) and ``message`` sometimes holds a short comment.
    """
    order = np.lexsort((rng.permutation(ratings.users.size), ratings.users))
    free_text = rng.random(ratings.users.size) < 0.05
    comment = rng.random(ratings.users.size) < 0.1
    comment_choice = rng.integers(0, len(_MESSAGES), size=ratings.users.size)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(HEADER)
    data_id: dict[int, int] = {}
    for row in order:
        user = int(ratings.users[row]) + 100
        data_id[user] = data_id.get(user, 1) + 1
        cells = ["" if ratings.blank[row, d] else f"{float(ratings.values[row, d]):.1f}" for d in range(N_DIMENSIONS)]
        extra_question = f"{float(rng.integers(1, 8)):.1f}" if free_text[row] else ""
        message = _MESSAGES[comment_choice[row]] if comment[row] else ""
        writer.writerow([user, data_id[user], f"{keys[ratings.key_index[row]]}.wav", *cells, extra_question, message])
    return buffer.getvalue()
