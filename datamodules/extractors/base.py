"""The frame-extractor plugin interface and :func:`extract_to_store`, which streams files into a store.

An extractor turns one input file (a MIDI performance, an audio file, ...) into frames of shape
``(n_frames, n_features)`` at a fixed frame rate, the same contract as MuQ's ``[T, D]`` embeddings, so every
probe and analysis runs unchanged on extracted features. :func:`extract_to_store` writes the frames of many
files straight into an :class:`~datamodules.store_writer.StoreWriter` one file at a time (memory stays at one
file's frames), skips and reports files that yield no frames, and is a no-op when the store already holds
exactly these files extracted with exactly these settings.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np

from datamodules.errors import contract_error
from datamodules.store import EmbeddingStore
from datamodules.store_format import file_fingerprint, store_is_current
from datamodules.store_writer import StoreWriter


class UnusableInputError(ValueError):
    """An input file yields no frames (unreadable, corrupt, or empty); :func:`extract_to_store` skips it."""


class FrameExtractor(ABC):
    """Base class of frame extractors.

    Subclasses declare the class attributes ``name`` (registry name) and ``frame_rate_hz``, and implement
    :attr:`feature_names` and :meth:`extract_with_counts` (or :meth:`extract`). Constructor arguments are
    plain keywords; :meth:`settings` returns them so that a store can tell whether it is current.

    Attributes
    ----------
    name : str
        Registry name, e.g. ``"midi"``.
    frame_rate_hz : float
        Frames per second of the output (25 for MuQ-compatible stores).
    version : int
        Bump when the features change for the same settings; part of :meth:`settings`.
    input_suffixes : tuple of str
        Lower-case file name endings the extractor reads (e.g. ``(".mid", ".midi")``), for :func:`input_files`.
    descriptor_names : tuple of str
        Segment-level descriptors a listener would name (loudness, pedal use, note density, duration, ...), one
        value per file from :meth:`extract_segment`; the probing section's descriptor baseline fits Ridge on them.
        Empty (the default) when the extractor declares none.
    layer_names : tuple of str
        For an extractor of several representations (an audio model's hidden layers): the store layers it writes,
        each file's frames then a ``{layer: (n_frames, width)}`` dict; empty (the default) for one ``[T, D]`` array.
    default_layers : str or None
        The layer selection a multi-layer store serves by default (:mod:`datamodules.layers`).
    """

    name: ClassVar[str]
    frame_rate_hz: ClassVar[float]
    version: ClassVar[int] = 1
    input_suffixes: ClassVar[tuple[str, ...]] = ()
    descriptor_names: ClassVar[tuple[str, ...]] = ()

    @property
    def layer_names(self) -> tuple[str, ...]:
        return ()

    @property
    def default_layers(self) -> str | None:
        return None

    @property
    @abstractmethod
    def feature_names(self) -> tuple[str, ...]:
        """Names of the ``n_features`` columns of :meth:`extract`'s output, in column order."""

    def extract(self, path: Path) -> np.ndarray:
        """Frames of one file.

        Parameters
        ----------
        path : Path
            The input file.

        Returns
        -------
        ndarray of shape (n_frames, n_features), float32
            ``n_features == len(self.feature_names)``; frames at :attr:`frame_rate_hz` per second.

        Raises
        ------
        UnusableInputError
            If the file is unreadable or yields no frames.
        """
        frames, _ = self.extract_with_counts(path)
        return frames

    @abstractmethod
    def extract_with_counts(self, path: Path) -> tuple[np.ndarray, dict[str, int]]:
        """Frames of one file, shape ``(n_frames, n_features)`` float32, and counts of input adjustments.

        The counts name what the extractor changed or dropped in this file (e.g. notes clipped into range);
        :func:`extract_to_store` sums them over files and lists the files where they are non-zero.
        """

    def extract_segment(self, path: Path) -> tuple[np.ndarray, dict[str, int], np.ndarray]:
        """Frames, adjustment counts and descriptors of one file.

        Returns
        -------
        frames : ndarray of shape (n_frames, n_features), float32
        counts : dict of str to int
            As :meth:`extract_with_counts`.
        descriptors : ndarray of shape (len(descriptor_names),), float64
            Finite segment-level values in the units :attr:`descriptor_names` documents; empty by default.
        """
        frames, counts = self.extract_with_counts(path)
        return frames, counts, np.empty(0)

    def settings(self) -> dict[str, object]:
        """JSON-serialisable identity of the output: name, version, frame rate, constructor keywords."""
        return {"name": self.name, "version": self.version, "frame_rate_hz": self.frame_rate_hz}


@dataclass(frozen=True, slots=True)
class SkippedFile:
    """One input file that yielded no frames.

    Attributes
    ----------
    key : str
        Segment key of the file.
    file : str
        The file path.
    reason : str
        Why it was skipped.
    """

    key: str
    file: str
    reason: str


@dataclass(frozen=True, slots=True)
class ExtractionReport:
    """What :func:`extract_to_store` wrote and what it skipped.

    Attributes
    ----------
    extractor : dict
        The extractor's :meth:`FrameExtractor.settings`.
    store_dir : str
        The store directory.
    n_files : int
        Files given.
    n_extracted : int
        Segments in the store.
    n_frames : int
        Frames in the store, at ``extractor["frame_rate_hz"]`` per second.
    n_features : int
        Frame dimension D.
    skipped : list of SkippedFile
        Files that yielded no frames, in key order.
    counts : dict of str to int
        Input adjustments summed over the extracted files (see :meth:`FrameExtractor.extract_with_counts`).
    adjusted_files : dict of str to dict
        Per key, the non-zero adjustment counts of that file.
    reused : bool
        True when the store was already current and nothing was extracted (``counts`` are then empty and
        ``skipped`` reasons are recomputed for the missing keys only).
    """

    extractor: dict
    store_dir: str
    n_files: int
    n_extracted: int
    n_frames: int
    n_features: int
    skipped: list[SkippedFile] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    adjusted_files: dict[str, dict[str, int]] = field(default_factory=dict)
    reused: bool = False

    @property
    def n_skipped(self) -> int:
        return len(self.skipped)

    def to_dict(self) -> dict:
        """JSON form, with ``n_skipped`` beside ``skipped``."""
        payload = asdict(self)
        payload["n_skipped"] = self.n_skipped
        return payload


ProgressCallback = Callable[[int, int, str], None]


def input_files(directory: Path, suffixes: tuple[str, ...]) -> dict[str, Path]:
    """Map segment keys to the files of ``directory`` ending in ``suffixes`` (case-insensitive), sorted by key.

    The key is the file stem with surrounding whitespace removed: PercePiano ships
    ``" Schubert_D935_no.3_4bars_2_1.mid"`` with a leading space for key ``"Schubert_D935_no.3_4bars_2_1"``.

    Raises
    ------
    FileNotFoundError
        If ``directory`` is not a directory.
    ValueError
        If it holds no such files, or two files map to the same key (the message names both).
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"{directory}: input directory not found")
    files: dict[str, Path] = {}
    for path in sorted(directory.iterdir()):
        if path.suffix.lower() not in suffixes or not path.is_file():
            continue
        key = path.stem.strip()
        if key in files:
            raise ValueError(f"{directory}: files {files[key].name!r} and {path.name!r} both map to key {key!r}")
        files[key] = path
    if not files:
        raise ValueError(f"{directory}: no input files (expected names ending in {' or '.join(suffixes)})")
    return dict(sorted(files.items()))


def extraction_source(extractor: FrameExtractor, files: Mapping[str, Path]) -> dict:
    """The store ``source`` for ``extractor`` over ``files``: settings, feature names and an input digest.

    The digest is SHA-256 over the sorted ``(key, file name, size, sha256)`` of every input file, so renaming,
    editing, adding or removing any file (or changing any setting) makes the store out of date.

    Raises
    ------
    FileNotFoundError
        If a file does not exist (message names the key).
    """
    digest = hashlib.sha256()
    for key in sorted(files):
        path = Path(files[key])
        if not path.is_file():
            raise FileNotFoundError(f"{path}: file not found (input of key {key!r})")
        fingerprint = file_fingerprint(path)
        record = [key, path.name, fingerprint["size"], fingerprint["sha256"]]
        digest.update(json.dumps(record).encode("utf-8"))
    source = {
        "extractor": extractor.settings(),
        "feature_names": list(extractor.feature_names),
        "descriptor_names": list(extractor.descriptor_names),
        "n_inputs": len(files),
        "inputs_sha256": digest.hexdigest(),
    }
    if extractor.layer_names:  # single-layer sources keep the identity they had before multi-layer stores
        source["layer_names"] = list(extractor.layer_names)
    return source


def extract_to_store(
    extractor: FrameExtractor,
    files: Mapping[str, Path],
    store_dir: Path,
    progress: ProgressCallback | None = None,
) -> ExtractionReport:
    """Extract every file into a store at ``store_dir``, one file at a time; no-op when already current.

    Parameters
    ----------
    extractor : FrameExtractor
    files : mapping of str to Path
        Segment key to input file. Keys are written in sorted order.
    store_dir : Path
        Where the store goes (replaced atomically on success; untouched on failure).
    progress : callable, optional
        Called as ``progress(index, n_files, key)`` (1-based ``index``) after each file.

    Returns
    -------
    ExtractionReport

    Raises
    ------
    FileNotFoundError
        If an input file does not exist.
    ValueError
        If ``files`` is empty.
    DataContractError
        If no file yields frames (the message gives the first reasons), or the extractor returns frames breaking
        the store contract (wrong D, non-finite values).
    """
    store_dir = Path(store_dir)
    if not files:
        raise ValueError(f"{store_dir}: files is empty; expected at least one {{key: path}} to extract")
    source = extraction_source(extractor, files)
    if store_is_current(store_dir, source):
        return _reused_report(extractor, files, store_dir)
    skipped: list[SkippedFile] = []
    counts: dict[str, int] = {}
    adjusted: dict[str, dict[str, int]] = {}
    n_frames = 0
    writer = StoreWriter(store_dir, source=source, frame_rate_hz=extractor.frame_rate_hz,
                         descriptor_names=extractor.descriptor_names, layer_names=extractor.layer_names or None,
                         default_layers=extractor.default_layers)
    try:
        for index, key in enumerate(sorted(files), start=1):
            path = Path(files[key])
            try:
                frames, file_counts, descriptors = extractor.extract_segment(path)
            except UnusableInputError as error:
                skipped.append(SkippedFile(key, str(path), str(error)))
            else:
                writer.add(key, frames, origin=path, descriptors=descriptors)  # (n_frames, n_features) or by layer
                n_frames += next(iter(frames.values())).shape[0] if isinstance(frames, Mapping) else frames.shape[0]
                for name, value in file_counts.items():
                    counts[name] = counts.get(name, 0) + int(value)
                if any(file_counts.values()):
                    adjusted[key] = {name: int(value) for name, value in file_counts.items() if value}
            if progress is not None:
                progress(index, len(files), key)
        if len(skipped) == len(files):
            reasons = "; ".join(f"{item.key}: {item.reason}" for item in skipped[:3])
            raise contract_error(store_dir, f"none of the {len(files)} files yielded frames ({reasons})")
    except BaseException:
        writer.abort()
        raise
    writer.commit()
    return ExtractionReport(
        extractor=extractor.settings(),
        store_dir=str(store_dir),
        n_files=len(files),
        n_extracted=len(files) - len(skipped),
        n_frames=n_frames,
        n_features=len(extractor.feature_names),
        skipped=skipped,
        counts=counts,
        adjusted_files=adjusted,
    )


def _reused_report(extractor: FrameExtractor, files: Mapping[str, Path], store_dir: Path) -> ExtractionReport:
    """Report for a current store; re-run the extractor on the missing keys only, to recover skip reasons."""
    store = EmbeddingStore(store_dir)
    skipped = []
    for key in sorted(set(files) - set(store.keys)):
        try:
            extractor.extract_with_counts(Path(files[key]))
            reason = "absent from the current store"
        except UnusableInputError as error:
            reason = str(error)
        skipped.append(SkippedFile(key, str(files[key]), reason))
    return ExtractionReport(
        extractor=extractor.settings(),
        store_dir=str(store_dir),
        n_files=len(files),
        n_extracted=store.n_segments,
        n_frames=int(store.offsets[-1]),
        n_features=store.dim,
        skipped=skipped,
        reused=True,
    )
