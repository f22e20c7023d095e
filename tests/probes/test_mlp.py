"""BatchedMLPModule against 19 separately trained nn.Sequential MLPs; MLPProber fit, determinism and errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.exceptions import NotFittedError
from torch import nn

from benchmarks.speed.original.mlp import mlp_per_dimension
from datamodules.fold_datamodule import FoldDataModule
from probes.mlp import BatchedMLPModule, MLPProber


def _separate_copies(module: BatchedMLPModule) -> list[nn.Sequential]:
    """One nn.Sequential per output, initialised from the batched module's slices."""
    copies = []
    for k in range(module.hparams.n_outputs):
        first, second = (nn.Linear(module.hparams.input_dim, module.hparams.hidden_dim),
                         nn.Linear(module.hparams.hidden_dim, 1))
        with torch.no_grad():
            first.weight.copy_(module.weight1[k].T)
            first.bias.copy_(module.bias1[k])
            second.weight.copy_(module.weight2[k].T)
            second.bias.copy_(module.bias2[k])
        copies.append(nn.Sequential(first, nn.ReLU(), second).double())
    return copies


class TestBatchedMLPModule:
    def test_batched_training_equals_one_by_one(self) -> None:
        torch.manual_seed(0)
        module = BatchedMLPModule(input_dim=7, n_outputs=19, hidden_dim=5, learning_rate=1e-2,
                                  weight_decay=1e-3).double()
        copies = _separate_copies(module)
        generator = torch.Generator().manual_seed(1)
        features = torch.randn(40, 7, generator=generator, dtype=torch.float64)
        targets = torch.rand(40, 19, generator=generator, dtype=torch.float64)
        batches = [torch.randperm(40, generator=generator)[:8] for _ in range(15)]
        optimizer = module.configure_optimizers()
        separate_optimizers = [torch.optim.Adam(copy.parameters(), lr=1e-2, weight_decay=1e-3) for copy in copies]
        for batch in batches:
            optimizer.zero_grad()
            loss = module.loss(module(features[batch]), targets[batch])
            loss.backward()
            optimizer.step()
            separate_losses = []
            for k, (copy, separate_optimizer) in enumerate(zip(copies, separate_optimizers, strict=True)):
                separate_optimizer.zero_grad()
                separate_loss = nn.functional.mse_loss(copy(features[batch]).squeeze(-1), targets[batch, k])
                separate_loss.backward()
                separate_optimizer.step()
                separate_losses.append(separate_loss.item())
            assert loss.item() == pytest.approx(sum(separate_losses), rel=1e-10)
        with torch.no_grad():
            expected = torch.cat([copy(features) for copy in copies], dim=1)  # (40, 19)
            np.testing.assert_allclose(module(features).numpy(), expected.numpy(), rtol=1e-9, atol=1e-12)
            np.testing.assert_allclose(module.weight1[3].T.numpy(), copies[3][0].weight.numpy(), rtol=1e-9, atol=1e-12)

    def test_every_output_starts_from_the_seeded_nn_linear_draw(self) -> None:
        torch.manual_seed(5)
        module = BatchedMLPModule(input_dim=64, n_outputs=3, hidden_dim=16)
        torch.manual_seed(5)
        first, second = nn.Linear(64, 16), nn.Linear(16, 1)
        for k in range(3):
            torch.testing.assert_close(module.weight1[k], first.weight.T, rtol=0, atol=0)
            torch.testing.assert_close(module.bias1[k], first.bias, rtol=0, atol=0)
            torch.testing.assert_close(module.weight2[k], second.weight.T, rtol=0, atol=0)
            torch.testing.assert_close(module.bias2[k], second.bias, rtol=0, atol=0)
        assert module.weight1.abs().max() <= 1 / math.sqrt(64) and module.weight1.abs().max() > 0.9 / math.sqrt(64)
        assert tuple(module.weight1.shape) == (3, 64, 16) and tuple(module.weight2.shape) == (3, 16, 1)

    def test_outputs_are_independent(self) -> None:
        module = BatchedMLPModule(input_dim=4, n_outputs=3, hidden_dim=6)
        features = torch.randn(5, 4)
        before = module(features).detach()
        with torch.no_grad():
            module.weight1[1].add_(1.0)
        after = module(features).detach()
        torch.testing.assert_close(after[:, [0, 2]], before[:, [0, 2]])
        assert not torch.allclose(after[:, 1], before[:, 1])


class TestMLPProber:
    def test_fit_predict_is_seeded(self, linear_cache) -> None:
        def run(seed: int) -> np.ndarray:
            datamodule = FoldDataModule(linear_cache, fold=0, view="stats", batch_size=16, seed=seed)
            prober = MLPProber(hidden_dim=8, max_epochs=2, batch_size=16, seed=seed, accelerator="cpu").fit(datamodule)
            predictions, rows = prober.predict(datamodule.predict_dataloader())
            np.testing.assert_array_equal(rows, datamodule.val_rows_)
            assert predictions.shape == (len(rows), 19) and prober.n_outputs_ == 19
            return predictions

        first = run(0)
        np.testing.assert_array_equal(first, run(0))
        assert not np.allclose(first, run(1))

    def test_replays_the_original_per_dimension_recipe(self, linear_cache) -> None:
        """Same seed, epochs and batches: the 19 batched MLPs predict what 19 separately trained notebook MLPs do."""
        datamodule = FoldDataModule(linear_cache, fold=1, view="stats", batch_size=8, seed=3)
        prober = MLPProber(hidden_dim=16, max_epochs=6, batch_size=8, seed=3, accelerator="cpu").fit(datamodule)
        predictions, rows = prober.predict(datamodule.predict_dataloader())
        original = mlp_per_dimension(
            linear_cache.stats_features().astype(np.float64), linear_cache.labels,
            [(datamodule.fit_rows_, datamodule.val_rows_)], max_epochs=6, seed=3, hidden_dim=16, batch_size=8,
        )
        np.testing.assert_allclose(predictions, original[rows], rtol=0, atol=1e-5)

    def test_does_not_disturb_global_rng(self, linear_cache) -> None:
        torch.manual_seed(123)
        expected = torch.rand(3)
        torch.manual_seed(123)
        MLPProber(hidden_dim=4, max_epochs=1, accelerator="cpu").fit(FoldDataModule(linear_cache, fold=0))
        torch.testing.assert_close(torch.rand(3), expected)

    @pytest.mark.parametrize(("params", "message"), [
        ({"max_epochs": 0}, "max_epochs must be a positive integer, got 0"),
        ({"hidden_dim": 2.5}, "hidden_dim must be a positive integer, got 2.5"),
        ({"learning_rate": 0.0}, "learning_rate must be > 0"),
    ])
    def test_bad_hyper_parameters_raise_in_fit(self, linear_cache, params: dict, message: str) -> None:
        prober = MLPProber(**params)
        assert prober.get_params()[next(iter(params))] == next(iter(params.values()))
        with pytest.raises(ValueError, match=message):
            prober.fit(FoldDataModule(linear_cache, fold=0))

    def test_predict_refuses_unfitted(self, linear_cache) -> None:
        with pytest.raises(NotFittedError, match="MLPProber is not fitted yet"):
            MLPProber().predict(FoldDataModule(linear_cache, fold=0).predict_dataloader())
