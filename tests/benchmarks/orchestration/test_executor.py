"""Parallel fits: the thread plan, worker processes equal to the sequential path, a failing unit named."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from benchmarks.config import RunConfig
from benchmarks.orchestration import cpu_load
from benchmarks.orchestration.executor import ThreadPlan, thread_plan
from benchmarks.orchestration.fold_files import load_out_of_fold
from benchmarks.orchestration.suite import run_suite
from benchmarks.report import render_report
from datamodules.synthetic import SyntheticSpec, generate_synthetic_cache
from probes import registry

FAILING = "tests.benchmarks.orchestration.failing_prober:FailingOnFoldOneProber"


class TestThreadPlan:
    def test_one_thread_per_unit_and_a_worker_per_cpu_by_default(self, monkeypatch) -> None:
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
        assert thread_plan(n_cpus=2) == ThreadPlan(n_cpus=2, workers=2, unit_threads=1, main_threads=2)
        assert thread_plan(n_cpus=8, threads=2) == ThreadPlan(n_cpus=8, workers=4, unit_threads=2, main_threads=8)
        assert thread_plan(n_cpus=2, workers=1).workers == 1

    def test_omp_num_threads_is_honoured(self, monkeypatch) -> None:
        monkeypatch.setenv("OMP_NUM_THREADS", "1")
        assert thread_plan(n_cpus=4) == ThreadPlan(n_cpus=4, workers=4, unit_threads=1, main_threads=1,
                                                   fitted_to_load=False)
        monkeypatch.setenv("OMP_NUM_THREADS", "2")
        assert thread_plan(n_cpus=2) == ThreadPlan(n_cpus=2, workers=1, unit_threads=2, main_threads=2,
                                                   fitted_to_load=False)

    @pytest.mark.parametrize("kwargs, match", [({"workers": 0}, "workers must be >= 1"),
                                               ({"threads": 0}, "threads must be >= 1")])
    def test_bad_settings(self, kwargs, match) -> None:
        with pytest.raises(ValueError, match=match):
            thread_plan(n_cpus=2, **kwargs)

    def test_bad_environment(self, monkeypatch) -> None:
        monkeypatch.setenv("OMP_NUM_THREADS", "two")
        with pytest.raises(ValueError, match="OMP_NUM_THREADS='two'"):
            thread_plan(n_cpus=2)


@pytest.fixture(scope="module")
def small_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_synthetic_cache(tmp_path_factory.mktemp("cache") / "cache", SyntheticSpec(n_segments=96, dim=8),
                                    seed=0)


def _config(cache: Path, out: Path, workers: int, **settings) -> RunConfig:
    return RunConfig(cache=cache, out=out, sections=("probing",), probes=("ridge", "mlp", "attention"),
                     epochs_scale=0.05, n_permutations=9, n_bootstrap=10, prober_seeds=2, workers=workers, threads=1,
                     **settings)


class TestWorkers:
    def test_worker_processes_give_the_sequential_results(self, small_cache, tmp_path, monkeypatch) -> None:
        # the main process's threads follow the idle CPUs, and Ridge's last bits the threads: keep them the plan's
        monkeypatch.setattr(cpu_load, "idle_cpus", lambda sample_s=0.1: None)
        sequential = run_suite(_config(small_cache, tmp_path / "sequential", workers=1))
        parallel = run_suite(_config(small_cache, tmp_path / "parallel", workers=2))
        for name in ("ridge", "mlp", "attention"):
            for seeds in ("", "seeds/seed1/"):
                if name == "ridge" and seeds:
                    continue
                one = load_out_of_fold(tmp_path / f"sequential/{seeds}predictions/{name}")
                two = load_out_of_fold(tmp_path / f"parallel/{seeds}predictions/{name}")
                np.testing.assert_array_equal(one["predictions"], two["predictions"])
        assert sequential["probing_comparison"]["probers"] == parallel["probing_comparison"]["probers"]
        assert "2 worker processes x 1 thread" in parallel["run"]["executor"]
        assert "1 worker process x 1 thread" in sequential["run"]["executor"]
        units = parallel["run"]["unit_times"]  # the trained probers' units, each timed in its worker
        assert sorted((unit["prober"], unit["seed"], unit["fold"]) for unit in units) == sorted(
            (name, seed, fold) for name in ("mlp", "attention") for seed in (0, 1) for fold in range(4))
        assert all(unit["wall_s"] > 0 and unit["cpu_s"] > 0 and unit["threads"] == 1 and not unit["resumed"]
                   for unit in units)
        assert "unit_times" not in sequential["run"]  # fitted in the main process: its folds are not units
        line = next(line for line in render_report(parallel, []).splitlines() if line.startswith("- fold units"))
        assert "mlp 8 fitted" in line and "attention 8 fitted" in line

    def test_a_failing_unit_is_named_and_the_finished_ones_kept(self, small_cache, tmp_path, monkeypatch) -> None:
        monkeypatch.setattr(registry, "_REGISTERED", {})
        config = RunConfig(cache=small_cache, out=tmp_path / "out", sections=("probing",),
                           probes=("failing_on_fold_one",), prober_plugins={"failing_on_fold_one": FAILING},
                           n_permutations=0, workers=2, threads=1)
        with pytest.raises(RuntimeError, match=r"failing_on_fold_one \(seed 0, fold 1\) failed in a worker process: "
                                               "planted failure"):
            run_suite(config)
        written = sorted(path.name for path in (tmp_path / "out/predictions/failing_on_fold_one").glob("fold*.npz"))
        assert "fold1.npz" not in written and "fold0.npz" in written
