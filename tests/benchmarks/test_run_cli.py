"""``python -m benchmarks.run`` end to end on a small synthetic cache: every section, every output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from benchmarks.run import main
from benchmarks.suite import ORIGINAL_KEYS
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
        for key in ("factor_retention", "efa", "factor_stability", "reliability", "fold_integrity", "probing_comparison"):
            assert key in audit

    def test_run_block_has_provenance(self, run: tuple) -> None:
        _, audit, cache = run
        block = audit["run"]
        assert block["seed"] == 0 and block["versions"]["torch"].startswith("2.13")
        assert block["inputs"]["labels"]["sha256"] and block["inputs"]["ratings"]["path"].endswith("total_2rounds.csv")
        assert block["command"][:3] == ["python", "-m", "benchmarks.run"] or block["command"][1:3] == ["-m", "benchmarks.run"]
        assert block["alignment"]["n_labelled"] == len(json.loads((cache / "labels.json").read_text()))
        assert block["timings_s"]["total"] > 0

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
