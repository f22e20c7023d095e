"""What the downstream callbacks read: the predicted qualities left by the downstream fits, and the embeddings."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from analyses.context import AuditContext
from datamodules.embeddings import open_embeddings
from datamodules.store import EmbeddingStore


@dataclass(frozen=True)
class QualityScores:
    """Predicted qualities of a downstream section's ids (filled by :mod:`benchmarks.orchestration.downstream`).

    Attributes
    ----------
    keys : tuple of str
        Segment ids (masterclass) or recording ids (competition), in the section's order.
    quality : ndarray of shape (n_found, 19) or None
        Labels on [0, 1] of the found ids, in order; None when neither a predictions file nor embeddings exist.
    found : ndarray of shape (len(keys),), bool
    source : str
        Where the scores came from (for the protocol), or why there are none.
    """

    keys: tuple[str, ...]
    quality: np.ndarray | None
    found: np.ndarray
    source: str


def quality_scores(context: AuditContext, keys: list[str] | tuple[str, ...],
                   embeddings_input: str) -> tuple[np.ndarray | None, np.ndarray, str]:
    """``(quality, found, source)`` of ``keys``, as predicted before the callbacks ran.

    Raises
    ------
    RuntimeError
        If the downstream fits did not run for ``embeddings_input`` or predicted other ids.
    """
    scores = context.inputs.get("quality", {}).get(embeddings_input)
    if scores is None or scores.keys != tuple(keys):
        raise RuntimeError(f"no predicted qualities for {embeddings_input} with these ids; the downstream fits "
                           "(benchmarks.orchestration.downstream.run_downstream_fits) run before the callbacks")
    return scores.quality, scores.found, scores.source


def embedded(context: AuditContext, keys: list[str] | tuple[str, ...], embeddings_input: str) -> np.ndarray | None:
    """Which ``keys`` the embeddings file holds, shape ``(len(keys),)`` bool (None without the file)."""
    path = context.inputs.get(embeddings_input)
    if path is None:
        return None
    store = downstream_store(context, embeddings_input)
    return np.array([key in store for key in keys], dtype=bool)


def stats_features(context: AuditContext, keys: list[str] | tuple[str, ...],
                   embeddings_input: str) -> np.ndarray | None:
    """Stats-pooled embeddings of ``keys``, one row per key in that order (None without embeddings).

    Raises
    ------
    KeyError
        If the embeddings file lacks one of ``keys`` (select keys with :func:`embedded` first).
    """
    path = context.inputs.get(embeddings_input)
    if path is None:
        return None
    store = downstream_store(context, embeddings_input)
    rows = [store.row(key) for key in keys]
    return np.asarray(store.stats()[rows], dtype=np.float64)


def downstream_store(context: AuditContext, embeddings_input: str) -> EmbeddingStore:
    """The store of an embeddings input (a ``.pt`` file or a store directory), opened once per run through the
    cache's layer selection."""
    if embeddings_input not in context.stores:
        path = Path(context.inputs[embeddings_input])
        context.stores[embeddings_input] = open_embeddings(path, context.out_dir / "stores" / embeddings_input,
                                                           context.cache.store.selection)
    return context.stores[embeddings_input]
