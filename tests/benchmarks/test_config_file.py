"""Run configuration files: ``--print-config`` fed back with ``--config``, flags over the file, unknown keys refused,
prober hyper-parameters and class-path plugins reaching the fits."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from benchmarks.config import RunConfig
from benchmarks.config_file import ConfigFileError, config_to_yaml, load_config_file
from benchmarks.orchestration.probing import prober_kwargs
from benchmarks.run import build_parser, main, resolve_config
from datamodules.synthetic import SyntheticSpec, generate_synthetic_cache
from probes import registry

PLUGIN = "tests.example_plugin.pb_example_plugin:NearestNeighboursProber"


def _resolve(argv: list[str]) -> RunConfig:
    return resolve_config(build_parser().parse_args(argv))


def _write(path: Path, document: dict) -> Path:
    path.write_text(yaml.safe_dump(document))
    return path


@pytest.fixture
def fresh_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Class-path probers registered by a test stay in that test."""
    monkeypatch.setattr(registry, "_REGISTERED", {})


class TestPrintConfig:
    @pytest.mark.parametrize("argv", [
        [],
        ["--probes", "ridge,attention", "--seed", "3", "--clip", "off", "--layer-sweep", "9-12", "weighted",
         "--permutations", "50", "--layers", "5", "--cache", "some/cache", "--epochs-scale", "0.5"],
    ])
    def test_printed_config_read_back_gives_the_same_fingerprint(self, argv, tmp_path, capsys) -> None:
        assert main([*argv, "--print-config"]) == 0
        path = tmp_path / "run.yaml"
        path.write_text(capsys.readouterr().out)
        direct, read_back = _resolve(argv), _resolve(["--config", str(path)])
        assert read_back.fingerprint() == direct.fingerprint()
        assert read_back.to_dict() == direct.to_dict()

    def test_prober_params_and_plugins_round_trip(self, tmp_path, fresh_registry) -> None:
        config = RunConfig(probes=("ridge", "example_knn"), prober_params={"ridge": {"alpha": 10.0},
                           "example_knn": {"n_neighbors": 3}}, prober_plugins={"example_knn": PLUGIN})
        path = tmp_path / "run.yaml"
        path.write_text(config_to_yaml(config))
        document = yaml.safe_load(path.read_text())
        assert document["probers"] == [{"name": "ridge", "init_args": {"alpha": 10.0}},
                                       {"class_path": PLUGIN, "init_args": {"n_neighbors": 3}}]
        assert _resolve(["--config", str(path)]).fingerprint() == config.fingerprint()


class TestLoadConfigFile:
    def test_flags_override_the_file(self, tmp_path) -> None:
        path = _write(tmp_path / "run.yaml", {"run": {"seed": 5, "out": "runs/x"}, "statistics": {"n_bootstrap": 20}})
        config = _resolve(["--config", str(path), "--seed", "7"])
        assert (config.seed, config.out, config.n_bootstrap, config.n_permutations) == (7, Path("runs/x"), 20, 1000)

    def test_a_probes_flag_drops_the_files_params_of_probers_it_leaves_out(self, tmp_path) -> None:
        path = _write(tmp_path / "run.yaml", {"probers": [{"name": "ridge", "init_args": {"alpha": 3.0}},
                                                          {"name": "mlp", "init_args": {"hidden_dim": 8}}]})
        config = _resolve(["--config", str(path), "--probes", "mlp"])
        assert config.probes == ("mlp",) and config.prober_params == {"mlp": {"hidden_dim": 8}}

    @pytest.mark.parametrize("document, match", [
        ({"runs": {}}, r"unknown sections \['runs'\]"),
        ({"statistics": {"n_bootstraps": 5}}, r"unknown keys \['statistics.n_bootstraps'\]"),
        ({"statistics": {"n_bootstrap": "many"}}, r"statistics.n_bootstrap must be int, got 'many'"),
        ({"run": {"seed": True}}, r"run.seed must be int, got True"),
        ({"data": {"cache": 3}}, r"data.cache must be a path string or null"),
        ({"probers": "ridge"}, r"'probers' must be a list"),
        ({"probers": [{"name": "ridge", "args": {}}]}, r"unknown keys \['probers\[0\].args'\]"),
        ({"probers": ["ridge", "ridge"]}, r"probers\[1\]: prober 'ridge' is listed twice"),
        ({"probers": [{"class_path": "no_such_module:Prober"}]}, r"probers\[0\].class_path: .*cannot import"),
        ({"probers": [{"init_args": {"alpha": 1.0}}]}, r"probers\[0\] needs a 'name'"),
    ])
    def test_bad_files_name_the_file_and_key(self, tmp_path, document, match) -> None:
        path = _write(tmp_path / "bad.yaml", document)
        with pytest.raises(ConfigFileError, match=match) as raised:
            load_config_file(path)
        assert str(path) in str(raised.value)

    def test_not_yaml_and_missing(self, tmp_path) -> None:
        path = tmp_path / "bad.yaml"
        path.write_text("run: [unclosed\n")
        with pytest.raises(ConfigFileError, match="not valid YAML"):
            load_config_file(path)
        with pytest.raises(FileNotFoundError, match="missing.yaml: file not found"):
            load_config_file(tmp_path / "missing.yaml")

    def test_the_command_reports_a_bad_file_and_exits_2(self, tmp_path, capsys) -> None:
        path = _write(tmp_path / "bad.yaml", {"statistics": {"n_bootstraps": 5}})
        assert main(["--config", str(path), "--print-config"]) == 2
        assert "statistics.n_bootstraps" in capsys.readouterr().err


class TestProberParams:
    def test_params_reach_the_kwargs_and_the_epochs_scale_applies_on_top(self) -> None:
        config = RunConfig(probes=("mlp",), prober_params={"mlp": {"max_epochs": 10, "hidden_dim": 8}},
                           epochs_scale=0.5, accelerator="cpu")
        assert prober_kwargs("mlp", config) == {"max_epochs": 5, "hidden_dim": 8, "accelerator": "cpu"}

    def test_params_for_a_prober_not_run_or_a_seed_are_refused(self) -> None:
        with pytest.raises(ValueError, match="prober 'mlp', which is not among the run's probers"):
            RunConfig(probes=("ridge",), prober_params={"mlp": {"hidden_dim": 8}})
        with pytest.raises(ValueError, match="sets 'seed'"):
            RunConfig(probes=("ridge",), prober_params={"ridge": {"seed": 1}})

    def test_an_unknown_hyper_parameter_stops_the_run_naming_it(self, tmp_path, capsys) -> None:
        path = _write(tmp_path / "run.yaml", {"probers": [{"name": "ridge", "init_args": {"alpah": 1.0}}]})
        assert main(["--config", str(path), "--out", str(tmp_path / "out"), "--sections", "labels"]) == 2
        error = capsys.readouterr().err
        assert "prober 'ridge': unknown hyper-parameters ['alpah']; it takes ['alpha', 'fit_intercept']" in error
        assert not (tmp_path / "out").exists()

    def test_file_params_and_a_class_path_prober_are_fitted(self, tmp_path, fresh_registry) -> None:
        cache = generate_synthetic_cache(tmp_path / "cache", SyntheticSpec(n_segments=96, dim=8), seed=0)
        path = _write(tmp_path / "run.yaml", {
            "run": {"out": str(tmp_path / "out"), "sections": ["probing"]},
            "data": {"cache": str(cache)},
            "probers": [{"name": "ridge", "init_args": {"alpha": 10.0}},
                        {"class_path": PLUGIN, "init_args": {"n_neighbors": 3}}],
            "statistics": {"n_permutations": 9, "n_bootstrap": 10},
        })
        assert main(["--config", str(path)]) == 0
        predictions = tmp_path / "out" / "predictions"
        assert (json.loads((predictions / "ridge" / "config.json").read_text())["params"]
                == {"alpha": 10.0, "fit_intercept": True})
        assert json.loads((predictions / "example_knn" / "config.json").read_text())["params"] == {"n_neighbors": 3}
        audit = json.loads((tmp_path / "out" / "audit.json").read_text())
        assert audit["run"]["config"]["prober_plugins"] == {"example_knn": PLUGIN}
