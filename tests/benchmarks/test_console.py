"""The console of a run: a few progress lines and the summary; Lightning's messages only with ``--verbose``, also from
worker processes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.console import ProgressLine
from datamodules.synthetic import SyntheticSpec, generate_synthetic_cache

REPOSITORY = Path(__file__).resolve().parents[2]
SMALL = ["--probes", "ridge,mlp", "--epochs-scale", "0.05", "--permutations", "19", "--bootstrap", "20",
         "--parallel-simulations", "20", "--stability-resamples", "3"]
BANNERS = ("GPU available", "TPU available", "litlogger", "`Trainer.fit` stopped", "across ranks is zero")


@pytest.fixture(scope="module")
def small_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_synthetic_cache(tmp_path_factory.mktemp("cache") / "cache", SyntheticSpec(n_segments=96, dim=8),
                                    seed=0)


def _run(small_cache: Path, out: Path, *extra: str) -> str:
    completed = subprocess.run([sys.executable, "-m", "benchmarks.run", "--cache", str(small_cache), "--out", str(out),
                                *SMALL, *extra], capture_output=True, text=True, cwd=REPOSITORY, check=True)
    return completed.stdout + completed.stderr


def test_a_run_prints_progress_and_the_summary_only(small_cache, tmp_path) -> None:
    output = _run(small_cache, tmp_path / "out", "--workers", "2")
    lines = output.splitlines()
    assert len(lines) < 25, output
    assert not [banner for banner in BANNERS if banner in output], output
    assert "mlp: 4 folds fitted, 0 resumed (fitted in worker processes" in output
    assert "percepiano-bench summary" in output


def test_verbose_shows_lightnings_messages(small_cache, tmp_path) -> None:
    output = _run(small_cache, tmp_path / "out", "--workers", "1", "--verbose")
    assert "GPU available" in output and "probing_comparison" in output


def test_progress_line_counts_and_estimates_time_left(capsys) -> None:
    line = ProgressLine("attention", 4)
    line.advance(resumed=True)
    line.advance(resumed=False)
    assert "2/4 folds" in line._text() and "s left" in line._text()
    line.close(" over 2 seeds")
    assert "attention: 1 folds fitted, 1 resumed over 2 seeds in" in capsys.readouterr().err
