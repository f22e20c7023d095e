"""The FLOP counts behind the benchmark's rates, against torch's own counter on one training step; the process peak
memory of the section timer; the matrix-multiply peak at given threads and the default executor's attention rate."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from benchmarks.speed.measure import (
    SectionTimer,
    attention_training_flops,
    matmul_peak_gflops,
    memory_mb,
    mlp_training_flops,
)
from benchmarks.speed.original.attention import AttentionPooling
from benchmarks.speed.report import _executor_attention_rate


def _counted(step) -> int:
    with FlopCounterMode(display=False) as counter:
        step()
    return counter.get_total_flops()


@pytest.mark.parametrize(("n_frames", "dim", "hidden_dim"), [(37, 24, 8), (5, 64, 128)])
def test_attention_training_flops_equal_torch_count(n_frames: int, dim: int, hidden_dim: int) -> None:
    model = AttentionPooling(dim, hidden_dim=hidden_dim)
    frames, target = torch.randn(n_frames, dim), torch.randn(19)
    counted = _counted(lambda: nn.functional.mse_loss(model(frames), target).backward())
    assert counted == attention_training_flops(n_frames, 1, dim, hidden_dim=hidden_dim)


def test_mlp_training_flops_equal_torch_count() -> None:
    """19 separate MLPs (the original's), one step each on a batch of 64 rows."""
    features, targets = torch.randn(64, 48), torch.randn(64, 19)
    models = [nn.Sequential(nn.Linear(48, 16), nn.ReLU(), nn.Linear(16, 1)) for _ in range(19)]

    def step() -> None:
        for k, model in enumerate(models):
            nn.functional.mse_loss(model(features).squeeze(-1), targets[:, k]).backward()

    assert _counted(step) == mlp_training_flops(64, 48, hidden_dim=16)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status (Linux)")
@pytest.mark.parametrize("where", ["between sections", "after the last section"])
def test_process_peak_counts_memory_used_outside_sections(where: str) -> None:
    """Each section resets the high-water mark, so a peak reached between or after sections (the suite's report, say)
    must still reach the process peak."""
    block_mb = 256

    def touch_and_free() -> None:
        block = np.ones(block_mb << 17)  # float64: block_mb MiB, every page written
        assert block[-1] == 1.0

    timer = SectionTimer()
    before = memory_mb()["rss_mb"]
    with timer.section("first"):
        pass
    if where == "between sections":
        touch_and_free()
        with timer.section("second"):
            pass
    else:
        touch_and_free()
    summary = timer.summary()
    assert max(record["peak_rss_mb"] for record in summary["sections"].values()) < before + block_mb / 2
    assert summary["peak_rss_mb"] >= before + 0.9 * block_mb


def test_peak_at_given_threads_restores_the_process_threads() -> None:
    before = torch.get_num_threads()
    peak = matmul_peak_gflops(size=128, repeats=2, threads=1)
    assert peak["threads"] == 1 and peak["gflops"] > 0 and torch.get_num_threads() == before


def test_executor_attention_rate_is_flops_per_thread_second_against_a_threads_peak(tmp_path) -> None:
    """Planted unit times: 3 attention units (one resumed, not counted) and an MLP unit (not attention)."""
    units = [{"prober": "attention", "resumed": False, "wall_s": 40.0, "threads": 1},
             {"prober": "attention", "resumed": False, "wall_s": 20.0, "threads": 2},
             {"prober": "attention", "resumed": True, "wall_s": 0.1, "threads": 1},
             {"prober": "mlp", "resumed": False, "wall_s": 99.0, "threads": 1}]
    (tmp_path / "audit.json").write_text(json.dumps({"run": {"unit_times": units}}))
    results = {"suite_default_executor": {"out": str(tmp_path)}, "threads": 2,
               "thread_peaks": [{"gflops": 90.0}, {"gflops": 95.0}]}
    attention = {"suite_flops": 4.0e12, "product_peak_gflops": 200.0}
    rate = _executor_attention_rate(results, attention, peak=200.0)
    per_thread = 4.0e12 / (40.0 + 2 * 20.0) / 1e9  # 50 GFLOP/s per thread-second
    assert rate["executor_units"] == 2 and rate["executor_unit_threads"] == [1, 2]
    assert rate["thread_peak_gflops"] == 100.0  # the all-thread peak over 2 threads beats the one-thread peaks
    assert rate["executor_gflops_per_thread"] == pytest.approx(per_thread)
    assert rate["executor_fraction"] == pytest.approx(per_thread / 100.0)
    assert _executor_attention_rate({"threads": 2}, attention, peak=200.0) == {}  # no default-executor run
