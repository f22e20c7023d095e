"""Fused multi-head pooling: forward against per-segment softmax pooling, hand-written backward against autograd."""

from __future__ import annotations

import pytest
import torch

from datamodules.batching import pad_packed, padded_positions
from probes.fused_pooling import fused_multihead_pooling

LENGTHS = (1, 7, 3, 10)
DIM, HIDDEN, HEADS = 5, 4, 3
CHUNK_SIZES = [None, 1, 4]  # one chunk (the default at this size); one frame each; chunks across segment boundaries


def _inputs(requires_grad: bool = True) -> tuple[torch.Tensor, ...]:
    """Packed frames ``(21, 5)``, lengths, hidden weight ``(4, 5)`` and bias, score weight ``(3, 4)`` and bias."""
    generator = torch.Generator().manual_seed(0)
    frames = torch.randn(sum(LENGTHS), DIM, generator=generator, dtype=torch.float64)
    parameters = [torch.randn(shape, generator=generator, dtype=torch.float64)
                  for shape in ((HIDDEN, DIM), (HIDDEN,), (HEADS, HIDDEN), (HEADS,))]
    return (frames.requires_grad_(requires_grad), torch.tensor(LENGTHS),
            *(parameter.requires_grad_(requires_grad) for parameter in parameters))


def _per_segment(frames, lengths, hidden_weight, hidden_bias, score_weight, score_bias) -> torch.Tensor:
    """Pooled vectors ``(batch, heads, D)`` segment by segment with torch's tanh and softmax."""
    pooled = []
    for segment in frames.split(lengths.tolist()):
        scores = torch.tanh(segment @ hidden_weight.T + hidden_bias) @ score_weight.T + score_bias  # (n, heads)
        pooled.append(torch.softmax(scores, dim=0).T @ segment)  # (heads, D)
    return torch.stack(pooled)


@pytest.mark.parametrize("width", [10, 13])
def test_padded_positions_are_the_padded_layout_of_the_packed_frames(width: int) -> None:
    frames, lengths = torch.arange(sum(LENGTHS) * 2.0).view(-1, 2), torch.tensor(LENGTHS)
    padded, mask = pad_packed(frames, lengths)  # (4, 10, 2): pad_sequence's layout
    positions = padded_positions(lengths, width)
    laid_out = frames.new_zeros(len(LENGTHS) * width, 2).index_copy_(0, positions, frames).view(len(LENGTHS), width, 2)
    torch.testing.assert_close(laid_out[:, :padded.shape[1]], padded, rtol=0, atol=0)
    assert not laid_out[:, padded.shape[1]:].any()
    assert positions.tolist() == [b * width + t for b, n in enumerate(LENGTHS) for t in range(n)]
    assert mask.sum() == len(positions)


@pytest.mark.parametrize("chunk_size", CHUNK_SIZES)
def test_forward_equals_per_segment(chunk_size: int | None) -> None:
    inputs = _inputs(requires_grad=False)
    pooled, weights = fused_multihead_pooling(*inputs, chunk_size=chunk_size)
    torch.testing.assert_close(pooled, _per_segment(*inputs), atol=1e-12, rtol=1e-12)
    sums = torch.stack([part.sum(dim=0) for part in weights.split(LENGTHS)])  # (batch, heads)
    torch.testing.assert_close(sums, torch.ones(len(LENGTHS), HEADS, dtype=torch.float64))


@pytest.mark.parametrize("chunk_size", CHUNK_SIZES)
def test_backward_passes_gradcheck(chunk_size: int | None) -> None:
    """Every input's gradient, the frames' included (they take one under ``--layers weighted``)."""
    assert torch.autograd.gradcheck(lambda *a: fused_multihead_pooling(*a, chunk_size=chunk_size)[0], _inputs(),
                                    eps=1e-6, atol=1e-8)


@pytest.mark.parametrize("chunk_size", CHUNK_SIZES)
@pytest.mark.parametrize("frames_need_gradient", [True, False])
def test_backward_equals_autograd_per_segment(frames_need_gradient: bool, chunk_size: int | None) -> None:
    frames, lengths, *parameters = _inputs()
    frames.requires_grad_(frames_need_gradient)
    upstream = torch.randn(len(LENGTHS), HEADS, DIM, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    leaves = [frames, *parameters] if frames_need_gradient else parameters
    fused = torch.autograd.grad(
        (fused_multihead_pooling(frames, lengths, *parameters, chunk_size=chunk_size)[0] * upstream).sum(), leaves)
    reference = torch.autograd.grad((_per_segment(frames, lengths, *parameters) * upstream).sum(), leaves)
    for mine, theirs in zip(fused, reference, strict=True):
        torch.testing.assert_close(mine, theirs, atol=1e-12, rtol=1e-10)
    if not frames_need_gradient:
        (fused_multihead_pooling(frames, lengths, *parameters)[0] * upstream).sum().backward()
        assert frames.grad is None


def test_float32_forward_within_rounding_of_float64() -> None:
    """The float32 path (tanh through the sigmoid on a CPU) stays within float32 rounding of the float64 result."""
    inputs = _inputs(requires_grad=False)
    single = [part.float() if part.is_floating_point() else part for part in inputs]
    pooled, _ = fused_multihead_pooling(*single)
    torch.testing.assert_close(pooled.double(), _per_segment(*inputs), atol=2e-6, rtol=2e-6)


def test_large_scores_stay_finite() -> None:
    frames, lengths, hidden_weight, hidden_bias, score_weight, score_bias = _inputs(requires_grad=False)
    pooled, weights = fused_multihead_pooling(frames, lengths, hidden_weight, hidden_bias, score_weight * 1e4,
                                              score_bias + 1e30)
    assert torch.isfinite(pooled).all() and torch.isfinite(weights).all()
