"""Small planted caches for the prober tests, written to ``tmp_path`` with the real store writer.

Keys follow the grammar ``W<e>_4bars_P<p>_<e>``: excerpt ``e`` has ``n_players`` performances, and fold ``f`` holds
the excerpts with ``e % n_folds == f`` in its validation part, so folds are grouped by excerpt.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from datamodules.cache import PercepianoCache, open_cache
from datamodules.store_writer import StoreWriter

N_DIMS = 19
FrameMaker = Callable[[np.random.Generator, np.ndarray], np.ndarray]


def build_cache(
    root: Path, make_frames: FrameMaker, *, n_excerpts: int = 12, n_players: int = 4, n_folds: int = 3, seed: int = 0
) -> PercepianoCache:
    """Write ``labels.json``, ``folds.json`` and ``store/`` under ``root`` and open them.

    ``make_frames(rng, labels_row)`` returns the ``(n_frames, D)`` frames of one segment given its 19 labels;
    labels are uniform on [0.05, 0.95].
    """
    rng = np.random.default_rng(seed)
    keys = [f"W{e}_4bars_P{p}_{e}" for e in range(n_excerpts) for p in range(n_players)]
    labels = rng.uniform(0.05, 0.95, size=(len(keys), N_DIMS))
    (root / "labels.json").write_text(json.dumps({key: row.tolist() for key, row in zip(keys, labels, strict=True)}))
    excerpt = [int(key.split("_")[-1]) for key in keys]
    folds = [{"train": [k for k, e in zip(keys, excerpt, strict=True) if e % n_folds != f],
              "val": [k for k, e in zip(keys, excerpt, strict=True) if e % n_folds == f]} for f in range(n_folds)]
    (root / "folds.json").write_text(json.dumps(folds))
    with StoreWriter(root / "store", source={"name": "planted", "seed": seed}) as writer:
        for key, row in zip(keys, labels, strict=True):
            writer.add(key, make_frames(rng, row))
    return open_cache(root)


def linear_frames(rng: np.random.Generator, labels: np.ndarray, dim: int = 6) -> np.ndarray:
    """Frames whose per-channel mean carries labels 0..dim-1 linearly (stats-audible), 3 to 19 frames.

    Values are rounded to float16 (what the store keeps), so the store's stats describe the stored frames exactly.
    """
    n_frames = int(rng.integers(3, 20))
    frames = rng.normal(size=(n_frames, dim)) * 0.3 + 2.0 * (labels[:dim] - 0.5)
    return frames.astype(np.float16).astype(np.float64)


def sparse_marker_frames(rng: np.random.Generator, labels: np.ndarray) -> np.ndarray:
    """Label 0 lives only in a few marker frames; the frame mean and std do not carry it linearly.

    ``n_markers`` frames have channel 0 = +4 and channel 1 = ``v = 3 (2 y - 1)``; as many anti-markers have
    channel 0 = -4 and channel 1 = ``-v``. Means of both channels are then independent of ``y``, and the std of
    channel 1 depends on ``|2 y - 1|`` only (uncorrelated with ``y`` for uniform ``y``). Attending to the markers
    reads ``v``, linear in ``y``.
    """
    n_frames, n_markers = int(rng.integers(20, 36)), 3
    frames = rng.normal(size=(n_frames, 4))
    value = 3.0 * (2.0 * labels[0] - 1.0)
    positions = rng.choice(n_frames, size=2 * n_markers, replace=False)
    frames[positions[:n_markers], 0], frames[positions[:n_markers], 1] = 4.0, value
    frames[positions[n_markers:], 0], frames[positions[n_markers:], 1] = -4.0, -value
    return frames


@pytest.fixture(scope="module")
def linear_cache(tmp_path_factory: pytest.TempPathFactory) -> PercepianoCache:
    """48 segments (12 excerpts x 4 players), D = 6, labels 0-5 linear in the frame means, 3 folds."""
    return build_cache(tmp_path_factory.mktemp("linear"), linear_frames)


@pytest.fixture(scope="module")
def sparse_cache(tmp_path_factory: pytest.TempPathFactory) -> PercepianoCache:
    """150 segments (50 excerpts x 3 players), D = 4, label 0 only in sparse marker frames, 3 folds."""
    return build_cache(tmp_path_factory.mktemp("sparse"), sparse_marker_frames, n_excerpts=50, n_players=3)


@pytest.fixture(autouse=True)
def one_torch_thread():
    """One intra-op thread: these models are tiny, and thread hand-offs dominate on a shared CPU."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture
def cpu_trainer() -> dict:
    """Trainer keywords for tests: CPU (deterministic numbers whatever the machine)."""
    return {"accelerator": "cpu"}
