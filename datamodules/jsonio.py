"""Reading JSON and JSON-lines input files, and writing results atomically."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from datamodules.errors import contract_error


def read_json(path: Path) -> Any:
    """Parse a JSON file, turning a missing or unreadable file into a clear error.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    DataContractError
        If the file is not valid JSON (the message gives line and column), or an object repeats a key (``json``
        would silently keep the last value; the message names the key).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: file not found")
    try:
        with path.open(encoding="utf-8") as handle:
            return json.load(handle, object_pairs_hook=_unique_keys)
    except _DuplicateKeyError as error:
        problem = "appears twice in one JSON object; keys must be unique (the second value would replace the first)"
        raise contract_error(path, problem, error.key) from None
    except json.JSONDecodeError as error:
        raise contract_error(path, f"unreadable JSON at line {error.lineno} column {error.colno}: "
                                   f"{error.msg}") from None
    except UnicodeDecodeError as error:
        raise contract_error(path, f"not UTF-8 text ({error.reason} at byte {error.start})") from None


def read_json_line(path: Path, line_number: int, line: str) -> dict[str, Any]:
    """Parse one line of a JSON-lines file into an object.

    Raises
    ------
    DataContractError
        Naming ``path`` and the line: unreadable JSON, a value that is not an object, or a repeated key.
    """
    where = f"line {line_number}"
    try:
        record = json.loads(line, object_pairs_hook=_unique_keys)
    except _DuplicateKeyError as error:
        problem = f"{where}: appears twice in one JSON object; keys must be unique (the second would replace the first)"
        raise contract_error(path, problem, error.key) from None
    except json.JSONDecodeError as error:
        raise contract_error(path, f"{where}: unreadable JSON at column {error.colno}: {error.msg}") from None
    if not isinstance(record, dict):
        raise contract_error(path, f"{where}: expected a JSON object, got {type(record).__name__}")
    return record


class _DuplicateKeyError(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``object_pairs_hook`` that refuses a repeated key instead of keeping its last value."""
    payload: dict[str, Any] = {}
    for key, value in pairs:
        if key in payload:
            raise _DuplicateKeyError(key)
        payload[key] = value
    return payload


def write_json_atomic(path: Path, payload: Any) -> None:
    """Write ``payload`` as indented JSON through a temporary sibling and ``os.replace``.

    A reader never sees a half-written file, and an interrupted write leaves the old file in place.
    """
    write_text_atomic(Path(path), json.dumps(payload, indent=2, sort_keys=False, allow_nan=False, default=_to_builtin))


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` through a temporary sibling and ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)  # mkstemp creates 0600; give the file the usual permissions
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _to_builtin(value: Any) -> Any:
    """JSON fallback for numpy scalars and arrays."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "to_dict"):
        return value.to_dict()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")
