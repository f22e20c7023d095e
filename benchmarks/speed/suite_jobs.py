"""``python -m benchmarks.speed.suite_jobs``: the suite's side of ``python -m benchmarks.speed``, one job per process.

``run``: ``run_suite`` on a cache with probers ``ridge,attention,mlp`` and sections ``labels,probing,embedding``,
timed section by section by wrapping (not changing) the suite's own functions: each prober's cross-validation, the
Ridge permutation null, each section's audit callbacks, and, inside the attention prober, its training loops.
``convert``: the one-time conversion of ``muq_embeddings.pt`` into the store.
``memory``: peak memory of one attention fold (one epoch), to compare caches whose segments differ in length.
``attention``: the attention prober alone with another batch size (e.g. 1, the original's), for its R2 and time.
Each writes a JSON result; ``python -m benchmarks.speed`` reads them.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from benchmarks.speed.measure import SectionTimer, set_threads

PROBES: tuple[str, ...] = ("ridge", "attention", "mlp")
SECTIONS: tuple[str, ...] = ("labels", "probing", "embedding")
#: Statistics settings of ``--statistics quick`` (CI smoke runs); ``default`` keeps RunConfig's defaults.
QUICK_STATISTICS: dict[str, int] = {"n_permutations": 20, "n_bootstrap": 20, "n_parallel": 20, "n_stability": 2}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.speed.suite_jobs", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("job", choices=("run", "convert", "memory", "attention"))
    parser.add_argument("--cache", type=Path, required=True)
    parser.add_argument("--result", type=Path, required=True, help="JSON file to write")
    parser.add_argument("--out", type=Path, help="suite output directory (run)")
    parser.add_argument("--epochs-scale", type=float, default=1.0)
    parser.add_argument("--statistics", choices=("default", "quick"), default="default")
    parser.add_argument("--sections", default=",".join(SECTIONS), help="suite sections of the run job")
    parser.add_argument("--batch-size", type=int, default=32, help="attention job: batch size")
    parser.add_argument("--epochs", type=int, default=50, help="attention job: epochs")
    parser.add_argument("--predictions", type=Path, help="attention job: npz of the out-of-fold predictions")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--default-executor", action="store_true",
                        help="run job: the suite's default executor (worker processes, one thread each) instead of one "
                             "process; only its totals are meaningful (sections then run in the workers)")
    parser.add_argument("--threads", type=int, help="torch intra-op threads (default: all CPUs)")
    return parser


def main(argv: list[str] | None = None) -> int:
    arguments = build_parser().parse_args(argv)
    threads = set_threads(arguments.threads)
    job = {"run": _run, "convert": _convert, "memory": _memory, "attention": _attention}[arguments.job]
    timer, extra = job(arguments)
    result = {**timer.summary(), "threads": threads, **extra}
    arguments.result.parent.mkdir(parents=True, exist_ok=True)
    arguments.result.write_text(json.dumps(result, indent=2, default=str))
    return 0


def _convert(arguments: argparse.Namespace) -> tuple[SectionTimer, dict]:
    from datamodules.cache import open_cache

    timer = SectionTimer()  # after the imports: its baseline is their memory
    with timer.section("convert"):
        cache = open_cache(arguments.cache)
    return timer, {"n_frames": int(cache.store.offsets[-1]), "dim": cache.store.dim, "n_segments": cache.n_segments}


def _memory(arguments: argparse.Namespace) -> tuple[SectionTimer, dict]:
    from benchmarks.orchestration.cross_validation import cross_validate
    from datamodules.cache import open_cache

    timer = SectionTimer()
    with timer.section("open_cache"):
        cache = open_cache(arguments.cache)
    with timer.section("attention_one_fold"):
        cross_validate("attention", cache, None, seed=arguments.seed, folds=[0], max_epochs=1, accelerator="cpu",
                       trainer_kwargs={"enable_progress_bar": False})
    return timer, {"n_frames": int(cache.store.offsets[-1]), "n_segments": cache.n_segments}


def _attention(arguments: argparse.Namespace) -> tuple[SectionTimer, dict]:
    import numpy as np

    from benchmarks.orchestration.cross_validation import cross_validate
    from datamodules.cache import open_cache

    timer = SectionTimer()
    cache = open_cache(arguments.cache)
    with timer.section("attention"):
        oof = cross_validate("attention", cache, None, seed=arguments.seed, batch_size=arguments.batch_size,
                             max_epochs=arguments.epochs, accelerator="cpu",
                             trainer_kwargs={"enable_progress_bar": False})
    np.savez(arguments.predictions, keys=np.asarray(oof.keys), predictions=oof.predictions,
             fold_of_row=oof.fold_of_row)
    return timer, {"batch_size": arguments.batch_size, "epochs": arguments.epochs}


def _run(arguments: argparse.Namespace) -> tuple[SectionTimer, dict]:
    import benchmarks.orchestration.probing as probing
    import benchmarks.orchestration.suite as suite
    import probes.attention as attention
    from benchmarks.config import RunConfig

    timer = SectionTimer()
    statistics = QUICK_STATISTICS if arguments.statistics == "quick" else {}
    sections = tuple(section for section in arguments.sections.split(",") if section)
    # One process with the benchmark's threads: the sections are timed inside it, against the original's one process
    # (worker processes are measured by benchmarks.speed.contention).
    executor = {"workers": None, "threads": None} if arguments.default_executor else {
        "workers": 1, "threads": set_threads(None)}
    config = RunConfig(cache=arguments.cache, out=arguments.out, sections=sections, probes=PROBES, seed=arguments.seed,
                       epochs_scale=arguments.epochs_scale, accelerator="cpu", **executor, **statistics)
    training = {"wall_s": 0.0, "cpu_s": 0.0}
    _wrap(probing, "cross_validate",
          lambda original: lambda name, *a, **k: _timed(timer, name, original, name, *a, **k))
    _wrap(probing, "permutation_null",
          lambda original: lambda name, *a, **k: _timed(timer, f"{name}_permutation_null", original, name, *a, **k))
    _wrap(attention, "fit_module", lambda original: lambda *a, **k: _accumulate(training, original, *a, **k))
    _wrap(suite, "callbacks_for", lambda original: lambda section, config: [
        _timed_callback(timer, section, callback) for callback in original(section, config)])
    wall, cpu = time.perf_counter(), time.process_time()
    audit = suite.run_suite(config, force=True, command=["python", "-m", "benchmarks.speed.suite_jobs", *sys.argv[1:]])
    suite_total = {"wall_s": time.perf_counter() - wall, "cpu_s": time.process_time() - cpu}
    return timer, {"suite_total": suite_total, "attention_training": training, "executor": audit["run"]["executor"],
                   "suite_timings": audit["run"]["timings_s"], "config": config.to_dict()}


def _wrap(module: object, name: str, make: object) -> None:
    setattr(module, name, make(getattr(module, name)))


def _timed(timer: SectionTimer, section: str, function, *args, **kwargs):
    with timer.section(section):
        return function(*args, **kwargs)


def _accumulate(totals: dict[str, float], function, *args, **kwargs):
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        return function(*args, **kwargs)
    finally:
        totals["wall_s"] += time.perf_counter() - wall
        totals["cpu_s"] += time.process_time() - cpu


def _timed_callback(timer: SectionTimer, section: str, callback):
    run = callback.run
    callback.run = lambda *args, **kwargs: _timed(timer, f"{section}_callbacks", run, *args, **kwargs)
    return callback


if __name__ == "__main__":
    sys.exit(main())
