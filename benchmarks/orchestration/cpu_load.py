"""How busy this process's CPUs are right now, from the kernel's per-CPU time counters (``/proc/stat``, Linux).

Threads that wait on each other collapse when other jobs share the cores: a two-thread BLAS solve beside a two-thread
job ran 1.7-4x slower than the same solve on one thread (BENCHMARKS.md). The main process samples the idle CPUs
before each of its phases and sizes its thread pools to them
(:func:`~benchmarks.orchestration.executor.fitting_threads`).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

_PROC_STAT = Path("/proc/stat")
#: Fields of a ``cpuN`` line summed as its elapsed time (user, nice, system, idle, iowait, irq, softirq, steal; guest
#: time is already inside user); idle and iowait are the idle ones. Steal (another virtual machine ran) counts busy.
_ELAPSED_FIELDS = 8
_IDLE_FIELDS = (3, 4)


def cpu_times(stat_text: str, cpus: set[int]) -> tuple[int, int]:
    """``(idle, elapsed)`` clock ticks summed over ``cpus`` in the text of ``/proc/stat``.

    Examples
    --------
    >>> cpu_times("cpu  9 0 9 90 0 0 0 0 0 0\\ncpu0 4 0 4 40 2 0 0 0 0 0\\ncpu1 5 0 5 50 0 0 0 0 0 0\\n", {0})
    (42, 50)
    """
    idle = elapsed = 0
    for line in stat_text.splitlines():
        name, *fields = line.split()
        if not (name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cpus):
            continue
        ticks = [int(field) for field in fields[:_ELAPSED_FIELDS]]
        idle += sum(ticks[index] for index in _IDLE_FIELDS)
        elapsed += sum(ticks)
    return idle, elapsed


def idle_cpus(sample_s: float = 0.1) -> float | None:
    """CPUs among this process's affinity mask that other processes leave idle, averaged over the next ``sample_s``.

    0.0 when other jobs keep every CPU busy, ``len(os.sched_getaffinity(0))`` on an otherwise idle machine
    (:func:`idle_between`). None where ``/proc/stat`` or the affinity mask is unavailable (not Linux).
    """
    try:
        cpus = set(os.sched_getaffinity(0))
        before = _sample(cpus)
        time.sleep(sample_s)
        after = _sample(cpus)
    except (AttributeError, OSError):
        return None
    return idle_between(before, after, len(cpus))


def _sample(cpus: set[int]) -> tuple[int, int, float, float]:
    """``(idle ticks, elapsed ticks, this process's CPU seconds, wall seconds)`` now."""
    return (*cpu_times(_PROC_STAT.read_text(), cpus), time.process_time(), time.perf_counter())


def idle_between(before: tuple[int, int, float, float], after: tuple[int, int, float, float],
                 n_cpus: int) -> float | None:
    """Idle CPUs between two samples ``(idle ticks, elapsed ticks, own CPU s, wall s)`` of ``n_cpus`` CPUs.

    This process's own CPU time counts as idle: its pool threads may still be spinning after the last parallel
    region (OpenBLAS's threads wait for work a while before they sleep), and they are what is being sized. None for
    samples less than a clock tick apart.

    Examples
    --------
    >>> idle_between((0, 0, 0.0, 0.0), (10, 40, 0.1, 0.2), n_cpus=2)  # a quarter of 2 CPUs idle, half a CPU our own
    1.0
    """
    idle_ticks, elapsed_ticks, own_s, wall_s = (end - start for start, end in zip(before, after, strict=True))
    if elapsed_ticks <= 0 or wall_s <= 0:
        return None
    return min(float(n_cpus), n_cpus * idle_ticks / elapsed_ticks + own_s / wall_s)
