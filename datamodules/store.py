"""A memory-mapped embedding store: contiguous float16 frames of one or more layers, offsets, keys, pooled stats.

Layout of a store directory (after HEAR's ``{split}.embeddings.npy`` + sidecars, but written atomically):

``frames.f16`` (one layer) or ``frames.<l>.f16`` (layer ``l`` of several)
    Raw float16, shape ``(n_frames, dim_l)``, C order: all segments' frames one after another. One file per layer,
    so reading one layer reads only its bytes.
``offsets.npy``
    int64, shape ``(n_segments + 1,)``: segment ``i`` is ``frames[offsets[i]:offsets[i + 1]]`` in every layer.
``stats.f32.npy`` / ``stats.<l>.f32.npy``
    float32, shape ``(n_segments, 2 * dim_l)``: per-segment frame mean then population standard deviation
    (ddof = 0), accumulated in float64 from the *source* frames in the same pass that writes them.
``descriptors.f64.npy``
    optional, float64, shape ``(n_segments, n_descriptors)``: segment-level descriptors declared by the extractor
    (names in the manifest's ``descriptor_names``), for the descriptor baseline.
``manifest.json``
    keys, layers (name, width, files), default layer selection, counts, frame rate, descriptor names, and the
    fingerprint of the source, written last.

Keys, offsets and descriptors exist once whatever the number of layers. Format 1 stores (one layer, no ``layers``
entry) open as a store with the single layer ``"0"``.

A store is built in a temporary sibling directory and renamed into place, so a reader never opens a half-written
store. Readers map the files lazily: memory during a run does not grow with the number of frames.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from datamodules.errors import contract_error
from datamodules.jsonio import read_json, write_json_atomic
from datamodules.layers import LayerSelection, LayerSelectionError, parse_layers

FORMAT_VERSION = 2
#: Store formats this reader opens (1: one layer, before multi-layer stores).
READABLE_FORMATS = (1, 2)
FRAMES_FILE = "frames.f16"
OFFSETS_FILE = "offsets.npy"
STATS_FILE = "stats.f32.npy"
MANIFEST_FILE = "manifest.json"
DESCRIPTORS_FILE = "descriptors.f64.npy"
#: Values (frames x width) read at once by the passes over a store's frames (a longer segment is read whole).
_BLOCK_VALUES = 1 << 24


def file_fingerprint(path: Path) -> dict[str, object]:
    """Size and SHA-256 of a file (read in 8 MiB blocks), used to decide whether a store is current."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(8 << 20), b""):
            digest.update(block)
    return {"path": str(path), "size": Path(path).stat().st_size, "sha256": digest.hexdigest()}


@dataclass(frozen=True, slots=True)
class StoredLayer:
    """One layer's files in a store: ``frames_file`` ``(n_frames, dim)`` float16, ``stats_file`` ``(n, 2 * dim)``."""

    name: str
    dim: int
    frames_file: str
    stats_file: str


class StoreWriter:
    """Write segments one at a time into a new store, then :meth:`commit` it atomically.

    Parameters
    ----------
    store_dir : Path
        Final location of the store. Nothing appears there until :meth:`commit`.
    source : dict
        Provenance of the frames (e.g. :func:`file_fingerprint` of the source file, or extractor settings);
        :func:`store_is_current` compares it.
    frame_rate_hz : float, default=25.0
        Frames per second of the embeddings (MuQ: 25).
    descriptor_names : sequence of str, default=()
        Segment-level descriptors every :meth:`add` must then give, one value per name.
    layer_names : sequence of str, optional
        Names of the layers every :meth:`add` gives (e.g. ``"0"`` ... ``"12"`` for MuQ's hidden states); None
        (default) writes a single-layer store whose layer is ``"0"``.
    default_layers : str, optional
        The selection readers use unless told otherwise (:mod:`datamodules.layers` grammar); default the last layer.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> root = Path(tempfile.mkdtemp())
    >>> with StoreWriter(root / "store", source={"name": "doc"}) as writer:
    ...     writer.add("a_4bars_1_1", np.ones((3, 2), np.float32))
    >>> EmbeddingStore(root / "store").n_segments
    1
    """

    def __init__(self, store_dir: Path, source: dict, frame_rate_hz: float = 25.0,
                 descriptor_names: Sequence[str] = (), layer_names: Sequence[str] | None = None,
                 default_layers: str | None = None) -> None:  # fmt: skip
        self.store_dir = Path(store_dir)
        self.source = source
        self.frame_rate_hz = frame_rate_hz
        self.descriptor_names = tuple(descriptor_names)
        self.multi_layer = layer_names is not None
        self.layer_names = tuple(layer_names) if layer_names is not None else ("0",)
        if not self.layer_names or len(set(self.layer_names)) != len(self.layer_names):
            raise ValueError(f"{self.store_dir}: layer_names {list(self.layer_names)} must be distinct and non-empty")
        self.default_layers = default_layers if default_layers is not None else self.layer_names[-1]
        parse_layers(self.default_layers, self.layer_names, self.layer_names[-1], origin=self.store_dir)
        self._descriptors: list[np.ndarray] = []
        self.store_dir.parent.mkdir(parents=True, exist_ok=True)
        self._partial = self.store_dir.with_name(f".{self.store_dir.name}.partial-{os.getpid()}")
        shutil.rmtree(self._partial, ignore_errors=True)
        self._partial.mkdir()
        self._files = [self._layer_file(index, FRAMES_FILE) for index in range(len(self.layer_names))]
        self._frames = [(self._partial / name).open("wb") for name in self._files]
        self._keys: list[str] = []
        self._key_set: set[str] = set()
        self._lengths: list[int] = []
        self._stats: list[list[np.ndarray]] = [[] for _ in self.layer_names]
        self._dims: list[int] | None = None

    def _layer_file(self, index: int, single_name: str) -> str:
        """``frames.f16`` for a single-layer store, ``frames.<index>.f16`` for layer ``index`` of several."""
        if not self.multi_layer:
            return single_name
        stem, _, suffix = single_name.partition(".")
        return f"{stem}.{index}.{suffix}"

    def add(self, key: str, frames: np.ndarray | Mapping[str, np.ndarray], origin: object = "frames",
            descriptors: np.ndarray | None = None) -> None:  # fmt: skip
        """Append one segment.

        Parameters
        ----------
        key : str
            Segment key; must be new to this store.
        frames : ndarray of shape (n_frames, dim), or (n_layers, n_frames, dim), or mapping of layer name to ndarray
            float16/float32/float64 frames. A single-layer store takes ``(n_frames, dim)``; a multi-layer store takes
            one ``(n_frames, dim_l)`` array per layer (a mapping with every layer name, or a stacked array in
            ``layer_names`` order). Every layer has the same ``n_frames``; each keeps its ``dim_l`` across segments.
        origin : object
            Where the frames came from, for error messages (e.g. the source file).
        descriptors : ndarray of shape (n_descriptors,), optional
            Required (finite, one per ``descriptor_names``) when the writer declares descriptors.

        Raises
        ------
        DataContractError
            On a repeated key, arrays of the wrong rank or layers, zero frames, layers of different lengths, a
            ``dim`` different from earlier segments, non-finite values (also after rounding to float16), or
            descriptors missing, of the wrong length or non-finite.
        """
        if key in self._key_set:
            raise contract_error(origin, "appears twice", key)
        layers = self._layers_of(key, frames, origin)
        lengths = {layer.shape[0] for layer in layers}
        if len(lengths) != 1:
            raise contract_error(origin, f"layers have different numbers of frames {sorted(lengths)}", key)
        n_frames = lengths.pop()
        if n_frames == 0:
            raise contract_error(origin, "has T = 0 frames; every segment needs at least one frame", key)
        dims = [layer.shape[1] for layer in layers]
        if self._dims is None:
            self._dims = dims
        elif dims != self._dims:
            raise contract_error(origin, f"has D = {_dims_text(dims)} but earlier segments have "
                                 f"D = {_dims_text(self._dims)} (mixed D)", key)
        exact_layers = [np.asarray(layer, dtype=np.float64) for layer in layers]
        for name, exact in zip(self.layer_names, exact_layers, strict=True):
            where = "" if not self.multi_layer else f" in layer {name!r}"
            if not np.isfinite(exact).all():
                bad_frame = int(np.argwhere(~np.isfinite(exact))[0, 0])
                raise contract_error(origin, f"has non-finite values{where} (first at frame {bad_frame})", key)
            if np.abs(exact).max() > np.finfo(np.float16).max:
                raise contract_error(origin, f"has values beyond float16 range (|x| > 65504){where}", key)
        if self.descriptor_names:
            values = np.asarray([] if descriptors is None else descriptors, dtype=np.float64).reshape(-1)
            if values.shape != (len(self.descriptor_names),) or not np.isfinite(values).all():
                raise contract_error(origin, f"descriptors {values.tolist()}: expected {len(self.descriptor_names)} "
                                     f"finite values for {list(self.descriptor_names)}", key)
            self._descriptors.append(values)
        for handle, stats, exact in zip(self._frames, self._stats, exact_layers, strict=True):
            handle.write(exact.astype(np.float16).tobytes(order="C"))
            stats.append(np.concatenate([exact.mean(axis=0), exact.std(axis=0)]).astype(np.float32))
        self._keys.append(key)
        self._key_set.add(key)
        self._lengths.append(n_frames)

    def _layers_of(self, key: str, frames: np.ndarray | Mapping[str, np.ndarray], origin: object) -> list[np.ndarray]:
        """The segment's ``(n_frames, dim_l)`` arrays in ``layer_names`` order."""
        if isinstance(frames, Mapping):
            if set(frames) != set(self.layer_names):
                raise contract_error(origin, f"has layers {sorted(frames)}, expected {list(self.layer_names)}", key)
            layers = [np.asarray(frames[name]) for name in self.layer_names]
        else:
            frames = np.asarray(frames)
            if not self.multi_layer:
                if frames.ndim != 2:
                    raise contract_error(origin, f"expected a [T, D] tensor, got shape {tuple(frames.shape)}", key)
                return [frames]
            if frames.ndim != 3 or frames.shape[0] != len(self.layer_names):
                raise contract_error(origin, f"expected a [L, T, D] tensor with L = {len(self.layer_names)} layers, "
                                     f"got shape {tuple(frames.shape)}", key)
            layers = list(frames)
        for name, layer in zip(self.layer_names, layers, strict=True):
            if layer.ndim != 2:
                raise contract_error(origin, f"layer {name!r}: expected [T, D], got shape {tuple(layer.shape)}", key)
        return layers

    def commit(self) -> Path:
        """Finish the files and move the store into place atomically; returns the store directory."""
        for handle in self._frames:
            handle.close()
        if not self._keys:
            raise contract_error(self.source.get("path", self.store_dir), "no segments to store")
        offsets = np.concatenate([[0], np.cumsum(self._lengths)]).astype(np.int64)
        np.save(self._partial / OFFSETS_FILE, offsets)
        layers = []
        for index, (name, stats) in enumerate(zip(self.layer_names, self._stats, strict=True)):
            stats_file = self._layer_file(index, STATS_FILE)
            np.save(self._partial / stats_file, np.stack(stats))
            layers.append({"name": name, "dim": self._dims[index], "frames_file": self._files[index],
                           "stats_file": stats_file})
        if self.descriptor_names:
            np.save(self._partial / DESCRIPTORS_FILE, np.stack(self._descriptors))
        manifest = {
            "format_version": FORMAT_VERSION,
            "keys": self._keys,
            "layers": layers,
            "default_layers": self.default_layers,
            "n_segments": len(self._keys),
            "n_frames": int(offsets[-1]),
            "frame_rate_hz": self.frame_rate_hz,
            "descriptor_names": list(self.descriptor_names),
            "source": self.source,
        }
        write_json_atomic(self._partial / MANIFEST_FILE, manifest)
        retired = self.store_dir.with_name(f".{self.store_dir.name}.retired-{os.getpid()}")
        if self.store_dir.exists():
            os.replace(self.store_dir, retired)
        os.replace(self._partial, self.store_dir)
        shutil.rmtree(retired, ignore_errors=True)
        return self.store_dir

    def abort(self) -> None:
        """Discard everything written so far."""
        for handle in self._frames:
            handle.close()
        shutil.rmtree(self._partial, ignore_errors=True)

    def __enter__(self) -> StoreWriter:
        return self

    def __exit__(self, error_type: object, error: object, traceback: object) -> None:
        if error_type is None:
            self.commit()
        else:
            self.abort()


def _dims_text(dims: Sequence[int]) -> str:
    return str(dims[0]) if len(dims) == 1 else str(list(dims))


def stored_layers(manifest: dict) -> tuple[StoredLayer, ...]:
    """The layers a manifest declares; a format-1 manifest has the one layer ``"0"`` in ``frames.f16``."""
    if "layers" not in manifest:
        return (StoredLayer("0", int(manifest["dim"]), FRAMES_FILE, STATS_FILE),)
    return tuple(StoredLayer(str(layer["name"]), int(layer["dim"]), layer["frames_file"], layer["stats_file"])
                 for layer in manifest["layers"])


class EmbeddingStore:
    """Read-only, lazily memory-mapped view of a store directory, through one layer selection.

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
            raise LayerSelectionError(f"{self.store_dir}: --layers {self.selection.spec!r} averages layers of different widths "
                             f"{dict(zip(self.selection.layers, self.layer_dims, strict=True))}")
        self.dim: int = sum(self.layer_dims) if self.selection.kind == "weighted" else self.layer_dims[0]
        self.frame_rate_hz: float = float(self.manifest["frame_rate_hz"])
        self.descriptor_names: tuple[str, ...] = tuple(self.manifest.get("descriptor_names", ()))
        self.offsets: np.ndarray = np.load(self.store_dir / OFFSETS_FILE)
        self.lengths: np.ndarray = np.diff(self.offsets)
        self._row = {key: row for row, key in enumerate(self.keys)}
        self._maps: dict[str, np.memmap] = {}
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
        layer = self._layers[name]
        start, stop = int(self.offsets[row]), int(self.offsets[row + 1])
        frames = np.empty((stop - start, layer.dim), dtype=np.float16)  # (n_frames, dim_l)
        path = self.store_dir / layer.frames_file
        with open(path, "rb", buffering=0) as handle:
            n_read = os.preadv(handle.fileno(), [frames], start * layer.dim * frames.itemsize)
        if n_read != frames.nbytes:
            raise OSError(f"{path}: short read of segment {row} ({n_read} of {frames.nbytes} bytes); the store is "
                          "truncated, rebuild it")
        return frames

    def _memmap(self, name: str) -> np.memmap:
        """All frames of layer ``name`` as one read-only float16 map, ``(n_frames, dim_l)`` (opened on first use)."""
        if name not in self._maps:
            layer = self._layers[name]
            shape = (int(self.offsets[-1]), layer.dim)
            self._maps[name] = np.memmap(self.store_dir / layer.frames_file, np.float16, "r", shape=shape)
        return self._maps[name]

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
        for first, last, starts, block in self._blocks(self.selection.layers):
            sums = np.add.reduceat(block, starts, axis=0)
            squares = np.add.reduceat(block * block, starts, axis=0)
            lengths = self.lengths[first:last, None].astype(np.float64)
            mean = sums / lengths
            stats[first:last, : self.dim] = mean
            stats[first:last, self.dim :] = np.sqrt(np.maximum(squares / lengths - mean * mean, 0.0))
            ranges[first:last, 0] = np.minimum.reduceat(block, starts, axis=0)
            ranges[first:last, 1] = np.maximum.reduceat(block, starts, axis=0)
        return stats, ranges

    def _blocks(self, names: Sequence[str]) -> Iterator[tuple[int, int, np.ndarray, np.ndarray]]:
        """Blocks of whole segments (at least one): ``(first_row, end_row, segment starts in block, frames)``, the
        frames the float64 frame-wise mean of ``names``, shape ``(n_block_frames, dim)``."""
        block_frames = max(1, _BLOCK_VALUES // self._layers[names[0]].dim)
        first = 0
        while first < self.n_segments:
            end = int(np.searchsorted(self.offsets, self.offsets[first] + block_frames, "right")) - 1
            last = min(max(end, first + 1), self.n_segments)
            start, stop = int(self.offsets[first]), int(self.offsets[last])
            block = np.mean([np.asarray(self._memmap(name)[start:stop], np.float64) for name in names], axis=0)
            yield first, last, self.offsets[first:last] - start, block
            first = last

    def descriptors(self) -> np.ndarray | None:
        """Segment-level descriptors, shape ``(n_segments, len(descriptor_names))``, float64; None without any."""
        if not self.descriptor_names:
            return None
        return np.load(self.store_dir / DESCRIPTORS_FILE)

    def frame_ranges(self) -> np.ndarray:
        """Per-segment minimum and maximum of every served frame dimension, shape ``(n_segments, 2, dim)``, float32.

        Computed once per store object in one pass over the frames, a bounded block of frames at a time (memory
        does not grow with the number of frames), and kept.
        """
        if self._frame_ranges is None:
            if self.selection.kind == "mean":
                self._stats, self._frame_ranges = self._mean_layer_pass()
            else:
                self._frame_ranges = np.concatenate([self._layer_ranges(name) for name in self.selection.layers], 2)
        return self._frame_ranges

    def _layer_ranges(self, name: str) -> np.ndarray:
        """Per-segment minimum and maximum of layer ``name``, ``(n_segments, 2, dim_l)``, float32."""
        ranges = np.empty((self.n_segments, 2, self._layers[name].dim), dtype=np.float32)
        for first, last, starts, block in self._blocks((name,)):
            ranges[first:last, 0] = np.minimum.reduceat(block, starts, axis=0)
            ranges[first:last, 1] = np.maximum.reduceat(block, starts, axis=0)
        return ranges


def store_is_current(store_dir: Path, source: dict) -> bool:
    """Whether ``store_dir`` holds a complete store built from exactly ``source``."""
    manifest_path = Path(store_dir) / MANIFEST_FILE
    if not manifest_path.is_file():
        return False
    manifest = read_json(manifest_path)
    return manifest.get("format_version") in READABLE_FORMATS and manifest.get("source") == source
