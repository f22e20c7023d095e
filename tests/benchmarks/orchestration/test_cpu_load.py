"""Main-process threads fitted to the idle CPUs: /proc/stat read against hand counts and a planted busy CPU, the
thread choice, the pools set and restored, and the choice recorded in the audit."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from threadpoolctl import threadpool_info

from benchmarks.config import RunConfig
from benchmarks.console import SUITE_LOGGER
from benchmarks.orchestration import cpu_load
from benchmarks.orchestration.cpu_load import cpu_times, idle_between
from benchmarks.orchestration.executor import ThreadPlan, compute_threads, fitting_threads, phase_threads, thread_plan
from benchmarks.orchestration.suite import run_suite
from benchmarks.report import render_report
from datamodules.synthetic import SyntheticSpec, generate_synthetic_cache

LINUX = sys.platform.startswith("linux")
STAT = """cpu  60 0 30 300 10 0 0 5 7 0
cpu0 10 0 5 100 5 0 0 0 7 0
cpu1 20 0 10 50 0 1 1 3 0 0
cpu2 30 0 15 150 5 0 0 2 0 0
intr 12345 0 0
ctxt 99
"""


class TestCpuTimes:
    def test_sums_idle_and_elapsed_ticks_of_the_given_cpus_only(self) -> None:
        # cpu0: idle 100 + iowait 5 of 120 (guest time 7 is inside user, not added); cpu2: 155 of 202
        assert cpu_times(STAT, {0}) == (105, 120)
        assert cpu_times(STAT, {0, 2}) == (105 + 155, 120 + 202)
        assert cpu_times(STAT, {1}) == (50, 85)  # steal (3) counts as busy: another machine had the core

    def test_unknown_cpus_and_other_lines_count_nothing(self) -> None:
        assert cpu_times(STAT, {7}) == (0, 0)


class TestIdleBetween:
    def test_other_processes_busy_time_is_not_idle_and_this_process_own_time_is(self) -> None:
        # 2 CPUs, 40 ticks elapsed over both, 10 idle: 0.5 CPUs idle; this process used 0.1 s of CPU in 0.2 s: 0.5 more
        assert idle_between((100, 1000, 5.0, 7.0), (110, 1040, 5.1, 7.2), n_cpus=2) == pytest.approx(1.0)
        assert idle_between((0, 0, 0.0, 0.0), (0, 40, 0.0, 0.2), n_cpus=2) == 0.0  # another job on both CPUs

    def test_never_more_than_the_cpus_and_none_within_a_tick(self) -> None:
        assert idle_between((0, 0, 0.0, 0.0), (40, 40, 0.4, 0.2), n_cpus=2) == 2.0
        assert idle_between((5, 9, 0.0, 0.0), (5, 9, 0.0, 0.05), n_cpus=2) is None


@pytest.mark.skipif(not LINUX, reason="reads /proc/stat and the affinity mask (Linux)")
def test_a_cpu_kept_busy_by_another_process_reads_busy() -> None:
    """A spinning process pinned to one CPU: a process sampling that CPU alone finds it (nearly) never idle."""
    cpu = min(os.sched_getaffinity(0))
    pin = f"import os\nos.sched_setaffinity(0, {{{cpu}}})\n"
    spinner = subprocess.Popen([sys.executable, "-c", pin + "while True: pass"])
    try:
        time.sleep(0.3)
        code = pin + "from benchmarks.orchestration.cpu_load import idle_cpus\nprint(idle_cpus(0.5))"
        idle = float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    finally:
        spinner.kill()
        spinner.wait()
    assert 0.0 <= idle < 0.25


class TestFittingThreads:
    @pytest.mark.parametrize(("main_threads", "idle", "expected"), [
        (2, 2.0, 2), (2, 1.6, 2), (2, 1.4, 1), (2, 0.0, 1), (8, 3.4, 3), (8, 7.9, 8), (1, 0.0, 1), (4, None, 4)])
    def test_never_more_than_idle_nor_the_plan_and_at_least_one(self, main_threads, idle, expected) -> None:
        assert fitting_threads(main_threads, idle) == expected

    def test_phase_threads_records_the_choice_and_says_why(self, monkeypatch, caplog) -> None:
        monkeypatch.setattr(cpu_load, "idle_cpus", lambda sample_s=0.1: 0.12)
        record: dict = {}
        plan = ThreadPlan(n_cpus=2, workers=2, unit_threads=1, main_threads=2)
        with caplog.at_level(logging.INFO, logger=SUITE_LOGGER):
            assert phase_threads(plan, "downstream", record) == 1
        assert record == {"downstream": {"threads": 1, "idle_cpus": 0.12}}
        assert "downstream: 0.1 of 2 CPUs idle (other jobs), main-process work on 1 thread instead of 2" in caplog.text

    def test_pinned_threads_are_kept_without_sampling(self, monkeypatch) -> None:
        def busy_machine(sample_s: float = 0.1) -> float:
            raise AssertionError("sampled the load although OMP_NUM_THREADS pins the main threads")

        monkeypatch.setattr(cpu_load, "idle_cpus", busy_machine)
        monkeypatch.setenv("OMP_NUM_THREADS", "2")
        record: dict = {}
        assert phase_threads(thread_plan(n_cpus=2), "downstream", record) == 2
        assert record == {"downstream": {"threads": 2, "idle_cpus": None}}


def _blas_threads() -> list[int]:
    return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]


def test_compute_threads_sets_torch_and_blas_pools_and_restores_them() -> None:
    torch_before, blas_before = torch.get_num_threads(), _blas_threads()
    with compute_threads(1):
        assert torch.get_num_threads() == 1
        assert all(threads == 1 for threads in _blas_threads())
    assert torch.get_num_threads() == torch_before and _blas_threads() == blas_before


def test_the_audit_records_each_main_phase_and_the_report_shows_it(tmp_path: Path, monkeypatch) -> None:
    """A machine planted busy (no idle CPU): every main-process phase runs on one thread, and says so."""
    monkeypatch.setattr(cpu_load, "idle_cpus", lambda sample_s=0.1: 0.0)
    cache = generate_synthetic_cache(tmp_path / "cache", SyntheticSpec(n_segments=64, dim=8), seed=0)
    config = RunConfig(cache=cache, out=tmp_path / "out", sections=("probing",), probes=("ridge",), n_permutations=5,
                       n_bootstrap=5, workers=1, threads=1)
    audit = run_suite(config)
    phases = audit["run"]["main_threads"]
    assert set(phases) == {"probing", "post-fit analyses"}
    assert all(chosen == {"threads": 1, "idle_cpus": 0.0} for chosen in phases.values())
    assert "probing 1 (0), post-fit analyses 1 (0)" in render_report(audit, [])
    assert "ridge" in audit["probing_comparison"]["probers"]
