"""``--layers weighted``: the layer mix is exact, and trained probers put their weight on the planted layer."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from datamodules.cache import PercepianoCache, open_cache
from datamodules.fold_datamodule import FoldDataModule
from datamodules.store_writer import StoreWriter
from probes.layer_weights import LOGIT_SCALE, LayerMix, layer_shape
from probes.mlp import BatchedMLPModule
from probes.mlp_es import StandardizedMLPModule, merge_outputs
from probes.registry import get_prober

N_LAYERS, DIM, AUDIBLE_LAYER = 3, 6, 1


def planted_layers_cache(root: Path, seed: int = 0) -> PercepianoCache:
    """Three layers of width 6 with the same statistics (a per-segment vector plus frame noise of sd 0.3): in
    layer 1 the vector carries labels 0-5 linearly, in layers 0 and 2 it is drawn independently of the labels."""
    rng = np.random.default_rng(seed)
    keys = [f"W{e}_4bars_P{p}_{e}" for e in range(24) for p in range(4)]
    labels = rng.uniform(0.05, 0.95, size=(len(keys), 19))
    (root / "labels.json").write_text(json.dumps({key: row.tolist() for key, row in zip(keys, labels, strict=True)}))
    excerpt = [int(key.split("_")[-1]) for key in keys]
    folds = [{"train": [k for k, e in zip(keys, excerpt, strict=True) if e % 3 != f],
              "val": [k for k, e in zip(keys, excerpt, strict=True) if e % 3 == f]} for f in range(3)]
    (root / "folds.json").write_text(json.dumps(folds))
    names = [str(layer) for layer in range(N_LAYERS)]
    with StoreWriter(root / "store", source={"planted": seed}, layer_names=names, default_layers="2") as writer:
        for key, row in zip(keys, labels, strict=True):
            n_frames = int(rng.integers(3, 12))
            layers = rng.normal(size=(N_LAYERS, 1, DIM)) + rng.normal(size=(N_LAYERS, n_frames, DIM)) * 0.3
            layers[AUDIBLE_LAYER] = rng.normal(size=(n_frames, DIM)) * 0.3 + 2.0 * (row[:DIM] - 0.5)
            writer.add(key, layers)
    return open_cache(root, layers="weighted")


@pytest.fixture(scope="module")
def layered_cache(tmp_path_factory: pytest.TempPathFactory) -> PercepianoCache:
    return planted_layers_cache(tmp_path_factory.mktemp("layers"))


def test_layer_mix_is_the_softmax_weighted_sum() -> None:
    mix = LayerMix(n_layers=3, width=2, blocks=2)
    with torch.no_grad():
        mix.logits.copy_(torch.tensor([0.5, -1.0, 2.0]))
    values = torch.randn(4, 2 * 3 * 2)  # (batch, blocks * L * D)
    weights = torch.softmax(LOGIT_SCALE * torch.tensor([0.5, -1.0, 2.0]), 0)
    shaped = values.view(4, 2, 3, 2)
    expected = sum(weights[layer] * shaped[:, :, layer] for layer in range(3)).reshape(4, 4)
    torch.testing.assert_close(mix(values), expected)
    single, narrow = LayerMix(1, 5), values[:, :5]
    assert single.logits is None and single(narrow) is narrow  # one layer: the identity, no weights


def test_each_mlp_mixes_the_layers_with_its_own_weights() -> None:
    """Output k's hidden units are its first layer applied to the softmax mix of the layers by its own weights."""
    torch.manual_seed(0)
    module = BatchedMLPModule(input_dim=2 * DIM, hidden_dim=4, n_layers=N_LAYERS)
    with torch.no_grad():
        module.layer_logits.copy_(torch.randn(19, N_LAYERS))
    features = torch.randn(5, 2 * N_LAYERS * DIM)  # every layer's means, then every layer's standard deviations
    hidden = module.hidden(features)  # (batch, 19, hidden)
    for output in (0, 7, 18):
        mix = LayerMix(N_LAYERS, DIM, blocks=2)
        with torch.no_grad():
            mix.logits.copy_(module.layer_logits[output])
        expected = torch.relu(mix(features) @ module.weight1[output] + module.bias1[output])
        torch.testing.assert_close(hidden[:, output], expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(module.layer_weights().sum(dim=1).detach().numpy(), 1.0, rtol=1e-6)


def test_layer_shape_refuses_weighting_layers_of_different_widths(tmp_path: Path, layered_cache) -> None:
    assert layer_shape(FoldDataModule(layered_cache, 0)) == (N_LAYERS, DIM)
    root = tmp_path / "mixed"
    root.mkdir()
    for name in ("labels.json", "folds.json"):
        (root / name).write_text((layered_cache.directory / name).read_text())
    with StoreWriter(root / "store", source={}, layer_names=("a", "b")) as writer:
        for key in layered_cache.keys:
            writer.add(key, {"a": np.ones((2, 3)), "b": np.ones((2, 4))})
    with pytest.raises(ValueError, match="needs layers of one width"):
        layer_shape(FoldDataModule(open_cache(root, layers="weighted"), 0))


@pytest.mark.parametrize(("name", "epochs", "least"), [("mlp", 150, 0.4), ("attention", 60, 0.5)])
def test_trained_probers_weight_the_planted_layer(layered_cache, name: str, epochs: int, least: float) -> None:
    """With label-free layers of the same statistics beside it, the learned weights move from uniform (1/3) onto
    the audible layer (the MLP, which can rescale a diluted signal itself, moves more slowly)."""
    prober = get_prober(name, max_epochs=epochs, seed=0, accelerator="cpu")
    datamodule = FoldDataModule(layered_cache, 0, view=prober.view, batch_size=8)
    prober.fit(datamodule, trainer_kwargs={"enable_progress_bar": False})
    if name == "mlp":  # one weighting per dimension's MLP: those of the planted dimensions 0-5
        weights = prober.module_.layer_weights()[:DIM].mean(dim=0).detach().numpy()
    else:
        weights = prober.module_.layer_mix.weights().numpy()
    assert weights.shape == (N_LAYERS,) and np.isclose(weights.sum(), 1.0)
    assert weights[AUDIBLE_LAYER] > least and weights.argmax() == AUDIBLE_LAYER


def test_mlp_es_merge_keeps_each_candidates_layer_weights() -> None:
    """Output k of the merged module is output k of its chosen candidate, each with its own learned layer weights."""
    torch.manual_seed(0)
    modules = []
    for hidden_dim, logits in ((4, [0.3, 1.2, -0.4]), (7, [-1.0, 0.0, 2.0])):
        module = StandardizedMLPModule(input_dim=2 * DIM, hidden_dim=hidden_dim, n_layers=N_LAYERS)
        with torch.no_grad():
            module.layer_logits.copy_(torch.tensor(logits).expand(19, N_LAYERS) + torch.randn(19, N_LAYERS))
        modules.append(module.eval())
    chosen = np.arange(19) % 2
    merged = merge_outputs(modules, chosen).eval()
    assert merged.layer_logits is None  # folded into the first layer
    features = torch.randn(6, 2 * N_LAYERS * DIM)
    with torch.no_grad():
        expected = torch.stack([modules[index](features)[:, output] for output, index in enumerate(chosen)], 1)
        torch.testing.assert_close(merged(features), expected, rtol=1e-5, atol=1e-6)
