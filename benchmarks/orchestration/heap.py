"""The C heap of fitting processes: freed memory handed back between fold fits (glibc's ``malloc_trim``), and large
blocks kept for reuse within a fit (glibc's ``mallopt``).

A fit allocates and frees many blocks of a batch's size; glibc keeps what was freed in its arenas, so a process that
fits fold after fold carries the fragments of every earlier fit into the next (the speed benchmark's one-process run:
about 220 MiB per attention cross-validation, BENCHMARKS.md). Trimming after each fit returns those pages; it
changes no value.

Within a fit, the blocks of one step are the next step's sizes again: a packed batch of frames (about 40 MB at
1,024-d), an MLP's first-layer gradient (2,048 x 4,864 float32, 40 MB). glibc maps every block above its mmap
threshold (at most 32 MiB, adapted at run time) afresh and unmaps it when freed, so each step page-faults its
buffers in again: about 9 ms per 40 MB block on this project's CPUs, a tenth of an attention step and a sixth of an
MLP step. :func:`keep_freed_blocks` raises both thresholds so that such blocks come from the heap and are reused,
and puts every thread on one arena, so that a batch built by the data prefetch thread and freed by the training
thread goes back where the next one is built (with a second arena, a fold in a worker-like process peaked at
1,126-1,305 MiB against 897-984 without the setting; with one, 960-1,050; either setting about 17% faster:
BENCHMARKS.md).
"""

from __future__ import annotations

import ctypes
import functools
import os
from collections.abc import Callable

#: ``mallopt`` parameters (``<malloc.h>``).
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD, _M_ARENA_MAX = -1, -3, -8
#: Blocks up to this size are served from (and freed back to) the heap by :func:`keep_freed_blocks`.
KEPT_BLOCK_BYTES = 512 * 2**20
#: Environment variables through which a user sets glibc's thresholds; :func:`keep_freed_blocks` defers to them.
_USER_SETTINGS: tuple[str, ...] = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_ARENA_MAX")


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


@functools.cache
def _mallopt() -> Callable[[int, int], int] | None:
    """glibc's ``int mallopt(int param, int value)``, or None where the C library has none."""
    try:
        function = ctypes.CDLL(None).mallopt
    except (AttributeError, OSError, TypeError):
        return None
    function.argtypes, function.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return function


def keep_freed_blocks(limit_bytes: int = KEPT_BLOCK_BYTES) -> bool:
    """Serve blocks of up to ``limit_bytes`` from the heap, keep the heap's freed top up to that size and use one
    arena for every thread, so that a fit's per-step buffers are reused instead of mapped and page-faulted afresh
    every step.

    For processes that fit: the price is that freed buffers stay resident until :func:`release_freed_memory` (run
    before each fold) or their reuse, 60-80 MiB more at the speed benchmark's scale (BENCHMARKS.md). Values are
    unchanged. Returns True if set; False where the C library has no ``mallopt`` or refuses, or the user set any of
    these in the environment (``MALLOC_MMAP_THRESHOLD_``, ``MALLOC_TRIM_THRESHOLD_``, ``MALLOC_ARENA_MAX``,
    ``GLIBC_TUNABLES``), which is kept.
    """
    if any(name in os.environ for name in _USER_SETTINGS) or "glibc.malloc." in os.environ.get("GLIBC_TUNABLES", ""):
        return False
    mallopt = _mallopt()
    if mallopt is None:
        return False
    settings = ((_M_MMAP_THRESHOLD, limit_bytes), (_M_TRIM_THRESHOLD, limit_bytes), (_M_ARENA_MAX, 1))
    return all([bool(mallopt(parameter, value)) for parameter, value in settings])  # a list: every one is applied
