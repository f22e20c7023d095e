"""attention_es: multi-head pooling against per-segment computation and the faithful module; the tuned prober."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.exceptions import NotFittedError

from datamodules.fold_datamodule import FoldDataModule
from probes.attention import AttentionPoolingModule
from probes.attention_es import AttentionEarlyStoppingProber, MultiHeadAttentionPoolingModule
from probes.registry import get_prober
from probes.ridge import training_rows

LENGTHS = (1, 7, 3, 10)


def _packed(dtype: torch.dtype) -> tuple[list[torch.Tensor], torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    segments = [torch.randn(length, 5, generator=generator, dtype=dtype) for length in LENGTHS]
    return segments, torch.cat(segments), torch.tensor(LENGTHS)  # (n_frames, D), (batch,)


def _reference_pool(module: MultiHeadAttentionPoolingModule, segment: torch.Tensor) -> torch.Tensor:
    """One segment ``(n_frames, D)``, head by head with an explicit softmax: ``(n_heads * D,)``."""
    hidden = torch.tanh(segment @ module.scorer[0].weight.T + module.scorer[0].bias)  # (n_frames, hidden)
    pooled = []
    for head in range(module.hparams.n_heads):
        scores = hidden @ module.scorer[2].weight[head] + module.scorer[2].bias[head]  # (n_frames,)
        weights = torch.exp(scores - scores.max()) / torch.exp(scores - scores.max()).sum()
        pooled.append(weights @ segment)  # (D,)
    return torch.cat(pooled)


class TestMultiHeadAttentionPoolingModule:
    @pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
    def test_packed_batch_equals_per_segment(self, dtype: torch.dtype) -> None:
        torch.manual_seed(0)
        module = MultiHeadAttentionPoolingModule(input_dim=5, hidden_dim=8, n_heads=3).to(dtype)
        segments, frames, lengths = _packed(dtype)
        with torch.no_grad():
            pooled, weights = module.pool(frames, lengths)
            for position, segment in enumerate(segments):
                torch.testing.assert_close(pooled[position], _reference_pool(module, segment), atol=1e-6, rtol=1e-6)
        assert pooled.shape == (len(LENGTHS), 15) and weights.shape == (sum(LENGTHS), 3)
        per_segment = torch.stack([part.sum(dim=0) for part in weights.split(list(LENGTHS))])  # (batch, 3)
        torch.testing.assert_close(per_segment, torch.ones(len(LENGTHS), 3, dtype=dtype))
        assert torch.isfinite(pooled).all()

    def test_one_head_is_the_faithful_module(self) -> None:
        torch.manual_seed(0)
        faithful = AttentionPoolingModule(input_dim=5, n_outputs=19, hidden_dim=8)
        module = MultiHeadAttentionPoolingModule(input_dim=5, n_outputs=19, hidden_dim=8, n_heads=1)
        scaling = {"target_mean": torch.zeros(19), "target_scale": torch.ones(19)}
        module.load_state_dict({**faithful.state_dict(), **scaling})
        _, frames, lengths = _packed(torch.float32)
        with torch.no_grad():
            torch.testing.assert_close(module(frames, lengths), faithful(frames, lengths), atol=1e-6, rtol=1e-6)

    def test_targets_standardised_in_loss_outputs_on_label_scale(self) -> None:
        torch.manual_seed(0)
        module = MultiHeadAttentionPoolingModule(input_dim=5, n_outputs=2, hidden_dim=4, n_heads=2)
        _, frames, lengths = _packed(torch.float32)
        with torch.no_grad():
            raw = module(frames, lengths)
            module.set_target_scaling(np.array([0.4, 0.6]), np.array([0.1, 0.2]))
            scaled = module(frames, lengths)
            torch.testing.assert_close(scaled, raw * torch.tensor([0.1, 0.2]) + torch.tensor([0.4, 0.6]))
            targets = torch.rand(len(LENGTHS), 2)
            expected = (((scaled - targets) / torch.tensor([0.1, 0.2])) ** 2).mean()
            torch.testing.assert_close(module.loss(scaled, targets), expected)

    def test_frames_gradient_equals_per_segment(self) -> None:
        """Padding the packed batch inside ``pool`` leaks nothing between segments: each segment's frames get the
        gradient of that segment alone."""
        module = MultiHeadAttentionPoolingModule(input_dim=5, hidden_dim=8, n_heads=2).double()
        segments, frames, lengths = _packed(torch.float64)
        frames.requires_grad_(True)
        module(frames, lengths).sum().backward()
        for segment, gradient in zip(segments, frames.grad.split(LENGTHS), strict=True):
            alone = segment.clone().requires_grad_(True)
            module(alone, torch.tensor([len(segment)])).sum().backward()
            torch.testing.assert_close(gradient, alone.grad)


class TestAttentionEarlyStoppingProber:
    def test_registered_as_the_tuned_frames_prober(self) -> None:
        prober = get_prober("attention_es", n_heads=2)
        assert isinstance(prober, AttentionEarlyStoppingProber) and prober.label == "attention_es (tuned)"
        assert prober.datamodule_kwargs() == {"view": "frames", "batch_size": 32, "inner_val_fraction": 0.2}

    def test_needs_an_inner_split(self, linear_cache) -> None:
        with pytest.raises(ValueError, match="attention_es needs an inner validation split"):
            AttentionEarlyStoppingProber(max_epochs=1).fit(FoldDataModule(linear_cache, fold=0, view="frames"))

    @pytest.mark.filterwarnings("ignore:ridge_tuned")
    def test_never_reads_the_fold_val_rows_and_restores_best(self, linear_cache, monkeypatch) -> None:
        prober = AttentionEarlyStoppingProber(hidden_dim=4, n_heads=2, max_epochs=6, patience=2, batch_size=8,
                                              accelerator="cpu", ridge_alphas=np.logspace(-2, 8, 21))
        datamodule = FoldDataModule(linear_cache, fold=2, seed=0, **prober.datamodule_kwargs())
        read = []
        original = datamodule.loader
        monkeypatch.setattr(datamodule, "loader", lambda rows, shuffle: read.append(rows) or original(rows, shuffle))
        prober.fit(datamodule)
        seen = np.concatenate(read)
        assert not np.isin(datamodule.val_rows_, seen).any()
        assert set(seen.tolist()) == set(training_rows(datamodule).tolist())
        monkeypatch.setattr(datamodule, "loader", original)
        inner = datamodule.loader(datamodule.inner_val_rows_, shuffle=False)
        with torch.no_grad():
            scale = prober.module_.target_scale
            errors = [((prober.module_(b.frames, b.lengths) - b.targets) / scale).pow(2) for b in inner]
        assert float(torch.cat(errors).mean()) == pytest.approx(prober.best_inner_val_loss_, rel=1e-5)
        assert 0 <= prober.best_epoch_ < 6
        np.testing.assert_allclose(prober.target_mean_, linear_cache.labels[datamodule.fit_rows_].mean(axis=0))
        outputs = prober.fold_outputs(datamodule)
        assert outputs["alpha"].shape == (19,) and prober.readout_.coef_.shape == (19, 2 * linear_cache.store.dim)
        assert prober.readout_.cv_used_ == "excerpt"  # alpha chosen over whole excerpts, not left-out segments

    @pytest.mark.filterwarnings("ignore:ridge_tuned")
    def test_search_keeps_the_candidate_a_one_by_one_fit_finds_best(self, linear_cache) -> None:
        """Each candidate's inner loss equals a single-candidate fit with its settings; the kept one is the argmin
        and predicts exactly as that fit does."""
        common = {"n_heads": 2, "max_epochs": 3, "patience": 3, "batch_size": 8, "accelerator": "cpu", "seed": 1,
                  "ridge_alphas": np.logspace(-2, 8, 21)}
        space = {"hidden_dim": [3, 6], "learning_rate": [1e-2, 3e-2], "dropout": [0.0, 0.3]}
        search = AttentionEarlyStoppingProber(hidden_dim=4, n_candidates=3, search_space=space, **common)
        datamodule = FoldDataModule(linear_cache, fold=1, seed=0, **search.datamodule_kwargs())
        predictions, _ = search.fit(datamodule).predict(datamodule.predict_dataloader())
        singles = [AttentionEarlyStoppingProber(n_candidates=1, **common, **candidate).fit(datamodule)
                   for candidate in search.candidates_]
        np.testing.assert_allclose(search.search_inner_val_loss_, [single.best_inner_val_loss_ for single in singles],
                                   rtol=1e-6)
        assert search.chosen_candidate_ == int(np.argmin(search.search_inner_val_loss_))
        expected, _ = singles[search.chosen_candidate_].predict(datamodule.predict_dataloader())
        np.testing.assert_allclose(predictions, expected, rtol=1e-5, atol=1e-7)
        assert search.fold_outputs(datamodule)["search_inner_val_loss"].shape == (3,)

    @pytest.mark.filterwarnings("ignore:ridge_tuned")
    def test_fit_predict_is_seeded(self, linear_cache) -> None:
        def run(seed: int) -> np.ndarray:
            prober = AttentionEarlyStoppingProber(hidden_dim=4, n_heads=2, max_epochs=2, patience=1, batch_size=8,
                                                  seed=seed, accelerator="cpu")
            datamodule = FoldDataModule(linear_cache, fold=0, seed=0, **prober.datamodule_kwargs())
            predictions, rows = prober.fit(datamodule).predict(datamodule.predict_dataloader())
            assert predictions.shape == (len(datamodule.val_rows_), 19)
            assert sorted(rows.tolist()) == sorted(datamodule.val_rows_.tolist())
            return predictions

        first = run(0)
        np.testing.assert_array_equal(first, run(0))
        assert not np.allclose(first, run(1))

    @pytest.mark.parametrize(("params", "message"), [
        ({"n_heads": 0}, "n_heads must be a positive integer, got 0"),
        ({"patience": 1.5}, "patience must be a positive integer, got 1.5"),
        ({"weight_decay": -1.0}, "learning_rate must be > 0 and weight_decay >= 0"),
        ({"dropout": -0.1}, r"dropout must be in \[0, 1\), got -0.1"),
        ({"search_space": {"hidden_dim": [8, 0]}, "n_candidates": 3}, "hidden_dim must be a positive integer, got 0"),
    ])
    def test_bad_hyper_parameters_raise_in_fit(self, linear_cache, params: dict, message: str) -> None:
        prober = AttentionEarlyStoppingProber(**params)
        assert prober.get_params()[next(iter(params))] == next(iter(params.values()))
        with pytest.raises(ValueError, match=message):
            prober.fit(FoldDataModule(linear_cache, fold=0, view="frames", inner_val_fraction=0.2))

    def test_predict_refuses_unfitted(self, linear_cache) -> None:
        loader = FoldDataModule(linear_cache, fold=0, view="frames").predict_dataloader()
        with pytest.raises(NotFittedError, match="AttentionEarlyStoppingProber is not fitted yet"):
            AttentionEarlyStoppingProber().predict(loader)
