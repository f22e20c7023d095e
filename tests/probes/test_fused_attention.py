"""The fused attention head: forward against per-segment autograd, hand-written backward against gradcheck."""

from __future__ import annotations

import pytest
import torch

from datamodules.batching import pad_packed, segment_ids
from probes.attention import AttentionPoolingModule
from probes.fused_attention import (
    chunk_frames,
    fast_product_dtype,
    fused_attention_head,
    segment_softmax,
    segment_sum,
    tanh_,
)

LENGTHS = (1, 7, 3, 10)
DIM, HIDDEN, OUTPUTS = 5, 4, 3
CHUNK_SIZES = [None, 1, 4]  # one chunk (the default at this size); one frame each; chunks across segment boundaries


def _inputs(requires_grad: bool = True) -> tuple[torch.Tensor, ...]:
    """Packed frames ``(21, 5)``, lengths, projection ``(7, 5)``, hidden bias, score weight, score bias (float64)."""
    generator = torch.Generator().manual_seed(0)
    frames = torch.randn(sum(LENGTHS), DIM, generator=generator, dtype=torch.float64)
    parameters = [torch.randn(shape, generator=generator, dtype=torch.float64)
                  for shape in ((HIDDEN + OUTPUTS, DIM), (HIDDEN,), (HIDDEN,), (1,))]
    return (frames.requires_grad_(requires_grad), torch.tensor(LENGTHS),
            *(parameter.requires_grad_(requires_grad) for parameter in parameters))


def _per_segment(frames, lengths, projection, hidden_bias, score_weight, score_bias) -> torch.Tensor:
    """Head outputs ``(batch, O)`` segment by segment, in the original's order: pool the frames, then the head."""
    outputs = []
    for segment in frames.split(lengths.tolist()):
        scores = torch.tanh(segment @ projection[:HIDDEN].T + hidden_bias) @ score_weight + score_bias  # (n,)
        pooled = torch.softmax(scores, dim=0) @ segment  # (D,)
        outputs.append(projection[HIDDEN:] @ pooled)  # (O,)
    return torch.stack(outputs)


class TestFusedAttentionHead:
    @pytest.mark.parametrize("chunk_size", CHUNK_SIZES)
    def test_forward_equals_per_segment(self, chunk_size: int | None) -> None:
        inputs = _inputs(requires_grad=False)
        outputs, weights = fused_attention_head(*inputs, chunk_size=chunk_size)
        torch.testing.assert_close(outputs, _per_segment(*inputs), atol=1e-12, rtol=1e-12)
        sums = torch.stack([part.sum() for part in weights.split(LENGTHS)])
        torch.testing.assert_close(sums, torch.ones(len(LENGTHS), dtype=torch.float64))

    @pytest.mark.parametrize("chunk_size", CHUNK_SIZES)
    def test_backward_passes_gradcheck(self, chunk_size: int | None) -> None:
        """Every input's gradient, the frames' included (they take one under ``--layers weighted``)."""
        assert torch.autograd.gradcheck(lambda *a: fused_attention_head(*a, chunk_size=chunk_size)[0], _inputs(),
                                        eps=1e-6, atol=1e-8)

    @pytest.mark.parametrize("chunk_size", CHUNK_SIZES)
    def test_backward_equals_autograd_per_segment(self, chunk_size: int | None) -> None:
        inputs = _inputs()
        upstream = torch.randn(len(LENGTHS), OUTPUTS, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
        differentiable = [inputs[0], *inputs[2:]]
        fused = torch.autograd.grad((fused_attention_head(*inputs, chunk_size=chunk_size)[0] * upstream).sum(),
                                    differentiable)
        reference = torch.autograd.grad((_per_segment(*inputs) * upstream).sum(), differentiable)
        for mine, theirs in zip(fused, reference, strict=True):
            torch.testing.assert_close(mine, theirs, atol=1e-12, rtol=1e-10)

    def test_frames_without_gradient_get_none(self) -> None:
        frames, lengths, *parameters = _inputs()
        frames = frames.detach()
        outputs, _ = fused_attention_head(frames, lengths, *parameters)
        outputs.sum().backward()
        assert frames.grad is None and all(parameter.grad is not None for parameter in parameters)

    def test_large_scores_stay_finite(self) -> None:
        frames, lengths, projection, hidden_bias, score_weight, score_bias = _inputs(requires_grad=False)
        outputs, weights = fused_attention_head(frames, lengths, projection, hidden_bias, score_weight * 1e4,
                                                score_bias + 1e30)
        assert torch.isfinite(outputs).all() and torch.isfinite(weights).all()


class TestSegmentOperations:
    def test_softmax_and_sum_against_padded_softmax(self) -> None:
        generator = torch.Generator().manual_seed(2)
        lengths = torch.tensor(LENGTHS)
        scores = torch.randn(sum(LENGTHS), generator=generator, dtype=torch.float64)
        padded, mask = pad_packed(scores, lengths)  # (batch, max_frames)
        expected = torch.softmax(padded.masked_fill(~mask, float("-inf")), dim=1)[mask]
        ids = segment_ids(lengths)
        torch.testing.assert_close(segment_softmax(scores, ids, len(LENGTHS)), expected)
        torch.testing.assert_close(segment_sum(scores, ids, len(LENGTHS)), padded.sum(dim=1))

    def test_softmax_of_several_heads_is_each_column_alone(self) -> None:
        generator = torch.Generator().manual_seed(4)
        lengths = torch.tensor(LENGTHS)
        scores = torch.randn(sum(LENGTHS), 3, generator=generator, dtype=torch.float64) * 30  # (N, heads)
        ids = segment_ids(lengths)
        together = segment_softmax(scores, ids, len(LENGTHS))
        for head in range(3):
            torch.testing.assert_close(together[:, head], segment_softmax(scores[:, head].contiguous(), ids,
                                                                          len(LENGTHS)))


@pytest.mark.parametrize("dtype, tolerance", [(torch.float32, 2e-7), (torch.float64, 1e-15)])
def test_tanh_in_place_against_float64_tanh(dtype: torch.dtype, tolerance: float) -> None:
    values = torch.cat([torch.linspace(-25, 25, 200_001, dtype=dtype), torch.tensor([0.0, 1e-30, -1e-6], dtype=dtype)])
    reference = values.double().tanh()
    result = tanh_(values.clone())
    assert (result.double() - reference).abs().max() <= tolerance
    assert tanh_(torch.tensor([float("inf"), float("-inf")], dtype=dtype)).tolist() == [1.0, -1.0]


@pytest.mark.parametrize("n_layers", [1, 3])
def test_module_gradients_match_per_segment_autograd_with_layer_mix(n_layers: int) -> None:
    """With a learned layer mix the frames carry a gradient too: the module's fused step equals autograd's."""
    torch.manual_seed(0)
    module = AttentionPoolingModule(input_dim=DIM, n_outputs=19, hidden_dim=HIDDEN, n_layers=n_layers).double()
    if n_layers > 1:
        torch.nn.init.normal_(module.layer_mix.logits, std=0.1)
    generator = torch.Generator().manual_seed(3)
    frames = torch.randn(sum(LENGTHS), n_layers * DIM, generator=generator, dtype=torch.float64)
    lengths, targets = torch.tensor(LENGTHS), torch.rand(len(LENGTHS), 19, generator=generator, dtype=torch.float64)
    torch.nn.functional.mse_loss(module(frames, lengths), targets).backward()
    fused = {name: parameter.grad.clone() for name, parameter in module.named_parameters()}
    module.zero_grad()
    pooled, _ = module.pool(frames, lengths)  # autograd through the segment softmax and sums
    torch.nn.functional.mse_loss(module.head(pooled), targets).backward()
    for name, parameter in module.named_parameters():
        torch.testing.assert_close(fused[name], parameter.grad, atol=1e-12, rtol=1e-10, msg=name)


def _relative_error(estimate: torch.Tensor, reference: torch.Tensor) -> float:
    return float((estimate.double() - reference).norm() / reference.norm())


@pytest.mark.parametrize("chunk_size", [None, 50])
def test_bfloat16_products_round_only_the_products(chunk_size: int | None) -> None:
    """bfloat16 products: outputs and every gradient within 2% of float64 (they are rounded: not exact either),
    in one chunk or in five (the weight gradient then sums five rounded partial products in float32).

    The score bias's gradient is zero (a softmax ignores a shift), so it is compared absolutely.
    """
    generator = torch.Generator().manual_seed(1)
    lengths = torch.tensor([40, 3, 120, 65])
    dim, hidden, outputs_dim = 64, 16, 19
    frames = torch.randn(int(lengths.sum()), dim, generator=generator)
    parameters = [torch.randn(shape, generator=generator) / dim ** 0.5
                  for shape in ((hidden + outputs_dim, dim), (hidden,), (hidden,), (1,))]
    results = {}
    for dtype in (torch.float64, torch.bfloat16):
        leaves = [tensor.double() if dtype == torch.float64 else tensor.clone()
                  for tensor in (frames, *parameters)]
        for leaf in leaves:
            leaf.requires_grad_(True)
        outputs, _ = fused_attention_head(leaves[0], lengths, *leaves[1:], product_dtype=dtype,
                                          chunk_size=chunk_size)
        outputs.square().sum().backward()
        assert outputs.dtype == leaves[0].dtype and all(leaf.grad.dtype == leaf.dtype for leaf in leaves)
        results[dtype] = [outputs.detach(), *(leaf.grad for leaf in leaves)]
    for rounded, reference in zip(results[torch.bfloat16][:-1], results[torch.float64][:-1], strict=True):
        assert 1e-5 < _relative_error(rounded, reference) < 2e-2
    assert abs(float(results[torch.bfloat16][-1])) < 1e-4


def test_fast_product_dtype_is_float32_on_devices_without_bfloat16_kernels() -> None:
    assert fast_product_dtype("meta") == torch.float32


def test_chunks_hold_a_few_mebibytes_on_a_cpu_and_everything_elsewhere() -> None:
    """Narrow frames get long chunks, wide frames short ones (never below 256); off the CPU one chunk of all."""
    narrow, wide = torch.empty(100_000, 24), torch.empty(100_000, 1024)
    assert chunk_frames(narrow, 147) == 3 * 2**20 // (4 * (24 + 147))
    assert 256 <= chunk_frames(wide, 147) < chunk_frames(narrow, 147)
    assert chunk_frames(torch.empty(10, 100_000), 147) == 256
    assert chunk_frames(torch.empty(5000, 24, device="meta"), 147) == 5000
