"""Measuring for ``python -m benchmarks.speed``: sections timed with their own peak memory, matrix-multiply peak, FLOPs.

Peak resident memory is the kernel's high-water mark (``VmHWM`` in ``/proc/self/status``), reset at the start of
each section by writing ``5`` to ``/proc/self/clear_refs`` (Linux), so every section reports its own peak; the mark
is read before each reset and at the end too, so the process peak also covers what runs between and after sections
(e.g. a report written after the last one). Time is
wall time (``time.perf_counter``) beside the process's CPU time (all threads), which a shared machine disturbs less.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def memory_mb() -> dict[str, float]:
    """``{"peak_rss_mb", "rss_mb", "rss_anon_mb", "rss_file_mb"}`` of this process (MiB); empty off Linux."""
    if not _STATUS.is_file():
        return {}
    fields = {"VmHWM": "peak_rss_mb", "VmRSS": "rss_mb", "RssAnon": "rss_anon_mb", "RssFile": "rss_file_mb"}
    values = {}
    for line in _STATUS.read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in fields:
            values[fields[name]] = int(rest.split()[0]) / 1024.0
    return values


def reset_peak_rss() -> bool:
    """Reset the high-water mark to the current resident size; False where the kernel does not allow it."""
    try:
        _CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return True


class SectionTimer:
    """Wall time, CPU time and peak resident memory of named sections of one process.

    Examples
    --------
    >>> timer = SectionTimer()
    >>> with timer.section("nothing"):
    ...     pass
    >>> sorted(timer.sections["nothing"])[:2]
    ['cpu_s', 'peak_rss_mb']
    """

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.baseline = memory_mb()
        self.sections: dict[str, dict[str, float]] = {}
        #: High-water marks read before each reset and at the end, so far: the process's peak, sections or not.
        self.process_peak_mb = self.baseline.get("peak_rss_mb", 0.0)

    @contextmanager
    def section(self, name: str) -> Iterator[dict[str, float]]:
        """Time the ``with`` block under ``name`` (a repeated name accumulates time and keeps the larger peak)."""
        self._note_peak()
        reset_peak_rss()
        record: dict[str, float] = {}
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            yield record
        finally:
            record["wall_s"] = time.perf_counter() - wall
            record["cpu_s"] = time.process_time() - cpu
            record["peak_rss_mb"] = memory_mb().get("peak_rss_mb", float("nan"))
            previous = self.sections.get(name)
            if previous is not None:
                record["wall_s"] += previous["wall_s"]
                record["cpu_s"] += previous["cpu_s"]
                record["peak_rss_mb"] = max(record["peak_rss_mb"], previous["peak_rss_mb"])
            self.sections[name] = {**(previous or {}), **record}

    def _note_peak(self) -> None:
        """Fold the high-water mark since the last reset (the last section and what ran after it) into the peak."""
        self.process_peak_mb = max(self.process_peak_mb, memory_mb().get("peak_rss_mb", 0.0))

    def summary(self) -> dict:
        """Sections, the memory after imports, and the process peak (over the sections and what ran outside them)."""
        self._note_peak()
        return {
            "sections": self.sections,
            "baseline_memory_mb": self.baseline,
            "peak_rss_mb": self.process_peak_mb,
            "wall_s": time.perf_counter() - self.started,
        }


def set_threads(n_threads: int | None) -> int:
    """Use ``n_threads`` intra-op threads in torch (default: all CPUs); returns the number in use."""
    import torch

    if n_threads:
        torch.set_num_threads(int(n_threads))
    return torch.get_num_threads()


def matmul_peak_gflops(dtype: str = "float32", size: int = 2048, repeats: int = 5, budget_s: float = 20.0,
                       threads: int | None = None) -> dict:
    """Best ``torch.mm`` rate of two ``(size, size)`` matrices: ``2 size^3 / t`` GFLOP/s, best of ``repeats``.

    Stops early once ``budget_s`` is spent (emulated bfloat16 can be hundreds of times slower than float32).
    ``threads`` measures with that many intra-op threads (then restores the process's); default: as set.
    """
    import torch

    if threads is not None:
        before = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            return matmul_peak_gflops(dtype, size, repeats, budget_s)
        finally:
            torch.set_num_threads(before)
    torch_dtype = getattr(torch, dtype)
    generator = torch.Generator().manual_seed(0)
    left = torch.randn(size, size, generator=generator).to(torch_dtype)
    right = torch.randn(size, size, generator=generator).to(torch_dtype)
    spent, best = 0.0, float("inf")
    torch.mm(left, right)  # warm up
    for _ in range(repeats):
        tick = time.perf_counter()
        torch.mm(left, right)
        elapsed = time.perf_counter() - tick
        best, spent = min(best, elapsed), spent + elapsed
        if spent > budget_s:
            break
    return {"dtype": dtype, "size": size, "gflops": 2.0 * size**3 / best / 1e9, "threads": torch.get_num_threads()}


def attention_training_flops(
    n_training_frames: int, n_training_segments: int, dim: int, hidden_dim: int = 128, n_outputs: int = 19
) -> float:
    """Floating-point operations of attention-pooling training, summed over the given frames and segments.

    Per frame: scorer ``Linear(D, H)`` forward and weight gradient (``2 D H`` each; no gradient flows into the
    frozen frames), ``Linear(H, 1)`` forward, weight and input gradients (``2 H`` each), the weighted sum forward and
    its gradient with respect to the weights (``2 D`` each). Per segment: the head ``Linear(D, 19)`` forward, weight
    and input gradients (``2 D 19`` each). Element-wise work (tanh, softmax, Adam) is not counted.
    """
    per_frame = 4 * dim * hidden_dim + 6 * hidden_dim + 4 * dim
    per_segment = 6 * dim * n_outputs
    return float(n_training_frames) * per_frame + float(n_training_segments) * per_segment


def mlp_training_flops(n_row_epochs: int, input_dim: int, hidden_dim: int = 256, n_outputs: int = 19) -> float:
    """Floating-point operations of training ``n_outputs`` MLPs ``input_dim -> hidden_dim -> 1`` (one per output).

    Per training row (summed over epochs, ``n_row_epochs``) and MLP: first layer forward and weight gradient
    (``2 input_dim hidden_dim`` each; the features take no gradient), second layer forward, weight and input
    gradients (``2 hidden_dim`` each). Element-wise work (ReLU, the loss, Adam) is not counted.
    """
    return float(n_row_epochs) * n_outputs * (4 * input_dim * hidden_dim + 6 * hidden_dim)


def load_average() -> tuple[float, float, float] | None:
    """The 1, 5 and 15 minute load averages, or None where unavailable."""
    try:
        return os.getloadavg()
    except OSError:
        return None


def attention_inference_flops(n_frames: int, n_segments: int, dim: int, hidden_dim: int = 128,
                              n_outputs: int = 19) -> float:
    """Floating-point operations of attention pooling's forward pass alone (validation, pooled features)."""
    return float(n_frames) * (2 * dim * hidden_dim + 2 * hidden_dim + 2 * dim) + float(n_segments) * 2 * dim * n_outputs
