"""benchmarks/ablation.py on a small synthetic cache: the Ridge rows, their resumable fold files, the table."""

from __future__ import annotations

import numpy as np
import pytest

from analyses.probe_metrics import probe_scores
from benchmarks.ablation import configuration_name, markdown, run_ablation
from benchmarks.orchestration.cross_validation import cross_validate
from datamodules.cache import open_cache
from datamodules.synthetic import SyntheticSpec, generate_synthetic_cache


@pytest.mark.filterwarnings("ignore:ridge_tuned")
def test_quick_ablation_rows_resume_and_render(tmp_path) -> None:
    cache_dir = generate_synthetic_cache(tmp_path / "cache", SyntheticSpec(n_segments=96, dim=8), seed=0)
    rows = run_ablation({"invariant": cache_dir}, quick=True, out=tmp_path / "out")
    assert [(row["clip"], row["prober"]) for row in rows] == [(None, "ridge_tuned"), (5.0, "ridge_tuned")]
    cache = open_cache(cache_dir)
    direct = probe_scores(*cross_validate("ridge_tuned", cache, None, datamodule_kwargs={"clip": 5.0})
                          .scored(cache.labels)).r2_pooled
    np.testing.assert_allclose(rows[1]["r2_pooled"], direct)
    assert (tmp_path / "out" / configuration_name("invariant", 5.0, "ridge_tuned", {}) / "predictions").is_dir()
    again = run_ablation({"invariant": cache_dir}, quick=True, out=tmp_path / "out")
    assert again[1]["resumed_folds"] == [0, 1, 2, 3] and again[1]["r2_pooled"] == rows[1]["r2_pooled"]
    text = markdown(rows)
    assert text.splitlines()[2].startswith("| invariant (D=8) | off | ridge_tuned | ")
