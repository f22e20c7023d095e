"""``--layers`` and ``--layer-sweep`` end to end on a planted three-layer cache: the audible layer is found, the
selection is in every protocol line and the fingerprint, and a re-run refits nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.run import main
from tests.probes.test_layer_weights import planted_layers_cache

RUN = ["--sections", "probing", "--probes", "ridge_tuned", "--permutations", "0", "--bootstrap", "50",
       "--accelerator", "cpu"]


@pytest.fixture(scope="module")
def layered_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three layers of one width; only layer 1 carries labels 0-5 (store default: layer 2)."""
    return planted_layers_cache(tmp_path_factory.mktemp("layered")).directory


def test_the_sweep_finds_the_planted_layer_and_resumes(layered_cache: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    assert main(["--cache", str(layered_cache), "--out", str(out), *RUN, "--layer-sweep", "0-1"]) == 0
    audit = json.loads((out / "audit.json").read_text())
    sweep = audit["layer_sweep"]["probers"]["ridge_tuned"]
    assert sweep["layers"] == ["0", "1", "2", "0-1"]
    mean_r2 = dict(zip(sweep["layers"], sweep["mean_r2"], strict=True))
    assert max(mean_r2, key=mean_r2.get) == "1" and mean_r2["1"] > mean_r2["0-1"] > mean_r2["0"]
    assert (out / "figures" / "layer_sweep_ridge_tuned.png").is_file()
    assert "frames: layer 2" in audit["probing_comparison"]["probers"]["ridge_tuned"]["protocol"]
    assert audit["run"]["embeddings"]["layers"]["selection"] == "2"
    assert "5e. Layer sweep" in (out / "report.md").read_text()
    capsys.readouterr()
    assert main(["--cache", str(layered_cache), "--out", str(out), *RUN, "--layer-sweep", "0-1"]) == 0
    rerun = capsys.readouterr().err
    assert "layer sweep 1 (layer 1): 0 folds fitted" in rerun and "layer sweep 0-1" in rerun
    assert json.loads((out / "audit.json").read_text())["layer_sweep"] == audit["layer_sweep"]


def test_another_layer_selection_is_another_configuration(layered_cache: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert main(["--cache", str(layered_cache), "--out", str(out), *RUN, "--layers", "1"]) == 0
    audit = json.loads((out / "audit.json").read_text())
    assert "frames: layer 1" in audit["probing_comparison"]["probers"]["ridge_tuned"]["protocol"]
    assert main(["--cache", str(layered_cache), "--out", str(out), *RUN, "--layers", "0"]) == 2  # refused


def test_a_bad_selection_names_the_layers(layered_cache: Path, tmp_path: Path, capsys) -> None:
    assert main(["--cache", str(layered_cache), "--out", str(tmp_path / "o"), *RUN, "--layers", "7"]) == 2
    assert "the store has layers ['0', '1', '2']" in capsys.readouterr().err
