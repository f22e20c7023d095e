"""Prober registry: built-ins by name, third-party probers from the ``percepiano_bench.probes`` entry-point group.

A plugin distribution declares, in its ``pyproject.toml``::

    [project.entry-points."percepiano_bench.probes"]
    my_probe = "my_package:MyProber"

where ``MyProber`` declares the class attributes ``name = "my_probe"`` and ``view = "stats"`` (or ``"frames"``) and
implements ``fit``/``predict`` (subclass :class:`probes.base.Prober`). Entry points are looked up on every call,
looped and logged as Lightning's ``_load_external_callbacks`` does.
"""

from __future__ import annotations

import importlib
import logging
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from probes.attention import AttentionPoolingProber
from probes.attention_es import AttentionEarlyStoppingProber
from probes.base import VARIANTS, VIEWS, Prober
from probes.label_components import LabelComponentProber, LeakyLabelComponentProber
from probes.mlp import MLPProber
from probes.mlp_es import MLPEarlyStoppingProber
from probes.ridge import RidgeProber, TunedRidgeProber

_log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "percepiano_bench.probes"
#: What :func:`~benchmarks.orchestration.cross_validation.cross_validate` calls on a prober (all but fit/predict come
#: with Prober).
REQUIRED_METHODS: tuple[str, ...] = ("fit", "predict", "get_params", "datamodule_kwargs", "fold_outputs")


class UnknownProberError(ValueError):
    """A prober name that is neither built in nor provided by an installed plugin."""


class ProberConfigurationError(ValueError):
    """A run's prober settings that cannot be used: an unknown hyper-parameter, a class path that does not load or
    whose name is taken."""


#: Built-in probers by name.
BUILTIN_PROBERS: dict[str, type[Prober]] = {
    prober.name: prober
    for prober in (RidgeProber, TunedRidgeProber, AttentionPoolingProber, AttentionEarlyStoppingProber, MLPProber,
                   MLPEarlyStoppingProber, LabelComponentProber, LeakyLabelComponentProber)
}


def _builtin_source(prober: type) -> str:
    return f"built-in {prober.__module__}.{prober.__qualname__}"


def _entry_point_source(entry_point: EntryPoint) -> str:
    dist = getattr(entry_point, "dist", None)
    owner = f" of distribution {dist.name} {dist.version}" if dist is not None else ""
    return f"entry point '{entry_point.name} = {entry_point.value}'{owner}"


def check_prober_class(prober: Any, source: str) -> None:
    """Check that ``prober`` is a class declaring ``name``, ``view`` and ``variant`` with the prober methods.

    Raises
    ------
    TypeError
        If ``prober`` is not a class, or lacks one of :data:`REQUIRED_METHODS`.
    ValueError
        If ``name`` is not a non-empty string, ``view`` is not ``"frames"``/``"stats"`` or ``variant`` is not one of
        :data:`probes.base.VARIANTS`.
    """
    if not isinstance(prober, type):
        raise TypeError(f"{source}: loads {prober!r}, expected a prober class")
    name, view = getattr(prober, "name", None), getattr(prober, "view", None)
    if not isinstance(name, str) or not name:
        raise ValueError(f"{source}: {prober.__qualname__}.name is {name!r}; expected a non-empty string class "
                         "attribute")
    if view not in VIEWS:
        raise ValueError(f"{source}: {prober.__qualname__}.view is {view!r}; expected one of {list(VIEWS)}")
    variant = getattr(prober, "variant", None)
    if variant not in VARIANTS:
        raise ValueError(f"{source}: {prober.__qualname__}.variant is {variant!r}; expected one of {list(VARIANTS)}")
    for method in REQUIRED_METHODS:
        if not callable(getattr(prober, method, None)):
            raise TypeError(f"{source}: {prober.__qualname__} has no {method}() method (subclass probes.base.Prober "
                            "to inherit all but fit and predict)")


def _load_external_probers(group: str = ENTRY_POINT_GROUP) -> dict[str, tuple[type, str]]:
    """Load every prober class registered in entry-point ``group``: ``{name: (class, source)}``.

    Raises
    ------
    ValueError
        If a class's ``name`` differs from its entry-point name, or two entry points declare the same name (the
        message names both).
    """
    found: dict[str, tuple[type, str]] = {}
    for entry_point in entry_points(group=group):
        source = _entry_point_source(entry_point)
        prober = entry_point.load()
        check_prober_class(prober, source)
        if prober.name != entry_point.name:
            raise ValueError(f"{source}: the class declares name {prober.name!r}; expected the entry-point name "
                             f"{entry_point.name!r}")
        if prober.name in found:
            raise ValueError(f"prober name {prober.name!r} is declared twice: by {found[prober.name][1]} "
                             f"and by {source}")
        _log.info(f"Adding prober {prober.name!r} ({prober.view} view) from {source}")
        found[prober.name] = (prober, source)
    return found


#: Probers registered by class path for this process (a configuration file's ``class_path`` entries).
_REGISTERED: dict[str, tuple[type, str]] = {}


def load_class_path(class_path: str) -> type:
    """The class named by ``"package.module:Class"`` (or ``"package.module.Class"``).

    Raises
    ------
    ValueError
        If ``class_path`` names no module and class, or the module or class does not exist.
    """
    module_name, _, attribute = class_path.partition(":") if ":" in class_path else class_path.rpartition(".")
    if not module_name or not attribute:
        raise ValueError(f"class path {class_path!r}: expected 'package.module:Class'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ValueError(f"class path {class_path!r}: cannot import module {module_name!r} ({error})") from None
    found = getattr(module, attribute, None)
    if found is None:
        raise ValueError(f"class path {class_path!r}: module {module_name!r} has no {attribute!r}")
    return found


def register_prober(class_path: str) -> str:
    """Make the prober class at ``class_path`` available by its ``name`` in this process; returns the name.

    Registering the same class again is a no-op.

    Raises
    ------
    ProberConfigurationError
        If the class path does not load, or the name is already taken by another prober (naming both sources).
    TypeError
        If it loads something that is not a prober class (see :func:`check_prober_class`).
    """
    source = f"class path {class_path!r}"
    try:
        prober = load_class_path(class_path)
        check_prober_class(prober, source)
    except (ValueError, TypeError) as error:
        raise ProberConfigurationError(str(error)) from None
    if _REGISTERED.get(prober.name, (None,))[0] is prober:
        return prober.name
    taken = {name: described for name, (_, described) in _builtin_and_entry_point_sources().items()}
    taken.update({name: described for name, (_, described) in _REGISTERED.items()})
    if prober.name in taken:
        raise ProberConfigurationError(f"prober name {prober.name!r} is declared twice: by {taken[prober.name]} and by "
                                       f"{source}")
    _REGISTERED[prober.name] = (prober, source)
    return prober.name


def prober_sources() -> dict[str, tuple[type, str]]:
    """Every available prober: ``{name: (class, source)}``: built-ins, plugins by name, then class-path probers.

    Raises
    ------
    ValueError
        If a plugin reuses a built-in name or another plugin's name (naming both sources).
    """
    return {**_builtin_and_entry_point_sources(), **_REGISTERED}


def _builtin_and_entry_point_sources() -> dict[str, tuple[type, str]]:
    """Built-ins first, then entry-point plugins by name.

    Raises
    ------
    ValueError
        If a plugin reuses a built-in name or another plugin's name (naming both sources).
    """
    sources = {name: (prober, _builtin_source(prober)) for name, prober in BUILTIN_PROBERS.items()}
    for name, (prober, source) in sorted(_load_external_probers().items()):
        if name in sources:
            raise ValueError(f"prober name {name!r} is declared twice: by {sources[name][1]} and by {source}")
        sources[name] = (prober, source)
    return sources


def available_probers() -> dict[str, type]:
    """``{name: prober class}`` of the built-ins and every installed plugin."""
    return {name: prober for name, (prober, _) in prober_sources().items()}


def check_prober_params(name: str, params: dict[str, Any]) -> None:
    """Check that ``params`` are hyper-parameters of prober ``name`` (keywords its ``get_params()`` reports).

    Raises
    ------
    UnknownProberError
        If ``name`` is unknown.
    ProberConfigurationError
        If a key of ``params`` is not one of its hyper-parameters (naming the keys and the accepted ones).
    """
    probers = available_probers()
    if name not in probers:
        raise UnknownProberError(f"unknown prober {name!r}; available: {sorted(probers)}")
    accepted = probers[name]().get_params()
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise ProberConfigurationError(f"prober {name!r}: unknown hyper-parameters {unknown}; it takes "
                                       f"{sorted(accepted)}")


def get_prober(name: str, **kwargs: Any) -> Prober:
    """A new, unfitted prober ``name`` built from keyword hyper-parameters.

    Raises
    ------
    UnknownProberError
        If ``name`` is unknown (a ``ValueError``; the message lists the available names).

    Examples
    --------
    >>> get_prober("ridge", alpha=10.0).get_params()["alpha"]
    10.0
    """
    probers = available_probers()
    if name not in probers:
        raise UnknownProberError(f"unknown prober {name!r}; available: {sorted(probers)}")
    return probers[name](**kwargs)
