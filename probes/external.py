"""Loaders over segments outside the cache (e.g. masterclass STOP/CONTINUE segments) for a fitted prober.

They reuse a fold's standardisation (fitted on that fold's training rows), so a prober fitted on the fold predicts
external segments exactly as it predicts the fold's own validation rows. Targets are NaN (unknown) and the
``rows`` of each batch are rows of the external store.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader

from datamodules.batching import LengthBucketBatchSampler, StatsDataset, collate_packed
from datamodules.dimensions import N_DIMENSIONS
from datamodules.fold_datamodule import FoldDataModule
from datamodules.store import EmbeddingStore


def external_loader(
    datamodule: FoldDataModule,
    store: EmbeddingStore,
    store_rows: np.ndarray | None = None,
    batch_size: int | None = None,
) -> DataLoader:
    """An unshuffled loader of ``datamodule``'s view over rows of another embedding store.

    Parameters
    ----------
    datamodule : FoldDataModule
        The fold whose standardisation is applied (``setup`` is called).
    store : EmbeddingStore
        External segments (same frame dimension D as the cache).
    store_rows : ndarray of shape (n,), int64, optional
        Rows of ``store`` to serve; default all.
    batch_size : int, optional
        Default the DataModule's.

    Returns
    -------
    DataLoader
        ``stats`` view: ``(features (batch, 2 * D), targets (batch, 19) NaN, rows (batch,))``; ``frames`` view:
        :class:`~datamodules.batching.PackedBatch`. ``rows`` are ``store_rows`` entries.

    Raises
    ------
    ValueError
        If ``store.dim`` differs from the cache's D, or a row is out of range.
    """
    datamodule.setup()
    cache_dim = datamodule.cache.store.dim
    if store.dim != cache_dim:
        raise ValueError(f"{store.store_dir}: external store has D = {store.dim}, the cache has D = {cache_dim}")
    rows = np.arange(store.n_segments, dtype=np.int64) if store_rows is None else np.array(store_rows, np.int64)
    if rows.size and (rows.min() < 0 or rows.max() >= store.n_segments):
        raise ValueError(f"store_rows must lie in [0, {store.n_segments - 1}], got min {rows.min()} max {rows.max()}")
    targets = np.full((rows.size, N_DIMENSIONS), np.nan, dtype=np.float32)
    batch_size = datamodule.batch_size if batch_size is None else batch_size
    if datamodule.view == "stats":
        features = datamodule.transform(np.asarray(store.stats())[rows])  # (n, 2D)
        dataset = StatsDataset(features, targets, rows)
        return DataLoader(dataset, batch_size=batch_size, shuffle=False, generator=torch.Generator().manual_seed(0))
    dataset = datamodule.frames_dataset(store, rows, targets, rows)
    sampler = LengthBucketBatchSampler(dataset.lengths(), batch_size, seed=0, shuffle=False)
    return DataLoader(dataset, batch_sampler=sampler, collate_fn=collate_packed)
