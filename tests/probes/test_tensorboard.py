"""TensorBoard output of the probers, read back with tensorboard's EventAccumulator."""

from __future__ import annotations

from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData

from benchmarks.orchestration.cross_validation import cross_validate
from datamodules.fold_datamodule import FoldDataModule
from probes.mlp import MLPProber
from probes.ridge import RidgeProber
from probes.tensorboard import make_logger


def _read(run_dir: Path) -> EventAccumulator:
    accumulator = EventAccumulator(str(run_dir))
    accumulator.Reload()
    return accumulator


def _hparams(accumulator: EventAccumulator) -> tuple[set[str], set[str]]:
    """Hyper-parameter names and metric names of the last hparams session written."""
    content = accumulator.PluginTagToContent("hparams")
    session = HParamsPluginData.FromString(content["_hparams_/session_start_info"]).session_start_info
    experiment = HParamsPluginData.FromString(content["_hparams_/experiment"]).experiment
    return set(session.hparams), {info.name.tag for info in experiment.metric_infos}


class TestTensorBoardLogging:
    def test_lightning_prober_logs_curves_and_hparams(self, linear_cache, tmp_path) -> None:
        logger = make_logger(tmp_path / "tensorboard", "mlp", 0)
        MLPProber(hidden_dim=4, max_epochs=3, batch_size=8, accelerator="cpu").fit(
            FoldDataModule(linear_cache, fold=0, batch_size=8), logger=logger)
        run_dir = tmp_path / "tensorboard" / "mlp" / "fold0"
        accumulator = _read(run_dir)
        scalars = accumulator.Tags()["scalars"]
        for tag in ("train/loss", "val/loss", "train/mse", "val/r2"):
            assert tag in scalars
        assert len(accumulator.Scalars("train/loss")) == 3 and len(accumulator.Scalars("val/loss")) == 3
        names, metrics = _hparams(accumulator)
        assert {"learning_rate", "max_epochs", "seed", "hidden_dim"} <= names
        assert {"hparams/train_loss", "hparams/val_loss"} <= metrics
        final = accumulator.Scalars("hparams/train_loss")[-1].value
        assert final == pytest.approx(accumulator.Scalars("train/loss")[-1].value, rel=1e-6)
        assert (run_dir / "hparams.yaml").is_file()

    def test_ridge_logs_train_loss_and_hparams(self, linear_cache, tmp_path) -> None:
        logger = make_logger(tmp_path, "ridge", 1)
        RidgeProber(alpha=2.0).fit(FoldDataModule(linear_cache, fold=1), logger=logger)
        accumulator = _read(tmp_path / "ridge" / "fold1")
        assert "train/loss" in accumulator.Tags()["scalars"]
        names, metrics = _hparams(accumulator)
        assert names == {"alpha", "fit_intercept"} and metrics == {"hparams/train_loss"}

    @pytest.mark.filterwarnings("ignore:ridge_tuned")
    def test_cross_validate_writes_one_run_per_fold(self, linear_cache, tmp_path) -> None:
        cross_validate("ridge_tuned", linear_cache, tmp_path, logger_root=tmp_path / "tensorboard",
                       alphas=[0.1, 1.0, 10.0])
        runs = sorted(path.name for path in (tmp_path / "tensorboard" / "ridge_tuned").iterdir())
        assert runs == ["fold0", "fold1", "fold2"]
        names, _ = _hparams(_read(tmp_path / "tensorboard" / "ridge_tuned" / "fold2"))
        assert "alpha_median" in names
