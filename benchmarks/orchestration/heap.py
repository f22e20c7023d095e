"""Handing the heap's freed memory back to the operating system between fold fits (glibc's ``malloc_trim``).

A fit allocates and frees many blocks of a batch's size; glibc keeps what was freed in its arenas, so a process that
fits fold after fold carries the fragments of every earlier fit into the next (the speed benchmark's one-process run:
about 220 MiB per attention cross-validation, BENCHMARKS.md). Trimming after each fit returns those pages; it
changes no value.
"""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Callable


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``int malloc_trim(size_t pad)``, or None where the C library has none (musl, macOS, Windows)."""
    try:
        function = ctypes.CDLL(None).malloc_trim  # the symbols already loaded into this process, libc's among them
    except (AttributeError, OSError, TypeError):
        return None
    function.argtypes, function.restype = [ctypes.c_size_t], ctypes.c_int
    return function


def release_freed_memory() -> bool:
    """Return freed heap pages to the operating system; True if any were released, False if none or unsupported."""
    trim = _malloc_trim()
    return bool(trim(0)) if trim is not None else False
