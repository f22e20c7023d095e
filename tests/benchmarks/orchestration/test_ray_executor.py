"""``--executor ray`` on a local Ray of two CPUs: the local executor's results, a killed worker, a failing trial,
resume, and no Ray without the flag."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from benchmarks.config import RunConfig
from benchmarks.orchestration import cpu_load
from benchmarks.orchestration.fold_files import load_out_of_fold
from benchmarks.orchestration.suite import run_suite
from datamodules.synthetic import SyntheticSpec, generate_synthetic_cache
from probes import registry

ray = pytest.importorskip("ray", reason="the Ray executor's tests need the [ray] extra")

PLUGINS = "tests.benchmarks.orchestration.ray_probers"
TRAINED = ("mlp", "attention")


@pytest.fixture(scope="module")
def small_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_synthetic_cache(tmp_path_factory.mktemp("cache") / "cache", SyntheticSpec(n_segments=96, dim=8),
                                    seed=0)


def _config(cache: Path, out: Path, **settings) -> RunConfig:
    options = {"sections": ("probing",), "probes": ("ridge", *TRAINED), "epochs_scale": 0.05, "n_permutations": 9,
               "n_bootstrap": 10, "prober_seeds": 2, "threads": 1, **settings}
    return RunConfig(cache=cache, out=out, **options)


def _tensorboard_runs(out: Path) -> list[str]:
    return sorted({str(path.parent.relative_to(out)) for path in out.rglob("events.out.tfevents.*")})


def test_a_local_ray_gives_the_local_executors_results(small_cache, tmp_path, monkeypatch) -> None:
    """Starts (and stops) its own local Ray: predictions, statistics and TensorBoard runs as the local workers'."""
    # Ray's daemons keep CPUs busy after its tasks, and the main process's threads (Ridge's last bits) follow the idle
    # CPUs: keep them the plan's in both runs
    monkeypatch.setattr(cpu_load, "idle_cpus", lambda sample_s=0.1: None)
    assert not ray.is_initialized()
    local = run_suite(_config(small_cache, tmp_path / "local", workers=2))
    on_ray = run_suite(_config(small_cache, tmp_path / "ray", executor="ray"))
    assert not ray.is_initialized()  # the run stopped the Ray it started
    for name in ("ridge", *TRAINED):
        for seeds in ("", "seeds/seed1/"):
            if name == "ridge" and seeds:
                continue
            one = load_out_of_fold(tmp_path / f"local/{seeds}predictions/{name}")
            two = load_out_of_fold(tmp_path / f"ray/{seeds}predictions/{name}")
            np.testing.assert_array_equal(one["predictions"], two["predictions"])
    assert local["probing_comparison"] == on_ray["probing_comparison"]
    assert _tensorboard_runs(tmp_path / "local") == _tensorboard_runs(tmp_path / "ray")
    assert len([run for run in _tensorboard_runs(tmp_path / "ray") if "attention" in run]) == 2 * 4  # seeds x folds
    assert on_ray["run"]["executor"].startswith("Ray tasks of 1 thread on a local Ray")
    (started,) = on_ray["run"]["executor_runs"]
    assert started["startup_s"] > 0 and started["n_units"] == 2 * 2 * 4 and "2 CPUs" in started["cluster"]
    assert on_ray["run"]["failed_trials"] == [] == local["run"]["failed_trials"]


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray of two CPUs for the tests below (runs use an initialised Ray as it is)."""
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture
def plugins(monkeypatch):
    monkeypatch.setattr(registry, "_REGISTERED", {})
    return {name: f"{PLUGINS}:{cls}" for name, cls in (("killed_once", "KilledOnceProber"),
                                                          ("always_failing", "AlwaysFailingProber"))}


def _attempts(directory: Path, prober: str, fold: int) -> int:
    path = directory / f"{prober}_fold{fold}"
    return len(path.read_text().splitlines()) if path.exists() else 0


class TestOnALocalRay:
    def test_a_killed_worker_is_retried(self, local_ray, small_cache, tmp_path, plugins) -> None:
        attempts = tmp_path / "attempts"
        attempts.mkdir()
        config = _config(small_cache, tmp_path / "out", probes=("killed_once",), prober_seeds=1, executor="ray",
                         prober_plugins={"killed_once": plugins["killed_once"]},
                         prober_params={"killed_once": {"attempts_dir": str(attempts)}})
        audit = run_suite(config)
        assert _attempts(attempts, "killed_once", 1) == 2 and _attempts(attempts, "killed_once", 0) == 1
        assert audit["run"]["failed_trials"] == []
        oof = load_out_of_fold(tmp_path / "out/predictions/killed_once")
        assert np.all(np.isfinite(oof["predictions"][oof["fold_of_row"] >= 0]))
        assert "killed_once" in audit["probing_comparison"]["probers"]

    def test_a_failing_trial_is_retried_once_then_reported(self, local_ray, small_cache, tmp_path, plugins) -> None:
        attempts = tmp_path / "attempts"
        attempts.mkdir()
        config = _config(small_cache, tmp_path / "out", probes=("ridge", "always_failing"), prober_seeds=1,
                         executor="ray", prober_plugins={"always_failing": plugins["always_failing"]},
                         prober_params={"always_failing": {"attempts_dir": str(attempts)}})
        audit = run_suite(config)
        assert _attempts(attempts, "always_failing", 1) == 2
        assert [_attempts(attempts, "always_failing", fold) for fold in (0, 2, 3)] == [1, 1, 1]
        assert audit["run"]["failed_trials"] == [{"prober": "always_failing", "seed": 0, "fold": 1, "layers": None,
                                                  "error": "ValueError: planted failure (attempt 2)", "attempts": 2}]
        assert list(audit["probing_comparison"]["probers"]) == ["ridge"]  # left out, not silently half-scored
        report = (tmp_path / "out/report.md").read_text()
        assert "failed trials: 1" in report and "always_failing seed 0 fold 1 (2 attempts)" in report

    def test_an_interrupted_grid_resumes_without_refitting_finished_trials(self, local_ray, small_cache,
                                                                         tmp_path) -> None:
        out = tmp_path / "out"
        run_suite(_config(small_cache, out, executor="ray", prober_seeds=1, probes=TRAINED))
        folds = sorted((out / "predictions").glob("*/fold*.npz"))
        assert len(folds) == 2 * 4
        lost = out / "predictions/attention/fold2.npz"
        lost.unlink()  # as if the run had been killed before this trial finished
        before = {path: path.stat().st_mtime_ns for path in folds if path != lost}
        audit = run_suite(_config(small_cache, out, executor="ray", prober_seeds=1, probes=TRAINED))
        assert lost.exists() and {path: path.stat().st_mtime_ns for path in before} == before
        assert audit["run"]["failed_trials"] == []
        fitted = [(unit["prober"], unit["fold"]) for unit in audit["run"]["unit_times"] if not unit["resumed"]]
        assert fitted == [("attention", 2)] and len(audit["run"]["unit_times"]) == 2 * 4


def test_ray_is_not_imported_without_executor_ray() -> None:
    script = ("import sys; import benchmarks.run, benchmarks.cli, benchmarks.orchestration.suite; "
              "from benchmarks.orchestration import probing, layer_sweep, executor; "
              "print('ray' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


class TestSettings:
    def test_flags(self) -> None:
        from benchmarks.run import build_parser, resolve_config

        config = resolve_config(build_parser().parse_args(["--executor", "ray", "--ray-address", "auto"]))
        assert config.executor == "ray" and config.ray_address == "auto"
        assert resolve_config(build_parser().parse_args([])).executor == "local"

    def test_an_address_needs_the_ray_executor(self) -> None:
        with pytest.raises(ValueError, match="a cluster address needs executor 'ray'"):
            RunConfig(ray_address="auto")
        with pytest.raises(ValueError, match="executor must be one of"):
            RunConfig(executor="dask")

    def test_the_executor_is_not_fingerprinted(self) -> None:
        assert RunConfig(executor="ray").fingerprint() == RunConfig().fingerprint()
