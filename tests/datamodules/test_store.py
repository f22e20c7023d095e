"""The embedding store: exact round trip, stats against a direct computation, atomic and idempotent builds."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from datamodules.embeddings import convert_embeddings
from datamodules.store import EmbeddingStore
from datamodules.store_format import MANIFEST_FILE
from datamodules.store_writer import StoreWriter


@pytest.fixture
def source(tmp_path: Path) -> tuple[Path, dict[str, torch.Tensor]]:
    generator = torch.Generator().manual_seed(0)
    tensors = {f"W_4bars_{p}_1": torch.randn(int(3 + 5 * p), 6, generator=generator) * 3 for p in range(5)}
    tensors["W_4bars_9_1"] = tensors["W_4bars_9_1"] = torch.randn(1, 6, generator=generator).half()
    path = tmp_path / "muq_embeddings.pt"
    torch.save(tensors, path)
    return path, tensors


class TestEmbeddingStore:
    def test_round_trip_is_exact_to_float16(self, tmp_path: Path, source: tuple) -> None:
        path, tensors = source
        store = convert_embeddings(path, tmp_path / "store")
        assert store.keys == tuple(tensors) and store.dim == 6
        for row, (key, tensor) in enumerate(tensors.items()):
            np.testing.assert_array_equal(store.frames(store.row(key)), tensor.half().numpy())
            assert store.lengths[row] == tensor.shape[0]

    def test_stats_equal_direct_computation(self, tmp_path: Path, source: tuple) -> None:
        path, tensors = source
        stats = convert_embeddings(path, tmp_path / "store").stats()
        for row, tensor in enumerate(tensors.values()):
            exact = tensor.double()
            expected = torch.cat([exact.mean(0), exact.std(0, unbiased=False)]).numpy()
            np.testing.assert_allclose(stats[row], expected, rtol=1e-6, atol=1e-6)

    @pytest.mark.parametrize("block_frames", [1, 7, 1 << 18])
    @pytest.mark.parametrize("stored", [True, False], ids=["ranges file", "pass over frames"])
    def test_frame_ranges_equal_per_segment_min_max(self, tmp_path: Path, source: tuple, monkeypatch,
                                                    block_frames: int, stored: bool) -> None:
        """The stored ranges file, and the pass that stores written without one take (blocks of whole segments; a
        segment longer than a block is read whole), give the direct min and max of the stored frames."""
        monkeypatch.setattr("datamodules.store._BLOCK_VALUES", block_frames * 6)  # D = 6
        path, tensors = source
        store = convert_embeddings(path, tmp_path / "store")
        assert (tmp_path / "store" / "ranges.f16.npy").is_file()
        if not stored:
            forget_ranges_files(tmp_path / "store")
            store = EmbeddingStore(tmp_path / "store")
        ranges = store.frame_ranges()
        assert ranges.shape == (len(tensors), 2, 6) and ranges.dtype == np.float32
        for row, tensor in enumerate(tensors.values()):
            half = tensor.half().float().numpy()
            np.testing.assert_array_equal(ranges[row, 0], half.min(axis=0))
            np.testing.assert_array_equal(ranges[row, 1], half.max(axis=0))

    def test_rerun_on_unchanged_source_is_a_no_op(self, tmp_path: Path, source: tuple) -> None:
        path, _ = source
        convert_embeddings(path, tmp_path / "store")
        before = os.stat(tmp_path / "store" / "frames.f16").st_mtime_ns
        convert_embeddings(path, tmp_path / "store")
        assert os.stat(tmp_path / "store" / "frames.f16").st_mtime_ns == before

    def test_changed_source_rebuilds(self, tmp_path: Path, source: tuple) -> None:
        path, tensors = source
        convert_embeddings(path, tmp_path / "store")
        torch.save({"W_4bars_1_1": torch.ones(2, 6)}, path)
        assert convert_embeddings(path, tmp_path / "store").keys == ("W_4bars_1_1",)

    def test_interrupted_build_leaves_old_store_intact(self, tmp_path: Path) -> None:
        with StoreWriter(tmp_path / "store", source={"v": 1}) as writer:
            writer.add("a_4bars_1_1", np.ones((2, 3)))
        with pytest.raises(RuntimeError, match="interrupted"):
            with StoreWriter(tmp_path / "store", source={"v": 2}) as writer:
                writer.add("b_4bars_1_1", np.ones((2, 3)))
                raise RuntimeError("interrupted")
        assert EmbeddingStore(tmp_path / "store").keys == ("a_4bars_1_1",)
        assert [p.name for p in tmp_path.iterdir()] == ["store"], "no partial directory may remain"

    def test_not_a_store(self, tmp_path: Path) -> None:
        with pytest.raises(FileNotFoundError, match="not an embedding store"):
            EmbeddingStore(tmp_path)


def forget_ranges_files(store_dir: Path) -> None:
    """Make ``store_dir`` look written before ranges were stored: no ``ranges_file`` entries, no ranges files."""
    manifest_path = store_dir / MANIFEST_FILE
    manifest = json.loads(manifest_path.read_text())
    for layer in manifest["layers"]:
        (store_dir / layer.pop("ranges_file")).unlink()
    manifest_path.write_text(json.dumps(manifest))
