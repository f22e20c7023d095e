"""Masterclass moments (``all_moments.jsonl``) and the STOP / CONTINUE segments cut from them.

A *moment* is one place where a teacher stopped a student: ``stop_timestamp``, the feedback that followed
(``feedback_start``..``feedback_end``) and the passage played just before (``playing_before_start``..
``playing_before_end``), all in seconds from the start of the video. A STOP segment is that playing window; a
CONTINUE segment is the playing between one moment's feedback end and the next moment's playing window, i.e.
music the teacher let run.

Validation policy: a line that breaks the schema (not JSON, not an object, ``moment_id``/``video_id`` not a
non-empty string, ``stop_timestamp`` missing or not a finite number >= 0, a time field holding a non-number,
NaN/inf or a negative value, an end before its start, a ``moment_id`` seen twice) raises
:class:`~datamodules.errors.DataContractError` naming file, line, field and value. A window that is merely
absent (both fields missing or ``null``) or half given (one of the pair ``null``) makes the moment unusable
for that segment only; :func:`segment_moments` counts it among the skipped candidates with its reason.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from datamodules.errors import contract_error
from datamodules.jsonio import read_json_line

#: Shortest CONTINUE gap kept, in seconds.
MIN_CONTINUE_S: float = 5.0
_WINDOWS = (("playing_before_start", "playing_before_end"), ("feedback_start", "feedback_end"))


@dataclass(frozen=True, slots=True)
class MomentTable:
    """Validated moments in file order.

    Attributes
    ----------
    moment_ids, video_ids : tuple of str, length n_moments
    musical_dimensions : tuple of (str or None)
        The teacher's stated dimension (``musical_dimension``), None where absent.
    stop_s, playing_start_s, playing_end_s, feedback_start_s, feedback_end_s : ndarray of shape (n_moments,)
        Seconds from the start of the video; NaN where the window is absent.
    line_numbers : ndarray of shape (n_moments,), int64
        1-based line of each moment in ``source``.
    n_blank_lines : int
        Empty lines ignored.
    source : Path
    """

    moment_ids: tuple[str, ...]
    video_ids: tuple[str, ...]
    musical_dimensions: tuple[str | None, ...]
    stop_s: np.ndarray
    playing_start_s: np.ndarray
    playing_end_s: np.ndarray
    feedback_start_s: np.ndarray
    feedback_end_s: np.ndarray
    line_numbers: np.ndarray
    n_blank_lines: int
    source: Path

    def __len__(self) -> int:
        return len(self.moment_ids)


@dataclass(frozen=True, slots=True)
class SkippedCandidate:
    """A STOP or CONTINUE candidate that produced no segment.

    ``reason`` is one of ``no_playing_window``, ``zero_length_window``, ``duplicate_window`` (STOP);
    ``no_feedback_end``, ``next_has_no_playing_window``, ``negative_gap``, ``gap_below_min``,
    ``overlaps_stop_window`` (CONTINUE, attributed to the moment whose feedback opens the gap).
    """

    moment_id: str
    video_id: str
    kind: str
    reason: str
    detail: str

    def to_dict(self) -> dict:
        return {name: getattr(self, name) for name in self.__slots__}


@dataclass(frozen=True, slots=True)
class MasterclassSegments:
    """STOP (label 1) and CONTINUE (label 0) segments, sorted by video then start time.

    Attributes
    ----------
    keys : tuple of str
        ``f"{video_id}@{start_s:.2f}-{end_s:.2f}"``, the embedding key convention.
    video_ids : tuple of str
    moment_ids : tuple of str
        The moment a STOP window precedes, or whose feedback opens a CONTINUE gap.
    labels : ndarray of shape (n_segments,), int64
    start_s, end_s : ndarray of shape (n_segments,)
        Seconds from the start of the video.
    skipped : tuple of SkippedCandidate
    duplicate_windows : tuple of (str, str)
        ``(moment_id, first_moment_id)`` for each STOP window identical to an earlier one in the video.
    min_continue_s : float
    """

    keys: tuple[str, ...]
    video_ids: tuple[str, ...]
    moment_ids: tuple[str, ...]
    labels: np.ndarray
    start_s: np.ndarray
    end_s: np.ndarray
    skipped: tuple[SkippedCandidate, ...]
    duplicate_windows: tuple[tuple[str, str], ...]
    min_continue_s: float

    @property
    def n_segments(self) -> int:
        return len(self.keys)

    @property
    def n_stop(self) -> int:
        return int(np.sum(self.labels == 1))

    @property
    def n_continue(self) -> int:
        return int(np.sum(self.labels == 0))

    @property
    def duration_s(self) -> np.ndarray:
        """Segment lengths in seconds, shape ``(n_segments,)``."""
        return self.end_s - self.start_s

    def skipped_counts(self) -> dict[str, int]:
        """Number of skipped candidates per ``"<kind>/<reason>"``."""
        counts: dict[str, int] = {}
        for item in self.skipped:
            name = f"{item.kind}/{item.reason}"
            counts[name] = counts.get(name, 0) + 1
        return dict(sorted(counts.items()))

    def to_dict(self) -> dict:
        """Counts and exclusions (not the per-segment arrays)."""
        return {
            "n_segments": self.n_segments,
            "n_stop": self.n_stop,
            "n_continue": self.n_continue,
            "n_videos": len(set(self.video_ids)),
            "min_continue_s": self.min_continue_s,
            "n_skipped": len(self.skipped),
            "skipped_counts": self.skipped_counts(),
            "skipped": [item.to_dict() for item in self.skipped],
            "duplicate_windows": [list(pair) for pair in self.duplicate_windows],
        }


def segment_key(video_id: str, start_s: float, end_s: float) -> str:
    """The segment id ``f"{video_id}@{start_s:.2f}-{end_s:.2f}"``."""
    return f"{video_id}@{start_s:.2f}-{end_s:.2f}"


def load_moments(path: Path) -> MomentTable:
    """Read and validate a masterclass moments JSON-lines file.

    Parameters
    ----------
    path : Path
        One JSON object per line with at least ``moment_id``, ``video_id`` and ``stop_timestamp``; the window
        fields ``playing_before_start``/``_end`` and ``feedback_start``/``_end`` may be absent or null.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    DataContractError
        For the schema breaks listed in the module docstring, naming file, line, field and value, and for a
        file without moments.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: file not found")
    rows, seen, n_blank = [], {}, 0
    with path.open(encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                n_blank += 1
                continue
            row = _parse_moment(path, line_number, line)
            if row["moment_id"] in seen:
                problem = f"line {line_number}: moment_id already used on line {seen[row['moment_id']]}"
                raise contract_error(path, problem, row["moment_id"])
            seen[row["moment_id"]] = line_number
            rows.append(row)
    if not rows:
        raise contract_error(path, "no moments (file holds no JSON lines)")
    column = lambda name: np.array([row[name] for row in rows], dtype=np.float64)  # noqa: E731
    return MomentTable(
        moment_ids=tuple(row["moment_id"] for row in rows),
        video_ids=tuple(row["video_id"] for row in rows),
        musical_dimensions=tuple(row["musical_dimension"] for row in rows),
        stop_s=column("stop_timestamp"),
        playing_start_s=column("playing_before_start"),
        playing_end_s=column("playing_before_end"),
        feedback_start_s=column("feedback_start"),
        feedback_end_s=column("feedback_end"),
        line_numbers=np.array([row["line"] for row in rows], dtype=np.int64),
        n_blank_lines=n_blank,
        source=path,
    )


def _parse_moment(path: Path, line_number: int, line: str) -> dict:
    where = f"line {line_number}"
    record = read_json_line(path, line_number, line)
    row: dict = {"line": line_number}
    for name in ("moment_id", "video_id"):
        value = record.get(name)
        if not isinstance(value, str) or not value:
            raise contract_error(path, f"{where}: is {value!r}, expected a non-empty string", name)
        row[name] = value
    dimension = record.get("musical_dimension")
    row["musical_dimension"] = dimension if isinstance(dimension, str) else None
    if record.get("stop_timestamp") is None:
        raise contract_error(path, f"{where}: missing or null, expected seconds >= 0", "stop_timestamp")
    row["stop_timestamp"] = _time(path, where, record, "stop_timestamp")
    for start_name, end_name in _WINDOWS:
        start, end = _time(path, where, record, start_name), _time(path, where, record, end_name)
        if end < start:
            problem = f"{where}: {end_name}={end!r} is before {start_name}={start!r}, expected end >= start"
            raise contract_error(path, problem, end_name)
        row[start_name], row[end_name] = start, end
    return row


def _time(path: Path, where: str, record: dict, name: str) -> float:
    """A time field in seconds; NaN when absent or null."""
    value = record.get(name)
    if value is None:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise contract_error(path, f"{where}: is {value!r}, expected a number of seconds or null", name)
    if not math.isfinite(value) or value < 0:
        raise contract_error(path, f"{where}: is {value!r}, expected a finite number of seconds >= 0", name)
    return float(value)


def segment_moments(moments: MomentTable, min_continue_s: float = MIN_CONTINUE_S) -> MasterclassSegments:
    """Cut STOP and CONTINUE segments from validated moments.

    Parameters
    ----------
    moments : MomentTable
    min_continue_s : float, default=5.0
        Shortest CONTINUE gap kept, in seconds.

    Returns
    -------
    MasterclassSegments

    Notes
    -----
    Moments are sorted by ``(video_id, stop_s, line)``. Per moment, the STOP candidate is its playing window;
    it is skipped when absent (``no_playing_window``), of zero length (``zero_length_window``) or identical (same
    key) to an earlier window of the video (``duplicate_window``; also listed in ``duplicate_windows``). Per
    consecutive pair (i, i+1) of a video, the CONTINUE candidate runs from ``feedback_end`` of i to
    ``playing_before_start`` of i+1; it is skipped when either end is absent, when it is negative (the next
    window starts before the feedback ends), shorter than ``min_continue_s``, or when it overlaps a kept STOP
    window of the same video by a positive length (``overlaps_stop_window``: the playing was not let run).
    The last moment of a video has no CONTINUE candidate.

    Raises
    ------
    ValueError
        If ``min_continue_s`` is negative or not finite.
    """
    if not (math.isfinite(min_continue_s) and min_continue_s >= 0):
        raise ValueError(f"min_continue_s={min_continue_s!r}, expected a finite number of seconds >= 0")
    by_video: dict[str, list[int]] = {}
    ids, stops, lines = moments.video_ids, moments.stop_s, moments.line_numbers
    for index in sorted(range(len(moments)), key=lambda i: (ids[i], stops[i], lines[i])):
        by_video.setdefault(moments.video_ids[index], []).append(index)
    rows, skipped, duplicates = [], [], []
    for video, indices in by_video.items():
        video_stops = _stop_candidates(moments, video, indices, skipped, duplicates)
        rows.extend(video_stops)
        for here, after in zip(indices[:-1], indices[1:], strict=True):
            gap = _continue_candidate(moments, here, after, video_stops, min_continue_s)
            (skipped if isinstance(gap, SkippedCandidate) else rows).append(gap)
    rows.sort(key=lambda row: (row[1], row[4], row[5], -row[3]))
    column = lambda position, dtype: np.array([row[position] for row in rows], dtype=dtype)  # noqa: E731
    return MasterclassSegments(
        keys=tuple(row[0] for row in rows), video_ids=tuple(row[1] for row in rows),
        moment_ids=tuple(row[2] for row in rows), labels=column(3, np.int64), start_s=column(4, np.float64),
        end_s=column(5, np.float64), skipped=tuple(skipped), duplicate_windows=tuple(duplicates),
        min_continue_s=float(min_continue_s),
    )


def _stop_candidates(moments: MomentTable, video: str, indices: list[int], skipped: list, duplicates: list) -> list:
    """STOP rows ``(key, video, moment, 1, start, end)`` of one video; appends skips and duplicates."""
    rows, first_with_key = [], {}
    for index in indices:
        moment, start, end = moments.moment_ids[index], moments.playing_start_s[index], moments.playing_end_s[index]
        reason = None
        if math.isnan(start) or math.isnan(end):
            reason = ("no_playing_window", f"playing_before_start={_show(start)}, playing_before_end={_show(end)}")
        elif end == start:
            reason = ("zero_length_window", f"playing window {start:.2f}-{end:.2f} s has zero length")
        elif (key := segment_key(video, start, end)) in first_with_key:
            duplicates.append((moment, first_with_key[key]))
            reason = ("duplicate_window", f"window {key} already taken for moment {first_with_key[key]}")
        else:
            first_with_key[key] = moment
            rows.append((key, video, moment, 1, start, end))
        if reason is not None:
            skipped.append(SkippedCandidate(moment, video, "stop", *reason))
    return rows


def _continue_candidate(moments: MomentTable, here: int, after: int, video_stops: list, min_continue_s: float):
    """The CONTINUE row between moments ``here`` and ``after``, or the reason it is skipped."""
    video, moment = moments.video_ids[here], moments.moment_ids[here]
    start, end = moments.feedback_end_s[here], moments.playing_start_s[after]
    skip = lambda reason, detail: SkippedCandidate(moment, video, "continue", reason, detail)  # noqa: E731
    span = f"gap {_show(start)}-{_show(end)} s"
    if math.isnan(start):
        return skip("no_feedback_end", "feedback_end is absent")
    if math.isnan(end):
        return skip("next_has_no_playing_window", f"next moment {moments.moment_ids[after]} has no playing window")
    if end < start:
        return skip("negative_gap", f"{span}: next playing window starts {start - end:.2f} s before feedback_end")
    if end - start < min_continue_s:
        return skip("gap_below_min", f"{span} lasts {end - start:.2f} s < {min_continue_s} s")
    for key, _, stop_moment, _, stop_start, stop_end in video_stops:
        if min(end, stop_end) - max(start, stop_start) > 0:
            return skip("overlaps_stop_window", f"{span} overlaps STOP {key} of moment {stop_moment}")
    return (segment_key(video, start, end), video, moment, 0, start, end)


def _show(value: float) -> str:
    return "null" if math.isnan(value) else f"{value:.2f}"
