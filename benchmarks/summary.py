"""The compact console summary printed at the end of a run."""

from __future__ import annotations

from pathlib import Path

from benchmarks.report import section_answers


def print_summary(audit: dict, out: Path) -> None:
    """Print one line per section (its answer) and where the full results are."""
    print("percepiano-bench summary")
    for title, answer in section_answers(audit):
        print(f"  {title}: {answer}")
    timings = audit.get("run", {}).get("timings_s", {})
    if "total" in timings:
        print(f"  total time: {timings['total']:.1f} s")
    print(f"  results: {Path(out) / 'audit.json'}, {Path(out) / 'report.md'}; "
          f"TensorBoard: tensorboard --logdir {Path(out) / 'tensorboard'}")
