"""Reading an embedding store (:mod:`datamodules.store_format`): frames of one or more layers (read with ``pread``),
offsets, keys, pooled stats, frame ranges and descriptors, through a layer selection."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from datamodules.errors import contract_error
from datamodules.jsonio import read_json
from datamodules.layers import LayerSelection, LayerSelectionError, parse_layers
from datamodules.store_format import DESCRIPTORS_FILE, MANIFEST_FILE, OFFSETS_FILE, READABLE_FORMATS, stored_layers

#: Values (frames x width) read at once by the passes over a store's frames (a longer segment is read whole).
_BLOCK_VALUES = 1 << 24



class EmbeddingStore:
    """Read-only view of a store directory, through one layer selection; frames are read with ``pread``, never mapped.

    Parameters
    ----------
    store_dir : Path
        A directory written by :class:`StoreWriter`.
    layers : str or LayerSelection, default="default"
        Which layers every read serves (:mod:`datamodules.layers`): one layer as stored, a frame-wise mean of
        several (computed on read, in float32, from the float16 frames), or all of them side by side
        (``"weighted"``: ``dim = sum of the layer widths``, layer-major columns).

    Attributes
    ----------
    keys : tuple of str
        Segment keys in store order.
    layer_names : tuple of str
        Every layer the store holds, in store order.
    selection : LayerSelection
        The layers this view serves.
    dim : int
        Width of a served frame: the layer's D; for ``weighted``, the sum over layers.
    layer_dims : tuple of int
        Width of each selected layer (for ``weighted``: the blocks of a served frame, in order).
    offsets : ndarray of shape (n_segments + 1,), int64
    lengths : ndarray of shape (n_segments,), int64
        Frames per segment (25 per second for MuQ).
    descriptor_names : tuple of str
        Segment-level descriptors the store holds (empty for stores without them, e.g. converted MuQ files).
    """

    def __init__(self, store_dir: Path, layers: str | LayerSelection = "default") -> None:
        self.store_dir = Path(store_dir)
        manifest_path = self.store_dir / MANIFEST_FILE
        if not manifest_path.is_file():
            raise FileNotFoundError(f"{self.store_dir}: not an embedding store (no {MANIFEST_FILE})")
        self.manifest = read_json(manifest_path)
        if self.manifest.get("format_version") not in READABLE_FORMATS:
            raise contract_error(manifest_path, f"format_version {self.manifest.get('format_version')!r}, "
                                 f"expected one of {list(READABLE_FORMATS)}; rebuild the store")
        self.keys: tuple[str, ...] = tuple(self.manifest["keys"])
        self._layers = {layer.name: layer for layer in stored_layers(self.manifest)}
        self.layer_names: tuple[str, ...] = tuple(self._layers)
        self.default_layers: str = self.manifest.get("default_layers", self.layer_names[-1])
        spec = layers.spec if isinstance(layers, LayerSelection) else layers
        self.selection: LayerSelection = parse_layers(spec, self.layer_names, self.default_layers, self.store_dir)
        self.layer_dims: tuple[int, ...] = tuple(self._layers[name].dim for name in self.selection.layers)
        if self.selection.kind == "mean" and len(set(self.layer_dims)) > 1:
            raise LayerSelectionError(f"{self.store_dir}: --layers {self.selection.spec!r} averages layers of "
                             f"different widths {dict(zip(self.selection.layers, self.layer_dims, strict=True))}")
        self.dim: int = sum(self.layer_dims) if self.selection.kind == "weighted" else self.layer_dims[0]
        self.frame_rate_hz: float = float(self.manifest["frame_rate_hz"])
        self.descriptor_names: tuple[str, ...] = tuple(self.manifest.get("descriptor_names", ()))
        self.offsets: np.ndarray = np.load(self.store_dir / OFFSETS_FILE)
        self.lengths: np.ndarray = np.diff(self.offsets)
        self._row = {key: row for row, key in enumerate(self.keys)}
        self._stats: np.ndarray | None = None
        self._frame_ranges: np.ndarray | None = None

    @property
    def n_segments(self) -> int:
        return len(self.keys)

    @property
    def is_multi_layer(self) -> bool:
        """Whether the store holds more than one layer (then the selection is part of every fit's identity)."""
        return len(self.layer_names) > 1

    def with_layers(self, layers: str | LayerSelection) -> EmbeddingStore:
        """The same store through another layer selection."""
        return EmbeddingStore(self.store_dir, layers)

    def identity(self) -> dict[str, object]:
        """What a fit's configuration hash records of the frames: width, source, and the selection if it matters."""
        identity: dict[str, object] = {"dim": self.dim, "source": self.manifest.get("source")}
        if self.is_multi_layer:
            identity["layers"] = self.selection.spec
        return identity

    def row(self, key: str) -> int:
        """Store row of ``key``; raises ``KeyError`` naming the store if absent."""
        try:
            return self._row[key]
        except KeyError:
            raise KeyError(f"{self.store_dir}: no embedding for key {key!r}") from None

    def __contains__(self, key: str) -> bool:
        return key in self._row

    def frames(self, row: int) -> np.ndarray:
        """A private copy of segment ``row``'s served frames, shape ``(n_frames, dim)``, read with ``pread``.

        float16 for one layer or ``weighted``, float32 for a mean of layers. Unlike a memory map, whose pages stay
        mapped (and counted in the process's resident memory) once touched, a read leaves them in the kernel's page
        cache only: resident memory during an epoch is one batch, whatever the number of frames in the store.
        """
        layers = [self._read_layer(name, row) for name in self.selection.layers]
        if self.selection.kind == "single":
            return layers[0]
        if self.selection.kind == "weighted":
            return np.concatenate(layers, axis=1)
        return np.mean(np.stack(layers), axis=0, dtype=np.float32)

    def _read_layer(self, name: str, row: int) -> np.ndarray:
        """Layer ``name`` of segment ``row``, ``(n_frames, dim_l)`` float16."""
        return self._read_rows(name, row, row + 1)

    def _read_rows(self, name: str, first: int, last: int) -> np.ndarray:
        """Layer ``name`` of segments ``first`` to ``last - 1``, one after another, ``(n_frames, dim_l)`` float16,
        read with ``pread`` into a private array."""
        layer = self._layers[name]
        start, stop = int(self.offsets[first]), int(self.offsets[last])
        frames = np.empty((stop - start, layer.dim), dtype=np.float16)  # (n_frames, dim_l)
        path = self.store_dir / layer.frames_file
        with open(path, "rb", buffering=0) as handle:
            n_read = os.preadv(handle.fileno(), [frames], start * layer.dim * frames.itemsize)
        if n_read != frames.nbytes:
            rows = f"segment {first}" if last == first + 1 else f"segments {first}-{last - 1}"
            raise OSError(f"{path}: short read of {rows} ({n_read} of {frames.nbytes} bytes); the store is "
                          "truncated, rebuild it")
        return frames

    def stats(self) -> np.ndarray:
        """Stats-pooled features ``[mean, std]`` of the served frames, shape ``(n_segments, 2 * dim)``, float32.

        One layer: as stored (from the source frames). ``weighted``: every layer's means, then every layer's
        standard deviations (the stats of the side-by-side frames, exactly). A mean of layers: computed once per
        store object in one pass over the float16 frames, a bounded block at a time, and kept.
        """
        if self.selection.kind == "single":
            return np.load(self.store_dir / self._layers[self.selection.layers[0]].stats_file, mmap_mode="r")
        if self._stats is None:
            if self.selection.kind == "weighted":
                per_layer = [np.load(self.store_dir / self._layers[name].stats_file) for name in self.selection.layers]
                means = [stats[:, : stats.shape[1] // 2] for stats in per_layer]
                stds = [stats[:, stats.shape[1] // 2 :] for stats in per_layer]
                self._stats = np.concatenate([*means, *stds], axis=1)
            else:
                self._stats, self._frame_ranges = self._mean_layer_pass()
        return self._stats

    def _mean_layer_pass(self) -> tuple[np.ndarray, np.ndarray]:
        """Stats ``(n, 2 * dim)`` and frame ranges ``(n, 2, dim)`` of the frame-wise mean of the selected layers."""
        stats = np.empty((self.n_segments, 2 * self.dim), dtype=np.float32)
        ranges = np.empty((self.n_segments, 2, self.dim), dtype=np.float32)
        for first, last, starts, layers in self._blocks(self.selection.layers):
            block = np.mean([np.asarray(layer, np.float64) for layer in layers], axis=0)  # (n_block_frames, dim)
            sums = np.add.reduceat(block, starts, axis=0)
            squares = np.add.reduceat(block * block, starts, axis=0)
            lengths = self.lengths[first:last, None].astype(np.float64)
            mean = sums / lengths
            stats[first:last, : self.dim] = mean
            stats[first:last, self.dim :] = np.sqrt(np.maximum(squares / lengths - mean * mean, 0.0))
            ranges[first:last, 0] = np.minimum.reduceat(block, starts, axis=0)
            ranges[first:last, 1] = np.maximum.reduceat(block, starts, axis=0)
        return stats, ranges

    def _blocks(self, names: Sequence[str]) -> Iterator[tuple[int, int, np.ndarray, list[np.ndarray]]]:
        """Blocks of whole segments (at least one): ``(first_row, end_row, segment starts in block, frames)``, the
        frames one float16 array ``(n_block_frames, dim)`` per layer of ``names``, read with ``pread`` (no map:
        resident memory stays one block whatever the size of the store)."""
        block_frames = max(1, _BLOCK_VALUES // self._layers[names[0]].dim)
        first = 0
        while first < self.n_segments:
            end = int(np.searchsorted(self.offsets, self.offsets[first] + block_frames, "right")) - 1
            last = min(max(end, first + 1), self.n_segments)
            yield first, last, self.offsets[first:last] - self.offsets[first], [
                self._read_rows(name, first, last) for name in names]
            first = last

    def descriptors(self) -> np.ndarray | None:
        """Segment-level descriptors, shape ``(n_segments, len(descriptor_names))``, float64; None without any."""
        if not self.descriptor_names:
            return None
        return np.load(self.store_dir / DESCRIPTORS_FILE)

    def frame_ranges(self) -> np.ndarray:
        """Per-segment minimum and maximum of every served frame dimension, shape ``(n_segments, 2, dim)``, float32.

        One layer or ``weighted``: read from the store's ranges files where it has them; otherwise (stores written
        before they were stored, and a mean of layers) computed once per store object in one pass over the frames,
        a bounded block of frames at a time (memory does not grow with the number of frames), and kept.
        """
        if self._frame_ranges is None:
            if self.selection.kind == "mean":
                self._stats, self._frame_ranges = self._mean_layer_pass()
            else:
                self._frame_ranges = np.concatenate([self._layer_ranges(name) for name in self.selection.layers], 2)
        return self._frame_ranges

    def _layer_ranges(self, name: str) -> np.ndarray:
        """Per-segment minimum and maximum of layer ``name``, ``(n_segments, 2, dim_l)``, float32."""
        layer = self._layers[name]
        if layer.ranges_file is not None:
            return np.load(self.store_dir / layer.ranges_file).astype(np.float32)
        ranges = np.empty((self.n_segments, 2, layer.dim), dtype=np.float32)
        for first, last, starts, (block,) in self._blocks((name,)):
            block = block.astype(np.float32)  # exact: the extremes of float16 values
            for row, start, stop in zip(range(first, last), starts, [*starts[1:], len(block)], strict=True):
                ranges[row, 0], ranges[row, 1] = block[start:stop].min(axis=0), block[start:stop].max(axis=0)
        return ranges
