"""``python -m benchmarks.speed``: the original notebook's approach against the suite, on one synthetic cache.

Builds (or reuses) a synthetic cache at PercePiano's scale (1,202 segments of about 300 frames of 1,024-d, float16
on disk), then, each in its own process on the same cache and folds with the same epochs and threads:

1. converts the embeddings into the suite's store once (timed apart: a one-time cost);
2. runs the original approach (:mod:`benchmarks.speed.original.run`): ``torch.load`` of the whole dict, attention
   trained one segment per step, 19 separate Ridge and 19 separate MLP fits per fold, label audit, in-sample
   residuals/CCA;
3. runs the suite (:mod:`benchmarks.speed.suite_jobs`): ``run_suite`` with ``ridge,attention,mlp`` and the ``labels``,
   ``probing`` and ``embedding`` sections, timed section by section;
4. profiles the suite's attention step (:mod:`benchmarks.speed.profile`) and measures bfloat16;
5. measures one attention fold's peak memory on this cache and on caches with twice the frames (twice the
   segments; segments twice as long), and the original's load on them;
6. runs the suite's attention prober with batch size 1 (the original's: it replays the original's loop), and the
   original's attention with another seed, to tell the batch size's effect on R2 from the original's own seed
   noise.

The matrix-multiply peak is measured here before and after. Results go to the ``## Performance`` section of
``--output`` (default ``BENCHMARKS.md``, written atomically, other sections kept); the last line printed is
``speedup_end_to_end=<original/suite> rss_ratio=<suite/original> attention_peak_fraction=<0..1>
max_r2_diff=<...>``. ``--quick`` shrinks the cache, the epochs and the statistics for CI smoke runs.
"""

from __future__ import annotations

import argparse
import datetime
import json
import resource
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

from benchmarks.speed import profile as profile_job
from benchmarks.speed import suite_jobs
from benchmarks.speed.markdown import write_performance_section
from benchmarks.speed.measure import load_average, matmul_peak_gflops, set_threads
from benchmarks.speed.original import run as original_run
from benchmarks.speed.report import compare, final_line, machine_description
from datamodules.synthetic import SyntheticSpec, generate_synthetic_cache
from probes.attention import AttentionPoolingProber
from probes.mlp import MLPProber

SUITE_SECTIONS: tuple[str, ...] = ("labels", "probing", "embedding")
#: The original's jobs standing for each suite section.
ORIGINAL_JOBS: dict[str, tuple[str, ...]] = {"labels": ("labels",), "probing": ("ridge", "attention", "mlp"),
                                             "embedding": ("embedding",)}
#: The R2-fidelity jobs (``--skip-fidelity`` leaves them out).
FIDELITY_JOBS: tuple[str, ...] = ("attention_batch_1", "original_attention_seed_plus_1")
#: The CI smoke cache: 64 segments of 20-40 frames of width 32, two folds.
QUICK_SPEC = SyntheticSpec(n_segments=64, n_works=2, n_excerpts_per_work=6, n_folds=2, dim=32,
                           frames_per_segment=(20, 40))


@dataclass(frozen=True)
class SpeedPlan:
    """What one ``python -m benchmarks.speed`` run does."""

    spec: SyntheticSpec
    epochs_scale: float
    statistics: str
    sections: tuple[str, ...]
    extras: bool
    fidelity: bool
    threads: int | None
    seed: int
    work_dir: Path
    output: Path
    command: list[str]

    @property
    def epochs(self) -> dict[str, int]:
        """Epochs of the trained probers: the faithful defaults times ``epochs_scale`` (at least 1), as the suite."""
        defaults = {"attention": AttentionPoolingProber().max_epochs, "mlp": MLPProber().max_epochs}
        return {name: max(1, round(epochs * self.epochs_scale)) for name, epochs in defaults.items()}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.speed", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work-dir", type=Path, default=Path("runs/speed"),
                        help="caches, suite outputs and per-process results (default: %(default)s)")
    parser.add_argument("--output", type=Path, default=Path("BENCHMARKS.md"),
                        help="Markdown file (default: %(default)s)")
    parser.add_argument("--epochs-scale", type=float, default=0.1,
                        help="multiply both implementations' epochs (attention 50, MLP 80; default: %(default)s)")
    parser.add_argument("--threads", type=int, help="torch intra-op threads of every process (default: all CPUs)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--report-only", action="store_true",
                        help="run nothing: rewrite the section from the results a finished run left in --work-dir")
    parser.add_argument("--skip-fidelity", action="store_true",
                        help="leave out the two R2-fidelity jobs (the suite's attention at batch size 1, the "
                             "original's attention with another seed): at full epochs they take longer than the rest")
    parser.add_argument("--quick", action="store_true",
                        help="CI smoke run: 64 tiny segments, 1-2 epochs, few resamples, the probing section only, "
                             "no profile and no doubled-frames cache")
    return parser


def main(argv: list[str] | None = None) -> int:
    arguments = build_parser().parse_args(argv)
    if arguments.epochs_scale <= 0:
        print(f"error: --epochs-scale must be > 0, got {arguments.epochs_scale}", file=sys.stderr)
        return 2
    quick = arguments.quick
    plan = SpeedPlan(
        spec=QUICK_SPEC if quick else SyntheticSpec.real_scale(),
        epochs_scale=0.02 if quick else arguments.epochs_scale, statistics="quick" if quick else "default",
        sections=("probing",) if quick else SUITE_SECTIONS, extras=not quick,
        fidelity=not quick and not arguments.skip_fidelity, threads=arguments.threads,
        seed=arguments.seed, work_dir=arguments.work_dir, output=arguments.output,
        command=["python", "-m", "benchmarks.speed", *(sys.argv[1:] if argv is None else argv)],
    )
    results = load_results(plan) if arguments.report_only else run_plan(plan)
    comparison = compare(results)
    write_performance_section(plan.output, results, comparison)
    print(final_line(comparison))
    return 0


def run_plan(plan: SpeedPlan) -> dict:
    """Run every process of the benchmark; returns their results, the peaks and the machine description."""
    threads = set_threads(plan.threads)
    started = datetime.datetime.now(datetime.UTC)
    load_before = load_average()
    peaks = [matmul_peak_gflops("float32")]
    thread_peaks = [matmul_peak_gflops("float32", threads=1)]  # what one worker's thread can reach
    cache = _cache(plan.work_dir / f"cache_{_scale_name(plan)}", plan.spec, plan.seed)
    results: dict = {"plan": plan, "cache": str(cache), "threads": threads}
    results["convert"] = _child(plan, "convert", [suite_jobs.__name__, "convert", "--cache", cache])
    original_predictions = plan.work_dir / "original_predictions.npz"
    jobs = [job for section in plan.sections for job in ORIGINAL_JOBS[section]]
    results["original"] = _child(plan, "original", [
        original_run.__name__, "--cache", cache, "--predictions", original_predictions, "--jobs", ",".join(jobs),
        "--attention-epochs", plan.epochs["attention"], "--mlp-epochs", plan.epochs["mlp"]],
        {"predictions_file": str(original_predictions)})
    suite_out = plan.work_dir / "suite_run"
    shutil.rmtree(suite_out, ignore_errors=True)  # a fresh run: the suite would resume fitted folds
    results["suite"] = _child(plan, "suite", [
        suite_jobs.__name__, "run", "--cache", cache, "--out", suite_out, "--epochs-scale", plan.epochs_scale,
        "--statistics", plan.statistics, "--sections", ",".join(plan.sections)], {"out": str(suite_out)})
    if plan.extras:
        workers_out = plan.work_dir / "suite_run_default_executor"
        shutil.rmtree(workers_out, ignore_errors=True)
        results["suite_default_executor"] = _child(plan, "suite_default_executor", [
            suite_jobs.__name__, "run", "--cache", cache, "--out", workers_out, "--epochs-scale", plan.epochs_scale,
            "--statistics", plan.statistics, "--sections", ",".join(plan.sections), "--default-executor"],
            {"out": str(workers_out)})
        results["profile"] = _child(plan, "profile", [profile_job.__name__, "--cache", cache])
        results["memory"] = {"1x": _child(plan, "memory_1x", [suite_jobs.__name__, "memory", "--cache", cache])}
        results["memory"].update(_doubled_frames(plan))
    if not plan.fidelity:  # no stale results of an earlier run for --report-only to pick up
        for name in FIDELITY_JOBS:
            (plan.work_dir / "results" / f"{name}.json").unlink(missing_ok=True)
    if plan.fidelity:
        batch_1 = plan.work_dir / "suite_attention_batch_1.npz"
        results["attention_batch_1"] = _child(plan, "attention_batch_1", [
            suite_jobs.__name__, "attention", "--cache", cache, "--batch-size", 1,
            "--epochs", plan.epochs["attention"], "--predictions", batch_1], {"predictions_file": str(batch_1)})
        seed_noise = plan.work_dir / "original_attention_seed_plus_1.npz"
        results["original_attention_seed_plus_1"] = _child(plan, "original_attention_seed_plus_1", [
            original_run.__name__, "--cache", cache, "--predictions", seed_noise, "--jobs", "attention",
            "--attention-epochs", plan.epochs["attention"], "--seed", plan.seed + 1],
            {"predictions_file": str(seed_noise)})
    peaks.append(matmul_peak_gflops("float32"))
    thread_peaks.append(matmul_peak_gflops("float32", threads=1))
    run = {"peaks": peaks, "thread_peaks": thread_peaks,
           "machine": machine_description(threads, load_before, load_average()),
           "date": started.strftime("%Y-%m-%d %H:%M UTC"), "command": " ".join(plan.command)}
    (plan.work_dir / "results" / "run.json").write_text(json.dumps({**run, "cache": str(cache)}, indent=2))
    return {**results, **run}


def load_results(plan: SpeedPlan) -> dict:
    """The results of a finished run, read back from ``work_dir/results`` (what :func:`run_plan` returned)."""
    directory = plan.work_dir / "results"
    run = json.loads((directory / "run.json").read_text())
    results = {"plan": plan, "threads": run["machine"]["threads"], **run}
    for name in ("convert", "original", "suite", "suite_default_executor", "profile", *FIDELITY_JOBS):
        if (directory / f"{name}.json").is_file():
            results[name] = json.loads((directory / f"{name}.json").read_text())
    memory = {"1x": "memory_1x", **{f"{kind}2x_{variant}": f"{name}_2x_{variant}" for variant in ("segments", "length")
                                    for kind, name in (("", "memory"), ("original_", "original_load"))}}
    results["memory"] = {key: json.loads((directory / f"{name}.json").read_text()) for key, name in memory.items()
                         if (directory / f"{name}.json").is_file()}
    return results


def _doubled_frames(plan: SpeedPlan) -> dict:
    """Peak memory of one suite attention fold, and of the original's load, on caches with twice the frames.

    Twice the frames as twice the segments (the flatness check: memory must not grow with the data) and as
    segments twice as long (a padded batch of 32 segments then holds twice the frames, so the suite's peak grows
    by about one batch).
    """
    low, high = plan.spec.frames_per_segment
    variants = {"segments": replace(plan.spec, n_segments=2 * plan.spec.n_segments),
                "length": replace(plan.spec, frames_per_segment=(2 * low, 2 * high))}
    probes = {}
    for variant, spec in variants.items():
        cache = _cache(plan.work_dir / f"cache_{_scale_name(plan)}_doubled_{variant}", spec, plan.seed)
        _child(plan, f"convert_2x_{variant}", [suite_jobs.__name__, "convert", "--cache", cache])
        probes[f"2x_{variant}"] = _child(plan, f"memory_2x_{variant}",
                                         [suite_jobs.__name__, "memory", "--cache", cache])
        probes[f"original_2x_{variant}"] = _child(plan, f"original_load_2x_{variant}",
                                                  [original_run.__name__, "--cache", cache, "--jobs", ""])
    return probes


def _scale_name(plan: SpeedPlan) -> str:
    return "quick" if plan.spec == QUICK_SPEC else "real"


def _cache(directory: Path, spec: SyntheticSpec, seed: int) -> Path:
    return Path(generate_synthetic_cache(directory, spec, seed))


def _child(plan: SpeedPlan, name: str, command: list, files: dict[str, str] | None = None) -> dict:
    """Run ``python -m <command>`` with the plan's threads; returns its JSON result plus wall and CPU seconds."""
    result_path = plan.work_dir / "results" / f"{name}.json"
    result_path.unlink(missing_ok=True)
    arguments = [sys.executable, "-m", *map(str, command), "--result", str(result_path)]
    if plan.threads:
        arguments += ["--threads", str(plan.threads)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    tick = time.perf_counter()
    completed = subprocess.run(arguments, capture_output=True, text=True)
    wall = time.perf_counter() - tick
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if completed.returncode != 0:
        raise RuntimeError(f"benchmark process {name!r} failed ({' '.join(arguments)}):\n{completed.stderr[-4000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    result = {**json.loads(result_path.read_text()), "process_wall_s": wall, "process_cpu_s": cpu, **(files or {})}
    result_path.write_text(json.dumps(result, indent=2))  # with the process totals, for --report-only
    return result
