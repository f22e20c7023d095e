"""Report renderers for the downstream validations: teacher STOP prediction and competition placement."""

from __future__ import annotations


def render_stop_prediction(audit: dict) -> "tuple[str, list[str]] | None":
    return None


def render_competition(audit: dict) -> "tuple[str, list[str]] | None":
    return None
