"""On the synthetic default, the downstream sections recover the planted STOP and placement relationships."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.run import main
from datamodules.synthetic import SyntheticSpec, generate_synthetic_cache


@pytest.fixture(scope="module")
def audit(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("downstream")
    cache = generate_synthetic_cache(root / "cache", SyntheticSpec(), seed=0)
    out = root / "out"
    arguments = ["--cache", str(cache), "--out", str(out), "--sections", "downstream", "--probes", "ridge_tuned",
                 "--bootstrap", "200"]
    assert main(arguments) == 0
    audit = json.loads((Path(out) / "audit.json").read_text())
    audit["ground_truth"] = json.loads((Path(cache) / "ground_truth.json").read_text())
    return audit


class TestDownstreamRecovery:
    def test_predicted_quality_tracks_planted_placement(self, audit: dict) -> None:
        competition = audit["competition_validation"]
        planted = audit["ground_truth"]["competition"]["placement_dimensions"]
        assert competition["overall_rho"] < 0  # placement 1 = best: better placement, higher quality
        assert all(competition["per_dimension"][name]["rho"] < 0 for name in planted)
        assert min(competition["per_dimension"][name]["pval_bh"] for name in planted) < 0.05

    def test_stop_segments_are_told_apart_by_predicted_quality(self, audit: dict) -> None:
        results = audit["stop_prediction"]["results"]
        assert results["all_19_dims"]["ci_low"] > 0.5
        assert results["label_components"]["auc"] > 0.5

    def test_leaky_and_leak_free_variants_are_both_reported(self, audit: dict) -> None:
        results = audit["stop_prediction"]["results"]
        assert {"label_components", "label_components_leaky", "category_means", "top5_r2_dims",
                "bottom5_r2_dims"} <= set(results)
