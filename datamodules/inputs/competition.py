"""Competition recordings (``recordings.jsonl``): one line per recording with its final placement.

The shipped file lists every recording twice. Identical duplicates (equal parsed JSON objects) are dropped and
counted; two lines with the same ``recording_id`` but different content are an error naming both lines.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from datamodules.errors import contract_error
from datamodules.jsonio import read_json_line


@dataclass(frozen=True, slots=True)
class RecordingTable:
    """Deduplicated recordings in order of first appearance.

    Attributes
    ----------
    recording_ids, performers, competitions, rounds : tuple of str, length n_recordings
    editions : ndarray of shape (n_recordings,), int64
        Competition year; -1 where absent.
    placements : ndarray of shape (n_recordings,), int64
        Final placement, 1 = winner (larger is worse).
    line_numbers : ndarray of shape (n_recordings,), int64
        1-based line of each recording's first occurrence.
    n_lines : int
        Non-blank lines read.
    duplicate_lines : tuple of (int, int)
        ``(line, first_line)`` for every identical duplicate dropped.
    source : Path
    """

    recording_ids: tuple[str, ...]
    performers: tuple[str, ...]
    competitions: tuple[str, ...]
    rounds: tuple[str, ...]
    editions: np.ndarray
    placements: np.ndarray
    line_numbers: np.ndarray
    n_lines: int
    duplicate_lines: tuple[tuple[int, int], ...]
    source: Path

    def __len__(self) -> int:
        return len(self.recording_ids)

    @property
    def n_recordings(self) -> int:
        return len(self.recording_ids)

    @property
    def n_duplicates(self) -> int:
        return len(self.duplicate_lines)

    def placements_for(self, recording_ids: list[str] | tuple[str, ...]) -> np.ndarray:
        """Placements of ``recording_ids`` in that order, shape ``(len(recording_ids),)``.

        Raises
        ------
        KeyError
            Naming the first id not in the table.
        """
        position = {key: row for row, key in enumerate(self.recording_ids)}
        missing = [key for key in recording_ids if key not in position]
        if missing:
            raise KeyError(f"{self.source}: recording_id {missing[0]!r} not found ({len(missing)} ids missing)")
        return self.placements[[position[key] for key in recording_ids]]

    def dedup_report(self) -> dict:
        """JSON-able counts: lines read, recordings kept, identical duplicates dropped (with line pairs)."""
        return {
            "source": str(self.source),
            "n_lines": self.n_lines,
            "n_recordings": self.n_recordings,
            "n_duplicates_dropped": self.n_duplicates,
            "duplicate_lines": [list(pair) for pair in self.duplicate_lines],
        }


def load_recordings(path: Path) -> RecordingTable:
    """Read, validate and deduplicate a competition recordings JSON-lines file.

    Parameters
    ----------
    path : Path
        One JSON object per line with a non-empty string ``recording_id`` and a positive integer ``placement``;
        ``performer``, ``competition``, ``round`` (strings) and ``edition`` (integer) are kept when present.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    DataContractError
        On a line that is not a JSON object, a missing/empty ``recording_id``, a ``placement`` that is not a
        positive integer (booleans and floats refused), two different lines with one ``recording_id`` (naming
        both lines), or a file without recordings.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: file not found")
    first: dict[str, tuple[int, dict]] = {}
    duplicates: list[tuple[int, int]] = []
    n_lines = 0
    with path.open(encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            n_lines += 1
            record = _parse_recording(path, line_number, line)
            key = record["recording_id"]
            if key in first:
                first_line, first_record = first[key]
                if record != first_record:
                    changed = sorted(k for k in set(record) | set(first_record) if record.get(k) != first_record.get(k))
                    problem = f"lines {first_line} and {line_number} share recording_id but differ in {changed}"
                    raise contract_error(path, problem, key)
                duplicates.append((line_number, first_line))
                continue
            first[key] = (line_number, record)
    if not first:
        raise contract_error(path, "no recordings (file holds no JSON lines)")
    records = [record for _, record in first.values()]
    text = lambda name: tuple(str(record.get(name, "")) for record in records)  # noqa: E731
    return RecordingTable(
        recording_ids=tuple(first),
        performers=text("performer"),
        competitions=text("competition"),
        rounds=text("round"),
        editions=np.array([_edition(record) for record in records], dtype=np.int64),
        placements=np.array([record["placement"] for record in records], dtype=np.int64),
        line_numbers=np.array([line for line, _ in first.values()], dtype=np.int64),
        n_lines=n_lines,
        duplicate_lines=tuple(duplicates),
        source=path,
    )


def _parse_recording(path: Path, line_number: int, line: str) -> dict:
    where = f"line {line_number}"
    record = read_json_line(path, line_number, line)
    key = record.get("recording_id")
    if not isinstance(key, str) or not key:
        raise contract_error(path, f"{where}: is {key!r}, expected a non-empty string", "recording_id")
    placement = record.get("placement")
    if isinstance(placement, bool) or not isinstance(placement, int) or placement < 1:
        problem = f"{where}: recording {key!r} has placement {placement!r}, expected a positive integer (1 = winner)"
        raise contract_error(path, problem, "placement")
    return record


def _edition(record: dict) -> int:
    value = record.get("edition")
    return value if isinstance(value, int) and not isinstance(value, bool) else -1
