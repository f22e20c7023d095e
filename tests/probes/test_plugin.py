"""The real example plugin in ``tests/example_plugin``, discovered through its entry point without installing it.

The test writes the dist-info that ``pip install`` would write (``METADATA`` and ``entry_points.txt``, the latter
generated from the plugin's own ``pyproject.toml``) into ``tmp_path`` and puts ``tmp_path`` and the plugin's source
directory on ``sys.path`` (``PYTHONPATH`` for the subprocess).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest

from benchmarks.orchestration.cross_validation import cross_validate
from probes.registry import ENTRY_POINT_GROUP, available_probers, get_prober, prober_sources

REPOSITORY = Path(__file__).resolve().parents[2]
PLUGIN_SOURCE = REPOSITORY / "tests" / "example_plugin"


def write_dist_info(site: Path) -> Path:
    """Write ``pb_example_plugin-0.1.dist-info`` under ``site`` from the plugin's ``pyproject.toml``."""
    project = tomllib.loads((PLUGIN_SOURCE / "pyproject.toml").read_text())["project"]
    dist_info = site / f"{project['name']}-{project['version']}.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {project['name']}\n"
                                        f"Version: {project['version']}\n")
    lines = [f"[{group}]" + "".join(f"\n{name} = {value}" for name, value in entries.items())
             for group, entries in project["entry-points"].items()]
    (dist_info / "entry_points.txt").write_text("\n\n".join(lines) + "\n")
    return dist_info


@pytest.fixture
def installed_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    site = tmp_path / "site"
    write_dist_info(site)
    monkeypatch.syspath_prepend(str(PLUGIN_SOURCE))
    monkeypatch.syspath_prepend(str(site))
    yield site
    sys.modules.pop("pb_example_plugin", None)


class TestExamplePlugin:
    def test_pyproject_declares_the_entry_point(self) -> None:
        project = tomllib.loads((PLUGIN_SOURCE / "pyproject.toml").read_text())["project"]
        assert (project["entry-points"][ENTRY_POINT_GROUP]
                == {"example_knn": "pb_example_plugin:NearestNeighboursProber"})

    def test_not_found_without_the_dist_info(self) -> None:
        assert "example_knn" not in available_probers()

    def test_discovered_and_usable(self, installed_plugin: Path, linear_cache, tmp_path: Path) -> None:
        probers = available_probers()
        assert "example_knn" in probers and probers["example_knn"].view == "stats"
        assert "of distribution pb_example_plugin 0.1" in prober_sources()["example_knn"][1]
        assert get_prober("example_knn", n_neighbors=3).get_params() == {"n_neighbors": 3}
        result = cross_validate("example_knn", linear_cache, tmp_path / "out", n_neighbors=3)
        assert np.isfinite(result.predictions).all() and result.prober == "example_knn"
        assert (tmp_path / "out" / "predictions" / "example_knn" / "oof.csv").is_file()

    def test_cli_runs_the_plugin(self, installed_plugin: Path, linear_cache, tmp_path: Path) -> None:
        environment = {**os.environ, "PYTHONPATH": os.pathsep.join(
            [str(installed_plugin), str(PLUGIN_SOURCE), str(REPOSITORY), os.environ.get("PYTHONPATH", "")])}
        out = tmp_path / "run"
        command = [sys.executable, "-m", "benchmarks.run", "--cache", str(linear_cache.directory), "--out", str(out),
                   "--sections", "probing", "--probes", "example_knn", "--permutations", "0", "--bootstrap", "10"]
        completed = subprocess.run(command, cwd=REPOSITORY, env=environment, capture_output=True, text=True,
                                   timeout=300)
        assert completed.returncode == 0, completed.stderr[-2000:]
        assert (out / "predictions" / "example_knn" / "oof.csv").is_file()
        audit = json.loads((out / "audit.json").read_text())
        assert "example_knn" in audit["probing_comparison"]["probers"]
        assert "example_knn" in audit["example_knn_probing"]
