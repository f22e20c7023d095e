"""``python -m benchmarks.run`` end to end on a small synthetic cache: every section, every output."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import r2_score
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from benchmarks.orchestration.fold_files import load_out_of_fold
from benchmarks.orchestration.suite import ORIGINAL_KEYS
from benchmarks.run import build_parser, main, resolve_config
from datamodules.cache import open_cache
from datamodules.dimensions import DIMENSIONS
from datamodules.synthetic import SyntheticSpec, generate_synthetic_cache

SMALL = ["--probes", "ridge,ridge_tuned,mlp,factor,factor_leaky", "--epochs-scale", "0.05", "--permutations", "99",
         "--bootstrap", "50", "--parallel-simulations", "50", "--stability-resamples", "5"]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, Path]:
    root = tmp_path_factory.mktemp("run")
    cache = generate_synthetic_cache(root / "cache", SyntheticSpec(n_segments=192, dim=16), seed=0)
    out = root / "out"
    assert main(["--cache", str(cache), "--out", str(out), *SMALL]) == 0
    return out, json.loads((out / "audit.json").read_text()), cache


class TestRunCommand:
    def test_audit_keeps_the_original_keys_in_order(self, run: tuple) -> None:
        _, audit, _ = run
        expected = [key for key in ORIGINAL_KEYS if key != "attention_probing"]  # no attention prober in SMALL
        assert [key for key in audit if key in ORIGINAL_KEYS] == expected
        for key in ("factor_retention", "efa", "factor_stability", "reliability", "fold_integrity",
                    "probing_comparison"):
            assert key in audit

    def test_the_original_notebooks_keys_are_kept_where_they_mean_the_same(self, run: tuple) -> None:
        _, audit, _ = run
        correlation, pca = audit["correlation"], audit["pca"]
        assert (correlation["n_high_corr"], correlation["severe_vif_count"]) == (correlation["n_strong_pairs"],
                                                                                 correlation["n_high_vif"])
        assert (pca["n_90_variance"], pca["n_95_variance"]) == (pca["n_components_90"], pca["n_components_95"])
        assert set(audit["distributions"]["dim_stats"][DIMENSIONS[0]]) == {"var", "skew", "floor_pct", "ceil_pct"}
        assert audit["cca"]["n_significant"] == audit["cca"]["n_above_threshold_in_sample"]
        ridge, mlp = audit["ridge_probing"], audit["mlp_probing"]
        assert (ridge[DIMENSIONS[0]]["r2"] == ridge["ridge"]["r2_pooled"][0]
                and len(ridge[DIMENSIONS[0]]["fold_r2"]) == 4)
        assert mlp[DIMENSIONS[3]]["delta_vs_ridge"] == pytest.approx(mlp["mlp"]["r2_pooled"][3]
                                                                     - ridge["ridge"]["r2_pooled"][3])

    def test_run_block_has_provenance(self, run: tuple) -> None:
        _, audit, cache = run
        block = audit["run"]
        assert block["seed"] == 0 and block["versions"]["torch"].startswith("2.13")
        assert block["inputs"]["labels"]["sha256"] and block["inputs"]["ratings"]["path"].endswith("total_2rounds.csv")
        assert (block["command"][:3] == ["python", "-m", "benchmarks.run"]
                or block["command"][1:3] == ["-m", "benchmarks.run"])
        assert block["alignment"]["n_labelled"] == len(json.loads((cache / "labels.json").read_text()))
        assert block["timings_s"]["total"] > 0

    def test_standardisation_is_stated_and_the_descriptor_baseline_skipped_with_its_reason(self, run: tuple) -> None:
        out, audit, _ = run
        block = audit["run"]["standardization"]
        assert block["clip"] == 5.0 and len(block["stats"]["clipped"]) == len(block["frames"]["constant"]) == 4
        skipped = audit["probing_comparison"]["baselines"]["descriptors"]["skipped"]
        assert "declares no segment descriptors" in skipped
        report = (out / "report.md").read_text()
        assert "values are clipped to +-5 training standard deviations" in report
        assert f"Descriptor baseline: {skipped}." in report

    def test_downstream_counts_filled(self, run: tuple) -> None:
        _, audit, _ = run
        stop = audit["stop_prediction"]
        assert stop["n_segments"] == stop["n_stop"] + stop["n_continue"] > 0
        assert set(stop) >= {"results", "baseline_auc", "n_segments", "n_stop", "n_continue"}
        assert set(audit["competition_validation"]) >= {"overall_rho", "overall_pval", "per_dimension", "n_recordings"}

    def test_report_answers_every_section(self, run: tuple) -> None:
        out, _, _ = run
        report = (out / "report.md").read_text()
        for title in ("1. Correlation", "2. How many factors", "4. Rater reliability", "5. Probing", "6. Residuals",
                      "7. Canonical", "8. Teacher STOP", "10. Competition"):
            assert f"## {title}" in report
        assert (out / "report.html").is_file()

    def test_report_states_each_permutation_p_value(self, run: tuple) -> None:
        out, audit, _ = run
        report = (out / "report.md").read_text()
        probing = report[report.index("## 5. Probing") : report.index("## 6. Residuals")]
        ridge_tuned = audit["probing_comparison"]["probers"]["ridge_tuned"]
        rows = [line for line in probing.splitlines() if line.startswith("| pedal_amount |")]
        assert "Permutation p-values, raw / BH-adjusted" in probing and len(rows) == 2  # R2 table, then p-value table
        assert f"{ridge_tuned['pvalue'][3]:.4f} / {ridge_tuned['pvalue_bh'][3]:.4f}" in rows[1]
        assert {path.name for path in (out / "figures").glob("*.png")} >= {
            "correlation_heatmap.png", "scree_parallel_analysis.png", "reliability.png", "probe_r2_by_prober.png"}

    def test_tensorboard_holds_prober_curves_and_audit_figures(self, run: tuple) -> None:
        out, _, _ = run
        fold_run = EventAccumulator(str(out / "tensorboard" / "mlp" / "fold0")).Reload()
        assert any(tag.startswith("train/") for tag in fold_run.Tags()["scalars"])
        audit_run = EventAccumulator(str(out / "tensorboard" / "audit" / "post_fit")).Reload()
        assert "audit/correlation_heatmap" in audit_run.Tags()["images"]

    def test_second_run_resumes_everything(self, run: tuple, capsys: pytest.CaptureFixture) -> None:
        out, audit, cache = run
        assert main(["--cache", str(cache), "--out", str(out), *SMALL]) == 0
        assert "resumed" in capsys.readouterr().err
        again = json.loads((out / "audit.json").read_text())
        assert {k: v for k, v in again.items() if k != "run"} == {k: v for k, v in audit.items() if k != "run"}

    def test_changed_configuration_is_refused(self, run: tuple, capsys: pytest.CaptureFixture) -> None:
        out, _, cache = run
        assert main(["--cache", str(cache), "--out", str(out), *SMALL[:-1], "6"]) == 2
        assert "changed: n_stability" in capsys.readouterr().err


def test_prober_seeds_score_the_seed_ensemble(run: tuple, tmp_path: Path) -> None:
    """Two seeds of mlp: its statistics are those of the mean prediction; each seed's R2 is reported; ridge has none."""
    _, _, cache = run
    out = tmp_path / "seeds"
    arguments = ["--cache", str(cache), "--out", str(out), "--sections", "probing", "--probes", "ridge,mlp",
                 "--prober-seeds", "2", "--epochs-scale", "0.05", "--permutations", "19", "--bootstrap", "20"]
    assert main(arguments) == 0
    audit = json.loads((out / "audit.json").read_text())
    probers = audit["probing_comparison"]["probers"]
    seed_files = [load_out_of_fold(out / "predictions" / "mlp"),
                  load_out_of_fold(out / "seeds" / "seed1" / "predictions" / "mlp")]
    labels = open_cache(cache).labels
    rows = seed_files[0]["fold_of_row"] >= 0
    per_seed = [r2_score(labels[rows], files["predictions"][rows], multioutput="raw_values") for files in seed_files]
    ensemble = r2_score(labels[rows], (seed_files[0]["predictions"] + seed_files[1]["predictions"])[rows] / 2,
                        multioutput="raw_values")
    np.testing.assert_allclose(probers["mlp"]["r2_pooled"], ensemble, atol=1e-6)
    assert probers["mlp"]["seed_runs"]["seeds"] == [0, 1]
    np.testing.assert_allclose(probers["mlp"]["seed_runs"]["r2_pooled"], per_seed, atol=1e-6)
    assert not np.allclose(per_seed[0], per_seed[1]) and "seed_runs" not in probers["ridge"]
    assert "Seeds: these probers were run with several seeds" in (out / "report.md").read_text()


@pytest.mark.parametrize(("option", "value", "message"), [
    ("--prober-seeds", "0", "prober_seeds must be >= 1, got 0"),
    ("--epochs-scale", "0", "epochs_scale must be > 0, got 0.0"),
    ("--permutations", "-1", "n_permutations must be >= 0, got -1"),
    ("--resident-mb", "-1", "resident_mb must be a non-negative integer (MiB), got -1"),
])
def test_bad_settings_exit_2_with_one_message(tmp_path: Path, capsys, option: str, value: str, message: str) -> None:
    assert main(["--out", str(tmp_path / "out"), option, value]) == 2
    assert capsys.readouterr().err.strip() == f"error: {message}"


def test_resident_budget_reaches_the_data_modules_and_not_the_fingerprint() -> None:
    """How much of the frames is kept in memory changes no batch, so results are reused across budgets."""
    default, kept_out = resolve_config(build_parser().parse_args([])), resolve_config(
        build_parser().parse_args(["--resident-mb", "0"]))
    assert default.datamodule_kwargs()["resident_bytes"] == 256 * 2**20
    assert kept_out.datamodule_kwargs() == {"clip": default.clip, "resident_bytes": 0}
    assert kept_out.fingerprint() == default.fingerprint()


@pytest.mark.parametrize(("value", "expected"), [("off", None), ("None", None), ("3", 3.0), ("2.5", 2.5)])
def test_clip_option(value: str, expected: float | None) -> None:
    assert build_parser().parse_args(["--clip", value]).clip == expected


@pytest.mark.parametrize("value", ["0", "-1", "inf", "five"])
def test_bad_clip_exits_2(value: str, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["--clip", value])
    assert exit_info.value.code == 2 and "--clip: " in capsys.readouterr().err


def test_help_parses_without_importing_torch_or_lightning() -> None:
    """``--help`` answers at once: the heavy modules load only after the arguments parse."""
    import subprocess
    import sys

    code = ("import sys, benchmarks.run as run\n"
            "try:\n    run.main(['--help'])\nexcept SystemExit:\n    pass\n"
            "print(sorted(name for name in ('torch', 'lightning') if name in sys.modules))")
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                               cwd=Path(__file__).resolve().parents[2])
    assert completed.stdout.strip().splitlines()[-1] == "[]"
