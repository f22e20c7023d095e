"""Report renderers for the embedding-space analyses: residuals and CCA."""

from __future__ import annotations


def render_residuals(audit: dict) -> "tuple[str, list[str]] | None":
    return None


def render_cca(audit: dict) -> "tuple[str, list[str]] | None":
    return None
