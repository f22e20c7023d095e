"""Parallel fits: a run's independent (prober, seed, fold) units of the trained probers in worker processes.

The trained probers' per-segment operations are too small to use several threads (two threads fit attention no
faster than one on this machine's two cores), and several threads that wait on each other collapse when another
job shares the cores. So each unit runs with the few intra-op threads it can use, in as many worker processes as
the CPUs allow; the closed-form probers (Ridge and its permutation nulls: large matrix products) stay in the main
process with every thread, or with as many as are idle when other jobs share the machine (:func:`phase_threads`).

A unit fits one fold and writes its fold file, exactly as
:func:`~benchmarks.orchestration.cross_validation.cross_validate` would (the same per-fold configuration hash, seed
and data); the probing step then reads every fold back from those files. A fold's result depends only on its
prober, hyper-parameters, seed and data, never on the process or the order, so a parallel run equals a sequential
one with the same threads per unit (the sequential path uses them too).
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ProcessPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: ``prctl`` option: the signal a process receives when its parent dies (Linux, ``<sys/prctl.h>``).
_PR_SET_PDEATHSIG = 1
#: Environment variables that size a process's thread pools (set in each worker before torch loads).
_THREAD_VARIABLES: tuple[str, ...] = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


@dataclass(frozen=True)
class ThreadPlan:
    """How a run spends its CPUs.

    Attributes
    ----------
    n_cpus : int
        CPUs this process may use (its affinity mask).
    workers : int
        Worker processes for the trained probers' units (1: no worker processes, units run in this process).
    unit_threads : int
        Intra-op threads of each unit, in a worker or in this process.
    main_threads : int
        Threads of this process for everything else (Ridge solves, permutation nulls, statistics).
    fitted_to_load : bool
        Whether each main-process phase takes fewer than ``main_threads`` when other jobs keep CPUs busy
        (:func:`phase_threads`); False when ``OMP_NUM_THREADS`` pins them, so that reruns on differently loaded
        machines agree bit for bit (across thread counts BLAS reductions agree to round-off only).
    """

    n_cpus: int
    workers: int
    unit_threads: int
    main_threads: int
    fitted_to_load: bool = True

    def describe(self) -> str:
        return (f"{self.workers} worker process{'es' if self.workers != 1 else ''} x {self.unit_threads} thread"
                f"{'s' if self.unit_threads != 1 else ''} for the trained probers, {self.main_threads} for the rest "
                f"({self.n_cpus} CPUs)")


def available_cpus() -> int:
    """CPUs this process may run on (``os.sched_getaffinity``; ``os.cpu_count`` where that is missing)."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:  # not on Linux
        return max(os.cpu_count() or 1, 1)


def thread_plan(workers: int | None = None, threads: int | None = None, n_cpus: int | None = None) -> ThreadPlan:
    """Workers and threads for a run.

    Parameters
    ----------
    workers : int, optional
        Worker processes; default: as many as the CPUs hold units of ``threads`` threads (``n_cpus // threads``).
    threads : int, optional
        Intra-op threads per unit; default ``OMP_NUM_THREADS`` when set, else 1.
    n_cpus : int, optional
        Default :func:`available_cpus`; ``OMP_NUM_THREADS`` never raises the main process above it.

    Raises
    ------
    ValueError
        If ``workers`` or ``threads`` is below 1, or ``OMP_NUM_THREADS`` is not a positive integer.
    """
    n_cpus = available_cpus() if n_cpus is None else int(n_cpus)
    environment = os.environ.get("OMP_NUM_THREADS")
    if environment is not None and (not environment.isdigit() or int(environment) < 1):
        raise ValueError(f"OMP_NUM_THREADS={environment!r}: expected a positive integer")
    for name, value in (("workers", workers), ("threads", threads)):
        if value is not None and (isinstance(value, bool) or int(value) < 1):
            raise ValueError(f"{name} must be >= 1, got {value!r}")
    unit_threads = int(threads) if threads is not None else int(environment) if environment else 1
    n_workers = int(workers) if workers is not None else max(n_cpus // unit_threads, 1)
    main_threads = min(int(environment), n_cpus) if environment else n_cpus
    return ThreadPlan(n_cpus=n_cpus, workers=n_workers, unit_threads=unit_threads, main_threads=main_threads,
                      fitted_to_load=environment is None)


def fitting_threads(main_threads: int, idle: float | None) -> int:
    """Threads for the main process's next phase: ``main_threads``, or fewer when other jobs keep CPUs busy.

    Parameters
    ----------
    main_threads : int
        The plan's threads for the main process (:attr:`ThreadPlan.main_threads`).
    idle : float or None
        Idle CPUs just measured (:func:`~benchmarks.orchestration.cpu_load.idle_cpus`); None: unknown, keep
        ``main_threads``.

    Examples
    --------
    >>> fitting_threads(2, 1.9), fitting_threads(2, 0.05), fitting_threads(2, None)
    (2, 1, 2)
    """
    if idle is None:
        return main_threads
    return max(1, min(main_threads, int(idle + 0.5)))


def phase_threads(plan: ThreadPlan, phase: str, record: dict[str, dict]) -> int:
    """Threads for the main process's ``phase``, fitted to the CPUs idle now (the plan's own where
    :attr:`ThreadPlan.fitted_to_load` is False: nothing is sampled); ``record[phase]`` keeps the choice
    (``{"threads", "idle_cpus"}``, idle None where not sampled, for the audit's provenance)."""
    from benchmarks.console import detail
    from benchmarks.orchestration.cpu_load import idle_cpus

    idle = idle_cpus() if plan.fitted_to_load else None
    n_threads = fitting_threads(plan.main_threads, idle)
    record[phase] = {"threads": n_threads, "idle_cpus": None if idle is None else round(idle, 2)}
    if n_threads < plan.main_threads:
        detail(f"{phase}: {idle:.1f} of {plan.n_cpus} CPUs idle (other jobs), main-process work on {n_threads} "
               f"thread{'s' if n_threads != 1 else ''} instead of {plan.main_threads}")
    return n_threads


@contextmanager
def compute_threads(n_threads: int):
    """Within the block, torch's intra-op pool and the BLAS and OpenMP pools that numpy and scipy call
    (``threadpoolctl``) use ``n_threads`` threads (restored after)."""
    import torch
    from threadpoolctl import threadpool_limits

    previous = torch.get_num_threads()
    torch.set_num_threads(n_threads)
    try:
        with threadpool_limits(limits=n_threads):
            yield
    finally:
        torch.set_num_threads(previous)


@dataclass(frozen=True)
class CacheSource:
    """How a worker opens the run's cache (each worker reads frames from the store itself: none are copied to it).

    Attributes
    ----------
    cache_dir : Path
    folds_file : Path or None
    store_dir : Path
    layers : str
        The layer selection the probers read.
    prober_plugins : dict of str to str
        Class-path probers to register in the worker (``RunConfig.prober_plugins``).
    """

    cache_dir: Path
    folds_file: Path | None
    store_dir: Path
    layers: str
    prober_plugins: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class UnitFailure:
    """A unit that failed on every attempt (the Ray executor's: it retries once, then reports).

    Attributes
    ----------
    unit : FitUnit
    error : str
        The last attempt's exception, as ``Type: message``.
    attempts : int
    """

    unit: FitUnit
    error: str
    attempts: int

    def to_dict(self) -> dict[str, Any]:
        """``audit.json``'s record of the failure."""
        return {"prober": self.unit.prober, "seed": self.unit.seed, "fold": self.unit.fold,
                "layers": self.unit.layers, "error": self.error, "attempts": self.attempts}


@dataclass(frozen=True)
class FitUnit:
    """One fold of one seed run of one prober.

    Attributes
    ----------
    prober : str
    seed : int
    fold : int
    out_dir : Path
        The seed run's output root (fold files go to ``out_dir/predictions/<prober>/``).
    kwargs : dict
        The prober's keyword arguments (hyper-parameters, scaled epochs, accelerator).
    datamodule_kwargs : dict
    logger_root : Path or None
        TensorBoard root (one run per prober, fold and seed, as in the sequential path).
    layers : str or None
        A layer selection other than the source's (the layer sweep), or None.
    """

    prober: str
    seed: int
    fold: int
    out_dir: Path
    kwargs: dict[str, Any]
    datamodule_kwargs: dict[str, Any]
    logger_root: Path | None = None
    layers: str | None = None


@dataclass(frozen=True)
class UnitResult:
    """What fitting one unit took, measured in the process that fitted it.

    Attributes
    ----------
    resumed : bool
        Its fold file was already current (nothing was fitted).
    wall_s : float
        Wall-clock seconds of the unit: building the prober and its data module, the fit, the validation
        predictions and the fold file.
    cpu_s : float
        CPU seconds of the fitting process over the same span, every thread (a worker fits one unit at a time).
    threads : int
        The process's torch intra-op threads.
    """

    resumed: bool
    wall_s: float
    cpu_s: float
    threads: int

    def to_dict(self, unit: FitUnit) -> dict[str, Any]:
        """``audit.json``'s record of the unit (``run.unit_times``)."""
        return {"prober": unit.prober, "seed": unit.seed, "fold": unit.fold, "layers": unit.layers,
                "resumed": self.resumed, "wall_s": self.wall_s, "cpu_s": self.cpu_s, "threads": self.threads}


def run_units(units: Sequence[FitUnit], source: CacheSource, plan: ThreadPlan,
              on_done: Callable[[FitUnit, UnitResult], None] | None = None) -> None:
    """Fit ``units`` in ``plan.workers`` worker processes (spawned), ``plan.unit_threads`` threads each.

    ``on_done(unit, result)`` is called in this process as each unit finishes (:class:`UnitResult`: whether its
    fold file was already current, and its times). The first failing unit stops the pool and is raised with the
    unit named.

    Raises
    ------
    RuntimeError
        Naming the prober, seed and fold of a unit that raised, with its error as the cause.
    """
    if not units:
        return
    from benchmarks.console import is_quiet

    context = multiprocessing.get_context("spawn")
    options = (source, plan.unit_threads, is_quiet(), os.getpid())
    with ProcessPoolExecutor(max_workers=min(plan.workers, len(units)), mp_context=context,
                             initializer=_start_worker, initargs=options) as pool:
        pending: dict[Future, FitUnit] = {pool.submit(fit_unit, unit): unit for unit in units}
        while pending:
            done, _ = wait(pending, return_when=FIRST_EXCEPTION)
            for future in done:
                unit = pending.pop(future)
                error = future.exception()
                if error is not None:
                    for other in pending:
                        other.cancel()
                    raise RuntimeError(f"{unit.prober} (seed {unit.seed}, fold {unit.fold}) failed in a worker "
                                       f"process: {error}") from error
                if on_done is not None:
                    on_done(unit, future.result())


_worker: dict[str, Any] = {}


def _die_with_parent(parent: int) -> None:
    """Linux: the kernel kills this worker when the run's process dies, so a killed run leaves no worker fitting."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: workers end when their pool's pipe closes
        return
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)


def _start_worker(source: CacheSource, n_threads: int, quiet: bool, parent: int) -> None:
    """Worker initialiser: bound to the run's process, then :func:`prepare_worker`."""
    _die_with_parent(parent)
    prepare_worker(source, n_threads, quiet)


def prepare_worker(source: CacheSource, n_threads: int, quiet: bool) -> None:
    """Make this process a worker of ``source``: thread pools sized, large freed blocks kept for reuse
    (:func:`~benchmarks.orchestration.heap.keep_freed_blocks`), Lightning as quiet as the run, class-path probers
    registered, the cache opened once."""
    for name in _THREAD_VARIABLES:
        os.environ[name] = str(n_threads)
    import torch

    from benchmarks.console import silence_lightning
    from benchmarks.orchestration.heap import keep_freed_blocks
    from datamodules.cache import open_cache
    from probes.registry import register_prober

    torch.set_num_threads(n_threads)
    keep_freed_blocks()
    if not _worker:  # torch takes the inter-op size once per process (a Ray worker may serve several runs)
        torch.set_num_interop_threads(1)
    if quiet:
        silence_lightning()
    for class_path in source.prober_plugins.values():
        register_prober(class_path)
    _worker["source"] = source
    _worker["cache"] = open_cache(source.cache_dir, source.folds_file, embeddings=True, store_dir=source.store_dir,
                                  layers=source.layers)


def is_prepared(source: CacheSource) -> bool:
    """Whether this process is already a worker of ``source`` (:func:`prepare_worker`)."""
    return _worker.get("source") == source


def fit_unit(unit: FitUnit) -> UnitResult:
    """Fit (or resume) one unit in a prepared worker; its :class:`UnitResult`."""
    import dataclasses

    import torch

    from benchmarks.orchestration.cross_validation import cross_validate

    wall, cpu = time.perf_counter(), time.process_time()
    cache = _worker["cache"]
    if unit.layers is not None:
        cache = dataclasses.replace(cache, store=cache.store.with_layers(unit.layers))
    result = cross_validate(unit.prober, cache, unit.out_dir, seed=unit.seed, folds=[unit.fold],
                            logger_root=unit.logger_root, trainer_kwargs={"enable_progress_bar": False},
                            datamodule_kwargs=unit.datamodule_kwargs, **unit.kwargs)
    return UnitResult(resumed=bool(result.resumed_folds), wall_s=time.perf_counter() - wall,
                      cpu_s=time.process_time() - cpu, threads=torch.get_num_threads())
