"""The on-disk format of an embedding store: file names, layers, and whether a store is current.

Layout of a store directory (after HEAR's ``{split}.embeddings.npy`` + sidecars, but written atomically):

``frames.f16`` (one layer) or ``frames.<l>.f16`` (layer ``l`` of several)
    Raw float16, shape ``(n_frames, dim_l)``, C order: all segments' frames one after another. One file per layer,
    so reading one layer reads only its bytes.
``offsets.npy``
    int64, shape ``(n_segments + 1,)``: segment ``i`` is ``frames[offsets[i]:offsets[i + 1]]`` in every layer.
``stats.f32.npy`` / ``stats.<l>.f32.npy``
    float32, shape ``(n_segments, 2 * dim_l)``: per-segment frame mean then population standard deviation
    (ddof = 0), accumulated in float64 from the *source* frames in the same pass that writes them.
``ranges.f16.npy`` / ``ranges.<l>.f16.npy``
    float16, shape ``(n_segments, 2, dim_l)``: per-segment minimum then maximum of the stored (float16) frames, for
    counting the columns clipping touches without a pass over the frames. Stores written before it was added lack
    it; readers then compute the ranges in one pass.
``descriptors.f64.npy``
    optional, float64, shape ``(n_segments, n_descriptors)``: segment-level descriptors declared by the extractor
    (names in the manifest's ``descriptor_names``), for the descriptor baseline.
``manifest.json``
    keys, layers (name, width, files), default layer selection, counts, frame rate, descriptor names, and the
    fingerprint of the source, written last.

Keys, offsets and descriptors exist once whatever the number of layers. Format 1 stores (one layer, no ``layers``
entry) open as a store with the single layer ``"0"``.

A store is built in a temporary sibling directory and renamed into place, so a reader never opens a half-written
store. Readers read frames with ``pread`` a segment or a bounded block at a time: memory during a run does not grow
with the number of frames.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from datamodules.jsonio import read_json

FORMAT_VERSION = 2
#: Store formats this reader opens (1: one layer, before multi-layer stores).
READABLE_FORMATS = (1, 2)
FRAMES_FILE = "frames.f16"
OFFSETS_FILE = "offsets.npy"
STATS_FILE = "stats.f32.npy"
RANGES_FILE = "ranges.f16.npy"
MANIFEST_FILE = "manifest.json"
DESCRIPTORS_FILE = "descriptors.f64.npy"

def file_fingerprint(path: Path) -> dict[str, object]:
    """Size and SHA-256 of a file (read in 8 MiB blocks), used to decide whether a store is current."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(8 << 20), b""):
            digest.update(block)
    return {"path": str(path), "size": Path(path).stat().st_size, "sha256": digest.hexdigest()}


@dataclass(frozen=True, slots=True)
class StoredLayer:
    """One layer's files in a store: ``frames_file`` ``(n_frames, dim)`` float16, ``stats_file`` ``(n, 2 * dim)``,
    ``ranges_file`` ``(n, 2, dim)`` (None in stores written before ranges were stored)."""

    name: str
    dim: int
    frames_file: str
    stats_file: str
    ranges_file: str | None = None


def stored_layers(manifest: dict) -> tuple[StoredLayer, ...]:
    """The layers a manifest declares; a format-1 manifest has the one layer ``"0"`` in ``frames.f16``."""
    if "layers" not in manifest:
        return (StoredLayer("0", int(manifest["dim"]), FRAMES_FILE, STATS_FILE),)
    return tuple(StoredLayer(str(layer["name"]), int(layer["dim"]), layer["frames_file"], layer["stats_file"],
                             layer.get("ranges_file")) for layer in manifest["layers"])


def store_is_current(store_dir: Path, source: dict) -> bool:
    """Whether ``store_dir`` holds a complete store built from exactly ``source``."""
    manifest_path = Path(store_dir) / MANIFEST_FILE
    if not manifest_path.is_file():
        return False
    manifest = read_json(manifest_path)
    return manifest.get("format_version") in READABLE_FORMATS and manifest.get("source") == source
