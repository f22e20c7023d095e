"""mlp_es: standardised-target MLPs against the plain module, per-output best weights against a brute-force replay."""

from __future__ import annotations

import lightning as L
import numpy as np
import pytest
import torch
from sklearn.exceptions import NotFittedError

import probes.candidate_bank as candidate_bank
from datamodules.fold_datamodule import FoldDataModule
from probes.candidate_bank import CandidateSelection
from probes.mlp import BatchedMLPModule
from probes.mlp_es import MLPEarlyStoppingProber, StandardizedMLPModule, target_scaling
from probes.registry import get_prober

WEIGHTS = ("weight1", "bias1", "weight2", "bias2")


class _RecordWeights(L.Callback):
    """Brute force: a copy of the (single) candidate's weights after each epoch's training, in epoch order."""

    def __init__(self) -> None:
        self.epochs: list[dict[str, torch.Tensor]] = []

    def on_validation_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        candidate = pl_module.candidates[0]
        self.epochs.append({name: getattr(candidate, name).detach().clone() for name in WEIGHTS})


def _fit_recording(prober: MLPEarlyStoppingProber, datamodule: FoldDataModule) -> list[dict[str, torch.Tensor]]:
    """Fit ``prober`` with a :class:`_RecordWeights` callback added; the recorded weights of every epoch."""
    record = _RecordWeights()
    original = candidate_bank.fit_module
    candidate_bank.fit_module = lambda *args, callbacks=(), **kwargs: original(*args, callbacks=[*callbacks, record],
                                                                               **kwargs)
    try:
        prober.fit(datamodule)
    finally:
        candidate_bank.fit_module = original
    return record.epochs


class TestTargetScaling:
    def test_mean_and_population_std_with_constant_columns_scaled_by_one(self) -> None:
        targets = np.array([[0.1, 0.5], [0.3, 0.5], [0.5, 0.5]])
        mean, scale = target_scaling(targets)
        np.testing.assert_allclose(mean, [0.3, 0.5])
        np.testing.assert_allclose(scale, [np.std([0.1, 0.3, 0.5]), 1.0])


class TestStandardizedMLPModule:
    def test_forward_and_loss_against_the_plain_module(self) -> None:
        torch.manual_seed(0)
        module = StandardizedMLPModule(input_dim=5, n_outputs=3, hidden_dim=4).double()
        plain = BatchedMLPModule(input_dim=5, n_outputs=3, hidden_dim=4).double()
        plain.load_state_dict({k: v for k, v in module.state_dict().items() if not k.startswith("target_")})
        mean, scale = np.array([0.2, 0.5, 0.7]), np.array([0.1, 0.05, 0.2])
        module.set_target_scaling(mean, scale)
        features, targets = torch.randn(8, 5, dtype=torch.float64), torch.rand(8, 3, dtype=torch.float64)
        raw = plain(features)
        torch.testing.assert_close(module(features), raw * torch.from_numpy(scale) + torch.from_numpy(mean))
        standardised = (targets - torch.from_numpy(mean)) / torch.from_numpy(scale)
        expected = sum(torch.mean((raw[:, k] - standardised[:, k]) ** 2) for k in range(3))
        torch.testing.assert_close(module.loss(module(features), targets), expected)


class TestPerOutputSelection:
    @pytest.fixture(scope="class")
    def trained(self, linear_cache):
        datamodule = FoldDataModule(linear_cache, fold=0, view="stats", batch_size=8, inner_val_fraction=0.25, seed=0)
        datamodule.setup()
        prober = MLPEarlyStoppingProber(hidden_dim=6, learning_rate=3e-2, max_epochs=8, patience=8, batch_size=8,
                                        n_candidates=1, accelerator="cpu")
        return prober, datamodule, _fit_recording(prober, datamodule)

    def test_each_output_keeps_its_own_best_epoch(self, trained) -> None:
        """Replay every epoch's weights and pick each output's argmin of inner-val MSE by brute force."""
        prober, datamodule, epochs = trained
        features = torch.from_numpy(datamodule.features(datamodule.inner_val_rows_))
        targets = datamodule.targets(datamodule.inner_val_rows_)
        scores = []
        for state in epochs:
            replay = StandardizedMLPModule(input_dim=features.shape[1], hidden_dim=6)
            replay.set_target_scaling(prober.target_mean_, prober.target_scale_)
            with torch.no_grad():
                for name in WEIGHTS:
                    getattr(replay, name).copy_(state[name])
                predictions = replay(features).double().numpy()
            scores.append((((predictions - targets) / prober.target_scale_) ** 2).mean(axis=0))
        scores = np.array(scores)  # (n_epochs, 19)
        best = np.argmin(scores, axis=0)
        np.testing.assert_array_equal(prober.best_epoch_, best)
        np.testing.assert_allclose(prober.best_inner_val_loss_, scores.min(axis=0), rtol=1e-5)
        for name in WEIGHTS:
            expected = torch.stack([epochs[epoch][name][k] for k, epoch in enumerate(best)])
            torch.testing.assert_close(getattr(prober.module_, name).detach(), expected)
        assert len(set(best.tolist())) > 1, "outputs should stop at different epochs"

    def test_stops_after_patience_epochs_without_improvement(self, linear_cache) -> None:
        datamodule = FoldDataModule(linear_cache, fold=1, view="stats", batch_size=8, inner_val_fraction=0.25, seed=0)
        prober = MLPEarlyStoppingProber(hidden_dim=4, learning_rate=0.3, max_epochs=200, patience=2, batch_size=8,
                                        n_candidates=1, accelerator="cpu")
        epochs = _fit_recording(prober, datamodule)
        assert len(epochs) == int(prober.best_epoch_.max()) + 2 + 1 < 200

    @pytest.mark.parametrize(("kwargs", "error", "match"), [
        ({"n_outputs": 19, "patience": 0}, ValueError, "patience must be a positive integer, got 0"),
        ({"n_outputs": 19, "patience": 1.5}, ValueError, "patience must be a positive integer, got 1.5"),
    ])
    def test_bad_settings_raise_in_init(self, kwargs, error, match) -> None:
        with pytest.raises(error, match=match):
            CandidateSelection(**kwargs, per_output=True, tensor_names=WEIGHTS)

    def test_refuses_a_module_whose_outputs_are_not_first(self) -> None:
        selection = CandidateSelection(n_outputs=3, patience=1, per_output=True, tensor_names=("weight1",))
        module = BatchedMLPModule(input_dim=4, n_outputs=5, hidden_dim=2)
        with pytest.raises(ValueError, match=r"BatchedMLPModule.weight1 has shape \(5, 4, 2\); expected the 3"):
            selection.check(module)
        selection = CandidateSelection(n_outputs=5, patience=1, per_output=True, tensor_names=("weight1",))
        with pytest.raises(ValueError, match=r"tensors \['weight1'\] hold 40 weights, but BatchedMLPModule trains"):
            selection.check(module)


class TestMLPEarlyStoppingProber:
    def test_registered_as_a_tuned_stats_prober(self) -> None:
        prober = get_prober("mlp_es", hidden_dim=8)
        assert isinstance(prober, MLPEarlyStoppingProber) and prober.label == "mlp_es (tuned)"
        assert prober.datamodule_kwargs() == {"view": "stats", "batch_size": 64, "inner_val_fraction": 0.2}

    def test_never_reads_the_fold_val_rows_and_is_seeded(self, linear_cache, monkeypatch) -> None:
        def run(seed: int) -> tuple[np.ndarray, np.ndarray]:
            prober = MLPEarlyStoppingProber(hidden_dim=8, max_epochs=4, patience=2, batch_size=16, seed=seed,
                                            accelerator="cpu")
            datamodule = FoldDataModule(linear_cache, fold=2, seed=0, **prober.datamodule_kwargs())
            read = []
            original = datamodule.loader
            def reading(rows: np.ndarray, shuffle: bool):
                read.append(rows)
                return original(rows, shuffle)

            monkeypatch.setattr(datamodule, "loader", reading)
            prober.fit(datamodule)
            seen = np.concatenate(read)
            assert not np.isin(datamodule.val_rows_, seen).any()
            monkeypatch.setattr(datamodule, "loader", original)
            predictions, rows = prober.predict(datamodule.predict_dataloader())
            np.testing.assert_array_equal(rows, datamodule.val_rows_)
            outputs = prober.fold_outputs(datamodule)
            assert outputs["best_epoch"].shape == (19,) and np.all(outputs["best_epoch"] < 4)
            return predictions, prober.target_mean_

        first, mean = run(0)
        np.testing.assert_array_equal(first, run(0)[0])
        assert not np.allclose(first, run(1)[0])
        reference = FoldDataModule(linear_cache, fold=2, inner_val_fraction=0.2, seed=0)
        reference.setup()
        np.testing.assert_allclose(mean, linear_cache.labels[reference.fit_rows_].mean(axis=0))

    def test_needs_an_inner_split(self, linear_cache) -> None:
        with pytest.raises(ValueError, match=r"mlp_es needs an inner validation split: .*got inner_val_fraction=0.0"):
            MLPEarlyStoppingProber(max_epochs=1).fit(FoldDataModule(linear_cache, fold=0))

    @pytest.mark.parametrize(("params", "message"), [
        ({"patience": 0}, "patience must be a positive integer, got 0"),
        ({"hidden_dim": 2.5}, "hidden_dim must be a positive integer, got 2.5"),
        ({"learning_rate": 0.0}, "learning_rate must be > 0"),
        ({"dropout": 1.0}, r"dropout must be in \[0, 1\), got 1.0"),
        ({"search_space": {"momentum": [0.9]}}, r"search_space names \['momentum'\], which are not hyper-parameters"),
        ({"n_candidates": 0}, "n_candidates must be a positive integer, got 0"),
    ])
    def test_bad_hyper_parameters_raise_in_fit(self, linear_cache, params: dict, message: str) -> None:
        prober = MLPEarlyStoppingProber(**params)
        assert prober.get_params()[next(iter(params))] == next(iter(params.values()))
        with pytest.raises(ValueError, match=message):
            prober.fit(FoldDataModule(linear_cache, fold=0, inner_val_fraction=0.2))

    def test_predict_refuses_unfitted(self, linear_cache) -> None:
        with pytest.raises(NotFittedError, match="MLPEarlyStoppingProber is not fitted yet"):
            MLPEarlyStoppingProber().predict(FoldDataModule(linear_cache, fold=0).predict_dataloader())


class TestSearch:
    SPACE = {"hidden_dim": [3, 7], "learning_rate": [1e-2, 5e-2], "dropout": [0.0, 0.2]}

    def test_each_dimension_keeps_the_candidate_a_one_by_one_fit_finds_best(self, linear_cache) -> None:
        """The search equals separate single-candidate fits: same inner losses, and each dimension's prediction is
        that of its lowest-loss candidate (the merged, zero-padded module changes no prediction)."""
        common = {"max_epochs": 5, "patience": 5, "batch_size": 8, "accelerator": "cpu", "seed": 3}
        datamodule = FoldDataModule(linear_cache, fold=1, view="stats", batch_size=8, inner_val_fraction=0.25, seed=0)
        search = MLPEarlyStoppingProber(hidden_dim=5, n_candidates=3, search_space=self.SPACE, **common).fit(datamodule)
        assert len(search.candidates_) == 3 and search.candidates_[0] == {"hidden_dim": 5, "learning_rate": 1e-3,
                                                                          "dropout": 0.0}
        predictions, rows = search.predict(datamodule.predict_dataloader())
        alone = []
        for index, candidate in enumerate(search.candidates_):
            single = MLPEarlyStoppingProber(n_candidates=1, **common, **candidate).fit(datamodule)
            np.testing.assert_allclose(search.search_inner_val_loss_[index], single.best_inner_val_loss_, rtol=1e-6)
            alone.append(single.predict(datamodule.predict_dataloader())[0])
        chosen = np.argmin(search.search_inner_val_loss_, axis=0)
        np.testing.assert_array_equal(search.chosen_candidate_, chosen)
        expected = np.stack(alone)[chosen, :, np.arange(19)].T  # (n_val, 19)
        np.testing.assert_allclose(predictions, expected, rtol=1e-5, atol=1e-6)
        outputs = search.fold_outputs(datamodule)
        assert outputs["search_inner_val_loss"].shape == (3, 19) and float(outputs["search_seconds"]) > 0

    def test_dropout_acts_in_training_only(self) -> None:
        module = StandardizedMLPModule(input_dim=4, n_outputs=3, hidden_dim=16, dropout=0.5)
        features = torch.randn(8, 4)
        module.eval()
        torch.testing.assert_close(module(features), BatchedMLPModule.forward(module, features))
        module.train()
        assert not torch.allclose(module(features), module(features))
