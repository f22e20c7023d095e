"""``python -m benchmarks.speed.profile``: where an attention training step of the suite spends its time.

On fold 0 of a cache (the suite's frames loader, ``AttentionPoolingModule`` with the faithful prober's default
``product_precision`` and its optimizer, batch size 32), a few steps are timed phase by phase: reading and packing
the batch, forward, backward, optimizer step. The same batches' two frame products (the fused projection ``P X^T``
and its weight gradient ``dZ X``, one each per batch, in the step's product dtype, :mod:`probes.fused_attention`)
are then timed alone: their rate against the measured peak is what the kernels reach, the rest of the step is
overhead. The same steps with autograd on the per-segment formulation (the suite's attention before the fused
product: per segment, scorer, softmax, weighted sum, then the head, in float32) say what the fusion gains. A
``torch.profiler`` table of the heaviest operators and the float32 and bfloat16 matrix-multiply peaks complete the
picture.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.profiler import ProfilerActivity, profile

from benchmarks.speed.measure import attention_training_flops, matmul_peak_gflops, set_threads
from datamodules.cache import open_cache
from datamodules.dimensions import N_DIMENSIONS
from datamodules.fold_datamodule import FoldDataModule
from probes.attention import AttentionPoolingModule, AttentionPoolingProber, product_dtype

PHASES: tuple[str, ...] = ("data", "forward", "backward", "optimizer")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.speed.profile", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cache", type=Path, required=True)
    parser.add_argument("--result", type=Path, required=True)
    parser.add_argument("--steps", type=int, default=8, help="training steps timed (after one warm-up step)")
    parser.add_argument("--threads", type=int)
    return parser


def main(argv: list[str] | None = None) -> int:
    arguments = build_parser().parse_args(argv)
    threads = set_threads(arguments.threads)
    cache = open_cache(arguments.cache)
    datamodule = FoldDataModule(cache, 0, view="frames", batch_size=32, seed=0)
    torch.manual_seed(0)
    module = AttentionPoolingModule(cache.store.dim, product_precision=AttentionPoolingProber().product_precision)
    optimizer = module.configure_optimizers()
    batches = _endless(datamodule)
    _step(module, optimizer, next(batches), {phase: 0.0 for phase in PHASES})  # warm-up
    phases, n_frames, n_segments, kept = {phase: 0.0 for phase in PHASES}, 0, 0, []
    for _ in range(arguments.steps):
        tick = time.perf_counter()
        batch = next(batches)
        phases["data"] += time.perf_counter() - tick
        _step(module, optimizer, batch, phases)
        n_frames, n_segments = n_frames + int(batch.lengths.sum()), n_segments + len(batch.rows)
        kept.append(batch)
    flops = attention_training_flops(n_frames, n_segments, cache.store.dim)
    dtype = product_dtype(module.hparams.product_precision, kept[0].frames)
    gemm_s = _frame_products_alone(module, kept, dtype)
    per_segment_s = _per_segment_steps(module, kept)
    with profile(activities=[ProfilerActivity.CPU]) as profiler:
        for batch in kept[:2]:
            _step(module, optimizer, batch, {phase: 0.0 for phase in PHASES})
    table = profiler.key_averages().table(sort_by="self_cpu_time_total", row_limit=12, max_name_column_width=40)
    result = {
        "threads": threads, "n_steps": len(kept), "n_frames": n_frames, "n_segments": n_segments, "flops": flops,
        "phases_s": phases, "step_s": sum(phases.values()), "frame_products_s": gemm_s,
        "product_dtype": "bfloat16" if dtype == torch.bfloat16 else "float32",
        "frame_products_flops": 4.0 * n_frames * cache.store.dim * (module.hparams.hidden_dim + N_DIMENSIONS),
        "per_segment_steps_s": per_segment_s, "profile_table": table,
        "peak": {"float32": matmul_peak_gflops("float32"),
                 "bfloat16": matmul_peak_gflops("bfloat16", budget_s=5.0)},
    }
    arguments.result.parent.mkdir(parents=True, exist_ok=True)
    arguments.result.write_text(json.dumps(result, indent=2))
    return 0


def _endless(datamodule: FoldDataModule):
    """Training batches, epoch after epoch (a small fold may hold fewer batches than the steps profiled)."""
    while True:
        yield from datamodule.train_dataloader()


def _step(module: AttentionPoolingModule, optimizer: torch.optim.Optimizer, batch, phases: dict[str, float]) -> None:
    tick = time.perf_counter()
    loss = F.mse_loss(module(batch.frames, batch.lengths), batch.targets)
    phases["forward"] += time.perf_counter() - tick
    tick = time.perf_counter()
    optimizer.zero_grad()
    loss.backward()
    phases["backward"] += time.perf_counter() - tick
    tick = time.perf_counter()
    optimizer.step()
    phases["optimizer"] += time.perf_counter() - tick


def _per_segment_steps(module: AttentionPoolingModule, batches: list) -> float:
    """Seconds of forward and backward of ``batches`` by autograd on the per-segment formulation (no optimizer step):
    per segment the scorer, its softmax and the weighted sum of the frames, then the head on the pooled vectors."""
    elapsed = 0.0
    for batch in batches:
        tick = time.perf_counter()
        segments = batch.frames.split(batch.lengths.tolist())  # (n_frames_i, D) each
        pooled = torch.stack([torch.softmax(module.scorer(real).squeeze(-1), dim=0) @ real for real in segments])
        module.zero_grad()
        F.mse_loss(module.head(pooled), batch.targets).backward()
        elapsed += time.perf_counter() - tick
    return elapsed


@torch.no_grad()
def _frame_products_alone(module: AttentionPoolingModule, batches: list, dtype: torch.dtype) -> float:
    """Seconds of the step's two frame products alone, ``P X^T`` and ``dZ X`` over each packed batch, in ``dtype``
    (the rounding of the frames to it included)."""
    projection = torch.cat([module.scorer[0].weight, module.head.weight]).to(dtype)  # (hidden + outputs, D)
    elapsed = 0.0
    for batch in batches:
        gradient = torch.randn(projection.shape[0], len(batch.frames)).to(dtype)  # (hidden + outputs, n_frames)
        tick = time.perf_counter()
        frames = batch.frames.to(dtype)  # (n_frames, D)
        projection @ frames.T  # (hidden + outputs, n_frames)
        gradient @ frames  # (hidden + outputs, D)
        elapsed += time.perf_counter() - tick
    return elapsed


if __name__ == "__main__":
    sys.exit(main())
