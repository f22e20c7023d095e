"""CandidateBank: candidates trained side by side follow, bit for bit, the trajectory each follows alone; the
selection's stopping rule and best weights against hand-made score sequences; SeededDropout's own stream."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from datamodules.fold_datamodule import FoldDataModule
from probes.attention_es import MultiHeadAttentionPoolingModule
from probes.candidate_bank import CandidateSelection, fit_candidates
from probes.mlp_es import StandardizedMLPModule
from probes.training import SeededDropout

MLP_WEIGHTS = ("weight1", "bias1", "weight2", "bias2")


def _attention_builder(hidden_dim: int, learning_rate: float, weight_decay: float, dropout: float, dim: int):
    def build() -> MultiHeadAttentionPoolingModule:
        module = MultiHeadAttentionPoolingModule(input_dim=dim, hidden_dim=hidden_dim, n_heads=2,
                                                 learning_rate=learning_rate, weight_decay=weight_decay,
                                                 dropout=dropout)
        module.set_target_scaling(np.full(19, 0.5), np.full(19, 0.1))
        return module

    return build


def _mlp_builder(hidden_dim: int, learning_rate: float, dropout: float, dim: int):
    def build() -> StandardizedMLPModule:
        module = StandardizedMLPModule(input_dim=2 * dim, hidden_dim=hidden_dim, learning_rate=learning_rate,
                                       dropout=dropout)
        module.set_target_scaling(np.full(19, 0.5), np.full(19, 0.1))
        return module

    return build


def _fit(builders, selections, datamodule, max_epochs: int):
    bank, _ = fit_candidates(builders, selections, datamodule, seed=3, max_epochs=max_epochs, accelerator="cpu")
    return bank


class TestBankEqualsEachCandidateAlone:
    """Removing the other candidates changes nothing for a candidate: weights, best epochs and stopping epoch."""

    def test_attention_candidates(self, linear_cache) -> None:
        dim = linear_cache.store.dim
        settings = [(4, 3e-2, 1e-3, 0.0), (6, 1e-1, 1e-2, 0.3), (3, 3e-1, 0.0, 0.2)]
        datamodule = FoldDataModule(linear_cache, fold=0, view="frames", batch_size=8, inner_val_fraction=0.25, seed=0)

        def selections(n):
            return [CandidateSelection(19, patience=2) for _ in range(n)]

        together_selections = selections(3)
        together = _fit([_attention_builder(*s, dim) for s in settings], together_selections, datamodule, 12)
        assert len(set(together.stopped_epochs)) > 1, "the candidates should stop at different epochs"
        for index, setting in enumerate(settings):
            alone_selection = selections(1)
            alone = _fit([_attention_builder(*setting, dim)], alone_selection, datamodule, 12)
            assert together.stopped_epochs[index] == alone.stopped_epochs[0]
            np.testing.assert_array_equal(together_selections[index].best_scores, alone_selection[0].best_scores)
            np.testing.assert_array_equal(together_selections[index].best_epochs, alone_selection[0].best_epochs)
            for (name, mine), (_, theirs) in zip(together.candidates[index].state_dict().items(),
                                                 alone.candidates[0].state_dict().items(), strict=True):
                assert torch.equal(mine, theirs), name

    def test_per_output_mlp_candidates(self, linear_cache) -> None:
        dim = linear_cache.store.dim
        settings = [(5, 1e-2, 0.0), (7, 5e-2, 0.2)]
        datamodule = FoldDataModule(linear_cache, fold=1, view="stats", batch_size=8, inner_val_fraction=0.25, seed=0)

        def selection():
            return CandidateSelection(19, patience=3, per_output=True, tensor_names=MLP_WEIGHTS)

        together_selections = [selection(), selection()]
        together = _fit([_mlp_builder(*s, dim) for s in settings], together_selections, datamodule, 30)
        for index, setting in enumerate(settings):
            alone_selection = [selection()]
            alone = _fit([_mlp_builder(*setting, dim)], alone_selection, datamodule, 30)
            np.testing.assert_array_equal(together_selections[index].best_epochs, alone_selection[0].best_epochs)
            np.testing.assert_array_equal(together_selections[index].best_scores, alone_selection[0].best_scores)
            for name in MLP_WEIGHTS:
                assert torch.equal(getattr(together.candidates[index], name), getattr(alone.candidates[0], name))

    def test_stopped_candidate_is_restored_to_its_best_epoch(self, linear_cache) -> None:
        """The best weights are those of the best epoch: replayed on the inner rows they give the best score."""
        dim = linear_cache.store.dim
        datamodule = FoldDataModule(linear_cache, fold=2, view="frames", batch_size=8, inner_val_fraction=0.25, seed=0)
        selection = CandidateSelection(19, patience=2)
        bank = _fit([_attention_builder(4, 1e-1, 0.0, 0.0, dim)], [selection], datamodule, 10)
        module = bank.candidates[0].eval()
        with torch.no_grad():
            errors = [((module(b.frames, b.lengths) - b.targets) / module.target_scale).double() ** 2
                      for b in datamodule.val_dataloader()]
        assert float(torch.cat(errors).mean()) == pytest.approx(float(selection.best_scores[0]), rel=1e-6)


class TestCandidateSelection:
    def test_one_score_stops_patience_epochs_after_its_best(self) -> None:
        module = torch.nn.Linear(2, 1)
        selection = CandidateSelection(n_outputs=2, patience=2)
        history = [(np.array([4.0, 2.0]), True), (np.array([1.0, 2.0]), True), (np.array([2.0, 2.0]), True),
                   (np.array([1.0, 2.0]), False)]  # ties do not improve: stops two epochs after epoch 1
        for epoch, (scores, goes_on) in enumerate(history):
            with torch.no_grad():
                module.weight.fill_(epoch)
            assert selection.update(module, epoch, scores) is goes_on
        assert selection.best_epochs.tolist() == [1] and selection.best_scores.tolist() == [1.5]
        selection.restore(module)
        assert module.weight.detach().tolist() == [[1.0, 1.0]]

    def test_per_output_keeps_each_outputs_best_slice(self) -> None:
        module = StandardizedMLPModule(input_dim=2, n_outputs=3, hidden_dim=2)
        selection = CandidateSelection(n_outputs=3, patience=2, per_output=True, tensor_names=MLP_WEIGHTS)
        history = [[3.0, 3.0, 3.0], [1.0, 4.0, math.nan], [2.0, 2.0, 5.0], [2.0, 3.0, 5.0], [2.0, 3.0, 5.0]]
        goes_on = []
        for epoch, scores in enumerate(history):
            with torch.no_grad():
                module.bias2.fill_(epoch)
            goes_on.append(selection.update(module, epoch, np.array(scores)))
        assert goes_on == [True, True, True, True, False]  # the last improvement (output 1) was at epoch 2
        assert selection.best_epochs.tolist() == [1, 2, 0]  # NaN never counts as an improvement
        selection.restore(module)
        assert module.bias2.detach().squeeze(1).tolist() == [1.0, 2.0, 0.0]

    def test_per_output_needs_tensor_names(self) -> None:
        with pytest.raises(ValueError, match="per_output selection needs the tensor_names"):
            CandidateSelection(n_outputs=3, patience=1, per_output=True)


class TestSeededDropout:
    def test_masks_follow_the_seed_at_build_not_the_global_stream(self) -> None:
        values = torch.ones(2000)
        torch.manual_seed(0)
        first = SeededDropout(0.25)
        torch.manual_seed(0)
        second = SeededDropout(0.25)
        masked = first(values)
        torch.rand(10)  # other draws from the global stream in between change nothing
        assert torch.equal(second(values), masked)
        assert set(masked.unique().tolist()) == {0.0, float(torch.tensor(1 / 0.75))}
        assert abs(float((masked == 0).double().mean()) - 0.25) < 0.05

    def test_masks_are_the_uniform_draws_compared_with_p(self) -> None:
        """Element i is kept, scaled by 1 / (1 - p), exactly when draw i of the module's generator is >= p."""
        values = torch.randn(3, 50, 7, generator=torch.Generator().manual_seed(5))
        dropout = SeededDropout(0.3)
        draws = torch.rand(values.shape, generator=torch.Generator().manual_seed(dropout.seed))
        expected = torch.where(draws >= 0.3, values * (1.0 / 0.7), torch.zeros(()))
        torch.testing.assert_close(dropout(values), expected, rtol=0, atol=0)

    def test_identity_in_evaluation_and_at_zero(self) -> None:
        values = torch.randn(5, 4)
        assert SeededDropout(0.0)(values) is values
        assert SeededDropout(0.5).eval()(values) is values

    def test_rejects_a_probability_of_one(self) -> None:
        with pytest.raises(ValueError, match=r"dropout must be in \[0, 1\), got 1.0"):
            SeededDropout(1.0)
