"""``percepiano-bench COMMAND``: the console script dispatches to each entry point's ``main``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from benchmarks import cli

REPOSITORY = Path(__file__).resolve().parents[2]


def test_help_lists_every_command(capsys) -> None:
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    assert all(f"  {name} " in out for name in cli.COMMANDS)


def test_no_command_or_an_unknown_one_exits_2(capsys) -> None:
    assert cli.main([]) == 2
    assert cli.main(["rnu"]) == 2
    assert "unknown command 'rnu'" in capsys.readouterr().err


def test_run_dispatches_with_its_arguments(capsys) -> None:
    assert cli.main(["run", "--seed", "4", "--print-config"]) == 0
    assert yaml.safe_load(capsys.readouterr().out)["run"]["seed"] == 4


@pytest.mark.parametrize("command", sorted(cli.COMMANDS))
def test_every_command_module_has_a_main(command: str) -> None:
    import importlib

    assert callable(importlib.import_module(cli.COMMANDS[command][0]).main)


def test_run_help_through_the_script_loads_no_torch() -> None:
    code = ("import sys\nfrom benchmarks import cli\n"
            "try:\n    cli.main(['run', '--help'])\nexcept SystemExit:\n    pass\n"
            "print(sorted(name for name in ('torch', 'lightning') if name in sys.modules))")
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                               cwd=REPOSITORY)
    assert completed.stdout.strip().splitlines()[-1] == "[]"
