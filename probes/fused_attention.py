"""Attention pooling with a linear head as one matrix product over a packed batch's frames, with its own backward.

The faithful attention module predicts ``y_b = head(sum_t w_bt x_bt) = sum_t w_bt (W_head x_bt) + b_head``, the
softmax weights ``w_bt`` coming from the scorer ``v^T tanh(W_1 x_bt + b_1) + c`` over segment ``b``'s frames. The
head is linear, so it can act on every frame before the weighted sum: stacking ``W_1`` ``(H, D)`` over
``W_head`` ``(O, D)`` into one projection ``(H + O, D)``, a single product ``X P^T`` over the batch's packed frames
``X`` ``(N, D)`` gives both the scorer's hidden pre-activations and each frame's head outputs, and the weight
gradient is a single product ``dZ^T X`` over the same frames: the frames are read once forward and once backward,
in two large products, instead of four small products per segment. Everything else is ``O(N (H + O))``
element-wise work and segment sums.

The backward pass (:class:`FusedAttentionHead`) is written out rather than recorded by autograd: it keeps only the
products' outputs, not a graph of per-segment views, and forms the projection's gradient in one product.
``tests/probes/test_fused_attention.py`` checks it against autograd on the per-segment formulation
(``torch.autograd.gradcheck`` in float64).

The two frame products may run in bfloat16 (``product_dtype``): the frames and the projection are rounded to
bfloat16 (8 significant bits, a relative error of at most 2^-9 per value) for the products only, which accumulate in
float32; their outputs, the bias, tanh, the softmax and every sum stay float32. On this project's CPU (AVX512 with
AVX512-BF16) the products ran 3.6-5 times faster than in float32 (BENCHMARKS.md). :func:`fast_product_dtype` says
where bfloat16 has kernels at all; on a device without them it keeps float32.
"""

from __future__ import annotations

import torch

from datamodules.batching import segment_ids


def fast_product_dtype(device: torch.device | str) -> torch.dtype:
    """bfloat16 where ``device`` has bfloat16 matrix kernels, else float32.

    A CUDA GPU that supports bfloat16; a CPU on which torch's oneDNN runs bfloat16 (AVX512BW/VL/DQ or Arm BF16: native
    bfloat16 instructions such as AVX512-BF16 or AMX are faster still, plain AVX512 converts in registers); nothing
    else (MPS, other CPUs).
    """
    device_type = torch.device(device).type
    if device_type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float32
    if device_type == "cpu":
        return torch.bfloat16 if torch.ops.mkldnn._is_mkldnn_bf16_supported() else torch.float32
    return torch.float32


def segment_sum(values: torch.Tensor, ids: torch.Tensor, n_segments: int) -> torch.Tensor:
    """Sums of ``values`` ``(N, ...)`` over each segment, shape ``(n_segments, ...)``; ``ids`` ``(N,)`` name them."""
    return values.new_zeros((n_segments, *values.shape[1:])).index_add_(0, ids, values)


def segment_softmax(scores: torch.Tensor, ids: torch.Tensor, n_segments: int) -> torch.Tensor:
    """Softmax of ``scores`` ``(N, ...)`` over the frames of each segment (``ids`` ``(N,)``), separately for every
    trailing index (one column per head), shape ``(N, ...)``, stabilised by each segment's maximum."""
    index = ids.view(-1, *([1] * (scores.dim() - 1))).expand_as(scores)  # (N, ...)
    maxima = scores.new_full((n_segments, *scores.shape[1:]), float("-inf")).scatter_reduce_(
        0, index, scores, "amax")  # (n_segments, ...)
    exponentials = torch.exp(scores - maxima[ids])  # (N, ...)
    return exponentials / segment_sum(exponentials, ids, n_segments)[ids]  # (N, ...)


def segment_softmax_backward(weights: torch.Tensor, grad_weights: torch.Tensor, ids: torch.Tensor,
                             n_segments: int) -> torch.Tensor:
    """Gradient of the scores ``(N, ...)`` from the gradient of :func:`segment_softmax`'s output ``weights``
    ``(N, ...)``: ``w * (g - sum_segment(w * g))``."""
    weighted = weights * grad_weights  # (N, ...)
    return weighted - weights * segment_sum(weighted, ids, n_segments)[ids]  # (N, ...)


def tanh_(values: torch.Tensor) -> torch.Tensor:
    """``values`` replaced by their tanh, in place, and returned.

    On a CPU as ``2 sigmoid(2 x) - 1``: torch 2.13's CPU tanh ran 3.5-4 times slower than its sigmoid (2.9 M float32
    values on 2 cores: 5.4 ms, against 1.3 ms for the four in-place passes here), and on low-dimensional frames
    (the real MIDI cache's 24) the scorer's tanh was the largest single cost of a training step. The identity is
    exact; in float32 its rounding error was at most 1.8e-7 absolute on 2e7 points of [-30, 30] (torch's tanh: 3e-8),
    below the scorer's own float32 product error. Elsewhere (CUDA, MPS) torch's tanh, one pass.
    """
    if values.device.type != "cpu":
        return values.tanh_()
    return values.mul_(2.0).sigmoid_().mul_(2.0).sub_(1.0)


class FusedAttentionHead(torch.autograd.Function):
    """Head outputs of attention pooling over packed frames; see the module docstring.

    ``apply(frames, lengths, projection, hidden_bias, score_weight, score_bias, product_dtype)`` with frames
    ``(N, D)``, lengths ``(batch,)`` int64, projection ``(H + O, D)`` (the scorer's first weight over the head's
    weight), hidden_bias ``(H,)``, score_weight ``(H,)``, score_bias ``(1,)``, and the dtype of the two frame
    products (the frames' own dtype: exact; bfloat16: see the module docstring). Returns the head outputs without
    the head's bias ``(batch, O)`` and the attention weights ``(N,)`` (not differentiable; they sum to 1 over each
    segment).

    The products are formed frames-last, ``P X^T`` ``(H + O, N)``: the hidden block and the head block are then
    each contiguous, so the element-wise passes over them (tanh and its derivative) run at full vector speed (on a
    column slice of ``X P^T`` they ran 3.5 times slower), and no padding of the odd width ``H + O`` is needed for
    the kernels to reach the peak (measured at 1,024-d and 200-d frames on 2 cores).
    """

    @staticmethod
    def forward(ctx, frames, lengths, projection, hidden_bias, score_weight, score_bias, product_dtype):
        n_hidden, n_segments = hidden_bias.shape[0], lengths.shape[0]
        ids = segment_ids(lengths)  # (N,)
        product_frames, product_projection = frames.to(product_dtype), projection.to(product_dtype)
        if product_dtype == frames.dtype:
            bias = hidden_bias.new_zeros(projection.shape[0], 1)  # (H + O, 1): the scorer's bias, in the product
            bias[:n_hidden, 0] = hidden_bias
            projected = torch.addmm(bias, projection, frames.T)  # (H + O, N): the one forward product
        else:
            projected = (product_projection @ product_frames.T).to(frames.dtype)  # (H + O, N), float32 from here on
            projected[:n_hidden] += hidden_bias[:, None]
        hidden = tanh_(projected[:n_hidden])  # (H, N), contiguous, in place
        scores = score_weight @ hidden + score_bias  # (N,)
        weights = segment_softmax(scores, ids, n_segments)  # (N,)
        frame_outputs = projected[n_hidden:]  # (O, N)
        outputs = segment_sum((frame_outputs * weights).T, ids, n_segments)  # (batch, O)
        ctx.save_for_backward(product_frames, product_projection, score_weight, ids, projected, weights)
        ctx.mark_non_differentiable(weights)
        ctx.n_segments, ctx.n_hidden = n_segments, n_hidden
        ctx.frames_dtype, ctx.projection_dtype = frames.dtype, projection.dtype
        return outputs, weights

    @staticmethod
    def backward(ctx, grad_outputs, _grad_weights):
        frames, projection, score_weight, ids, projected, weights = ctx.saved_tensors
        n_hidden = ctx.n_hidden
        hidden, frame_outputs = projected[:n_hidden], projected[n_hidden:]  # (H, N), (O, N)
        grad_projected = torch.empty_like(projected)  # (H + O, N)
        per_frame_grad = grad_outputs.T[:, ids]  # (O, N)
        torch.mul(per_frame_grad, weights, out=grad_projected[n_hidden:])  # d frame outputs
        grad_weights = (frame_outputs * per_frame_grad).sum(dim=0)  # (N,)
        grad_scores = segment_softmax_backward(weights, grad_weights, ids, ctx.n_segments)  # (N,)
        grad_hidden_pre = grad_projected[:n_hidden]  # (H, N), filled in place: (1 - tanh^2) v_h d score
        torch.addcmul(torch.ones((), dtype=hidden.dtype), hidden, hidden, value=-1.0, out=grad_hidden_pre)
        grad_hidden_pre.mul_(score_weight[:, None]).mul_(grad_scores)
        grad_product = grad_projected.to(frames.dtype)  # (H + O, N), in the products' dtype (frames saved in it)
        grad_projection = (grad_product @ frames).to(ctx.projection_dtype)  # (H + O, D): the weight-gradient product
        grad_frames = (grad_product.T @ projection).to(ctx.frames_dtype) if ctx.needs_input_grad[0] else None
        return (grad_frames, None, grad_projection, grad_hidden_pre.sum(dim=1), hidden @ grad_scores,
                grad_scores.sum().reshape(1), None)


def fused_attention_head(
    frames: torch.Tensor, lengths: torch.Tensor, projection: torch.Tensor, hidden_bias: torch.Tensor,
    score_weight: torch.Tensor, score_bias: torch.Tensor, product_dtype: torch.dtype | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Functional form of :class:`FusedAttentionHead`: ``(head outputs (batch, O) without bias, weights (N,))``.

    ``product_dtype`` defaults to the frames' dtype (exact).
    """
    return FusedAttentionHead.apply(frames, lengths, projection, hidden_bias, score_weight, score_bias,
                                    frames.dtype if product_dtype is None else product_dtype)
