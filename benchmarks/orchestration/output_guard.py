"""Refuse to mix configurations in one output directory unless forced."""

from __future__ import annotations

import shutil
from pathlib import Path

from benchmarks.config import UNFINGERPRINTED, RunConfig
from datamodules.jsonio import read_json, write_json_atomic

CONFIG_FILE = "run_config.json"
RESULT_DIRS: tuple[str, ...] = ("sections", "predictions", "figures", "tensorboard")


class ConfigurationChangedError(RuntimeError):
    """The output directory holds results of another configuration."""


def claim_output_directory(config: RunConfig, force: bool) -> None:
    """Create ``config.out`` or check that its stored configuration matches ``config``.

    With ``force``, results of a different configuration are deleted first (the cache and stores are kept).

    Raises
    ------
    ConfigurationChangedError
        If ``config.out`` holds a run with another fingerprint and ``force`` is False; the message lists the
        settings that differ.
    """
    out = Path(config.out)
    stored_path = out / CONFIG_FILE
    if stored_path.is_file():
        stored = read_json(stored_path)
        if stored.get("fingerprint") != config.fingerprint():
            if not force:
                changed = _differences(stored.get("config", {}), config.to_dict())
                raise ConfigurationChangedError(
                    f"{out}: holds results of another configuration (changed: {', '.join(changed) or 'unknown'}); "
                    "choose another --out, or pass --force to discard them"
                )
            for name in RESULT_DIRS:
                shutil.rmtree(out / name, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(stored_path, {"fingerprint": config.fingerprint(), "config": config.to_dict()})


def _differences(old: dict, new: dict) -> list[str]:
    ignored = set(UNFINGERPRINTED)
    return sorted(key for key in set(old) | set(new) if key not in ignored and old.get(key) != new.get(key))
