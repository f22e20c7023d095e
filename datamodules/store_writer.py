"""Writing an embedding store (:mod:`datamodules.store_format`): segments streamed one at a time into a temporary
sibling directory, renamed into place on commit."""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from datamodules.errors import contract_error
from datamodules.jsonio import write_json_atomic
from datamodules.layers import parse_layers
from datamodules.store_format import (
    DESCRIPTORS_FILE,
    FORMAT_VERSION,
    FRAMES_FILE,
    MANIFEST_FILE,
    OFFSETS_FILE,
    RANGES_FILE,
    STATS_FILE,
)


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
                 default_layers: str | None = None) -> None:
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
        self._ranges: list[list[np.ndarray]] = [[] for _ in self.layer_names]  # per layer, (2, dim_l) float16 each
        self._dims: list[int] | None = None

    def _layer_file(self, index: int, single_name: str) -> str:
        """``frames.f16`` for a single-layer store, ``frames.<index>.f16`` for layer ``index`` of several."""
        if not self.multi_layer:
            return single_name
        stem, _, suffix = single_name.partition(".")
        return f"{stem}.{index}.{suffix}"

    def add(self, key: str, frames: np.ndarray | Mapping[str, np.ndarray], origin: object = "frames",
            descriptors: np.ndarray | None = None) -> None:
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
        for handle, stats, ranges, exact in zip(self._frames, self._stats, self._ranges, exact_layers, strict=True):
            handle.write(exact.astype(np.float16).tobytes(order="C"))
            stats.append(np.concatenate([exact.mean(axis=0), exact.std(axis=0)]).astype(np.float32))
            # rounding is monotonic, so the rounded extremes are the extremes of the stored float16 frames
            ranges.append(np.stack([exact.min(axis=0), exact.max(axis=0)]).astype(np.float16))
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
        for index, (name, stats, ranges) in enumerate(zip(self.layer_names, self._stats, self._ranges, strict=True)):
            stats_file, ranges_file = self._layer_file(index, STATS_FILE), self._layer_file(index, RANGES_FILE)
            np.save(self._partial / stats_file, np.stack(stats))
            np.save(self._partial / ranges_file, np.stack(ranges))
            layers.append({"name": name, "dim": self._dims[index], "frames_file": self._files[index],
                           "stats_file": stats_file, "ranges_file": ranges_file})
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
