"""Small formatting helpers shared by the report renderers (rounding happens only here)."""

from __future__ import annotations

from collections.abc import Sequence


def number(value: object, digits: int = 3) -> str:
    """A float rounded for reading; other values as text; None as an em dash."""
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def interval(low: object, high: object, digits: int = 3) -> str:
    """``[low, high]`` rounded."""
    return f"[{number(low, digits)}, {number(high, digits)}]"


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    """A markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(number(cell) for cell in row) + " |" for row in rows]
    return lines
