"""Extractors by name: a dict of built-ins plus the ``percepiano_bench.extractors`` entry-point group.

A third-party package adds an extractor by declaring, in its ``pyproject.toml``::

    [project.entry-points."percepiano_bench.extractors"]
    my_features = "my_package.features:MyFrameExtractor"

where ``MyFrameExtractor`` subclasses :class:`~datamodules.extractors.base.FrameExtractor` and sets the
class attributes ``name`` and ``frame_rate_hz``. Entry points are loaded as in Lightning's
``_load_external_callbacks``: looped, loaded, and logged.
"""

from __future__ import annotations

import inspect
import logging
from importlib.metadata import entry_points

from datamodules.extractors.base import FrameExtractor
from datamodules.extractors.midi import MidiFrameExtractor

ENTRY_POINT_GROUP = "percepiano_bench.extractors"
BUILTIN_EXTRACTORS: dict[str, type[FrameExtractor]] = {MidiFrameExtractor.name: MidiFrameExtractor}

_log = logging.getLogger(__name__)


def load_external_extractors(group: str = ENTRY_POINT_GROUP) -> dict[str, tuple[type[FrameExtractor], str]]:
    """Load extractor classes from installed packages' entry points.

    Parameters
    ----------
    group : str, default="percepiano_bench.extractors"
        Entry-point group to query.

    Returns
    -------
    dict of str to (type, str)
        Extractor ``name`` to ``(class, source)``, where ``source`` reads ``"entry point <name> = <value>"``.

    Raises
    ------
    TypeError
        If an entry point does not load a :class:`FrameExtractor` subclass with a string ``name``.
    ValueError
        If two entry points declare the same extractor ``name`` (the message names both).
    """
    found: dict[str, tuple[type[FrameExtractor], str]] = {}
    for entry_point in entry_points(group=group):
        source = f"entry point {entry_point.name} = {entry_point.value}"
        extractor_class = entry_point.load()
        if not (isinstance(extractor_class, type) and issubclass(extractor_class, FrameExtractor)):
            raise TypeError(
                f"{source} (group {group!r}): loaded {extractor_class!r}, expected a FrameExtractor subclass"
            )
        name = getattr(extractor_class, "name", None)
        if not isinstance(name, str) or not name:
            raise TypeError(f"{source} (group {group!r}): class attribute name is {name!r}, expected a non-empty str")
        if name in found:
            raise ValueError(f"extractor name {name!r} is declared twice: by {found[name][1]} and by {source}")
        found[name] = (extractor_class, source)
        _log.info("Adding extractor %r from %s", name, source)
    return found


def available_extractors(group: str = ENTRY_POINT_GROUP) -> dict[str, type[FrameExtractor]]:
    """Built-in and entry-point extractors by name.

    Raises
    ------
    ValueError
        If an entry point reuses a built-in name (the message names both sources).
    """
    extractors = dict(BUILTIN_EXTRACTORS)
    for name, (extractor_class, source) in load_external_extractors(group).items():
        if name in extractors:
            builtin = f"built-in {extractors[name].__module__}.{extractors[name].__qualname__}"
            raise ValueError(f"extractor name {name!r} is declared twice: by {builtin} and by {source}")
        extractors[name] = extractor_class
    return extractors


def get_extractor(name: str, **kwargs: object) -> FrameExtractor:
    """Build the extractor registered as ``name`` with keyword arguments ``kwargs``.

    Raises
    ------
    ValueError
        If no extractor has that name (the message lists the available names), a keyword is not one of its
        parameters (the message lists them), or the extractor refuses a value.
    """
    extractors = available_extractors()
    if name not in extractors:
        raise ValueError(f"extractor {name!r} is unknown; expected one of {sorted(extractors)}")
    parameters = set(inspect.signature(extractors[name]).parameters)
    unknown = sorted(set(kwargs) - parameters)
    if unknown:
        raise ValueError(f"extractor {name!r} has no parameter {', '.join(unknown)}; "
                         f"expected one of {sorted(parameters)}")
    return extractors[name](**kwargs)
