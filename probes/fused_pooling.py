"""Multi-head attention pooling over packed frames with its own backward (the pooling of ``attention_es``).

``K`` heads share the scorer's hidden layer: frame ``t`` of segment ``b`` gets the scores
``s_bt = V tanh(W_1 x_bt + b_1) + c`` ``(K,)``, head ``k``'s weights are the softmax of its scores over the
segment's frames, and its pooled vector is ``p_bk = sum_t w_btk x_bt`` ``(D,)``.

The hidden layer is kept as its gates ``G = sigmoid(2 (X W_1^T + b_1))`` ``(N, H)`` over the batch's packed frames
``X`` ``(N, D)``: ``tanh(a) = 2 sigmoid(2 a) - 1``, so the scores are ``G (2 V)^T + (c - V 1)`` and the doubled
pre-activations come from one product with ``2 W_1`` and ``2 b_1`` (exact: scaling by 2 does not round). That is one
element-wise pass over the ``N x H`` block forward (torch 2.13's CPU tanh ran 3.5-4 times slower than its sigmoid;
the identity written out on the pre-activations takes four passes), and the derivative ``4 G (1 - G)`` two passes
backward. The block is frames-first, ``(N, H)``: at low frame dimensions (the real MIDI cache's 24) ``X W^T`` ran 2.3
times faster than the frames-last ``W X^T``, and the scores' product ``(N, H) x (H, K)`` on the contiguous block 10
times faster than on its transposed view (BENCHMARKS.md, "Frames-first multi-head pooling and the candidate bank").
The softmax runs on the scores laid out padded to the longest segment, ``(batch, T, K)`` with ``-inf`` beyond each
length (zero weight there), and a segment's pooled vectors are the product of its ``(K, T)`` weights with its
``(T, D)`` zero-padded frames, one batched product over the segments; the padded layout is written and read with
``index_copy_`` and ``index_select`` on each frame's flat position (on a CPU these gathers and one vectorised softmax
took less time than segment-wise scatters of the packed scores and boolean-mask indexing).

The products with the gates and their element-wise passes run over chunks of a few thousand frames
(:func:`~probes.fused_attention.chunk_frames`), so that each chunk's gates are scored, and backward their
derivative formed and multiplied, while they are in cache; the weight gradients accumulate over the chunks.

The backward pass is written out (:class:`FusedMultiHeadPooling`): it keeps the gates and the padded operands, not
autograd's graph of intermediate copies.
``tests/probes/test_fused_pooling.py`` checks it against autograd on the per-segment formulation with torch's tanh
(``torch.autograd.gradcheck`` in float64).
"""

from __future__ import annotations

import torch

from datamodules.batching import padded_positions
from probes.fused_attention import chunk_bounds, chunk_frames


class FusedMultiHeadPooling(torch.autograd.Function):
    """Pooled vectors of every head over packed frames; see the module docstring.

    ``apply(frames, lengths, hidden_weight, hidden_bias, score_weight, score_bias, chunk_size)`` with frames
    ``(N, D)``, lengths ``(batch,)`` int64 (each at least 1), the scorer's first layer ``(H, D)`` and ``(H,)``, its
    second ``(K, H)`` and ``(K,)``, and the frames per chunk. Returns the pooled vectors ``(batch, K, D)`` and the
    attention weights ``(N, K)`` (not differentiable; each head's sum to 1 over each segment's frames).
    """

    @staticmethod
    def forward(ctx, frames, lengths, hidden_weight, hidden_bias, score_weight, score_bias, chunk_size):
        n_segments, n_heads, dim = lengths.shape[0], score_weight.shape[0], frames.shape[1]
        width = int(lengths.max())
        positions = padded_positions(lengths, width)  # (N,) flat index into (batch, T)
        gates = frames.new_empty(frames.shape[0], hidden_weight.shape[0])  # (N, H)
        scores = frames.new_empty(frames.shape[0], n_heads)  # (N, K)
        doubled_bias, doubled_weight = hidden_bias * 2.0, hidden_weight.T * 2.0  # (H,), (D, H)
        score_shift, doubled_scores = score_bias - score_weight.sum(dim=1), score_weight.T * 2.0  # (K,), (H, K)
        for start, stop in chunk_bounds(frames.shape[0], chunk_size):  # each chunk's gates scored while in cache
            chunk_gates = torch.addmm(doubled_bias, frames[start:stop], doubled_weight, out=gates[start:stop])
            torch.addmm(score_shift, chunk_gates.sigmoid_(), doubled_scores, out=scores[start:stop])
        padded_scores = scores.new_full((n_segments * width, n_heads), float("-inf")).index_copy_(0, positions, scores)
        padded_weights = torch.softmax(padded_scores.view(n_segments, width, n_heads), dim=1)  # (batch, T, K), 0 beyond
        weights = padded_weights.view(-1, n_heads).index_select(0, positions)  # (N, K)
        padded_frames = frames.new_zeros(n_segments * width, dim).index_copy_(0, positions, frames).view(
            n_segments, width, dim)  # (batch, T, D)
        pooled = torch.bmm(padded_weights.transpose(1, 2), padded_frames)  # (batch, K, D)
        ctx.save_for_backward(frames, hidden_weight, score_weight, positions, gates, padded_frames, padded_weights)
        ctx.mark_non_differentiable(weights)
        ctx.chunk_size = chunk_size
        return pooled, weights

    @staticmethod
    def backward(ctx, grad_pooled, _grad_weights):
        frames, hidden_weight, score_weight, positions, gates, padded_frames, padded_weights = ctx.saved_tensors
        n_heads, dim = score_weight.shape[0], frames.shape[1]
        grad_padded = torch.bmm(padded_frames, grad_pooled.transpose(1, 2)).mul_(padded_weights)  # (batch, T, K): w g
        grad_padded.addcmul_(padded_weights, grad_padded.sum(dim=1, keepdim=True), value=-1.0)  # w (g - sum_t w g)
        grad_scores = grad_padded.view(-1, n_heads).index_select(0, positions)  # (N, K)
        grad_score_bias = grad_scores.sum(dim=0)  # (K,)
        grad_gates = grad_scores.new_zeros(score_weight.shape)  # (K, H): sum_t d scores_t G_t
        grad_hidden_weight = frames.new_zeros(hidden_weight.shape)  # (H, D)
        grad_hidden_bias = frames.new_zeros(hidden_weight.shape[0])  # (H,)
        grad_frames = (torch.bmm(padded_weights, grad_pooled).view(-1, dim).index_select(0, positions)  # (N, D)
                       if ctx.needs_input_grad[0] else None)
        quadrupled = score_weight * 4.0  # (K, H)
        workspace = frames.new_empty(min(ctx.chunk_size, frames.shape[0]), hidden_weight.shape[0])  # (chunk, H)
        for start, stop in chunk_bounds(frames.shape[0], ctx.chunk_size):
            chunk_gates, chunk_scores = gates[start:stop], grad_scores[start:stop]  # (chunk, H), (chunk, K)
            grad_gates.addmm_(chunk_scores.T, chunk_gates)
            # d loss / d (X W_1^T + b_1) = (d scores V) * 4 G (1 - G): with g = d scores (4 V) G, g - g G, in place
            grad_pre = torch.mm(chunk_scores, quadrupled, out=workspace[:stop - start]).mul_(chunk_gates)
            grad_pre.addcmul_(grad_pre, chunk_gates, value=-1.0)
            grad_hidden_weight.addmm_(grad_pre.T, frames[start:stop])
            grad_hidden_bias += grad_pre.sum(dim=0)
            if grad_frames is not None:
                grad_frames[start:stop] += grad_pre @ hidden_weight  # through the scorer
        grad_score_weight = grad_gates.mul_(2.0).sub_(grad_score_bias[:, None])  # (K, H): d / d V
        return (grad_frames, None, grad_hidden_weight, grad_hidden_bias, grad_score_weight, grad_score_bias, None)


def fused_multihead_pooling(
    frames: torch.Tensor, lengths: torch.Tensor, hidden_weight: torch.Tensor, hidden_bias: torch.Tensor,
    score_weight: torch.Tensor, score_bias: torch.Tensor, chunk_size: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Functional form of :class:`FusedMultiHeadPooling`: ``(pooled (batch, K, D), weights (N, K))``.

    ``chunk_size`` (frames per chunk) defaults to :func:`~probes.fused_attention.chunk_frames`.
    """
    if chunk_size is None:
        chunk_size = chunk_frames(frames, hidden_weight.shape[0])
    return FusedMultiHeadPooling.apply(frames, lengths, hidden_weight, hidden_bias, score_weight, score_bias,
                                       chunk_size)
