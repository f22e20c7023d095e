"""``python -m benchmarks.speed.contention``: the suite's default run idle and beside a competing numerical job.

For each executor setting (``--workers 1 --threads N``: one process with every thread, the layout before worker
processes; and the default: worker processes of one thread each) the default command runs twice, alone and beside
one competing job (a ``torch.mm`` loop on as many threads as the machine has CPUs, the "other user" of a shared
server), and the slowdown is the ratio of the two wall times measured in the same invocation. The results go to
a JSON file and are printed as a Markdown table for ``BENCHMARKS.md``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks.orchestration.executor import available_cpus
from benchmarks.orchestration.output_guard import CONFIG_FILE, RESULT_DIRS
from benchmarks.speed.measure import load_average

#: The competing job: square float32 products forever, on ``threads`` threads.
COMPETITOR = ("import sys, torch\ntorch.set_num_threads(int(sys.argv[1]))\na = torch.randn(1024, 1024)\n"
              "while True:\n    a = torch.mm(a, a).tanh_()\n")


def run_once(arguments: Sequence[str], out: Path, competing_threads: int) -> dict:
    """Wall time of ``python -m benchmarks.run ARGUMENTS --out OUT`` from scratch (``OUT`` emptied, the synthetic
    cache kept), with a competitor when ``competing_threads`` > 0."""
    for name in RESULT_DIRS:
        shutil.rmtree(out / name, ignore_errors=True)
    for name in ("audit.json", CONFIG_FILE):
        (out / name).unlink(missing_ok=True)
    competitor = None
    if competing_threads:
        competitor = subprocess.Popen([sys.executable, "-c", COMPETITOR, str(competing_threads)])
        time.sleep(2.0)  # the competitor has loaded torch and is multiplying
    try:
        before = load_average()
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "benchmarks.run", *arguments, "--out", str(out)],
                       check=True, capture_output=True, text=True)
        wall_s = time.perf_counter() - started
    finally:
        if competitor is not None:
            competitor.kill()
            competitor.wait()
    return {"wall_s": wall_s, "load_before": before, "competing_threads": competing_threads}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.speed.contention", description=__doc__.splitlines()[0])
    parser.add_argument("--work-dir", type=Path, default=Path("runs/contention"))
    parser.add_argument("--result", type=Path, default=None, help="JSON results (default WORK_DIR/contention.json)")
    parser.add_argument("--run-args", default="",
                        help="extra arguments of every benchmarks.run (e.g. '--sections probing')")
    arguments = parser.parse_args(argv)
    n_cpus = available_cpus()
    extra = arguments.run_args.split()
    settings = {"one process, every thread": ["--workers", "1", "--threads", str(n_cpus)], "worker processes": []}
    results: dict[str, dict] = {}
    for label, flags in settings.items():
        out = arguments.work_dir / ("sequential" if flags else "workers")
        idle = run_once([*flags, *extra], out, 0)
        loaded = run_once([*flags, *extra], out, n_cpus)
        results[label] = {"idle": idle, "loaded": loaded, "slowdown": loaded["wall_s"] / idle["wall_s"]}
        print(f"{label}: idle {idle['wall_s']:.1f} s, beside a {n_cpus}-thread job {loaded['wall_s']:.1f} s "
              f"({results[label]['slowdown']:.2f}x)", file=sys.stderr, flush=True)
    path = arguments.result or arguments.work_dir / "contention.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"n_cpus": n_cpus, "run_args": extra, "results": results}, indent=2))
    print("| executor | idle (s) | beside a competing job (s) | slowdown |\n|---|---|---|---|")
    for label, entry in results.items():
        print(f"| {label} | {entry['idle']['wall_s']:.1f} | {entry['loaded']['wall_s']:.1f} | "
              f"{entry['slowdown']:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
