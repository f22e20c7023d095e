"""A memory-mapped embedding store: contiguous float16 frames, offsets, keys and stats-pooled features.

Layout of a store directory (after HEAR's ``{split}.embeddings.npy`` + sidecars, but written atomically):

``frames.f16``
    Raw float16, shape ``(n_frames, dim)``, C order: all segments' frames one after another.
``offsets.npy``
    int64, shape ``(n_segments + 1,)``: segment ``i`` is ``frames[offsets[i]:offsets[i + 1]]``.
``stats.f32.npy``
    float32, shape ``(n_segments, 2 * dim)``: per-segment frame mean then population standard deviation
    (ddof = 0), accumulated in float64 from the *source* frames in the same pass that writes them.
``descriptors.f64.npy``
    optional, float64, shape ``(n_segments, n_descriptors)``: segment-level descriptors declared by the extractor
    (names in the manifest's ``descriptor_names``), for the descriptor baseline.
``manifest.json``
    keys, dim, counts, frame rate, descriptor names, and the fingerprint of the source, written last.

A store is built in a temporary sibling directory and renamed into place, so a reader never opens a half-written
store. Readers map the files lazily: memory during a run does not grow with the number of frames.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np

from datamodules.errors import contract_error
from datamodules.jsonio import read_json, write_json_atomic

FORMAT_VERSION = 1
FRAMES_FILE = "frames.f16"
OFFSETS_FILE = "offsets.npy"
STATS_FILE = "stats.f32.npy"
MANIFEST_FILE = "manifest.json"
DESCRIPTORS_FILE = "descriptors.f64.npy"
#: Frames read at once by :meth:`EmbeddingStore.frame_ranges` (a segment longer than this is read whole).
_RANGE_BLOCK_FRAMES = 1 << 18


def file_fingerprint(path: Path) -> dict[str, object]:
    """Size and SHA-256 of a file (read in 8 MiB blocks), used to decide whether a store is current."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(8 << 20), b""):
            digest.update(block)
    return {"path": str(path), "size": Path(path).stat().st_size, "sha256": digest.hexdigest()}


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
                 descriptor_names: Sequence[str] = ()) -> None:  # fmt: skip
        self.store_dir = Path(store_dir)
        self.source = source
        self.frame_rate_hz = frame_rate_hz
        self.descriptor_names = tuple(descriptor_names)
        self._descriptors: list[np.ndarray] = []
        self.store_dir.parent.mkdir(parents=True, exist_ok=True)
        self._partial = self.store_dir.with_name(f".{self.store_dir.name}.partial-{os.getpid()}")
        shutil.rmtree(self._partial, ignore_errors=True)
        self._partial.mkdir()
        self._frames = (self._partial / FRAMES_FILE).open("wb")
        self._keys: list[str] = []
        self._key_set: set[str] = set()
        self._lengths: list[int] = []
        self._stats: list[np.ndarray] = []
        self._dim: int | None = None

    def add(self, key: str, frames: np.ndarray, origin: object = "frames", descriptors: np.ndarray | None = None) -> None:
        """Append one segment.

        Parameters
        ----------
        key : str
            Segment key; must be new to this store.
        frames : ndarray of shape (n_frames, dim)
            float16/float32/float64 frames; all segments share ``dim``.
        origin : object
            Where the frames came from, for error messages (e.g. the source file).
        descriptors : ndarray of shape (n_descriptors,), optional
            Required (finite, one per ``descriptor_names``) when the writer declares descriptors.

        Raises
        ------
        DataContractError
            On a repeated key, a non-2-D array, zero frames, a ``dim`` different from earlier segments, non-finite
            values (also after rounding to float16), or descriptors missing, of the wrong length or non-finite.
        """
        if key in self._key_set:
            raise contract_error(origin, "appears twice", key)
        if frames.ndim != 2:
            raise contract_error(origin, f"expected a [T, D] tensor, got shape {tuple(frames.shape)}", key)
        n_frames, dim = frames.shape
        if n_frames == 0:
            raise contract_error(origin, "has T = 0 frames; every segment needs at least one frame", key)
        if self._dim is None:
            self._dim = dim
        elif dim != self._dim:
            raise contract_error(origin, f"has D = {dim} but earlier segments have D = {self._dim} (mixed D)", key)
        exact = np.asarray(frames, dtype=np.float64)
        if not np.isfinite(exact).all():
            bad_frame = int(np.argwhere(~np.isfinite(exact))[0, 0])
            raise contract_error(origin, f"has non-finite values (first at frame {bad_frame})", key)
        if np.abs(exact).max() > np.finfo(np.float16).max:
            raise contract_error(origin, "has values beyond float16 range (|x| > 65504)", key)
        if self.descriptor_names:
            values = np.asarray([] if descriptors is None else descriptors, dtype=np.float64).reshape(-1)
            if values.shape != (len(self.descriptor_names),) or not np.isfinite(values).all():
                raise contract_error(origin, f"descriptors {values.tolist()}: expected {len(self.descriptor_names)} "
                                     f"finite values for {list(self.descriptor_names)}", key)
            self._descriptors.append(values)
        half = exact.astype(np.float16)
        self._frames.write(half.tobytes(order="C"))
        self._keys.append(key)
        self._key_set.add(key)
        self._lengths.append(n_frames)
        self._stats.append(np.concatenate([exact.mean(axis=0), exact.std(axis=0)]).astype(np.float32))

    def commit(self) -> Path:
        """Finish the files and move the store into place atomically; returns the store directory."""
        self._frames.close()
        if not self._keys:
            raise contract_error(self.source.get("path", self.store_dir), "no segments to store")
        offsets = np.concatenate([[0], np.cumsum(self._lengths)]).astype(np.int64)
        np.save(self._partial / OFFSETS_FILE, offsets)
        np.save(self._partial / STATS_FILE, np.stack(self._stats))
        if self.descriptor_names:
            np.save(self._partial / DESCRIPTORS_FILE, np.stack(self._descriptors))
        manifest = {
            "format_version": FORMAT_VERSION,
            "keys": self._keys,
            "dim": self._dim,
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
        self._frames.close()
        shutil.rmtree(self._partial, ignore_errors=True)

    def __enter__(self) -> StoreWriter:
        return self

    def __exit__(self, error_type: object, error: object, traceback: object) -> None:
        if error_type is None:
            self.commit()
        else:
            self.abort()


class EmbeddingStore:
    """Read-only, lazily memory-mapped view of a store directory.

    Parameters
    ----------
    store_dir : Path
        A directory written by :class:`StoreWriter`.

    Attributes
    ----------
    keys : tuple of str
        Segment keys in store order.
    dim : int
        Frame dimension D.
    offsets : ndarray of shape (n_segments + 1,), int64
    lengths : ndarray of shape (n_segments,), int64
        Frames per segment (25 per second for MuQ).
    descriptor_names : tuple of str
        Segment-level descriptors the store holds (empty for stores without them, e.g. converted MuQ files).
    """

    def __init__(self, store_dir: Path) -> None:
        self.store_dir = Path(store_dir)
        manifest_path = self.store_dir / MANIFEST_FILE
        if not manifest_path.is_file():
            raise FileNotFoundError(f"{self.store_dir}: not an embedding store (no {MANIFEST_FILE})")
        self.manifest = read_json(manifest_path)
        if self.manifest.get("format_version") != FORMAT_VERSION:
            raise contract_error(manifest_path, f"format_version {self.manifest.get('format_version')!r}, "
                                 f"expected {FORMAT_VERSION}; rebuild the store")
        self.keys: tuple[str, ...] = tuple(self.manifest["keys"])
        self.dim: int = int(self.manifest["dim"])
        self.frame_rate_hz: float = float(self.manifest["frame_rate_hz"])
        self.descriptor_names: tuple[str, ...] = tuple(self.manifest.get("descriptor_names", ()))
        self.offsets: np.ndarray = np.load(self.store_dir / OFFSETS_FILE)
        self.lengths: np.ndarray = np.diff(self.offsets)
        self._row = {key: row for row, key in enumerate(self.keys)}
        self._frames: np.memmap | None = None
        self._frame_ranges: np.ndarray | None = None

    @property
    def n_segments(self) -> int:
        return len(self.keys)

    def row(self, key: str) -> int:
        """Store row of ``key``; raises ``KeyError`` naming the store if absent."""
        try:
            return self._row[key]
        except KeyError:
            raise KeyError(f"{self.store_dir}: no embedding for key {key!r}") from None

    def __contains__(self, key: str) -> bool:
        return key in self._row

    def frames(self, row: int) -> np.ndarray:
        """Frames of segment ``row`` as a read-only float16 view, shape ``(n_frames, dim)``."""
        return self._memmap()[self.offsets[row] : self.offsets[row + 1]]

    def _memmap(self) -> np.memmap:
        """All frames as one read-only float16 map, shape ``(n_frames, dim)`` (opened on first use)."""
        if self._frames is None:
            n_frames = int(self.offsets[-1])
            self._frames = np.memmap(self.store_dir / FRAMES_FILE, np.float16, "r", shape=(n_frames, self.dim))
        return self._frames

    def stats(self) -> np.ndarray:
        """Stats-pooled features ``[mean, std]`` of every segment, shape ``(n_segments, 2 * dim)``, float32."""
        return np.load(self.store_dir / STATS_FILE, mmap_mode="r")

    def descriptors(self) -> np.ndarray | None:
        """Segment-level descriptors, shape ``(n_segments, len(descriptor_names))``, float64; None without any."""
        if not self.descriptor_names:
            return None
        return np.load(self.store_dir / DESCRIPTORS_FILE)

    def frame_ranges(self) -> np.ndarray:
        """Per-segment minimum and maximum of every frame dimension, shape ``(n_segments, 2, dim)``, float32.

        Computed once per store object in one pass over the frames, a bounded block of frames at a time (memory
        does not grow with the number of frames), and kept.
        """
        if self._frame_ranges is None:
            frames = self._memmap()
            ranges = np.empty((self.n_segments, 2, self.dim), dtype=np.float32)
            first = 0
            while first < self.n_segments:  # blocks of whole segments, at least one
                end = int(np.searchsorted(self.offsets, self.offsets[first] + _RANGE_BLOCK_FRAMES, "right")) - 1
                last = min(max(end, first + 1), self.n_segments)
                start = int(self.offsets[first])
                block = np.asarray(frames[start : int(self.offsets[last])])  # (n_block_frames, dim)
                starts = self.offsets[first:last] - start
                ranges[first:last, 0] = np.minimum.reduceat(block, starts, axis=0)
                ranges[first:last, 1] = np.maximum.reduceat(block, starts, axis=0)
                first = last
            self._frame_ranges = ranges
        return self._frame_ranges

    def iter_frames(self, rows: Iterable[int]) -> Iterator[np.ndarray]:
        """Yield the frames of ``rows`` one segment at a time."""
        for row in rows:
            yield self.frames(row)


def store_is_current(store_dir: Path, source: dict) -> bool:
    """Whether ``store_dir`` holds a complete store built from exactly ``source``."""
    manifest_path = Path(store_dir) / MANIFEST_FILE
    if not manifest_path.is_file():
        return False
    manifest = read_json(manifest_path)
    return manifest.get("format_version") == FORMAT_VERSION and manifest.get("source") == source
