"""``--executor ray``: the run's (prober, layers, seed, fold) units as Ray tasks, on this machine or a cluster.

Each unit is one Ray task running :func:`~benchmarks.orchestration.executor.fit_unit`, exactly what a local worker
process runs: it fits one fold and writes its fold file (and its TensorBoard run) under the run's output
directory, so the probing step reads every fold back as after local workers, a resumed run skips finished units,
and results equal the local executor's. What a task is sent is the unit and a :class:`CacheSource` (paths and
settings, a few hundred bytes): each Ray worker process opens the store once and keeps it for the
tasks it runs after, so frames never travel through Ray. On a cluster the output directory and the cache must
therefore be on storage every node mounts at the same path (and the project installed on every node).

A task takes ``threads`` CPUs (``--threads``, default 1) and one GPU when the run's accelerator asks for one
(``cuda``/``gpu``, or ``auto`` on a cluster that has GPUs). A task that raises, or whose worker dies, is retried
once (Ray's ``max_retries=1, retry_exceptions=True``); a unit that fails again is returned as a
:class:`~benchmarks.orchestration.executor.UnitFailure`, never dropped: the run goes on with the other units and
reports the failure in ``audit.json`` and the report.

Ray is imported only here, and this module only under ``--executor ray``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from benchmarks.orchestration.executor import (
    CacheSource,
    FitUnit,
    ThreadPlan,
    UnitFailure,
    UnitResult,
    fit_unit,
    is_prepared,
    prepare_worker,
)

#: Attempts of a unit: the first and one retry.
ATTEMPTS = 2
#: Accelerators that ask a task for a GPU.
_GPU_ACCELERATORS: frozenset[str] = frozenset({"cuda", "gpu"})


@dataclass(frozen=True)
class RayRun:
    """What a Ray execution reports back.

    Attributes
    ----------
    failures : list of UnitFailure
    startup_s : float
        Seconds to start (or join) Ray: 0 when this process had already initialised it.
    cluster : str
        ``"local"`` or the address joined, with the cluster's CPUs and GPUs.
    """

    failures: list[UnitFailure]
    startup_s: float
    cluster: str


def run_units_on_ray(units: Sequence[FitUnit], source: CacheSource, plan: ThreadPlan, address: str | None = None,
                     on_done: Callable[[FitUnit, UnitResult], None] | None = None) -> RayRun:
    """Run ``units`` as Ray tasks of ``plan.unit_threads`` CPUs each.

    Parameters
    ----------
    units : sequence of FitUnit
    source : CacheSource
    plan : ThreadPlan
        ``unit_threads`` sizes each task; a local Ray is started with ``plan.n_cpus`` CPUs.
    address : str, optional
        A running cluster to join (``ray.init(address=...)``, e.g. ``"auto"`` or ``"ray://head:10001"``); None
        starts a local Ray for this run and stops it afterwards. An already initialised Ray is used as it is.
    on_done : callable, optional
        ``on_done(unit, result)`` in this process as each unit succeeds (its :class:`UnitResult`).
    """
    import ray

    from benchmarks.console import is_quiet

    started = time.perf_counter()
    owned = not ray.is_initialized()
    if owned:
        options = {"address": address} if address else {"num_cpus": plan.n_cpus}
        ray.init(**options, include_dashboard=False, logging_level="ERROR", log_to_driver=not is_quiet())
    startup_s = time.perf_counter() - started if owned else 0.0
    try:
        resources = ray.cluster_resources()
        cluster = (f"{address or 'local'}: {resources.get('CPU', 0):g} CPUs, {resources.get('GPU', 0):g} GPUs")
        task = ray.remote(max_retries=ATTEMPTS - 1, retry_exceptions=True)(_fit_in_ray_worker)
        source_ref = ray.put(source)
        pending = {}
        for unit in units:
            gpus = 1 if _wants_gpu(unit, resources.get("GPU", 0)) else 0
            reference = task.options(num_cpus=plan.unit_threads, num_gpus=gpus).remote(
                unit, source_ref, plan.unit_threads, is_quiet())
            pending[reference] = unit
        failures: list[UnitFailure] = []
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for reference in done:
                unit = pending.pop(reference)
                try:
                    result = ray.get(reference)
                except Exception as error:  # a task error or a lost worker, after its retry
                    failures.append(UnitFailure(unit, _describe(error), ATTEMPTS))
                    continue
                if on_done is not None:
                    on_done(unit, result)
        return RayRun(failures=failures, startup_s=startup_s, cluster=cluster)
    finally:
        if owned:
            ray.shutdown()


def _wants_gpu(unit: FitUnit, n_cluster_gpus: float) -> bool:
    accelerator = str(unit.kwargs.get("accelerator", "auto")).lower()
    return accelerator in _GPU_ACCELERATORS or (accelerator == "auto" and n_cluster_gpus > 0)


def _fit_in_ray_worker(unit: FitUnit, source: CacheSource, n_threads: int, quiet: bool) -> UnitResult:
    """A Ray task: prepare this worker for ``source`` once, then fit (or resume) ``unit``."""
    if not is_prepared(source):
        prepare_worker(source, n_threads, quiet)
    return fit_unit(unit)


def _describe(error: BaseException) -> str:
    """``Type: message`` of the task's own exception where Ray wraps it, else of Ray's error."""
    cause = getattr(error, "cause", None)
    shown = cause if isinstance(cause, BaseException) else error
    message = str(shown).strip().splitlines()
    return f"{type(shown).__name__}: {message[-1] if message else ''}"
