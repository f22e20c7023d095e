"""Opening a cache directory and aligning its sources: labels, folds and (optionally) embeddings.

A cache directory holds ``labels.json`` and ``folds.json`` and may hold ``muq_embeddings.pt`` (converted once
into a store) or a ready store directory ``store/``. Keys present in one source but not another are aligned as
the original notebook did (probing uses keys with both labels and embeddings; fold keys without embeddings
leave their fold), but every exclusion is counted and reported in :class:`AlignmentReport`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from datamodules.embeddings import convert_embeddings
from datamodules.inputs.folds import FoldSplit, load_folds
from datamodules.inputs.labels import LabelTable, load_labels
from datamodules.keys import excerpt_groups, performer_groups, work_groups
from datamodules.store import EmbeddingStore
from datamodules.store_format import MANIFEST_FILE

#: The file names a cache directory holds (the optional ones are found there when no override is given).
LABELS_FILE = "labels.json"
FOLDS_FILE = "folds.json"
EMBEDDINGS_FILE = "muq_embeddings.pt"
STORE_DIR = "store"
RATINGS_FILE = "total_2rounds.csv"
MOMENTS_FILE = "all_moments.jsonl"
RECORDINGS_FILE = "recordings.jsonl"
MASTERCLASS_EMBEDDINGS_FILE = "masterclass_embeddings.pt"
COMPETITION_EMBEDDINGS_FILE = "competition_embeddings.pt"


@dataclass(frozen=True, slots=True)
class AlignmentReport:
    """What alignment excluded, and why. Key lists are sorted; ``n_*`` are their lengths.

    Attributes
    ----------
    n_labelled : int
        Keys in ``labels.json``.
    n_embedded : int or None
        Keys in the embedding store (None when the cache has no embeddings).
    labelled_without_embeddings : list of str
        Labelled keys that cannot be probed: no frames for them.
    embedded_without_labels : list of str
        Embedded keys ignored: no labels for them.
    fold_keys_without_embeddings : list of list of str
        Per fold, keys removed from the fold because they have no embeddings.
    labelled_in_no_fold : list of str
        Labelled keys in no fold: the held-out test set (not used in cross-validation).
    """

    n_labelled: int
    n_embedded: int | None
    labelled_without_embeddings: list[str] = field(default_factory=list)
    embedded_without_labels: list[str] = field(default_factory=list)
    fold_keys_without_embeddings: list[list[str]] = field(default_factory=list)
    labelled_in_no_fold: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        """JSON form with counts beside each key list."""
        payload = asdict(self)
        for name in ("labelled_without_embeddings", "embedded_without_labels", "labelled_in_no_fold"):
            payload[f"n_{name}"] = len(payload[name])
        payload["n_fold_keys_without_embeddings"] = [len(keys) for keys in self.fold_keys_without_embeddings]
        return payload

    def summary_lines(self) -> list[str]:
        """One human-readable line per kind of exclusion that occurred."""
        lines = []
        if self.labelled_without_embeddings:
            lines.append(f"{len(self.labelled_without_embeddings)} labelled keys have no embeddings and are not probed")
        if self.embedded_without_labels:
            lines.append(f"{len(self.embedded_without_labels)} embedded keys have no labels and are ignored")
        for index, keys in enumerate(self.fold_keys_without_embeddings):
            if keys:
                lines.append(f"fold {index}: {len(keys)} keys removed (no embeddings)")
        if self.labelled_in_no_fold:
            lines.append(f"{len(self.labelled_in_no_fold)} labelled keys are in no fold (held-out test set, unused)")
        return lines


@dataclass(frozen=True)
class PercepianoCache:
    """Validated, aligned contents of a cache directory.

    Attributes
    ----------
    keys : tuple of str, length n_segments
        The analysis keys: labelled keys (that also have embeddings when the cache has any), in label-file order.
    labels : ndarray of shape (n_segments, 19), float64
        Labels on [0, 1] for ``keys``.
    folds : list of (train_rows, val_rows)
        Per fold, int64 row indices into ``keys``.
    store : EmbeddingStore or None
        Frames and pooled stats; ``store_rows[i]`` is the store row of ``keys[i]``.
    store_rows : ndarray of shape (n_segments,), int64, or None
    excerpts, performers, works : tuple of str, length n_segments
        Grouping ids parsed from the key grammar (see :mod:`datamodules.keys`).
    label_table : LabelTable
        All labelled keys, including those excluded from probing (the label audit uses every one).
    fold_splits : list of FoldSplit
        The fold file as read (before alignment).
    alignment : AlignmentReport
    directory : Path
    """

    keys: tuple[str, ...]
    labels: np.ndarray
    folds: list[tuple[np.ndarray, np.ndarray]]
    store: EmbeddingStore | None
    store_rows: np.ndarray | None
    excerpts: tuple[str, ...]
    performers: tuple[str, ...]
    works: tuple[str, ...]
    label_table: LabelTable
    fold_splits: list[FoldSplit]
    alignment: AlignmentReport
    directory: Path

    @property
    def n_segments(self) -> int:
        return len(self.keys)

    def stats_features(self) -> np.ndarray:
        """Stats-pooled features of ``keys``, shape ``(n_segments, 2 * dim)``, float32.

        Raises
        ------
        ValueError
            If the cache has no embeddings.
        """
        if self.store is None or self.store_rows is None:
            raise ValueError(f"{self.directory}: the cache has no embeddings ({EMBEDDINGS_FILE} or {STORE_DIR}/)")
        return np.asarray(self.store.stats()[self.store_rows])


    def descriptors(self) -> tuple[np.ndarray, tuple[str, ...]] | None:
        """Segment-level descriptors of ``keys``, ``(n_segments, n_descriptors)`` float64, and their names; None when
        the store declares none (the descriptor baseline is then skipped with that reason)."""
        values = None if self.store is None or self.store_rows is None else self.store.descriptors()
        if values is None:
            return None
        return values[self.store_rows], self.store.descriptor_names


def open_cache(
    directory: Path,
    folds_file: Path | None = None,
    embeddings: bool = True,
    store_dir: Path | None = None,
    layers: str = "default",
) -> PercepianoCache:
    """Load, validate and align a cache directory.

    Parameters
    ----------
    directory : Path
        Holds ``labels.json``, ``folds.json`` and optionally ``muq_embeddings.pt`` or ``store/``.
    folds_file : Path, optional
        Another fold file to use instead of ``directory/folds.json``.
    embeddings : bool, default=True
        Whether to open embeddings (False for label-only sections).
    store_dir : Path, optional
        Where to build the store from ``muq_embeddings.pt`` (default ``directory/store``); use this when the
        cache directory is read-only.
    layers : str, default="default"
        Which layers of a multi-layer store the cache serves (:mod:`datamodules.layers`): ``"5"``, ``"9-12"``,
        ``"weighted"``; the store's default otherwise.

    Raises
    ------
    FileNotFoundError, DataContractError
        From the loaders; see :func:`load_labels`, :func:`load_folds`, :func:`convert_embeddings`.
    """
    directory = Path(directory)
    label_table = load_labels(directory / LABELS_FILE)
    fold_splits = load_folds(folds_file or directory / FOLDS_FILE, label_table.keys)
    store = _open_store(directory, store_dir, layers) if embeddings else None
    return align(label_table, fold_splits, store, directory)


def _open_store(directory: Path, store_dir: Path | None, layers: str) -> EmbeddingStore | None:
    """Convert ``muq_embeddings.pt`` into ``store_dir`` (default ``directory/store``), or open a ready store, through
    the ``layers`` selection."""
    target = Path(store_dir) if store_dir is not None else directory / STORE_DIR
    source = directory / EMBEDDINGS_FILE
    if source.is_file():
        return convert_embeddings(source, target).with_layers(layers)
    for candidate in (target, directory / STORE_DIR):
        if (candidate / MANIFEST_FILE).is_file():
            return EmbeddingStore(candidate, layers)
    return None


def align(
    label_table: LabelTable, fold_splits: list[FoldSplit], store: EmbeddingStore | None, directory: Path
) -> PercepianoCache:
    """Intersect labels with embeddings, restrict folds to the kept keys, and report every exclusion."""
    in_store = (lambda key: key in store) if store is not None else (lambda key: True)
    keys = tuple(key for key in label_table.keys if in_store(key))
    row_of = {key: row for row, key in enumerate(keys)}
    in_any_fold = {key for fold in fold_splits for key in (*fold.train, *fold.val)}
    folds, removed = [], []
    for fold in fold_splits:
        train = np.array([row_of[key] for key in fold.train if key in row_of], dtype=np.int64)
        val = np.array([row_of[key] for key in fold.val if key in row_of], dtype=np.int64)
        removed.append(sorted(key for key in (*fold.train, *fold.val) if key not in row_of))
        folds.append((train, val))
    labelled = set(label_table.keys)
    report = AlignmentReport(
        n_labelled=len(label_table),
        n_embedded=None if store is None else store.n_segments,
        labelled_without_embeddings=sorted(labelled - set(keys)),
        embedded_without_labels=[] if store is None else sorted(set(store.keys) - labelled),
        fold_keys_without_embeddings=removed,
        labelled_in_no_fold=sorted(labelled - in_any_fold),
    )
    store_rows = None if store is None else np.array([store.row(key) for key in keys], dtype=np.int64)
    keys_list = list(keys)
    return PercepianoCache(
        keys=keys,
        labels=label_table.subset(keys_list),
        folds=folds,
        store=store,
        store_rows=store_rows,
        excerpts=tuple(excerpt_groups(keys_list)),
        performers=tuple(performer_groups(keys_list)),
        works=tuple(work_groups(keys_list)),
        label_table=label_table,
        fold_splits=fold_splits,
        alignment=report,
        directory=directory,
    )
