"""Loading as the notebook did: the whole ``muq_embeddings.pt`` dict in memory, labels and folds from JSON."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from datamodules.dimensions import N_DIMENSIONS


@dataclass(frozen=True)
class OriginalData:
    """Everything the original jobs read.

    Attributes
    ----------
    keys : list of str, length n_segments
        Labelled keys with embeddings, in ``labels.json`` order.
    labels : ndarray of shape (n_segments, 19)
        Labels on [0, 1].
    folds : list of (train_rows, val_rows)
        int64 rows into ``keys`` per fold.
    embeddings : dict of str to Tensor of shape (n_frames, dim)
        The whole dict, resident in memory (float16 as stored).
    stats : ndarray of shape (n_segments, 2 * dim), float64
        Per-segment frame mean then standard deviation.
    """

    keys: list[str]
    labels: np.ndarray
    folds: list[tuple[np.ndarray, np.ndarray]]
    embeddings: dict[str, torch.Tensor]
    stats: np.ndarray


def load(cache_dir: Path) -> OriginalData:
    """Read ``labels.json``, ``folds.json`` and ``muq_embeddings.pt`` from ``cache_dir`` and stats-pool every segment.

    Notes
    -----
    ``torch.load`` without ``mmap`` reads every tensor into memory, as the notebook did. The standard deviation is
    the population one (``ddof=0``), the convention of the suite's store, so that the two stats-pooled Ridge
    probes see the same features and differ only in how they are computed.
    """
    cache_dir = Path(cache_dir)
    embeddings = torch.load(cache_dir / "muq_embeddings.pt", weights_only=True)
    raw_labels = json.loads((cache_dir / "labels.json").read_text())
    raw_folds = json.loads((cache_dir / "folds.json").read_text())
    keys = [key for key in raw_labels if key in embeddings]
    row_of = {key: row for row, key in enumerate(keys)}
    labels = np.array([raw_labels[key][:N_DIMENSIONS] for key in keys], dtype=np.float64)  # (n, 19)
    folds = [(np.array([row_of[k] for k in fold["train"] if k in row_of], dtype=np.int64),
              np.array([row_of[k] for k in fold["val"] if k in row_of], dtype=np.int64)) for fold in raw_folds]
    stats = np.stack([_stats_pool(embeddings[key]) for key in keys])  # (n, 2 * dim)
    return OriginalData(keys=keys, labels=labels, folds=folds, embeddings=embeddings, stats=stats)


def _stats_pool(frames: torch.Tensor) -> np.ndarray:
    exact = frames.double()  # (n_frames, dim)
    return torch.cat([exact.mean(dim=0), exact.std(dim=0, correction=0)]).numpy()  # (2 * dim,)
