"""Attention pooling: masked padded batches against per-segment computation, probers, planted sparse-frame signal."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.exceptions import NotFittedError

from analyses.probe_metrics import r2_per_dimension
from benchmarks.orchestration.cross_validation import cross_validate
from benchmarks.speed.original.attention import attention_probe
from datamodules.fold_datamodule import FoldDataModule
from probes.attention import AttentionPoolingModule, AttentionPoolingProber

LENGTHS = (1, 7, 3, 10)


def _padded(dtype: torch.dtype, padding: str) -> tuple[list[torch.Tensor], torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    segments = [torch.randn(length, 5, generator=generator, dtype=dtype) for length in LENGTHS]
    fill = {"zeros": 0.0, "huge": 1e30, "negative_huge": -3e37}[padding]
    frames = torch.full((len(LENGTHS), max(LENGTHS), 5), fill, dtype=dtype)  # (batch, max_frames, D)
    if padding == "huge":
        frames = frames * torch.rand(frames.shape, generator=generator, dtype=dtype)
    for position, segment in enumerate(segments):
        frames[position, : len(segment)] = segment
    mask = torch.arange(max(LENGTHS))[None, :] < torch.tensor(LENGTHS)[:, None]  # (batch, max_frames)
    return segments, frames, mask


class TestAttentionPoolingModule:
    @pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
    @pytest.mark.parametrize("padding", ["zeros", "huge", "negative_huge"])
    def test_padded_batch_equals_per_segment(self, dtype: torch.dtype, padding: str) -> None:
        torch.manual_seed(0)
        module = AttentionPoolingModule(input_dim=5, n_outputs=19, hidden_dim=8).to(dtype)
        segments, frames, mask = _padded(dtype, padding)
        with torch.no_grad():
            pooled, weights = module.pool(frames, mask)
            outputs = module(frames, mask)
            for position, segment in enumerate(segments):
                alone = torch.ones(1, len(segment), dtype=torch.bool)
                pooled_alone, weights_alone = module.pool(segment[None], alone)
                torch.testing.assert_close(pooled[position], pooled_alone[0], atol=1e-6, rtol=1e-6)
                torch.testing.assert_close(weights[position, : len(segment)], weights_alone[0], atol=1e-6, rtol=1e-6)
                torch.testing.assert_close(outputs[position], module(segment[None], alone)[0], atol=1e-6, rtol=1e-6)
        assert torch.isfinite(outputs).all()

    def test_weights_sum_to_one_and_vanish_on_padding(self) -> None:
        module = AttentionPoolingModule(input_dim=5, hidden_dim=8)
        _, frames, mask = _padded(torch.float32, "huge")
        with torch.no_grad():
            _, weights = module.pool(frames, mask)
        torch.testing.assert_close(weights.sum(dim=1), torch.ones(len(LENGTHS)))
        assert torch.all(weights[~mask] == 0) and torch.all(weights[mask] > 0)

    def test_padding_gets_no_gradient(self) -> None:
        module = AttentionPoolingModule(input_dim=5, hidden_dim=8)
        _, frames, mask = _padded(torch.float32, "huge")
        frames.requires_grad_(True)
        module(frames, mask).sum().backward()
        assert torch.all(frames.grad[~mask] == 0) and torch.isfinite(frames.grad).all()


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


def test_batch_size_one_replays_the_original_loop(linear_cache) -> None:
    """At batch size 1 the faithful prober is the notebook's loop: same init, order, steps and readout."""
    cache = linear_cache
    datamodule = FoldDataModule(cache, fold=2, view="frames", batch_size=1, seed=4)
    prober = AttentionPoolingProber(hidden_dim=8, max_epochs=3, batch_size=1, seed=4, accelerator="cpu")
    predictions, rows = prober.fit(datamodule).predict(datamodule.predict_dataloader())
    embeddings = {key: torch.from_numpy(cache.store.frames(int(row)))
                  for key, row in zip(cache.keys, cache.store_rows, strict=True)}
    original, _ = attention_probe(embeddings, list(cache.keys), cache.labels,
                                  [(datamodule.fit_rows_, datamodule.val_rows_)], max_epochs=3, seed=4, hidden_dim=8)
    np.testing.assert_allclose(predictions, original[rows], rtol=0, atol=1e-5)
