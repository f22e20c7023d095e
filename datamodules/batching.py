"""Datasets, packing collate and length-bucketed batch sampling for the two views of a fold.

``stats`` view: one standardised ``(2 * D,)`` vector per segment. ``frames`` view: a variable-length
``(n_frames, D)`` sequence per segment (25 frames per second for MuQ), batched packed: the batch's segments one
after another along the frame axis, with their lengths. Packing stores no padding, so a matrix product over a
batch's frames reads each real frame once and nothing else (on the real MIDI cache, padding to the longest segment
of a length-bucketed batch of 32 would add 39% rows).
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from datamodules.store import EmbeddingStore


@dataclass(frozen=True, slots=True)
class PackedBatch:
    """A batch of frame sequences packed along the frame axis.

    Attributes
    ----------
    frames : Tensor of shape (n_frames, D), float32
        Segment ``i``'s frames are rows ``lengths[:i].sum()`` to ``lengths[:i + 1].sum()``.
    lengths : Tensor of shape (batch,), int64
        Frames of each segment (every one at least 1).
    targets : Tensor of shape (batch, 19), float32
    rows : Tensor of shape (batch,), int64
        Cache rows of the segments.
    """

    frames: torch.Tensor
    lengths: torch.Tensor
    targets: torch.Tensor
    rows: torch.Tensor

    def to(self, device: torch.device | str) -> PackedBatch:
        """Move every tensor to ``device``."""
        return PackedBatch(self.frames.to(device), self.lengths.to(device), self.targets.to(device),
                           self.rows.to(device))


def segment_ids(lengths: torch.Tensor) -> torch.Tensor:
    """The segment of each packed frame, shape ``(lengths.sum(),)``: ``i`` repeated ``lengths[i]`` times."""
    return torch.repeat_interleave(torch.arange(len(lengths), device=lengths.device), lengths)


def padded_positions(lengths: torch.Tensor, width: int) -> torch.Tensor:
    """Where each packed frame goes in a ``(batch, width)`` padded layout, flattened: ``b * width + t`` for frame
    ``t`` of segment ``b``, shape ``(lengths.sum(),)`` int64 (``width`` at least the longest length)."""
    starts = torch.cumsum(lengths, 0) - lengths  # (batch,) first packed frame of each segment
    shifts = torch.arange(len(lengths), device=lengths.device) * width - starts  # (batch,)
    return torch.arange(int(lengths.sum()), device=lengths.device) + torch.repeat_interleave(shifts, lengths)


def pad_packed(frames: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Zero-padded ``(batch, max_frames, ...)`` frames and their ``(batch, max_frames)`` bool mask (True on real
    frames) from packed ``(n_frames, ...)`` frames and their ``(batch,)`` lengths (differentiable)."""
    sequences = frames.split(lengths.tolist())
    padded = torch.nn.utils.rnn.pad_sequence(sequences, batch_first=True)  # (batch, max_frames, ...)
    mask = torch.arange(padded.shape[1], device=lengths.device)[None, :] < lengths[:, None]  # (batch, max_frames)
    return padded, mask


class StatsDataset(Dataset):
    """Rows of stats-pooled features: items are ``(features (2D,), targets (19,), row)``."""

    def __init__(self, features: np.ndarray, targets: np.ndarray, rows: np.ndarray) -> None:
        self.features = torch.as_tensor(features, dtype=torch.float32)  # (n, 2D)
        self.targets = torch.as_tensor(targets, dtype=torch.float32)  # (n, 19)
        self.rows = torch.as_tensor(rows, dtype=torch.int64)  # (n,)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.features[index], self.targets[index], self.rows[index]


class FramesDataset(Dataset):
    """Frame sequences read lazily from the store and standardised per feature dimension.

    Parameters
    ----------
    store : EmbeddingStore
    store_rows : ndarray of shape (n,), int64
        Store row of each item.
    targets : ndarray of shape (n, 19)
    rows : ndarray of shape (n,), int64
        Cache rows of the items (returned with each batch).
    mean, scale : ndarray of shape (D,), optional
        Standardisation (fitted on the training part of the fold); identity when None.
    clip : float, optional
        Standardised values are clipped to ``[-clip, clip]`` (with ``mean`` and ``scale`` only); None: no clipping.
    resident : bool, default=False
        Read, standardise and clip every item once, here, and keep them: each epoch then serves the kept tensors
        instead of reading the store again (the same values). Items are then shared, not private copies: a consumer
        must not modify them in place (:func:`collate_packed` copies). Memory grows with the items' frames, so the
        caller decides by their size (:class:`~datamodules.fold_datamodule.FoldDataModule`'s ``resident_bytes``).
    """

    def __init__(
        self,
        store: EmbeddingStore,
        store_rows: np.ndarray,
        targets: np.ndarray,
        rows: np.ndarray,
        mean: np.ndarray | None = None,
        scale: np.ndarray | None = None,
        clip: float | None = None,
        resident: bool = False,
    ) -> None:
        self.store = store
        self.store_rows = np.asarray(store_rows, dtype=np.int64)
        self.targets = torch.as_tensor(targets, dtype=torch.float32)
        self.rows = torch.as_tensor(rows, dtype=torch.int64)
        self.mean = None if mean is None else torch.as_tensor(mean, dtype=torch.float32)
        self.scale = None if scale is None else torch.as_tensor(scale, dtype=torch.float32)
        self.clip = clip
        self._resident = [self._read(index) for index in range(len(self))] if resident else None

    def __len__(self) -> int:
        return len(self.store_rows)

    @property
    def is_resident(self) -> bool:
        """Whether the items were read once and are kept (``resident=True``)."""
        return self._resident is not None

    def lengths(self) -> np.ndarray:
        """Number of frames of each item, shape ``(n,)``."""
        return self.store.lengths[self.store_rows]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        frames = self._read(index) if self._resident is None else self._resident[index]  # (T, D)
        return frames, self.targets[index], self.rows[index]

    def _read(self, index: int) -> torch.Tensor:
        """Item ``index``'s frames read from the store, standardised and clipped, ``(T, D)`` float32."""
        frames = torch.from_numpy(self.store.frames(self.store_rows[index])).float()  # (T, D)
        if self.mean is not None:
            frames.sub_(self.mean).div_(self.scale)  # (T, D), in place on the private copy
            if self.clip is not None:
                frames.clamp_(-self.clip, self.clip)  # (T, D)
        return frames


def collate_packed(items: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]) -> PackedBatch:
    """Pack ``(frames (T_i, D), targets (19,), row)`` items into a :class:`PackedBatch` (each frame written once)."""
    lengths = torch.tensor([frames.shape[0] for frames, _, _ in items], dtype=torch.int64)
    frames = torch.cat([frames for frames, _, _ in items])  # (sum T_i, D)
    targets = torch.stack([target for _, target, _ in items])
    rows = torch.stack([row for _, _, row in items])
    return PackedBatch(frames, lengths, targets, rows)


class EpochOrderSampler(Sampler[int]):
    """A random order of ``range(n)`` per epoch, drawn from ``generator`` as a plain loop over a shuffled DataLoader.

    ``torch``'s ``RandomSampler`` draws one more, empty ``randperm`` when it is iterated past its last index; a
    ``for`` loop over ``DataLoader(shuffle=True, generator=g)`` (the original notebook) does that every epoch, but
    Lightning ends an epoch of known length without the extra step, so from the second epoch on it would see other
    orders from the same seed. This sampler makes both draws when the epoch starts: every epoch's order equals the
    plain loop's.

    Parameters
    ----------
    n : int
        Number of items.
    generator : torch.Generator
        The DataLoader's generator (it also draws the loader's base seed when each epoch's iterator is created).
    """

    def __init__(self, n: int, generator: torch.Generator) -> None:
        self.n = n
        self.generator = generator

    def __len__(self) -> int:
        return self.n

    def __iter__(self) -> Iterator[int]:
        order = torch.randperm(self.n, generator=self.generator).tolist()
        torch.randperm(self.n, generator=self.generator)  # the exhausted RandomSampler's trailing draw (kept: none)
        return iter(order)


class LengthBucketBatchSampler(Sampler[list[int]]):
    """Batches of similar-length segments (a batch's cost then varies little, and a padding prober wastes little).

    Each epoch shuffles the items, cuts them into chunks of ``batch_size * bucket_factor``, sorts each chunk by
    length, splits it into batches and shuffles the batch order. With ``batch_size=1`` each epoch yields the shuffled
    order itself: ``np.random.default_rng(seed).permutation`` drawn once per epoch, the order of the original
    notebook's batch-size-1 loop. With ``shuffle=False`` (prediction) the batches are consecutive runs of the items
    sorted by length; batches carry their rows, so order is never lost.

    Parameters
    ----------
    lengths : ndarray of shape (n,)
        Frames per item.
    batch_size : int
    seed : int
        Seeds one ``np.random.Generator`` whose draws give the epochs' orders in turn: deterministic given the seed
        and the number of epochs iterated.
    shuffle : bool, default=True
    bucket_factor : int, default=8
    """

    def __init__(self, lengths: np.ndarray, batch_size: int, seed: int, shuffle: bool = True, bucket_factor: int = 8):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.lengths = np.asarray(lengths)
        self.batch_size = batch_size
        self.seed = seed
        self.shuffle = shuffle
        self.bucket_factor = bucket_factor
        self._rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return -(-len(self.lengths) // self.batch_size)

    def __iter__(self) -> Iterator[list[int]]:
        n_items = len(self.lengths)
        if not self.shuffle:
            order = np.argsort(self.lengths, kind="stable")
            yield from (order[start : start + self.batch_size].tolist() for start in range(0, n_items, self.batch_size))
            return
        order = self._rng.permutation(n_items)
        if self.batch_size == 1:
            yield from ([item] for item in order.tolist())
            return
        chunk = self.batch_size * self.bucket_factor
        batches = []
        for start in range(0, n_items, chunk):
            part = order[start : start + chunk]
            part = part[np.argsort(self.lengths[part], kind="stable")]
            batches.extend(part[i : i + self.batch_size].tolist() for i in range(0, len(part), self.batch_size))
        for index in self._rng.permutation(len(batches)):
            yield batches[index]


class PrefetchingDataLoader(DataLoader):
    """A DataLoader that prepares the next batch in a background thread while the caller works on the current one.

    With ``num_workers=0`` reading, standardising and packing a batch of frames otherwise waits for the training
    step, and the step for it; here they overlap (reads and torch kernels release the GIL). The batches and their
    order are exactly those of a plain DataLoader. With ``num_workers > 0`` the worker processes already overlap,
    and iteration is the plain one.
    """

    def __iter__(self) -> Iterator:
        batches = super().__iter__()
        return batches if self.num_workers > 0 else _prefetched(batches)


_END = object()


def _prefetched(batches: Iterator) -> Iterator:
    """Yield ``batches`` while the next one is being made in one background thread."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="percepiano-prefetch") as executor:
        pending = executor.submit(next, batches, _END)
        while (batch := pending.result()) is not _END:
            pending = executor.submit(next, batches, _END)
            yield batch
