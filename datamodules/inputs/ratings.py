"""Loading and validating the raw PercePiano ratings: one row per rating of one segment by one rater.

``total_2rounds.csv`` has the columns ``user, dataID, filename, <19 rating columns>, <free text>...``: ``filename`` is
``<key>.wav``, the 19 columns after it are the 19 dimensions in PercePiano order (:data:`DIMENSIONS`), scored 1-7.
A blank or ``0`` cell is a missing rating. A row holding any value above 7 (8 or 9: off the scale) is dropped whole,
as the dataset's authors do; per-key means of the remaining ratings divided by 7 are the labels of ``labels.json``.

A rater may rate the same segment more than once (the two rating rounds): each row is kept as one rating, so
``key_index``/``rater_index`` pairs may repeat. :attr:`RatingTable.n_repeated_pairs` counts such pairs.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from datamodules.dimensions import DIMENSIONS, N_DIMENSIONS
from datamodules.errors import contract_error

USER_COLUMN = "user"
FILENAME_COLUMN = "filename"
RATING_PREFIX = "Question_"
AUDIO_SUFFIX = ".wav"
SCALE_MAX = 7


@dataclass(frozen=True, slots=True)
class RatingExclusionReport:
    """What the loader dropped or treated as missing.

    Attributes
    ----------
    n_rows_read : int
        Data rows in the file (records, not physical lines: free-text cells may span lines).
    dropped_lines : tuple of int
        First physical line (1-based, header is line 1) of each row dropped for a value above 7.
    n_blank_cells, n_zero_cells : int
        Missing rating cells among the kept rows, written blank or as 0.
    n_missing_per_dimension : tuple of int, length 19
        Missing cells (blank or 0) per dimension among the kept rows.
    keys_without_ratings : tuple of str
        Keys all of whose rows were dropped (they are not in the table).
    """

    n_rows_read: int
    dropped_lines: tuple[int, ...]
    n_blank_cells: int
    n_zero_cells: int
    n_missing_per_dimension: tuple[int, ...]
    keys_without_ratings: tuple[str, ...]

    @property
    def n_dropped_rows(self) -> int:
        """Rows dropped for a value above 7."""
        return len(self.dropped_lines)

    def to_dict(self) -> dict:
        """JSON form, with counts beside the lists."""
        return {
            "n_rows_read": self.n_rows_read,
            "n_dropped_rows": self.n_dropped_rows,
            "dropped_lines": list(self.dropped_lines),
            "n_blank_cells": self.n_blank_cells,
            "n_zero_cells": self.n_zero_cells,
            "n_missing_cells": self.n_blank_cells + self.n_zero_cells,
            "n_missing_per_dimension": list(self.n_missing_per_dimension),
            "n_keys_without_ratings": len(self.keys_without_ratings),
            "keys_without_ratings": list(self.keys_without_ratings),
        }


@dataclass(frozen=True, slots=True)
class RatingTable:
    """Validated ratings in long format: one row per kept rating row of the file.

    Attributes
    ----------
    keys : tuple of str, length n_keys
        Segment keys in order of first appearance.
    raters : tuple of str, length n_raters
        Rater ids (the ``user`` column) in order of first appearance.
    key_index : ndarray of shape (n_ratings,), int64
        Row of ``keys`` each rating belongs to.
    rater_index : ndarray of shape (n_ratings,), int64
        Row of ``raters`` who gave it. A (key, rater) pair repeats when a rater rated a segment again.
    values : ndarray of shape (n_ratings, 19), float64
        Ratings on the 1-7 scale in PercePiano's dimension order; NaN where missing.
    lines : ndarray of shape (n_ratings,), int64
        First physical line of each rating in the file.
    rating_columns : tuple of str, length 19
        The file's column names read as the 19 dimensions.
    report : RatingExclusionReport
    source : Path
    """

    keys: tuple[str, ...]
    raters: tuple[str, ...]
    key_index: np.ndarray
    rater_index: np.ndarray
    values: np.ndarray
    lines: np.ndarray
    rating_columns: tuple[str, ...]
    report: RatingExclusionReport
    source: Path

    @property
    def n_ratings(self) -> int:
        return int(self.values.shape[0])

    @property
    def n_repeated_pairs(self) -> int:
        """(key, rater) pairs rated more than once."""
        pairs = self.key_index * len(self.raters) + self.rater_index
        return int(np.count_nonzero(np.bincount(pairs) > 1))

    def n_ratings_per_key(self) -> np.ndarray:
        """Non-missing ratings per key and dimension, shape ``(n_keys, 19)``, int64."""
        counts = np.zeros((len(self.keys), N_DIMENSIONS), dtype=np.int64)
        np.add.at(counts, self.key_index, ~np.isnan(self.values))
        return counts

    def key_means(self) -> np.ndarray:
        """Labels: per key mean of the non-missing ratings divided by 7, shape ``(n_keys, 19)``, on [0, 1].

        Every rating row counts once (a rater who rated a key twice counts twice), as in ``labels.json``.
        A key with no rating in a dimension gets NaN there.
        """
        sums = np.zeros((len(self.keys), N_DIMENSIONS), dtype=np.float64)
        np.add.at(sums, self.key_index, np.nan_to_num(self.values, nan=0.0))
        counts = self.n_ratings_per_key()
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(counts > 0, sums / counts, np.nan) / SCALE_MAX


def load_ratings(path: Path) -> RatingTable:
    """Read a PercePiano ratings CSV and validate every cell that is used.

    Parameters
    ----------
    path : Path
        CSV with a header holding ``user`` and ``filename``; the 19 columns right after ``filename`` are the
        ratings (names starting ``Question_``), in PercePiano order. Other columns are ignored.

    Returns
    -------
    RatingTable
        Kept ratings with NaN for missing cells, and the exclusion report.

    Raises
    ------
    FileNotFoundError
        If the file is missing.
    DataContractError
        On an empty file, a header without ``user``/``filename`` or with fewer than 19 ``Question_`` columns after
        ``filename`` (the message names the first missing or misplaced column and its dimension), malformed CSV,
        a row with too few or too many fields (e.g. a truncated file), an empty user or a filename not ending in
        ``.wav``, and a rating cell that is not an integer from 0 to 9 (blank and 0 mean missing, 8 and 9 drop
        the row). Messages give the file, line, column and value.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: file not found")
    builder = _TableBuilder(path)
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle, strict=True)
        line = 1
        try:
            header = next(reader, None)
            if header is None:
                raise contract_error(path, "empty file, expected a header with 'user', 'filename' and 19 ratings")
            builder.read_header(header)
            line = reader.line_num + 1
            for row in reader:
                builder.add_row(row, line)
                line = reader.line_num + 1
        except csv.Error as error:
            raise contract_error(path, f"malformed CSV in the record starting at line {line}: {error}") from None
        except UnicodeDecodeError as error:
            raise contract_error(path, f"not UTF-8 text ({error.reason} at byte {error.start})") from None
    return builder.build()


class _TableBuilder:
    """Accumulates validated rows; one instance per file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.n_fields = 0
        self.user_column = self.filename_column = 0
        self.rating_columns: tuple[str, ...] = ()
        self.key_ids: dict[str, int] = {}
        self.rater_ids: dict[str, int] = {}
        self.all_keys: dict[str, None] = {}
        self.rows: list[tuple[int, int, int, list[float]]] = []
        self.dropped: list[int] = []
        self.n_rows_read = self.n_blank = self.n_zero = 0

    def read_header(self, header: list[str]) -> None:
        for required in (USER_COLUMN, FILENAME_COLUMN):
            if required not in header:
                raise contract_error(self.path, f"header has no column {required!r}; found {header}", None)
        self.n_fields = len(header)
        self.user_column = header.index(USER_COLUMN)
        self.filename_column = header.index(FILENAME_COLUMN)
        columns = header[self.filename_column + 1 : self.filename_column + 1 + N_DIMENSIONS]
        for position, dimension in enumerate(DIMENSIONS):
            found = columns[position] if position < len(columns) else None
            if found is None or not found.startswith(RATING_PREFIX):
                what = "missing (header ends)" if found is None else f"is {found!r}"
                raise contract_error(
                    self.path,
                    f"header line 1: rating column {position + 1} of {N_DIMENSIONS} after 'filename' "
                    f"(dimension {dimension!r}) {what}; expected a '{RATING_PREFIX}...' column",
                )
        self.rating_columns = tuple(columns)

    def add_row(self, row: list[str], line: int) -> None:
        if len(row) != self.n_fields:
            raise contract_error(
                self.path, f"line {line}: row has {len(row)} fields, expected {self.n_fields} (truncated or malformed?)"
            )
        self.n_rows_read += 1
        user, filename = row[self.user_column].strip(), row[self.filename_column].strip()
        if not user:
            raise contract_error(self.path, f"line {line}, column {USER_COLUMN!r}: empty rater id")
        if not filename.endswith(AUDIO_SUFFIX) or len(filename) == len(AUDIO_SUFFIX):
            problem = f"line {line}, column {FILENAME_COLUMN!r}: value {filename!r}, expected '<key>{AUDIO_SUFFIX}'"
            raise contract_error(self.path, problem)
        key = filename[: -len(AUDIO_SUFFIX)]
        self.all_keys.setdefault(key, None)
        start = self.filename_column + 1
        values = [self._parse_cell(row[start + i], line, self.rating_columns[i]) for i in range(N_DIMENSIONS)]
        if any(value > SCALE_MAX for value in values):
            self.dropped.append(line)
            return
        for text, value in zip(row[start : start + N_DIMENSIONS], values, strict=True):
            if value == 0:
                self.n_blank += not text.strip()
                self.n_zero += bool(text.strip())
        key_id = self.key_ids.setdefault(key, len(self.key_ids))
        rater_id = self.rater_ids.setdefault(user, len(self.rater_ids))
        self.rows.append((key_id, rater_id, line, values))

    def _parse_cell(self, text: str, line: int, column: str) -> float:
        text = text.strip()
        if not text:
            return 0.0
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or not value.is_integer() or not 0 <= value <= 9:
            expected = "expected an integer rating 1-7 (0 or blank = missing)"
            raise contract_error(self.path, f"line {line}, column {column!r}: value {text!r}, {expected}")
        return value

    def build(self) -> RatingTable:
        if not self.rows:
            problem = f"no usable rating rows ({self.n_rows_read} read, {len(self.dropped)} dropped)"
            raise contract_error(self.path, problem)
        values = np.array([row[3] for row in self.rows], dtype=np.float64)  # (n_ratings, 19)
        values[values == 0] = np.nan
        report = RatingExclusionReport(
            n_rows_read=self.n_rows_read,
            dropped_lines=tuple(self.dropped),
            n_blank_cells=self.n_blank,
            n_zero_cells=self.n_zero,
            n_missing_per_dimension=tuple(int(n) for n in np.isnan(values).sum(axis=0)),
            keys_without_ratings=tuple(key for key in self.all_keys if key not in self.key_ids),
        )
        return RatingTable(
            keys=tuple(self.key_ids),
            raters=tuple(self.rater_ids),
            key_index=np.array([row[0] for row in self.rows], dtype=np.int64),
            rater_index=np.array([row[1] for row in self.rows], dtype=np.int64),
            values=values,
            lines=np.array([row[2] for row in self.rows], dtype=np.int64),
            rating_columns=self.rating_columns,
            report=report,
            source=self.path,
        )
