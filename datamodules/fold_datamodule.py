"""One cross-validation fold as a LightningDataModule, in the ``stats`` or the ``frames`` view."""

from __future__ import annotations

from typing import Literal

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader

from datamodules.batching import (
    EpochOrderSampler,
    FramesDataset,
    LengthBucketBatchSampler,
    PrefetchingDataLoader,
    StatsDataset,
    collate_packed,
)
from datamodules.cache import PercepianoCache
from datamodules.clip import DEFAULT_CLIP
from datamodules.resident import RESIDENT_BYTES
from datamodules.store import EmbeddingStore

View = Literal["frames", "stats"]
VIEWS: tuple[str, ...] = ("frames", "stats")
#: Relative standard deviation at or below which a feature counts as constant on the training rows (round-off).
_CONSTANT_STD = 10 * np.finfo(np.float64).eps


def inner_split(rows: np.ndarray, groups: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Carve an inner validation part out of training ``rows``, keeping each group on one side.

    Parameters
    ----------
    rows : ndarray of shape (n,), int64
        Training rows of a fold.
    groups : ndarray of shape (n,)
        Group (excerpt) of each row.
    fraction : float in (0, 1)
        Target share of rows in the inner validation part.
    seed : int

    Returns
    -------
    fit_rows, inner_val_rows : ndarray
        Disjoint, together ``rows``; no group on both sides.
    """
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fraction must be in (0, 1), got {fraction}")
    unique_groups = np.unique(groups)
    if len(unique_groups) < 2:
        raise ValueError(f"need at least 2 groups to carve an inner split, got {len(unique_groups)}")
    shuffled = np.random.default_rng(seed).permutation(unique_groups)
    chosen, n_chosen = [], 0
    for group in shuffled:
        if n_chosen >= fraction * len(rows) or len(chosen) == len(unique_groups) - 1:
            break
        chosen.append(group)
        n_chosen += int(np.sum(groups == group))
    is_inner = np.isin(groups, chosen)
    return rows[~is_inner], rows[is_inner]


class FoldDataModule(L.LightningDataModule):
    """Train/validation data of one fold of a :class:`~datamodules.cache.PercepianoCache`.

    Standardisation is fitted on the rows used for training only: in the ``stats`` view a per-feature mean and
    standard deviation of the ``(n, 2 * D)`` pooled features; in the ``frames`` view a per-dimension mean and
    standard deviation over all frames of the training segments, derived exactly from their stored
    per-segment means, standard deviations and lengths (no extra pass over the frames).

    Parameters
    ----------
    cache : PercepianoCache
        An opened cache with embeddings.
    fold : int
        Fold index into ``cache.folds``.
    view : {"stats", "frames"}, default="stats"
    batch_size : int, default=64
    seed : int, default=0
        Seeds shuffling and the inner split: the same seed gives the same batches.
    inner_val_fraction : float, default=0.0
        If > 0, a share of the fold's training rows (whole excerpts) is held out as an inner validation part for
        early stopping and tuning; the fold's own val rows are never used for either.
    standardize : bool, default=True
    clip : float or None, default=DEFAULT_CLIP (5.0)
        Standardised values are clipped to ``[-clip, clip]`` (training standard deviations), in both views and for
        every row served (training, inner validation, validation, external segments); None turns clipping off.
        See Notes.
    num_workers : int, default=0
    resident_bytes : int, default=RESIDENT_BYTES (256 MiB)
        Frames view: a dataset whose standardised frames (float32) take at most this many bytes is read from the
        store, standardised and clipped once and kept in memory (:class:`~datamodules.batching.FramesDataset`'s
        ``resident``); a larger one is read batch by batch, each epoch, so memory stays bounded by a batch. The
        batches are the same either way. 0: always read batch by batch.

    Attributes
    ----------
    fit_rows_, inner_val_rows_, val_rows_ : ndarray of int64
        Rows used for training, inner validation (may be empty) and the fold's validation (predicted).
    mean_, scale_ : ndarray
        Standardisation, shape ``(2 * D,)`` (stats) or ``(D,)`` (frames).
    n_constant_features_ : int
        Features constant on the training rows (e.g. a MIDI key never played there). Their scale is 1, as
        scikit-learn's ``StandardScaler`` sets it: validation values are centred on the training constant, not
        divided by a vanishing deviation (which blew them up to 1e7 on the real MIDI features).

    Notes
    -----
    Why clip. A column that is *nearly* constant on a fold's training rows (a MIDI key played in two of 700
    training segments; an embedding unit that rarely fires) has a tiny but non-zero training deviation, so a
    validation segment that uses it gets a standardised value of tens or hundreds. One such value moves a linear
    prediction by ``coef * z`` and a trained prober's activations without bound: on the real MIDI features it put
    ``ridge_tuned``'s mean pooled R2 at -0.06 instead of +0.32. Clipping bounds every standardised value, so a
    column can move a prediction by at most ``2 * clip * |coef|`` whatever its validation values; a column whose
    values stay within ``clip`` training deviations of the training mean (any well-behaved column: a Gaussian
    column exceeds 5 deviations with probability 6e-7) is not changed at all. The rule uses the training rows only,
    is unit-free (unlike a floor on the deviation), and is the same in the ``stats`` and ``frames`` views.
    :meth:`n_clipped_features` counts the columns it touched.
    """

    def __init__(
        self,
        cache: PercepianoCache,
        fold: int,
        view: View = "stats",
        batch_size: int = 64,
        seed: int = 0,
        inner_val_fraction: float = 0.0,
        standardize: bool = True,
        clip: float | None = DEFAULT_CLIP,
        num_workers: int = 0,
        resident_bytes: int = RESIDENT_BYTES,
    ) -> None:
        super().__init__()
        if view not in VIEWS:
            raise ValueError(f"view must be one of {VIEWS}, got {view!r}")
        if cache.store is None:
            raise ValueError(f"{cache.directory}: the cache has no embeddings; probing needs muq_embeddings.pt or "
                             "store/")
        if not 0 <= fold < len(cache.folds):
            raise ValueError(f"fold must be in [0, {len(cache.folds) - 1}], got {fold}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if clip is not None and not (isinstance(clip, int | float) and np.isfinite(clip) and clip > 0):
            raise ValueError(f"clip must be a positive number of training standard deviations or None, got {clip!r}")
        if isinstance(resident_bytes, bool) or not isinstance(resident_bytes, int | np.integer) or resident_bytes < 0:
            raise ValueError(f"resident_bytes must be a non-negative integer, got {resident_bytes!r}")
        self.cache = cache
        self.fold = fold
        self.view = view
        self.batch_size = batch_size
        self.seed = seed
        self.inner_val_fraction = inner_val_fraction
        self.standardize = standardize
        self.clip = clip
        self.num_workers = num_workers
        self.resident_bytes = int(resident_bytes)
        self._prepared = False

    def setup(self, stage: str | None = None) -> None:
        """Split rows and fit the standardisation (idempotent)."""
        if self._prepared:
            return
        train_rows, val_rows = self.cache.folds[self.fold]
        if len(train_rows) == 0 or len(val_rows) == 0:
            raise ValueError(f"{self.cache.directory}: fold {self.fold} has no train or no val rows after alignment "
                             f"(train {len(train_rows)}, val {len(val_rows)}); see the alignment report")
        if self.inner_val_fraction > 0:
            groups = np.asarray(self.cache.excerpts)[train_rows]
            self.fit_rows_, self.inner_val_rows_ = inner_split(train_rows, groups, self.inner_val_fraction, self.seed)
        else:
            self.fit_rows_, self.inner_val_rows_ = train_rows, np.empty(0, dtype=np.int64)
        self.val_rows_ = val_rows
        self.mean_, self.scale_ = self._fit_standardization(self.fit_rows_)
        self._prepared = True

    def _fit_standardization(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        stats = self.cache.stats_features()[rows].astype(np.float64)  # (n, 2D)
        if not self.standardize:
            width = stats.shape[1] if self.view == "stats" else stats.shape[1] // 2
            self.n_constant_features_ = 0
            return np.zeros(width), np.ones(width)
        if self.view == "stats":
            mean, std = stats.mean(axis=0), stats.std(axis=0)
        else:
            dim = stats.shape[1] // 2
            lengths = self.cache.store.lengths[self.cache.store_rows[rows]].astype(np.float64)[:, None]  # (n, 1)
            means, stds = stats[:, :dim], stats[:, dim:]
            mean = (lengths * means).sum(axis=0) / lengths.sum()
            # within-segment plus between-segment variance: no cancellation, exactly 0 for a constant dimension
            std = np.sqrt((lengths * (stds**2 + (means - mean) ** 2)).sum(axis=0) / lengths.sum())
        constant = std <= _CONSTANT_STD * np.maximum(np.abs(mean), 1.0)
        self.n_constant_features_ = int(constant.sum())
        return mean, np.where(constant, 1.0, std)

    def standardization(self) -> dict[str, object]:
        """The standardisation settings, as part of a fold's configuration: ``{"standardize", "clip"}``."""
        return {"standardize": self.standardize, "clip": self.clip if self.standardize else None}

    def transform(self, values: np.ndarray) -> np.ndarray:
        """Standardise (and clip) raw values of this view, shape ``(..., width)``, float32."""
        self.setup()
        scaled = (np.asarray(values, dtype=np.float64) - self.mean_) / self.scale_
        if self.standardize and self.clip is not None:
            np.clip(scaled, -self.clip, self.clip, out=scaled)
        return scaled.astype(np.float32)

    def features(self, rows: np.ndarray) -> np.ndarray:
        """Standardised stats-pooled features of ``rows``, shape ``(len(rows), 2 * D)``, float32 (stats view)."""
        self.setup()
        if self.view != "stats":
            raise ValueError("features() serves the stats view; this module has view='frames'")
        return self.transform(self.cache.stats_features()[rows])

    def n_clipped_features(self) -> int:
        """Columns of this view with some value of the fold's rows (training or validation) beyond ``clip``.

        In the ``frames`` view a column counts when any frame of a fold segment is beyond the bound (read from the
        store's per-segment frame minima and maxima). 0 without clipping or standardisation.
        """
        self.setup()
        if not self.standardize or self.clip is None:
            return 0
        rows = np.concatenate([self.fit_rows_, self.inner_val_rows_, self.val_rows_])
        if self.view == "stats":
            low = high = self.cache.stats_features()[rows].astype(np.float64)  # (n, 2D)
        else:
            ranges = self.cache.store.frame_ranges()[self.cache.store_rows[rows]]  # (n, 2, D)
            low, high = ranges[:, 0], ranges[:, 1]
        beyond = ((low - self.mean_) / self.scale_ < -self.clip) | ((high - self.mean_) / self.scale_ > self.clip)
        return int(beyond.any(axis=0).sum())

    def targets(self, rows: np.ndarray) -> np.ndarray:
        """Labels of ``rows``, shape ``(len(rows), 19)``, on [0, 1]."""
        return self.cache.labels[rows]

    def dataset(self, rows: np.ndarray) -> StatsDataset | FramesDataset:
        """The dataset of this view over ``rows``."""
        self.setup()
        if self.view == "stats":
            return StatsDataset(self.features(rows), self.targets(rows), rows)
        return self.frames_dataset(self.cache.store, self.cache.store_rows[rows], self.targets(rows), rows)

    def frames_dataset(self, store: EmbeddingStore, store_rows: np.ndarray, targets: np.ndarray,
                       rows: np.ndarray) -> FramesDataset:
        """A :class:`FramesDataset` of ``store`` standardised (and clipped) as this fold's training rows say; kept in
        memory when its float32 frames fit in ``resident_bytes``."""
        self.setup()
        n_bytes = int(store.lengths[np.asarray(store_rows, dtype=np.int64)].sum()) * store.dim * 4
        resident = n_bytes <= self.resident_bytes
        if not self.standardize:
            return FramesDataset(store, store_rows, targets, rows, resident=resident)
        return FramesDataset(store, store_rows, targets, rows, self.mean_, self.scale_, self.clip, resident=resident)

    def loader(self, rows: np.ndarray, shuffle: bool) -> DataLoader:
        """A DataLoader over ``rows`` (length-bucketed, packed and prefetched in a thread in the frames view)."""
        dataset = self.dataset(rows)
        if self.view == "stats":
            generator = torch.Generator().manual_seed(self.seed)
            sampler = EpochOrderSampler(len(dataset), generator) if shuffle else None
            return DataLoader(dataset, batch_size=self.batch_size, sampler=sampler, generator=generator,
                              num_workers=self.num_workers)
        sampler = LengthBucketBatchSampler(dataset.lengths(), self.batch_size, self.seed, shuffle=shuffle)
        return PrefetchingDataLoader(dataset, batch_sampler=sampler, collate_fn=collate_packed,
                                     num_workers=self.num_workers)

    def train_dataloader(self) -> DataLoader:
        """Shuffled batches of the training rows (inner validation excluded)."""
        self.setup()
        return self.loader(self.fit_rows_, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        """The inner validation rows when carved, else the fold's val rows (then for monitoring curves only)."""
        self.setup()
        rows = self.inner_val_rows_ if len(self.inner_val_rows_) else self.val_rows_
        return self.loader(rows, shuffle=False)

    def predict_dataloader(self) -> DataLoader:
        """The fold's val rows, unshuffled."""
        self.setup()
        return self.loader(self.val_rows_, shuffle=False)


def standardization_counts(cache: PercepianoCache,
                           clip: float | None = DEFAULT_CLIP) -> dict[str, dict[str, list[int]]]:
    """Per view, per fold: the columns the standardisation treated specially (nothing is dropped).

    Returns ``{"stats": {"constant": [n per fold], "clipped": [n per fold]}, "frames": {...}}``: ``constant``
    columns had no variance on the fold's training rows and keep scale 1 (``FoldDataModule.n_constant_features_``);
    ``clipped`` columns had some value of the fold's rows beyond ``clip`` training deviations
    (:meth:`FoldDataModule.n_clipped_features`).
    """
    counts = {}
    for view in VIEWS[::-1]:  # stats first
        modules = [FoldDataModule(cache, fold, view=view, clip=clip) for fold in range(len(cache.folds))]
        for module in modules:
            module.setup()
        counts[view] = {"constant": [module.n_constant_features_ for module in modules],
                        "clipped": [module.n_clipped_features() for module in modules]}
    return counts

