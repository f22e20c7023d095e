"""Frame extractors: turn input files (e.g. performance MIDI) into ``(n_frames, n_features)`` frame stores.

Public API: :class:`FrameExtractor` (the plugin interface), :func:`extract_to_store` and its
:class:`ExtractionReport`, the registry (:func:`available_extractors`, :func:`get_extractor`, entry-point group
``percepiano_bench.extractors``) and the built-in :class:`MidiFrameExtractor` with :func:`midi_files`.
"""

from datamodules.extractors.base import (
    ExtractionReport,
    FrameExtractor,
    SkippedFile,
    UnusableInputError,
    extract_to_store,
    extraction_source,
    input_files,
)
from datamodules.extractors.midi import MidiFrameExtractor, midi_files
from datamodules.extractors.registry import (
    BUILTIN_EXTRACTORS,
    ENTRY_POINT_GROUP,
    available_extractors,
    get_extractor,
    load_external_extractors,
)

__all__ = [
    "BUILTIN_EXTRACTORS",
    "ENTRY_POINT_GROUP",
    "ExtractionReport",
    "FrameExtractor",
    "MidiFrameExtractor",
    "SkippedFile",
    "UnusableInputError",
    "available_extractors",
    "extract_to_store",
    "extraction_source",
    "get_extractor",
    "input_files",
    "load_external_extractors",
    "midi_files",
]
