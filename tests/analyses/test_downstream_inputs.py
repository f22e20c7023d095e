"""The downstream quality prober is fitted with the run's prober settings: epochs scale, accelerator and seeds."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from analyses.callbacks import downstream_inputs
from analyses.context import AuditContext
from tests.probes.conftest import build_cache, linear_frames


def test_quality_scores_use_the_runs_epochs_accelerator_and_seeds(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "cache").mkdir()
    cache = build_cache(tmp_path / "cache", linear_frames)
    calls = []

    def recording(prober, cache_, store, keys, seed=0, **kwargs):
        calls.append({"prober": prober, "seed": seed, **kwargs})
        return np.full((len(keys), 19), float(seed)), np.ones(len(keys), dtype=bool)

    monkeypatch.setattr(downstream_inputs, "predict_keys", recording)
    context = AuditContext(cache=cache, out_dir=tmp_path / "out", seed=3, fingerprint="f",
                           settings={"quality_prober": "mlp", "epochs_scale": 0.5, "accelerator": "cpu",
                                     "prober_seeds": 2, "clip": 4.0},
                           inputs={"masterclass_embeddings": tmp_path / "cache" / "store"})  # fmt: skip
    quality, found, source = downstream_inputs.quality_scores(context, list(cache.keys[:5]), "masterclass_embeddings")
    assert [call["seed"] for call in calls] == [3, 4]
    assert all(call["max_epochs"] == 40 and call["accelerator"] == "cpu" for call in calls)  # mlp: 80 epochs x 0.5
    assert all(call["datamodule_kwargs"] == {"clip": 4.0} for call in calls)
    np.testing.assert_allclose(quality, 3.5)  # the two seeds' predictions averaged
    assert found.all() and "with each of 2 seeds" in source
