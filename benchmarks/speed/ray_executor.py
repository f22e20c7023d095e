"""``python -m benchmarks.speed.ray_executor``: the default run's probing section on Ray against local workers.

Runs ``python -m benchmarks.run --sections probing`` (the README's default cache and probers) from scratch with
the local executor (worker processes, one thread each) and with ``--executor ray`` (a local Ray started by the run),
``--repeats`` times each, alternating, on an idle machine. Reported per run: the process's wall time, the probing
fit's time from ``audit.json`` (``run.timings.probing_fit``), Ray's start-up, and whether the two executors'
``probing_comparison`` is equal. The ratio compares medians measured in the same invocation. Results go to a JSON
file and a Markdown table on stdout, for ``BENCHMARKS.md``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks.speed.measure import load_average

EXECUTORS: dict[str, tuple[str, ...]] = {"local": (), "ray": ("--executor", "ray")}


def run_once(executor: str, out: Path, cache_root: Path) -> dict:
    """One fresh ``--sections probing`` run of ``executor`` into ``out`` (the synthetic cache comes from
    ``cache_root``, built once and shared)."""
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    cache = cache_root / "synthetic_cache_default"
    command = [sys.executable, "-m", "benchmarks.run", "--sections", "probing", "--out", str(out),
               *(("--cache", str(cache)) if cache.is_dir() else ()), *EXECUTORS[executor]]
    before = load_average()
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, text=True)
    wall_s = time.perf_counter() - started
    audit = json.loads((out / "audit.json").read_text())
    runs = audit["run"].get("executor_runs", [])
    return {"executor": executor, "wall_s": wall_s, "probing_fit_s": audit["run"]["timings_s"]["probing_fit"],
            "ray_startup_s": sum(run["startup_s"] for run in runs), "load_before": before,
            "n_units": sum(run["n_units"] for run in runs), "comparison": audit["probing_comparison"]}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.speed.ray_executor",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--work-dir", type=Path, default=Path("runs/ray-executor"))
    parser.add_argument("--repeats", type=int, default=2)
    arguments = parser.parse_args(argv)
    work = arguments.work_dir
    work.mkdir(parents=True, exist_ok=True)
    cache_root = work / "local_0"
    runs = []
    for repeat in range(arguments.repeats):
        for executor in EXECUTORS:
            runs.append(run_once(executor, work / f"{executor}_{repeat}", cache_root))
            if not (cache_root / "synthetic_cache_default").is_dir():  # keep the first run's cache for the others
                shutil.copytree(work / f"{executor}_{repeat}" / "synthetic_cache_default",
                                cache_root / "synthetic_cache_default")
    equal = all(run["comparison"] == runs[0]["comparison"] for run in runs)
    medians = {executor: {key: statistics.median(run[key] for run in runs if run["executor"] == executor)
                          for key in ("wall_s", "probing_fit_s", "ray_startup_s")} for executor in EXECUTORS}
    summary = {"runs": [{key: value for key, value in run.items() if key != "comparison"} for run in runs],
               "medians": medians, "equal_probing_comparison": equal,
               "ratio_probing_fit": medians["ray"]["probing_fit_s"] / medians["local"]["probing_fit_s"],
               "ratio_wall": medians["ray"]["wall_s"] / medians["local"]["wall_s"]}
    (work / "ray_executor.json").write_text(json.dumps(summary, indent=2))
    print("| executor | process wall s (median) | probing fit s | of which Ray start-up s |")
    print("|---|---|---|---|")
    for executor, values in medians.items():
        print(f"| {executor} | {values['wall_s']:.1f} | {values['probing_fit_s']:.1f} | "
              f"{values['ray_startup_s']:.1f} |")
    print(f"\nray / local: probing fit {summary['ratio_probing_fit']:.2f}x, whole process "
          f"{summary['ratio_wall']:.2f}x; probing_comparison equal: {equal}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
