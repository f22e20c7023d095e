"""Multi-layer stores: every layer round-trips, selections serve what they say, old single-layer stores still open."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from datamodules.embeddings import convert_embeddings, open_embeddings
from datamodules.layers import parse_layers
from datamodules.store import EmbeddingStore
from datamodules.store_format import MANIFEST_FILE
from datamodules.store_writer import StoreWriter
from tests.datamodules.test_store import forget_ranges_files

N_LAYERS, DIM = 4, 3


@pytest.fixture
def stacked(tmp_path: Path) -> tuple[Path, dict[str, torch.Tensor]]:
    """A ``{key: Tensor[L, T, D]}`` file, as MuQ's stacked hidden states."""
    generator = torch.Generator().manual_seed(1)
    tensors = {f"W_4bars_{p}_1": torch.randn(N_LAYERS, 2 + 3 * p, DIM, generator=generator) for p in range(4)}
    path = tmp_path / "muq_embeddings.pt"
    torch.save(tensors, path)
    return path, tensors


def half(tensor: torch.Tensor) -> np.ndarray:
    return tensor.half().double().numpy()


class TestLayerSelection:
    @pytest.mark.parametrize(("spec", "kind", "layers"), [
        ("2", "single", ("2",)), ("1-3", "mean", ("1", "2", "3")), ("3,1", "mean", ("1", "3")),
        ("weighted", "weighted", ("0", "1", "2", "3")), ("default", "single", ("3",)), ("2-2", "single", ("2",)),
    ])
    def test_grammar(self, spec: str, kind: str, layers: tuple) -> None:
        selection = parse_layers(spec, ("0", "1", "2", "3"), default="3")
        assert (selection.kind, selection.layers) == (kind, layers)

    @pytest.mark.parametrize(("spec", "message"), [("7", "no layer '7'"), ("3-1", "runs backwards"),
                                                    ("1,1", "repeats a layer"), ("1-9", "no layer '9'")])
    def test_bad_specs_name_the_store_and_its_layers(self, spec: str, message: str) -> None:
        with pytest.raises(ValueError, match=message) as error:
            parse_layers(spec, ("0", "1", "2", "3"), default="3", origin="/x/store")
        assert "/x/store" in str(error.value)


class TestMultiLayerStore:
    def test_every_layer_round_trips_and_shares_offsets(self, tmp_path: Path, stacked: tuple) -> None:
        path, tensors = stacked
        store = convert_embeddings(path, tmp_path / "store")
        assert store.layer_names == ("0", "1", "2", "3") and store.selection.spec == "3"
        for layer in store.layer_names:
            view = store.with_layers(layer)
            for key, tensor in tensors.items():
                np.testing.assert_array_equal(view.frames(view.row(key)), half(tensor[int(layer)]))
        assert sorted(p.name for p in (tmp_path / "store").glob("offsets*")) == ["offsets.npy"]

    def test_single_layer_stats_are_the_layers_own(self, tmp_path: Path, stacked: tuple) -> None:
        path, tensors = stacked
        view = convert_embeddings(path, tmp_path / "store").with_layers("1")
        for row, tensor in enumerate(tensors.values()):
            exact = tensor[1].double()
            expected = torch.cat([exact.mean(0), exact.std(0, unbiased=False)]).numpy()
            np.testing.assert_allclose(view.stats()[row], expected, rtol=1e-6, atol=1e-6)

    def test_mean_of_a_range_serves_the_frame_wise_mean(self, tmp_path: Path, stacked: tuple) -> None:
        path, tensors = stacked
        view = convert_embeddings(path, tmp_path / "store").with_layers("1-3")
        assert view.dim == DIM
        for row, tensor in enumerate(tensors.values()):
            mean = np.mean([half(tensor[layer]) for layer in (1, 2, 3)], axis=0)  # (T, D)
            np.testing.assert_allclose(view.frames(row), mean, rtol=1e-6, atol=1e-6)
            expected = np.concatenate([mean.mean(0), mean.std(0)])
            np.testing.assert_allclose(view.stats()[row], expected, rtol=1e-5, atol=1e-5)
            np.testing.assert_allclose(view.frame_ranges()[row], [mean.min(0), mean.max(0)], rtol=1e-6, atol=1e-6)

    @pytest.mark.parametrize("stored_ranges", [True, False], ids=["ranges files", "pass over frames"])
    def test_weighted_serves_layers_side_by_side(self, tmp_path: Path, stacked: tuple, stored_ranges: bool) -> None:
        path, tensors = stacked
        view = convert_embeddings(path, tmp_path / "store").with_layers("weighted")
        if not stored_ranges:
            forget_ranges_files(tmp_path / "store")
            view = view.with_layers("weighted")
        assert view.dim == N_LAYERS * DIM
        for row, tensor in enumerate(tensors.values()):
            side_by_side = np.concatenate([half(tensor[layer]) for layer in range(N_LAYERS)], axis=1)  # (T, L * D)
            np.testing.assert_array_equal(view.frames(row), side_by_side)
            source = np.concatenate([tensor[layer].double().numpy() for layer in range(N_LAYERS)], axis=1)
            expected = np.concatenate([source.mean(0), source.std(0)])  # stored stats are of the source frames
            np.testing.assert_allclose(view.stats()[row], expected, rtol=1e-5, atol=1e-5)
            np.testing.assert_allclose(view.frame_ranges()[row], [side_by_side.min(0), side_by_side.max(0)])

    def test_named_layers_of_different_widths(self, tmp_path: Path) -> None:
        with StoreWriter(tmp_path / "store", source={}, layer_names=("note", "contour"), default_layers="note") as w:
            w.add("a_4bars_1_1", {"note": np.ones((2, 3)), "contour": np.zeros((2, 5))})
        store = EmbeddingStore(tmp_path / "store")
        assert (store.selection.spec, store.dim, store.with_layers("contour").dim) == ("note", 3, 5)
        assert store.with_layers("weighted").dim == 8
        with pytest.raises(ValueError, match="different widths"):
            store.with_layers("note,contour")

    def test_layers_of_different_lengths_are_refused(self, tmp_path: Path) -> None:
        writer = StoreWriter(tmp_path / "store", source={}, layer_names=("a", "b"))
        with pytest.raises(ValueError, match="different numbers of frames"):
            writer.add("k_4bars_1_1", {"a": np.ones((2, 3)), "b": np.ones((3, 3))})
        writer.abort()

    def test_a_format_1_store_still_opens(self, tmp_path: Path) -> None:
        with StoreWriter(tmp_path / "store", source={}) as writer:
            writer.add("a_4bars_1_1", np.arange(6.0).reshape(3, 2))
        manifest_path = tmp_path / "store" / MANIFEST_FILE
        manifest = json.loads(manifest_path.read_text())  # rewrite as the format before multi-layer stores
        old = {key: value for key, value in manifest.items() if key not in ("layers", "default_layers")}
        manifest_path.write_text(json.dumps({**old, "format_version": 1, "dim": 2}))
        store = EmbeddingStore(tmp_path / "store")
        assert store.layer_names == ("0",) and not store.is_multi_layer
        np.testing.assert_array_equal(store.frames(0), np.arange(6.0).reshape(3, 2))

    def test_identity_names_the_selection_only_for_multi_layer_stores(self, tmp_path: Path, stacked: tuple) -> None:
        path, _ = stacked
        store = convert_embeddings(path, tmp_path / "store")
        assert store.with_layers("1").identity()["layers"] == "1"
        assert store.with_layers("1").identity() != store.with_layers("2").identity()
        with StoreWriter(tmp_path / "single", source={}) as writer:
            writer.add("a_4bars_1_1", np.ones((2, 2)))
        assert "layers" not in EmbeddingStore(tmp_path / "single").identity()

    def test_open_embeddings_takes_a_store_directory(self, tmp_path: Path, stacked: tuple) -> None:
        path, _ = stacked
        convert_embeddings(path, tmp_path / "out" / "store")
        assert open_embeddings(tmp_path / "out", tmp_path / "unused", "2").selection.spec == "2"
        (tmp_path / "empty").mkdir()
        with pytest.raises(FileNotFoundError, match="without an embedding store"):
            open_embeddings(tmp_path / "empty", tmp_path / "x")
