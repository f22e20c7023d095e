"""external_loader: segments of another store predicted exactly as the fold's own rows."""

from __future__ import annotations

import numpy as np
import pytest

from datamodules.fold_datamodule import FoldDataModule
from probes.attention import AttentionPoolingProber
from probes.external import external_loader
from probes.ridge import RidgeProber


class TestExternalLoader:
    @pytest.mark.parametrize("view", ["stats", "frames"])
    def test_same_store_rows_give_the_fold_predictions(self, linear_cache, view: str) -> None:
        datamodule = FoldDataModule(linear_cache, fold=1, view=view, batch_size=8)
        prober = RidgeProber() if view == "stats" else AttentionPoolingProber(hidden_dim=4, max_epochs=1, batch_size=8,
                                                                              accelerator="cpu")
        prober.fit(datamodule)
        expected, rows = prober.predict(datamodule.predict_dataloader())
        store_rows = linear_cache.store_rows[rows]
        predictions, returned = prober.predict(external_loader(datamodule, linear_cache.store, store_rows[::-1]))
        order = {row: position for position, row in enumerate(returned.tolist())}
        np.testing.assert_allclose(predictions[[order[row] for row in store_rows]], expected, rtol=1e-6, atol=1e-7)

    def test_targets_are_unknown(self, linear_cache) -> None:
        datamodule = FoldDataModule(linear_cache, fold=0)
        _, targets, rows = next(iter(external_loader(datamodule, linear_cache.store, batch_size=4)))
        assert targets.shape == (4, 19) and targets.isnan().all() and rows.tolist() == [0, 1, 2, 3]

    def test_rows_out_of_range(self, linear_cache) -> None:
        with pytest.raises(ValueError, match=r"store_rows must lie in \[0, 47\], got min 0 max 48"):
            external_loader(FoldDataModule(linear_cache, fold=0), linear_cache.store, np.array([0, 48]))
