"""Multi-head attention pooling over packed frames with its own backward (the pooling of ``attention_es``).

``K`` heads share the scorer's hidden layer: frame ``t`` of segment ``b`` gets the scores
``s_bt = V tanh(W_1 x_bt + b_1) + c`` ``(K,)``, head ``k``'s weights are the softmax of its scores over the
segment's frames, and its pooled vector is ``p_bk = sum_t w_btk x_bt`` ``(D,)``. The hidden layer is one product
``W_1 X^T`` ``(H, N)`` over the batch's packed frames ``X`` ``(N, D)``, frames-last so that tanh and its derivative
run over one contiguous block in place; the scores are one product ``(N, H) x (H, K)``; a segment's pooled vectors
are the product of its ``(K, T_b)`` weights with its ``(T_b, D)`` frames, formed as one batched product over the
segments padded to the longest (a padded copy of the frames, as the autograd formulation made too).

The backward pass is written out (:class:`FusedMultiHeadPooling`): it keeps the hidden activations and the padded
operands, not autograd's graph of intermediate copies, and forms each weight gradient in one product. On the real
MIDI cache (24-d frames) it made one fold of ``attention_es`` train in about two thirds of the autograd
formulation's time (BENCHMARKS.md, "Fused multi-head pooling").
``tests/probes/test_fused_pooling.py`` checks it against autograd (``torch.autograd.gradcheck`` in float64).
"""

from __future__ import annotations

import torch

from datamodules.batching import pad_packed, segment_ids
from probes.fused_attention import segment_softmax, segment_softmax_backward, tanh_


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
        hidden = tanh_(torch.addmm(hidden_bias[:, None], hidden_weight, frames.T))  # (H, N), in place
        scores = torch.addmm(score_bias, hidden.T, score_weight.T)  # (N, K)
        weights = segment_softmax(scores, ids, n_segments)  # (N, K)
        padded_frames, mask = pad_packed(frames, lengths)  # (batch, T, D), (batch, T)
        padded_weights = weights.new_zeros((*mask.shape, n_heads))  # (batch, T, K), zero beyond each length
        padded_weights[mask] = weights
        pooled = torch.bmm(padded_weights.transpose(1, 2), padded_frames)  # (batch, K, D)
        ctx.save_for_backward(frames, hidden_weight, score_weight, ids, mask, hidden, weights, padded_frames,
                              padded_weights)
        ctx.mark_non_differentiable(weights)
        return pooled, weights

    @staticmethod
    def backward(ctx, grad_pooled, _grad_weights):
        frames, hidden_weight, score_weight, ids, mask, hidden, weights, padded_frames, padded_weights = (
            ctx.saved_tensors)
        n_segments = mask.shape[0]
        grad_weights = torch.bmm(padded_frames, grad_pooled.transpose(1, 2))[mask]  # (N, K)
        grad_scores = segment_softmax_backward(weights, grad_weights, ids, n_segments)  # (N, K)
        grad_score_weight = grad_scores.T @ hidden.T  # (K, H)
        grad_pre = score_weight.T @ grad_scores.T  # (H, N): d hidden, then (1 - tanh^2) d hidden in place
        grad_pre.mul_(hidden.square().neg_().add_(1.0))
        grad_frames = None
        if ctx.needs_input_grad[0]:
            grad_frames = grad_pre.T @ hidden_weight  # (N, D): through the scorer
            grad_frames += torch.bmm(padded_weights, grad_pooled)[mask]  # through the weighted sums
        return (grad_frames, None, grad_pre @ frames, grad_pre.sum(dim=1), grad_score_weight, grad_scores.sum(dim=0))


def fused_multihead_pooling(
    frames: torch.Tensor, lengths: torch.Tensor, hidden_weight: torch.Tensor, hidden_bias: torch.Tensor,
    score_weight: torch.Tensor, score_bias: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Functional form of :class:`FusedMultiHeadPooling`: ``(pooled (batch, K, D), weights (N, K))``."""
    return FusedMultiHeadPooling.apply(frames, lengths, hidden_weight, hidden_bias, score_weight, score_bias)
