"""Attention pooling: packed batches against per-segment computation, probers, planted sparse-frame signal."""

from __future__ import annotations

import lightning as L
import numpy as np
import pytest
import torch
from sklearn.exceptions import NotFittedError
from sklearn.metrics import r2_score

from analyses.probe_metrics import r2_per_dimension
from benchmarks.orchestration.cross_validation import cross_validate
from benchmarks.speed.original.attention import attention_probe
from datamodules.fold_datamodule import FoldDataModule
from probes.attention import AttentionPoolingModule, AttentionPoolingProber

LENGTHS = (1, 7, 3, 10)


def _packed(dtype: torch.dtype) -> tuple[list[torch.Tensor], torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    segments = [torch.randn(length, 5, generator=generator, dtype=dtype) for length in LENGTHS]
    return segments, torch.cat(segments), torch.tensor(LENGTHS)  # (n_frames, D), (batch,)


def _per_segment_outputs(module: AttentionPoolingModule, segment: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One segment ``(n_frames, D)`` as the original computes it: head outputs ``(19,)`` and weights ``(n_frames,)``."""
    hidden = torch.tanh(segment @ module.scorer[0].weight.T + module.scorer[0].bias)  # (n_frames, hidden)
    scores = hidden @ module.scorer[2].weight[0] + module.scorer[2].bias[0]  # (n_frames,)
    weights = torch.exp(scores - scores.max()) / torch.exp(scores - scores.max()).sum()
    return module.head(weights @ segment), weights


class TestAttentionPoolingModule:
    @pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
    def test_packed_batch_equals_per_segment(self, dtype: torch.dtype) -> None:
        torch.manual_seed(0)
        module = AttentionPoolingModule(input_dim=5, n_outputs=19, hidden_dim=8).to(dtype)
        segments, frames, lengths = _packed(dtype)
        with torch.no_grad():
            pooled, weights = module.pool(frames, lengths)
            outputs = module(frames, lengths)
            for position, (segment, segment_weights) in enumerate(zip(segments, weights.split(LENGTHS), strict=True)):
                expected_outputs, expected_weights = _per_segment_outputs(module, segment)
                torch.testing.assert_close(segment_weights, expected_weights, atol=1e-6, rtol=1e-6)
                torch.testing.assert_close(pooled[position], expected_weights @ segment, atol=1e-6, rtol=1e-6)
                torch.testing.assert_close(outputs[position], expected_outputs, atol=1e-6, rtol=1e-6)
                torch.testing.assert_close(module(segment, torch.tensor([len(segment)]))[0], expected_outputs,
                                           atol=1e-6, rtol=1e-6)
        assert outputs.shape == (len(LENGTHS), 19) and torch.isfinite(outputs).all()

    def test_weights_sum_to_one_per_segment(self) -> None:
        module = AttentionPoolingModule(input_dim=5, hidden_dim=8)
        _, frames, lengths = _packed(torch.float32)
        with torch.no_grad():
            _, weights = module.pool(frames, lengths)
        torch.testing.assert_close(torch.stack([part.sum() for part in weights.split(LENGTHS)]),
                                   torch.ones(len(LENGTHS)))
        assert torch.all(weights > 0)

    def test_training_gradients_equal_autograd_per_segment(self) -> None:
        """The fused forward and its hand-written backward give every parameter the per-segment autograd gradient."""
        torch.manual_seed(0)
        module = AttentionPoolingModule(input_dim=5, n_outputs=19, hidden_dim=8).double()
        segments, frames, lengths = _packed(torch.float64)
        targets = torch.rand(len(LENGTHS), 19, dtype=torch.float64)
        torch.nn.functional.mse_loss(module(frames, lengths), targets).backward()
        fused = {name: parameter.grad.clone() for name, parameter in module.named_parameters()}
        module.zero_grad()
        outputs = torch.stack([_per_segment_outputs(module, segment)[0] for segment in segments])
        torch.nn.functional.mse_loss(outputs, targets).backward()
        for name, parameter in module.named_parameters():
            torch.testing.assert_close(fused[name], parameter.grad, atol=1e-12, rtol=1e-10, msg=name)


class TestAttentionPoolingProber:
    def test_fit_predict_shapes(self, linear_cache) -> None:
        datamodule = FoldDataModule(linear_cache, fold=0, view="frames", batch_size=8)
        prober = AttentionPoolingProber(hidden_dim=4, max_epochs=1, batch_size=8, accelerator="cpu").fit(datamodule)
        predictions, rows = prober.predict(datamodule.predict_dataloader())
        assert predictions.shape == (len(datamodule.val_rows_), 19) and prober.n_outputs_ == 19
        assert sorted(rows.tolist()) == sorted(datamodule.val_rows_.tolist())
        assert prober.readout_.coef_.shape == (19, linear_cache.store.dim)

    def test_planted_sparse_frame_dimension(self, sparse_cache) -> None:
        """Label 0 lives in 3 marker frames out of 20-35: attention hears it, stats-pooled Ridge cannot."""
        attention = cross_validate("attention", sparse_cache, None, seed=0, hidden_dim=16, learning_rate=3e-2,
                                   max_epochs=15, batch_size=16, accelerator="cpu")
        ridge = cross_validate("ridge", sparse_cache, None, seed=0)
        r2_attention = r2_per_dimension(*attention.scored(sparse_cache.labels)[:2])
        r2_ridge = r2_per_dimension(*ridge.scored(sparse_cache.labels)[:2])
        # 150 rows: the R2 of an unrelated predictor has sd about 1/sqrt(150) = 0.08 around <= 0
        assert r2_ridge[0] < 0.2
        assert r2_attention[0] > 0.4
        assert r2_attention[0] - r2_ridge[0] > 0.3

    def test_predict_refuses_unfitted(self, linear_cache) -> None:
        with pytest.raises(NotFittedError, match="AttentionPoolingProber is not fitted yet"):
            AttentionPoolingProber().predict(FoldDataModule(linear_cache, fold=0, view="frames").predict_dataloader())

    def test_bad_hyper_parameter_raises_in_fit(self, linear_cache) -> None:
        prober = AttentionPoolingProber(batch_size=0)
        with pytest.raises(ValueError, match="batch_size must be a positive integer, got 0"):
            prober.fit(FoldDataModule(linear_cache, fold=0, view="frames"))


def _batch_one_replay(cache, precision: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The faithful prober at batch size 1 with ``precision`` frame products, and the notebook's loop, on fold 2
    (3 epochs, seed 4, 8 hidden units): predictions ``(n_val, 19)`` of both and the rows."""
    datamodule = FoldDataModule(cache, fold=2, view="frames", batch_size=1, seed=4)
    prober = AttentionPoolingProber(hidden_dim=8, max_epochs=3, batch_size=1, seed=4, accelerator="cpu",
                                    product_precision=precision)
    predictions, rows = prober.fit(datamodule).predict(datamodule.predict_dataloader())
    assert prober.product_dtype_ == precision
    embeddings = {key: torch.from_numpy(cache.store.frames(int(row)))
                  for key, row in zip(cache.keys, cache.store_rows, strict=True)}
    original, _ = attention_probe(embeddings, list(cache.keys), cache.labels,
                                  [(datamodule.fit_rows_, datamodule.val_rows_)], max_epochs=3, seed=4, hidden_dim=8)
    return predictions, original[rows], rows


def test_batch_size_one_replays_the_original_loop(linear_cache) -> None:
    """At batch size 1 the faithful prober is the notebook's loop: same init, order, steps and readout."""
    predictions, original, _ = _batch_one_replay(linear_cache, "float32")
    np.testing.assert_allclose(predictions, original, rtol=0, atol=1e-5)


def test_bfloat16_products_stay_near_the_original_loop(linear_cache) -> None:
    """bfloat16 frame products move the batch-1 replay (rounding), its R2 within 0.02 of the original's."""
    predictions, original, rows = _batch_one_replay(linear_cache, "bfloat16")
    targets = linear_cache.labels[rows]
    assert np.abs(predictions - original).max() > 1e-7
    np.testing.assert_allclose(r2_score(targets, predictions, multioutput="raw_values"),
                               r2_score(targets, original, multioutput="raw_values"), rtol=0, atol=0.02)


class _ValidationCounter(L.Callback):
    def __init__(self) -> None:
        self.epochs: list[int] = []

    def on_validation_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self.epochs.append(trainer.current_epoch)


def test_monitoring_pass_every_n_epochs(linear_cache) -> None:
    counter = _ValidationCounter()
    datamodule = FoldDataModule(linear_cache, fold=0, view="frames", batch_size=8)
    AttentionPoolingProber(hidden_dim=4, max_epochs=6, monitor_every_n_epochs=3, accelerator="cpu").fit(
        datamodule, trainer_kwargs={"callbacks": [counter]})
    assert counter.epochs == [2, 5]
    counter.epochs.clear()
    AttentionPoolingProber(hidden_dim=4, max_epochs=2, accelerator="cpu").fit(
        datamodule, trainer_kwargs={"callbacks": [counter]})
    assert counter.epochs == [1]
