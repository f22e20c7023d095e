"""Resume and refusal of ``python -m benchmarks.run`` (benchmarks/orchestration/suite.py,
benchmarks/orchestration/output_guard.py).

A run killed mid-fold and re-run with the same command must write the ``audit.json`` of an uninterrupted run;
another configuration in the same ``--out`` is refused unless ``--force``; an input edited in place is recomputed,
never resumed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from benchmarks.orchestration import cpu_load
from benchmarks.run import main
from datamodules.cache import open_cache
from datamodules.synthetic import SyntheticSpec, generate_synthetic_cache

REPO = Path(__file__).resolve().parents[2]
#: About 100 segments of 8-16 frames of width 16: each section runs in about a second.
SMALL_SPEC = SyntheticSpec(
    n_segments=100, n_works=2, n_excerpts_per_work=8, n_players=6, dim=16, frames_per_segment=(8, 16),
    n_rater_pool=20, raters_per_key=(3, 6), n_videos=2, moments_per_video=(4, 6), recording_frames=(10, 20),
    n_competition_performers=4, competition_rounds=(("stage2", 4), ("final", 3)),
)
#: Probing with a Lightning prober, then the sections that read its predictions. The label sections are left
#: out: they run after the fit and never see a fold file, and their figures would double the test's time.
SMALL_RUN = ["--sections", "probing,embedding,downstream", "--probes", "ridge,ridge_tuned,mlp",
             "--epochs-scale", "0.05", "--permutations", "20", "--bootstrap", "50", "--accelerator", "cpu"]
#: Bookkeeping that differs between a resumed and an uninterrupted run by design: which folds this invocation
#: fitted and which it read back from fold files (``prediction_files`` of each prober).
BOOKKEEPING_KEYS = frozenset({"fitted_folds", "resumed_folds"})


@pytest.fixture
def small_cache(tmp_path: Path) -> Path:
    return generate_synthetic_cache(tmp_path / "cache", SMALL_SPEC, seed=0)


def comparable(audit: dict, out: Path) -> dict:
    """``audit`` without what legitimately differs between two runs of one configuration.

    Dropped: ``run.timings_s``, ``run.command``, ``run.git_revision``, ``run.main_threads`` and ``run.unit_times``
    (wall-clock, the argv naming ``--out``, the checkout, which turns "-dirty" when a file is edited between the two
    runs, the idle CPUs each main-process phase found, and what each fold unit cost, or that it was resumed) and
    the :data:`BOOKKEEPING_KEYS` anywhere; the output directory inside any string becomes ``<out>``.
    """

    def strip(value: object) -> object:
        if isinstance(value, dict):
            return {key: strip(item) for key, item in value.items() if key not in BOOKKEEPING_KEYS}
        if isinstance(value, list):
            return [strip(item) for item in value]
        if isinstance(value, str):
            return value.replace(str(out), "<out>")
        return value

    dropped = ("timings_s", "command", "git_revision", "main_threads", "unit_times")
    run = {key: value for key, value in audit["run"].items() if key not in dropped}
    return strip({**audit, "run": run})


def differences(left: object, right: object, path: str = "") -> list[str]:
    """Where two JSON values differ, as ``path: left != right`` lines (for the assertion message)."""
    if isinstance(left, dict) and isinstance(right, dict):
        return [line for key in sorted(set(left) | set(right))
                for line in differences(left.get(key, "<absent>"), right.get(key, "<absent>"), f"{path}/{key}")]
    if isinstance(left, list) and isinstance(right, list) and len(left) == len(right):
        return [line for index, pair in enumerate(zip(left, right, strict=True))
                for line in differences(*pair, f"{path}[{index}]")]
    return [] if left == right else [f"{path}: {left!r:.80} != {right!r:.80}"]


def _argv(cache: Path, out: Path) -> list[str]:
    return ["--cache", str(cache), "--out", str(out), *SMALL_RUN]


def _environment() -> dict[str, str]:
    path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path, "MPLBACKEND": "Agg"}


def _kill_when(process: subprocess.Popen, marker: Path, outcome: dict, timeout_s: float = 300.0) -> None:
    """SIGKILL ``process`` as soon as ``marker`` exists (polled every 5 ms); record what happened in ``outcome``."""
    deadline = time.monotonic() + timeout_s
    while not marker.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            outcome["failure"] = f"{marker} did not appear (run exit status {process.poll()})"
            return
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    outcome["returncode"] = process.wait()


class TestResume:
    def test_killed_mid_fold_then_resumed_equals_uninterrupted(self, small_cache, tmp_path, capsys,
                                                               monkeypatch) -> None:
        # The in-process runs keep every main-process thread whatever the load (the killed run beside the
        # reference would otherwise leave it 1 of 2 CPUs): across thread counts BLAS agrees to round-off only, and
        # this test asks for bit-identical figures. The killed run dies before its main-process phases.
        monkeypatch.setattr(cpu_load, "idle_cpus", lambda sample_s=0.1: None)
        interrupted, uninterrupted = tmp_path / "interrupted", tmp_path / "uninterrupted"
        open_cache(small_cache)  # build the shared embedding store once, before two runs open it at the same time
        log_path = tmp_path / "killed_run.log"
        with log_path.open("w") as log_file:
            killed = subprocess.Popen([sys.executable, "-m", "benchmarks.run", *_argv(small_cache, interrupted)],
                                      cwd=REPO, env=_environment(), stdout=subprocess.DEVNULL, stderr=log_file)
        # The MLP is the first Lightning prober: its first fold file appears while its next fold trains.
        outcome: dict = {}
        killer = threading.Thread(target=_kill_when, args=(killed, interrupted / "predictions/mlp/fold0.npz", outcome))
        killer.start()
        try:  # the uninterrupted reference runs meanwhile, in this process
            assert main(_argv(small_cache, uninterrupted)) == 0
        finally:
            killer.join()
        assert outcome.get("returncode") == -signal.SIGKILL, (outcome, log_path.read_text()[-3000:])
        assert not (interrupted / "audit.json").exists()
        capsys.readouterr()

        assert main(_argv(small_cache, interrupted)) == 0  # the same command again
        log = capsys.readouterr().err
        # The trained probers' folds run first, in worker processes (killed with the run): the first is read back,
        # the killed one refitted.
        assert re.search(r"trained probers \(.*\): [0-3] folds fitted, [1-4] resumed", log), log
        assert "mlp: 0 folds fitted" not in log  # the killed fold is refitted ...
        resumed_audit = json.loads((interrupted / "audit.json").read_text())
        assert 0 in resumed_audit["mlp_probing"]["mlp"]["prediction_files"]["resumed_folds"]  # ... the first read back
        reference_audit = json.loads((uninterrupted / "audit.json").read_text())
        resumed_view, reference_view = (comparable(resumed_audit, interrupted),
                                        comparable(reference_audit, uninterrupted))
        assert resumed_view == reference_view, differences(resumed_view, reference_view)


PROBING_ONLY = ["--sections", "probing", "--probes", "ridge", "--permutations", "5", "--bootstrap", "20"]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> tuple[Path, Path]:
    """``(cache, out)`` of one finished probing-only run, shared by the refusal tests (which change nothing)."""
    root = tmp_path_factory.mktemp("finished")
    cache = generate_synthetic_cache(root / "cache", SMALL_SPEC, seed=0)
    assert main(["--cache", str(cache), "--out", str(root / "out"), *PROBING_ONLY]) == 0
    return cache, root / "out"


class TestConfigurationGuard:
    """A changed setting in the same ``--out`` is refused (exit 2, the setting named) unless ``--force``."""

    @pytest.mark.parametrize(("change", "setting"), [
        (["--bootstrap", "21"], "n_bootstrap"),
        (["--seed", "1"], "seed"),
        (["--epochs-scale", "0.5"], "epochs_scale"),
        (["--permutations", "6"], "n_permutations"),
        (["--quality-prober", "ridge"], "quality_prober"),
    ])
    def test_changed_setting_is_refused(self, finished_run, capsys, change, setting) -> None:
        cache, out = finished_run
        config_before = (out / "run_config.json").read_text()
        capsys.readouterr()
        assert main(["--cache", str(cache), "--out", str(out), *PROBING_ONLY, *change]) == 2
        error = capsys.readouterr().err
        assert f"{out}: holds results of another configuration (changed: {setting}); " in error
        assert "--force" in error and "Traceback" not in error
        assert (out / "run_config.json").read_text() == config_before  # nothing discarded or overwritten
        assert (out / "predictions" / "ridge" / "fold0.npz").is_file()

    def test_force_discards_and_reruns(self, finished_run, tmp_path, capsys) -> None:
        cache, finished = finished_run
        out = tmp_path / "out"
        shutil.copytree(finished, out)
        capsys.readouterr()
        assert main(["--cache", str(cache), "--out", str(out), *PROBING_ONLY, "--seed", "1", "--force"]) == 0
        assert "ridge: 4 folds fitted, 0 resumed" in capsys.readouterr().err
        assert json.loads((out / "run_config.json").read_text())["config"]["seed"] == 1
        assert json.loads((out / "audit.json").read_text())["run"]["seed"] == 1


class TestEditedInput:
    def test_input_edited_in_place_is_recomputed_not_resumed(self, small_cache, tmp_path, capsys) -> None:
        argv = ["--cache", str(small_cache), "--out", str(tmp_path / "out"), *PROBING_ONLY]
        assert main(argv) == 0
        before = json.loads((tmp_path / "out" / "audit.json").read_text())["ridge_probing"]["ridge"]
        nulls_before = sorted((tmp_path / "out" / "predictions" / "ridge").glob("permutation_null_*.npy"))
        labels_path = small_cache / "labels.json"
        labels = json.loads(labels_path.read_text())
        labels = {key: [1.0 - value for value in row[:19]] + row[19:] for key, row in labels.items()}
        labels_path.write_text(json.dumps(labels))  # same path and settings, other content
        capsys.readouterr()

        assert main(argv) == 0
        log = capsys.readouterr().err
        assert "ridge: 4 folds fitted, 0 resumed" in log
        assert "resumed from" not in log  # no stored section computed from the old labels is reused
        after = json.loads((tmp_path / "out" / "audit.json").read_text())["ridge_probing"]["ridge"]
        assert after["r2_pooled"] != before["r2_pooled"]
        nulls_after = sorted((tmp_path / "out" / "predictions" / "ridge").glob("permutation_null_*.npy"))
        assert len(nulls_after) == len(nulls_before) + 1  # a new null for the new labels, not the stored one
