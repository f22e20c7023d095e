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
A segment's pooled vectors are the product of its ``(K, T_b)`` weights with its ``(T_b, D)`` frames, formed as one
batched product over the segments padded to the longest.

The backward pass is written out (:class:`FusedMultiHeadPooling`): it keeps the gates and the padded operands, not
autograd's graph of intermediate copies, and forms each weight gradient in one product.
``tests/probes/test_fused_pooling.py`` checks it against autograd on the per-segment formulation with torch's tanh
(``torch.autograd.gradcheck`` in float64).
"""

from __future__ import annotations

import torch

from datamodules.batching import pad_packed, segment_ids
from probes.fused_attention import segment_softmax, segment_softmax_backward


class FusedMultiHeadPooling(torch.autograd.Function):
    """Pooled vectors of every head over packed frames; see the module docstring.

    ``apply(frames, lengths, hidden_weight, hidden_bias, score_weight, score_bias)`` with frames ``(N, D)``, lengths
    ``(batch,)`` int64 (each at least 1), the scorer's first layer ``(H, D)`` and ``(H,)``, and its second
    ``(K, H)`` and ``(K,)``. Returns the pooled vectors ``(batch, K, D)`` and the attention weights ``(N, K)`` (not
    differentiable; each head's sum to 1 over each segment's frames).
    """

    @staticmethod
    def forward(ctx, frames, lengths, hidden_weight, hidden_bias, score_weight, score_bias):
        n_segments, n_heads = lengths.shape[0], score_weight.shape[0]
        ids = segment_ids(lengths)  # (N,)
        gates = torch.addmm(hidden_bias * 2.0, frames, hidden_weight.T * 2.0).sigmoid_()  # (N, H), in place
        scores = torch.addmm(score_bias - score_weight.sum(dim=1), gates, score_weight.T * 2.0)  # (N, K)
        weights = segment_softmax(scores, ids, n_segments)  # (N, K)
        padded_frames, mask = pad_packed(frames, lengths)  # (batch, T, D), (batch, T)
        padded_weights = weights.new_zeros((*mask.shape, n_heads))  # (batch, T, K), zero beyond each length
        padded_weights[mask] = weights
        pooled = torch.bmm(padded_weights.transpose(1, 2), padded_frames)  # (batch, K, D)
        ctx.save_for_backward(frames, hidden_weight, score_weight, ids, mask, gates, weights, padded_frames,
                              padded_weights)
        ctx.mark_non_differentiable(weights)
        return pooled, weights

    @staticmethod
    def backward(ctx, grad_pooled, _grad_weights):
        frames, hidden_weight, score_weight, ids, mask, gates, weights, padded_frames, padded_weights = (
            ctx.saved_tensors)
        n_segments = mask.shape[0]
        grad_weights = torch.bmm(padded_frames, grad_pooled.transpose(1, 2))[mask]  # (N, K)
        grad_scores = segment_softmax_backward(weights, grad_weights, ids, n_segments)  # (N, K)
        grad_score_bias = grad_scores.sum(dim=0)  # (K,)
        grad_score_weight = (grad_scores.T @ gates).mul_(2.0).sub_(grad_score_bias[:, None])  # (K, H): d / d V
        # d loss / d (X W_1^T + b_1) = (d scores V) * 4 G (1 - G): with g = d scores (4 V) G, g - g G, in place
        grad_pre = (grad_scores @ (score_weight * 4.0)).mul_(gates)  # (N, H)
        grad_pre.addcmul_(grad_pre, gates, value=-1.0)
        grad_frames = None
        if ctx.needs_input_grad[0]:
            grad_frames = grad_pre @ hidden_weight  # (N, D): through the scorer
            grad_frames += torch.bmm(padded_weights, grad_pooled)[mask]  # through the weighted sums
        return (grad_frames, None, grad_pre.T @ frames, grad_pre.sum(dim=0), grad_score_weight, grad_score_bias)


def fused_multihead_pooling(
    frames: torch.Tensor, lengths: torch.Tensor, hidden_weight: torch.Tensor, hidden_bias: torch.Tensor,
    score_weight: torch.Tensor, score_bias: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Functional form of :class:`FusedMultiHeadPooling`: ``(pooled (batch, K, D), weights (N, K))``."""
    return FusedMultiHeadPooling.apply(frames, lengths, hidden_weight, hidden_bias, score_weight, score_bias)
