"""``python -m benchmarks.speed.profile``: where an attention training step of the suite spends its time.

On fold 0 of a cache (the suite's frames loader, ``AttentionPoolingModule`` and its optimizer, batch size 32), a
few steps are timed phase by phase: reading and padding the batch, forward, backward, optimizer step. The same
batches' scorer matrix products (forward and weight gradient, per segment as the module runs them) are then timed
alone: their rate against the measured peak is what the kernels reach, the rest of the step is overhead. A
``torch.profiler`` table of the heaviest operators, the bfloat16 matrix-multiply rate and the same pooling fused by
``torch.compile`` complete the picture.
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
from datamodules.fold_datamodule import FoldDataModule
from probes.attention import AttentionPoolingModule

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
    module = AttentionPoolingModule(cache.store.dim)
    optimizer = module.configure_optimizers()
    batches = _endless(datamodule)
    _step(module, optimizer, next(batches), {phase: 0.0 for phase in PHASES})  # warm-up
    phases, n_frames, n_segments, kept = {phase: 0.0 for phase in PHASES}, 0, 0, []
    for _ in range(arguments.steps):
        tick = time.perf_counter()
        batch = next(batches)
        phases["data"] += time.perf_counter() - tick
        _step(module, optimizer, batch, phases)
        n_frames, n_segments = n_frames + int(batch.mask.sum()), n_segments + len(batch.rows)
        kept.append(batch)
    flops = attention_training_flops(n_frames, n_segments, cache.store.dim)
    gemm_s = _scorer_products_alone(module, kept)
    fused = _fused_pooling(module, kept[:4])
    with profile(activities=[ProfilerActivity.CPU]) as profiler:
        for batch in kept[:2]:
            _step(module, optimizer, batch, {phase: 0.0 for phase in PHASES})
    table = profiler.key_averages().table(sort_by="self_cpu_time_total", row_limit=12, max_name_column_width=40)
    result = {
        "threads": threads, "n_steps": len(kept), "n_frames": n_frames, "n_segments": n_segments, "flops": flops,
        "phases_s": phases, "step_s": sum(phases.values()), "scorer_products_s": gemm_s,
        "scorer_products_flops": 4.0 * n_frames * cache.store.dim * module.hparams.hidden_dim,
        "profile_table": table, "fused_pooling": fused,
        "peak": {"float32": matmul_peak_gflops("float32"),
                 "bfloat16": matmul_peak_gflops("bfloat16", size=512, repeats=2, budget_s=5.0)},
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
    loss = F.mse_loss(module(batch.frames, batch.mask), batch.targets)
    phases["forward"] += time.perf_counter() - tick
    tick = time.perf_counter()
    optimizer.zero_grad()
    loss.backward()
    phases["backward"] += time.perf_counter() - tick
    tick = time.perf_counter()
    optimizer.step()
    phases["optimizer"] += time.perf_counter() - tick


def _fused_pooling(module: AttentionPoolingModule, batches: list) -> dict[str, float]:
    """Forward and backward of the per-segment pooling, eager against ``torch.compile`` (inductor, dynamic shapes).

    The compiled function fuses one segment's scores, softmax and weighted sum. Returns seconds for the batches
    (after one warm-up pass each way) and the one-time compilation.
    """

    def pool_segment(real: torch.Tensor) -> torch.Tensor:  # (n_frames, D) -> (D,)
        return torch.softmax(module.scorer(real).squeeze(-1), dim=0) @ real

    def run(function) -> float:
        tick = time.perf_counter()
        for batch in batches:
            lengths = batch.mask.sum(dim=1).tolist()
            pooled = torch.stack([function(batch.frames[i, :n]) for i, n in enumerate(lengths)])  # (batch, D)
            module.zero_grad()
            F.mse_loss(module.head(pooled), batch.targets).backward()
        return time.perf_counter() - tick

    compiled = torch.compile(pool_segment, dynamic=True)
    tick = time.perf_counter()
    run(compiled)
    compile_s = time.perf_counter() - tick
    run(pool_segment)
    return {"eager_s": run(pool_segment), "compiled_s": run(compiled), "first_compiled_pass_s": compile_s,
            "n_steps": len(batches)}


@torch.no_grad()
def _scorer_products_alone(module: AttentionPoolingModule, batches: list) -> float:
    """Seconds of the scorer's first-layer products alone: ``x W^T`` and ``g^T x`` per segment, as in a step."""
    first = module.scorer[0]
    elapsed = 0.0
    for batch in batches:
        lengths = batch.mask.sum(dim=1).tolist()
        gradient = torch.randn(max(lengths), first.out_features)  # (max_frames, hidden)
        tick = time.perf_counter()
        for position, n_frames in enumerate(lengths):
            real = batch.frames[position, :n_frames]  # (n_frames, D)
            F.linear(real, first.weight, first.bias)  # (n_frames, hidden)
            gradient[:n_frames].T @ real  # (hidden, D)
        elapsed += time.perf_counter() - tick
    return elapsed


if __name__ == "__main__":
    sys.exit(main())
