"""The downstream quality prober is fitted with the run's prober settings: hyper-parameters, epochs scale,
accelerator and seeds; the callbacks only read what the downstream fits left."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from analyses.callbacks.downstream_inputs import quality_scores as callback_quality_scores
from analyses.context import AuditContext
from benchmarks.config import RunConfig
from benchmarks.orchestration import downstream
from tests.probes.conftest import build_cache, linear_frames


def test_quality_scores_use_the_runs_params_epochs_accelerator_and_seeds(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "cache").mkdir()
    cache = build_cache(tmp_path / "cache", linear_frames)
    calls = []

    def recording(prober, cache_, store, keys, seed=0, **kwargs):
        calls.append({"prober": prober, "seed": seed, **kwargs})
        return np.full((len(keys), 19), float(seed)), np.ones(len(keys), dtype=bool)

    monkeypatch.setattr(downstream, "predict_keys", recording)
    config = RunConfig(out=tmp_path / "out", seed=3, probes=("mlp",), quality_prober="mlp", epochs_scale=0.5,
                       accelerator="cpu", prober_seeds=2, clip=4.0, prober_params={"mlp": {"hidden_dim": 8}})
    context = AuditContext(cache=cache, out_dir=tmp_path / "out", seed=3, fingerprint="f", settings=config.to_dict(),
                           inputs={"masterclass_embeddings": tmp_path / "cache" / "store"})
    scores = downstream.quality_scores(context, config, list(cache.keys[:5]), "masterclass_embeddings")
    assert [call["seed"] for call in calls] == [3, 4]
    assert all(call["max_epochs"] == 40 and call["accelerator"] == "cpu" for call in calls)  # mlp: 80 epochs x 0.5
    assert all(call["hidden_dim"] == 8 for call in calls)
    assert all(call["datamodule_kwargs"] == {"clip": 4.0, "resident_bytes": 256 * 2**20} for call in calls)
    np.testing.assert_allclose(scores.quality, 3.5)  # the two seeds' predictions averaged
    assert scores.found.all() and "with each of 2 seeds" in scores.source


def test_the_callbacks_refuse_ids_the_downstream_fits_did_not_predict(tmp_path: Path) -> None:
    (tmp_path / "cache").mkdir()
    cache = build_cache(tmp_path / "cache", linear_frames)
    context = AuditContext(cache=cache, out_dir=tmp_path / "out", seed=0, fingerprint="f", settings={})
    with pytest.raises(RuntimeError, match="downstream fits"):
        callback_quality_scores(context, list(cache.keys[:5]), "masterclass_embeddings")
