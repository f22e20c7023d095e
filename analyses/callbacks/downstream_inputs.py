"""Where the downstream callbacks get quality scores: a user's predictions file or the suite's fold ensemble."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from analyses.context import AuditContext
from datamodules.embeddings import open_embeddings
from datamodules.clip import DEFAULT_CLIP
from datamodules.quality_predictions import load_quality_predictions
from datamodules.store import EmbeddingStore
from probes.cross_validation import prober_overrides, seed_directories
from probes.ensemble import predict_keys

DEFAULT_QUALITY_PROBER = "ridge_tuned"


def quality_scores(
    context: AuditContext, keys: list[str] | tuple[str, ...], embeddings_input: str
) -> tuple[np.ndarray | None, np.ndarray, str]:
    """Predicted 19-dimensional quality for ``keys``.

    Parameters
    ----------
    context : AuditContext
    keys : sequence of str
        Segment ids (masterclass) or recording ids (competition).
    embeddings_input : str
        Name in ``context.inputs`` of the embeddings file keyed by those ids.

    Returns
    -------
    quality : ndarray of shape (n_found, 19) or None
        None when neither a predictions file nor embeddings exist.
    found : ndarray of shape (len(keys),), bool
    source : str
        Where the scores came from (for the protocol), or why there are none.
    """
    predictions_file = context.settings.get("quality_predictions")
    if predictions_file:
        loaded = load_quality_predictions(Path(predictions_file))
        found = np.array([key in loaded for key in keys], dtype=bool)
        quality = np.array([loaded[key] for key in keys if key in loaded]).reshape(-1, 19)
        n_other = len(set(loaded) - set(keys))
        return quality, found, (f"user predictions file {predictions_file} ({int(found.sum())} of {len(keys)} ids "
                                f"found; {n_other} of its {len(loaded)} entries are not ids of this section)")
    path = context.inputs.get(embeddings_input)
    if path is None or context.cache.store is None:
        reason = f"no {embeddings_input.replace('_', ' ')} file" if path is None else "the cache has no embeddings"
        return None, np.zeros(len(keys), dtype=bool), reason
    store = _store(context, embeddings_input)
    prober = context.settings.get("quality_prober") or DEFAULT_QUALITY_PROBER
    seeds = [seed for seed, _ in quality_seed_directories(context, prober)]
    runs = [predict_keys(prober, context.cache, store, keys, seed=seed, datamodule_kwargs=run_datamodule_kwargs(context),
                         **run_prober_overrides(context, prober)) for seed in seeds]  # fmt: skip
    quality, found = np.mean([predictions for predictions, _ in runs], axis=0), runs[0][1]
    return quality, found, (f"{prober} prober fitted on each of the {len(context.cache.folds)} PercePiano folds"
                            + (f" with each of {len(seeds)} seeds" if len(seeds) > 1 else "")
                            + f", predictions averaged (ensemble), from {Path(path).name}")


def run_prober_overrides(context: AuditContext, prober: str) -> dict:
    """The run's overrides (``--epochs-scale``, ``--accelerator``) for ``prober``."""
    return prober_overrides(prober, float(context.settings.get("epochs_scale", 1.0)),
                            str(context.settings.get("accelerator", "auto")))


def run_datamodule_kwargs(context: AuditContext) -> dict:
    """The run's :class:`~datamodules.fold_datamodule.FoldDataModule` settings (``--clip``)."""
    return {"clip": context.settings.get("clip", DEFAULT_CLIP)}


def quality_seed_directories(context: AuditContext, prober: str) -> list[tuple[int, Path]]:
    """``(seed, directory)`` of the quality prober's seed runs (``--prober-seeds``), laid out as the probing fit's."""
    return seed_directories(prober, context.out_dir, context.seed, int(context.settings.get("prober_seeds", 1)))


def embedded(context: AuditContext, keys: list[str] | tuple[str, ...], embeddings_input: str) -> np.ndarray | None:
    """Which ``keys`` the embeddings file holds, shape ``(len(keys),)`` bool (None without the file)."""
    path = context.inputs.get(embeddings_input)
    if path is None:
        return None
    store = _store(context, embeddings_input)
    return np.array([key in store for key in keys], dtype=bool)


def stats_features(context: AuditContext, keys: list[str] | tuple[str, ...], embeddings_input: str) -> np.ndarray | None:
    """Stats-pooled embeddings of ``keys``, one row per key in that order (None without embeddings).

    Raises
    ------
    KeyError
        If the embeddings file lacks one of ``keys`` (select keys with :func:`embedded` first).
    """
    path = context.inputs.get(embeddings_input)
    if path is None:
        return None
    store = _store(context, embeddings_input)
    rows = [store.row(key) for key in keys]
    return np.asarray(store.stats()[rows], dtype=np.float64)


def _store(context: AuditContext, embeddings_input: str) -> EmbeddingStore:
    """The store of an embeddings input (a ``.pt`` file or a store directory), opened once per run through the
    cache's layer selection."""
    if embeddings_input not in context.stores:
        path = Path(context.inputs[embeddings_input])
        context.stores[embeddings_input] = open_embeddings(path, context.out_dir / "stores" / embeddings_input,
                                                           context.cache.store.selection)
    return context.stores[embeddings_input]
