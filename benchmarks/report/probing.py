"""Report renderer for probing: which dimensions are audible, per prober, with CIs, p-values and ceilings."""

from __future__ import annotations


def render_probing(audit: dict) -> "tuple[str, list[str]] | None":
    result = audit.get("probing_comparison")
    if result is None:
        return None
    return result.get("answer", ""), result.get("markdown", [])
