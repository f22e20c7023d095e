"""Converting a cache's ``muq_embeddings.pt`` into an embedding store.

The file maps segment keys to ``Tensor[T, D]`` (the original notebook's cache: one layer) or to ``Tensor[L, T, D]``
(every hidden state stacked, as MuQ and Hugging Face models return them with ``output_hidden_states=True``); the
latter becomes a multi-layer store with layers ``"0"`` ... ``"L-1"`` whose default selection is the last layer.
"""

from __future__ import annotations

import pickle
import re
import zipfile
from pathlib import Path

import numpy as np
import torch

from datamodules.errors import contract_error
from datamodules.layers import LayerSelection
from datamodules.store import EmbeddingStore
from datamodules.store_format import MANIFEST_FILE, file_fingerprint, store_is_current
from datamodules.store_writer import StoreWriter

ACCEPTED_DTYPES = (torch.float16, torch.float32)


def convert_embeddings(source: Path, store_dir: Path, frame_rate_hz: float = 25.0) -> EmbeddingStore:
    """Convert ``source`` into a store at ``store_dir`` once; later calls on an unchanged source are no-ops.

    The file is opened with ``torch.load(mmap=True, weights_only=True)``, so tensors are paged in one segment at
    a time and peak memory stays near one segment's size (the original notebook loaded the whole dict).

    Parameters
    ----------
    source : Path
        ``muq_embeddings.pt``: a dict mapping segment keys to float16 or float32 tensors of shape (T, D), or all
        of shape (L, T, D), frames at ``frame_rate_hz`` per second.
    store_dir : Path
        Where the store goes.

    Returns
    -------
    EmbeddingStore

    Raises
    ------
    FileNotFoundError
        If ``source`` is missing.
    DataContractError
        If the file is not a readable torch file, is not a non-empty dict of str to tensor, or a tensor has the
        wrong dtype, T = 0, a different D or L, or non-finite frames (message names file and key).
    """
    source = Path(source)
    if not source.is_file():
        raise FileNotFoundError(f"{source}: file not found")
    fingerprint = file_fingerprint(source)
    if store_is_current(store_dir, fingerprint):
        return EmbeddingStore(store_dir)
    embeddings = _load_embedding_dict(source)
    first = next(iter(embeddings.values()))
    n_layers = first.shape[0] if isinstance(first, torch.Tensor) and first.ndim == 3 else None
    layer_names = None if n_layers is None else [str(index) for index in range(n_layers)]
    writer = StoreWriter(store_dir, source=fingerprint, frame_rate_hz=frame_rate_hz, layer_names=layer_names)
    try:
        for key, tensor in embeddings.items():
            if not isinstance(key, str):
                raise contract_error(source, f"key {key!r} is {type(key).__name__}, expected str")
            if not isinstance(tensor, torch.Tensor):
                raise contract_error(source, f"value is {type(tensor).__name__}, expected a Tensor[T, D] or [L, T, D]",
                                     key)
            if tensor.dtype not in ACCEPTED_DTYPES:
                raise contract_error(source, f"dtype {tensor.dtype}, expected float16 or float32", key)
            writer.add(key, tensor.detach().numpy().astype(np.float32, copy=False), origin=source)
    except BaseException:
        writer.abort()
        raise
    writer.commit()
    return EmbeddingStore(store_dir)


def open_embeddings(path: Path, store_dir: Path, layers: str | LayerSelection = "default") -> EmbeddingStore:
    """An embeddings input as a store: a ``.pt`` file converted into ``store_dir``, or a ready store directory.

    A store directory is one written by ``python -m benchmarks.extract`` (``DIR/store/`` or ``DIR`` itself), for
    example basic-pitch frames of a folder of masterclass WAV segments keyed by file stem.

    Raises
    ------
    FileNotFoundError
        If ``path`` is neither a file nor a directory holding a store (the message names what was looked for).
    DataContractError, ValueError
        From :func:`convert_embeddings`, or a layer selection the store cannot serve.
    """
    path = Path(path)
    if path.is_dir():
        for candidate in (path, path / "store"):
            if (candidate / MANIFEST_FILE).is_file():
                return EmbeddingStore(candidate, layers)
        raise FileNotFoundError(f"{path}: a directory without an embedding store ({MANIFEST_FILE} in it or in "
                                "store/); expected a .pt file or the --out directory of benchmarks.extract")
    return convert_embeddings(path, store_dir).with_layers(layers)


def store_manifest_path(path: Path) -> Path:
    """The file that identifies an embeddings input's content: the ``.pt`` file, or a store's manifest."""
    path = Path(path)
    if not path.is_dir():
        return path
    return path / MANIFEST_FILE if (path / MANIFEST_FILE).is_file() else path / "store" / MANIFEST_FILE


def _load_embedding_dict(source: Path) -> dict:
    try:
        try:
            embeddings = torch.load(source, map_location="cpu", mmap=True, weights_only=True)
        except RuntimeError as error:
            if "mmap" not in str(error) or zipfile.is_zipfile(source):
                raise
            # Legacy (pre-zipfile) serialisation cannot be memory-mapped: load it whole.
            embeddings = torch.load(source, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        found = re.search(r"Unsupported global: GLOBAL (\S+)", str(error))
        if found is None:  # not a pickle at all; the weights-only loader hides the reason below its advice
            reason = re.search(r"WeightsUnpickler error:\s*(\S[^\n]*)", str(error))
            detail = reason.group(1).strip() if reason else _first_line(error)
            raise contract_error(source, f"not a readable torch file ({detail})") from None
        problem = (f"holds a {found.group(1)} object, refused by torch.load(weights_only=True); expected a dict "
                   "{key: Tensor[T, D]} of torch tensors (convert arrays with torch.from_numpy)")
        raise contract_error(source, problem) from None
    except (RuntimeError, OSError, zipfile.BadZipFile, EOFError, ValueError) as error:  # truncated or not torch
        raise contract_error(source, f"not a readable torch file ({_first_line(error)})") from None
    if not isinstance(embeddings, dict):
        raise contract_error(source, f"expected a dict {{key: Tensor[T, D]}}, got {type(embeddings).__name__}")
    if not embeddings:
        raise contract_error(source, "no embeddings (empty dict)")
    return embeddings


def _first_line(error: BaseException) -> str:
    """The first non-empty line of an error message, without terminal colour codes."""
    lines = [line.strip() for line in re.sub(r"\x1b\[[0-9;]*m", "", str(error)).splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__
