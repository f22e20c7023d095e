"""Attention pooling with a linear head as one matrix product over a packed batch's frames, with its own backward.

The faithful attention module predicts ``y_b = head(sum_t w_bt x_bt) = sum_t w_bt (W_head x_bt) + b_head``, the
softmax weights ``w_bt`` coming from the scorer ``v^T tanh(W_1 x_bt + b_1) + c`` over segment ``b``'s frames. The
head is linear, so it can act on every frame before the weighted sum: stacking ``W_1`` ``(H, D)`` over
``W_head`` ``(O, D)`` into one projection ``(H + O, D)``, a single product ``X P^T`` over the batch's packed frames
``X`` ``(N, D)`` gives both the scorer's hidden pre-activations and each frame's head outputs, and the weight
gradient is a single product ``dZ^T X`` over the same frames: the frames are read once forward and once backward
instead of four small products per segment. Both products run over chunks of a few thousand frames
(:func:`chunk_frames`), so that the ``O(N (H + O))`` element-wise work on each chunk's block (bias, tanh, its
derivative) finds it in cache.

The backward pass (:class:`FusedAttentionHead`) is written out rather than recorded by autograd: it keeps only the
products' outputs, not a graph of per-segment views, and accumulates the projection's gradient chunk by chunk.
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
    trailing index (one column per head), shape ``(N, ...)``, stabilised by each segment's maximum.

    The per-segment values are spread back over the frames with ``index_select`` (on a CPU about three times
    faster than indexing with ``ids``, the same values)."""
    index = ids.view(-1, *([1] * (scores.dim() - 1))).expand_as(scores)  # (N, ...)
    maxima = scores.new_full((n_segments, *scores.shape[1:]), float("-inf")).scatter_reduce_(
        0, index, scores, "amax")  # (n_segments, ...)
    exponentials = torch.exp(scores - maxima.index_select(0, ids))  # (N, ...)
    return exponentials / segment_sum(exponentials, ids, n_segments).index_select(0, ids)  # (N, ...)


def segment_softmax_backward(weights: torch.Tensor, grad_weights: torch.Tensor, ids: torch.Tensor,
                             n_segments: int) -> torch.Tensor:
    """Gradient of the scores ``(N, ...)`` from the gradient of :func:`segment_softmax`'s output ``weights``
    ``(N, ...)``: ``w * (g - sum_segment(w * g))``."""
    weighted = weights * grad_weights  # (N, ...)
    return weighted - weights * segment_sum(weighted, ids, n_segments).index_select(0, ids)  # (N, ...)


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


CHUNK_BYTES = 3 * 2**20
"""Bytes of one chunk of frames and its projected block (:func:`chunk_frames`). On this project's CPUs (1 MiB of L2
per core, 32 MiB of L3) the fastest of the chunk sizes tried were 4,096 frames at 24 dimensions (of 1,024, 2,048,
4,096) and 512 at 1,024 (of 512, 1,024, 2,048), about 3 MiB each with a 147-row block; this budget gives 4,599 and
671."""


def chunk_frames(frames: torch.Tensor, n_projected: int) -> int:
    """Frames per chunk of the fused heads (:class:`FusedAttentionHead`, ``probes.fused_pooling``) for ``frames``
    ``(N, D)`` projected onto ``n_projected`` rows: all of them off the CPU (one kernel each), else
    :data:`CHUNK_BYTES` over ``D + n_projected`` values (at least 256)."""
    if frames.device.type != "cpu":
        return max(1, frames.shape[0])
    return max(256, CHUNK_BYTES // (frames.element_size() * (frames.shape[1] + n_projected)))


def chunk_bounds(n_frames: int, size: int) -> list[tuple[int, int]]:
    """``(start, stop)`` of consecutive chunks of at most ``size`` frames covering ``n_frames``."""
    return [(start, min(start + size, n_frames)) for start in range(0, n_frames, size)]


class FusedAttentionHead(torch.autograd.Function):
    """Head outputs of attention pooling over packed frames; see the module docstring.

    ``apply(frames, lengths, projection, hidden_bias, score_weight, score_bias, product_dtype, chunk_size)`` with
    frames ``(N, D)``, lengths ``(batch,)`` int64, projection ``(H + O, D)`` (the scorer's first weight over the
    head's weight), hidden_bias ``(H,)``, score_weight ``(H,)``, score_bias ``(1,)``, the dtype of the frame
    products (the frames' own dtype: exact; bfloat16: see the module docstring) and the frames per chunk. Returns
    the head outputs without the head's bias ``(batch, O)`` and the attention weights ``(N,)`` (not differentiable;
    they sum to 1 over each segment).

    The products are formed frames-last, ``P X^T`` ``(H + O, N)``, chunk by chunk of frames: each chunk's hidden
    rows get their bias, tanh and scores while they are still in cache, and backward forms each chunk's gradient
    block and adds its weight-gradient product to one accumulator. On the real MIDI cache's 24-d frames the head's
    forward and backward of one batch took about 25% less time than over the whole batch at once, where the
    element-wise passes over the whole ``(H + O, N)`` block ran from memory (BENCHMARKS.md, "Chunked attention
    head, MLP output layer"). Each segment's outputs are its head rows times its weights, one matrix-vector product
    per segment (on a CPU five times faster than a scatter over the frames).
    """

    @staticmethod
    def forward(ctx, frames, lengths, projection, hidden_bias, score_weight, score_bias, product_dtype, chunk_size):
        n_hidden, n_segments = hidden_bias.shape[0], lengths.shape[0]
        ids, sizes = segment_ids(lengths), lengths.tolist()  # (N,), batch ints
        product_frames, product_projection = frames.to(product_dtype), projection.to(product_dtype)
        projected = frames.new_empty(projection.shape[0], frames.shape[0])  # (H + O, N)
        scores = frames.new_empty(frames.shape[0])  # (N,)
        for start, stop in chunk_bounds(frames.shape[0], chunk_size):
            block = projected[:, start:stop]  # (H + O, chunk)
            if product_dtype == frames.dtype:
                torch.mm(projection, frames[start:stop].T, out=block)
            else:
                block.copy_(product_projection @ product_frames[start:stop].T)  # float32 from here on
            hidden = tanh_(block[:n_hidden].add_(hidden_bias[:, None]))  # (H, chunk), in place
            torch.mv(hidden.T, score_weight, out=scores[start:stop])
        weights = segment_softmax(scores.add_(score_bias), ids, n_segments)  # (N,)
        head_rows = projected[n_hidden:].split(sizes, dim=1)  # (O, T_b) per segment
        outputs = torch.stack([rows @ segment_weights  # (batch, O)
                               for rows, segment_weights in zip(head_rows, weights.split(sizes), strict=True)])
        ctx.save_for_backward(product_frames, product_projection, score_weight, ids, projected, weights)
        ctx.mark_non_differentiable(weights)
        ctx.n_segments, ctx.n_hidden, ctx.sizes, ctx.chunk_size = n_segments, n_hidden, sizes, chunk_size
        ctx.frames_dtype, ctx.projection_dtype = frames.dtype, projection.dtype
        return outputs, weights

    @staticmethod
    def backward(ctx, grad_outputs, _grad_weights):
        frames, projection, score_weight, ids, projected, weights = ctx.saved_tensors
        n_hidden, n_frames = ctx.n_hidden, frames.shape[0]
        head_rows = projected[n_hidden:].split(ctx.sizes, dim=1)  # (O, T_b) per segment
        grad_weights = torch.cat([rows.T @ grad  # (N,): d loss / d w_t = grad_b . (W_head x_t)
                                  for rows, grad in zip(head_rows, grad_outputs, strict=True)])
        grad_scores = segment_softmax_backward(weights, grad_weights, ids, ctx.n_segments)  # (N,)
        grad_projection = grad_outputs.new_zeros(projection.shape)  # (H + O, D), float32 accumulator
        grad_hidden_bias, grad_score_weight = grad_outputs.new_zeros(n_hidden), grad_outputs.new_zeros(n_hidden)
        grad_frames = frames.new_empty(frames.shape, dtype=ctx.frames_dtype) if ctx.needs_input_grad[0] else None
        workspace = grad_outputs.new_empty(projected.shape[0], min(ctx.chunk_size, n_frames))  # (H + O, chunk)
        one = torch.ones((), dtype=grad_outputs.dtype)
        for start, stop in chunk_bounds(n_frames, ctx.chunk_size):
            grad_block = workspace[:, :stop - start]  # (H + O, chunk): d loss / d (P x_t + bias)
            hidden, chunk_scores = projected[:n_hidden, start:stop], grad_scores[start:stop]
            torch.mul(grad_outputs.index_select(0, ids[start:stop]).T, weights[start:stop],
                      out=grad_block[n_hidden:])  # d frame outputs
            grad_hidden_pre = grad_block[:n_hidden]  # (1 - tanh^2) v_h d score, in place
            torch.addcmul(one, hidden, hidden, value=-1.0, out=grad_hidden_pre)
            grad_hidden_pre.mul_(score_weight[:, None]).mul_(chunk_scores)
            grad_hidden_bias += grad_hidden_pre.sum(dim=1)
            grad_score_weight.addmv_(hidden, chunk_scores)
            if frames.dtype == grad_block.dtype:
                grad_projection.addmm_(grad_block, frames[start:stop])  # the weight-gradient product
            else:
                grad_product = grad_block.to(frames.dtype)
                grad_projection += grad_product @ frames[start:stop]
            if grad_frames is not None:
                grad_frames[start:stop] = grad_block.T.to(projection.dtype) @ projection
        return (grad_frames, None, grad_projection.to(ctx.projection_dtype), grad_hidden_bias, grad_score_weight,
                grad_scores.sum().reshape(1), None, None)


def fused_attention_head(
    frames: torch.Tensor, lengths: torch.Tensor, projection: torch.Tensor, hidden_bias: torch.Tensor,
    score_weight: torch.Tensor, score_bias: torch.Tensor, product_dtype: torch.dtype | None = None,
    chunk_size: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Functional form of :class:`FusedAttentionHead`: ``(head outputs (batch, O) without bias, weights (N,))``.

    ``product_dtype`` defaults to the frames' dtype (exact), ``chunk_size`` to :func:`chunk_frames`.
    """
    if chunk_size is None:
        chunk_size = chunk_frames(frames, projection.shape[0])
    return FusedAttentionHead.apply(frames, lengths, projection, hidden_bias, score_weight, score_bias,
                                    frames.dtype if product_dtype is None else product_dtype, chunk_size)
