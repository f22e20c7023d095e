"""Run configuration files: YAML sections to :class:`RunConfig` settings and back.

A file holds any of these sections (every key optional; ``python -m benchmarks.run --print-config`` writes them
all)::

    run:        {out, sections, seed, layer_sweep}
    data:       {cache, folds_file, ratings, moments, competition, masterclass_embeddings, competition_embeddings,
                 synthetic_scale, layers, clip}
    probers:    a list; each entry a registry name, ``{name: NAME, init_args: {...}}``, or
                ``{class_path: package.module:Class, init_args: {...}}`` for a prober class not installed as a plugin
    training:   {epochs_scale, prober_seeds}
    statistics: {n_permutations, n_bootstrap, n_parallel, n_stability}
    downstream: {quality_prober, quality_predictions}
    executor:   {accelerator, workers, threads, executor, ray_address}

``init_args`` are the prober's ``__init__`` keywords (as MARBLE's and LightningCLI's ``class_path``/``init_args``).
Unknown sections and keys are errors naming the file and the key. Command-line flags override the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from benchmarks.config import RunConfig

#: File section -> the :class:`RunConfig` settings it holds (``probers`` is a list, parsed on its own).
SECTIONS: dict[str, tuple[str, ...]] = {
    "run": ("out", "sections", "seed", "layer_sweep"),
    "data": ("cache", "folds_file", "ratings", "moments", "competition", "masterclass_embeddings",
             "competition_embeddings", "synthetic_scale", "layers", "clip"),
    "probers": ("probes", "prober_params", "prober_plugins"),
    "training": ("epochs_scale", "prober_seeds"),
    "statistics": ("n_permutations", "n_bootstrap", "n_parallel", "n_stability"),
    "downstream": ("quality_prober", "quality_predictions"),
    "executor": ("accelerator", "workers", "threads", "executor", "ray_address", "resident_mb"),
}
_PATHS = ("cache", "out", "folds_file", "ratings", "moments", "competition", "masterclass_embeddings",
          "competition_embeddings", "quality_predictions")
_TUPLES = ("sections", "layer_sweep")
_TYPES: dict[str, tuple[type, ...]] = {
    "seed": (int,), "prober_seeds": (int,), "n_permutations": (int,), "n_bootstrap": (int,), "n_parallel": (int,),
    "n_stability": (int,), "epochs_scale": (int, float), "clip": (int, float, type(None)), "layers": (str, int),
    "synthetic_scale": (str,), "quality_prober": (str,), "accelerator": (str,), "workers": (int, type(None)),
    "threads": (int, type(None)), "executor": (str,), "ray_address": (str, type(None)),
    "resident_mb": (int,),
}
_ENTRY_KEYS = ("name", "class_path", "init_args")


class ConfigFileError(ValueError):
    """A configuration file that cannot be read as a run configuration (the message names the file and key)."""


def load_config_file(path: Path) -> dict[str, Any]:
    """The :class:`RunConfig` settings a YAML configuration file sets (only those it names).

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ConfigFileError
        If the file is not YAML, a section or key is unknown, a value has the wrong type, or a prober entry is
        malformed (the message names the file and the key).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"--config {path}: file not found")
    try:
        document = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise ConfigFileError(f"{path}: not valid YAML ({error})") from None
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise ConfigFileError(f"{path}: expected a mapping of sections {sorted(SECTIONS)}, "
                              f"got {type(document).__name__}")
    unknown = sorted(set(document) - set(SECTIONS))
    if unknown:
        raise ConfigFileError(f"{path}: unknown sections {unknown}; expected some of {sorted(SECTIONS)}")
    settings: dict[str, Any] = {}
    for section, body in document.items():
        if section == "probers":
            settings.update(_parse_probers(path, body))
            continue
        if body is None:
            continue
        if not isinstance(body, dict):
            raise ConfigFileError(f"{path}: section {section!r} must be a mapping, got {type(body).__name__}")
        unknown = sorted(set(body) - set(SECTIONS[section]))
        if unknown:
            raise ConfigFileError(f"{path}: unknown keys {[f'{section}.{key}' for key in unknown]}; "
                                  f"{section!r} takes {list(SECTIONS[section])}")
        for key, value in body.items():
            settings[key] = _setting(path, f"{section}.{key}", key, value)
    return settings


def _setting(path: Path, where: str, key: str, value: Any) -> Any:
    if key in _PATHS:
        if value is not None and not isinstance(value, str):
            raise ConfigFileError(f"{path}: {where} must be a path string or null, got {value!r}")
        return None if value is None else Path(value)
    if key in _TUPLES:
        if value is None and key == "layer_sweep":
            return None
        if not isinstance(value, list) or not all(isinstance(item, (str, int)) for item in value):
            raise ConfigFileError(f"{path}: {where} must be a list of names, got {value!r}")
        return tuple(str(item) for item in value)
    expected = _TYPES[key]
    if not isinstance(value, expected) or (isinstance(value, bool) and bool not in expected):
        names = " or ".join("null" if kind is type(None) else kind.__name__ for kind in expected)
        raise ConfigFileError(f"{path}: {where} must be {names}, got {value!r}")
    return str(value) if key == "layers" else value


def _parse_probers(path: Path, body: Any) -> dict[str, Any]:
    """``probes``, ``prober_params`` and ``prober_plugins`` from the ``probers`` list."""
    if not isinstance(body, list):
        raise ConfigFileError(f"{path}: 'probers' must be a list of prober names or {{name|class_path, init_args}} "
                              f"entries, got {type(body).__name__}")
    names: list[str] = []
    params: dict[str, dict[str, Any]] = {}
    plugins: dict[str, str] = {}
    for index, entry in enumerate(body):
        where = f"probers[{index}]"
        if isinstance(entry, str):
            entry = {"name": entry}
        if not isinstance(entry, dict):
            raise ConfigFileError(f"{path}: {where} must be a name or a mapping, got {entry!r}")
        unknown = sorted(set(entry) - set(_ENTRY_KEYS))
        if unknown:
            raise ConfigFileError(f"{path}: unknown keys {[f'{where}.{key}' for key in unknown]}; an entry takes "
                                  f"{list(_ENTRY_KEYS)}")
        name = entry.get("name")
        if "class_path" in entry:
            name = _plugin_name(path, where, entry["class_path"], name)
            plugins[name] = entry["class_path"]
        if not isinstance(name, str) or not name:
            raise ConfigFileError(f"{path}: {where} needs a 'name' (a registry name) or a 'class_path'")
        if name in names:
            raise ConfigFileError(f"{path}: {where}: prober {name!r} is listed twice")
        init_args = entry.get("init_args") or {}
        if not isinstance(init_args, dict):
            raise ConfigFileError(f"{path}: {where}.init_args must be a mapping, got {init_args!r}")
        names.append(name)
        if init_args:
            params[name] = dict(init_args)
    return {"probes": tuple(names), "prober_params": params, "prober_plugins": plugins}


def _plugin_name(path: Path, where: str, class_path: Any, name: Any) -> str:
    """The registry name of a ``class_path`` entry: the class's ``name`` (an explicit ``name`` must agree)."""
    from probes.registry import load_class_path

    if not isinstance(class_path, str):
        raise ConfigFileError(f"{path}: {where}.class_path must be a string 'package.module:Class', got {class_path!r}")
    try:
        declared = getattr(load_class_path(class_path), "name", None)
    except ValueError as error:
        raise ConfigFileError(f"{path}: {where}.class_path: {error}") from None
    if not isinstance(declared, str) or not declared:
        raise ConfigFileError(f"{path}: {where}.class_path {class_path!r} declares no 'name' class attribute")
    if name is not None and name != declared:
        raise ConfigFileError(f"{path}: {where}: name {name!r} differs from the class's name {declared!r}")
    return declared


def config_to_yaml(config: RunConfig) -> str:
    """The configuration as a YAML file that :func:`load_config_file` reads back to the same settings."""
    settings = config.to_dict()
    document: dict[str, Any] = {}
    for section, keys in SECTIONS.items():
        if section == "probers":
            document[section] = [_prober_entry(name, config) for name in config.probes]
            continue
        document[section] = {key: (list(settings[key]) if key in _TUPLES and settings[key] is not None
                                   else settings[key]) for key in keys}
    header = "# percepiano-bench run configuration: python -m benchmarks.run --config THIS_FILE\n"
    return header + yaml.safe_dump(document, sort_keys=False, default_flow_style=None, width=120)


def _prober_entry(name: str, config: RunConfig) -> str | dict[str, Any]:
    params = config.prober_params.get(name)
    if name in config.prober_plugins:
        return {"class_path": config.prober_plugins[name], "init_args": dict(params or {})}
    return {"name": name, "init_args": dict(params)} if params else name
