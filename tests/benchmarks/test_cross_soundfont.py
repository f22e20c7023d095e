"""The cross-store check: the same frames give no drop, corrupted frames a positive one, missing keys are counted."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from benchmarks.cross_soundfont import cross_soundfont, parse_args
from datamodules.store_writer import StoreWriter
from tests.probes.conftest import build_cache, linear_frames


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_cache(tmp_path_factory.mktemp("cache"), linear_frames).directory


def other_store(root: Path, cache_dir: Path, noise: float, drop_keys: int = 0, shift: float = 0.0) -> Path:
    """The cache's frames plus ``shift`` and Gaussian noise of sd ``noise``, without its first ``drop_keys`` keys."""
    from datamodules.cache import open_cache

    store = open_cache(cache_dir).store
    rng = np.random.default_rng(1)
    with StoreWriter(root / "store", source={"other": noise, "shift": shift}) as writer:
        for row, key in enumerate(store.keys[drop_keys:], start=drop_keys):
            frames = store.frames(row).astype(np.float64)
            writer.add(key, frames + shift + noise * rng.normal(size=frames.shape))
    return root


def run(cache_dir: Path, other: Path, out: Path) -> dict:
    return cross_soundfont(parse_args(["--cache", str(cache_dir), "--other", str(other), "--probes", "ridge_tuned",
                                       "--bootstrap", "100", "--accelerator", "cpu", "--out", str(out)]))


def test_the_same_frames_give_no_drop(cache_dir: Path, tmp_path: Path) -> None:
    result = run(cache_dir, other_store(tmp_path / "same", cache_dir, 0.0), tmp_path / "out")["probers"]["ridge_tuned"]
    np.testing.assert_allclose(result["drop"], 0.0, atol=1e-9)
    np.testing.assert_allclose(result["cross_restandardized_r2"], result["same_r2"], atol=1e-9)
    assert result["mean_same_r2"] > 0.15 and result["missing_keys"] == []  # labels 0-5 of 19 are planted


def test_restandardizing_removes_a_shift_of_the_other_rendering(cache_dir: Path, tmp_path: Path) -> None:
    """A constant offset of every frame (another SoundFont's level) breaks the transfer; the other store's own
    training-row statistics undo it exactly for a linear prober with clipping far away."""
    result = run(cache_dir, other_store(tmp_path / "shifted", cache_dir, 0.0, shift=3.0), tmp_path / "out")
    entry = result["probers"]["ridge_tuned"]
    assert entry["mean_drop"] > 0.5
    assert entry["mean_cross_restandardized_r2"] == pytest.approx(entry["mean_same_r2"], abs=0.01)


def test_noisier_frames_drop_and_missing_keys_are_counted(cache_dir: Path, tmp_path: Path) -> None:
    other = other_store(tmp_path / "noisy", cache_dir, 1.5, drop_keys=3)
    out = tmp_path / "out"
    result = run(cache_dir, other, out)["probers"]["ridge_tuned"]
    assert len(result["missing_keys"]) == 3 and result["n_rows"] == 48 - 3
    assert result["mean_drop"] > 0.1 and result["mean_drop_ci"][0] > 0
    assert json.loads((out / "cross_soundfont.json").read_text())["probers"]["ridge_tuned"] == result
    resumed = run(cache_dir, other, out)["probers"]["ridge_tuned"]  # from the fold files
    assert resumed["drop"] == result["drop"]


def test_the_fold_hash_ignores_the_resident_budget_and_not_the_clip(cache_dir: Path, tmp_path: Path) -> None:
    from benchmarks.orchestration.cross_store import _config_hash
    from benchmarks.orchestration.cross_validation import build_prober, fold_datamodule
    from datamodules.cache import open_cache
    from datamodules.store import EmbeddingStore

    cache = open_cache(cache_dir)
    other = EmbeddingStore(other_store(tmp_path / "other", cache_dir, 0.1) / "store")

    def digest(datamodule_kwargs: dict) -> str:
        datamodule = fold_datamodule(build_prober("ridge_tuned", 0), cache, 0, 0, datamodule_kwargs)
        return _config_hash("ridge_tuned", cache, other, 0, 0, {}, datamodule)

    assert digest({"clip": 5.0, "resident_bytes": 0}) == digest({"clip": 5.0, "resident_bytes": 2**28})
    assert digest({"clip": 5.0}) != digest({"clip": 4.0})
