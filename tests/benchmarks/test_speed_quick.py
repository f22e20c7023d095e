"""``python -m benchmarks.speed --quick``: the CI smoke run writes its section and a machine-readable last line."""

from __future__ import annotations

import math
import re
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.speed.markdown import write_performance_section
from datamodules.dimensions import DIMENSIONS

REPOSITORY = Path(__file__).resolve().parents[2]
LAST_LINE = re.compile(
    r"^speedup_end_to_end=(\S+) rss_ratio=(\S+) attention_peak_fraction=(\S+) max_r2_diff=(\S+)$")


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """The last stdout line and the Markdown of one quick run into a file that already has another section."""
    root = tmp_path_factory.mktemp("speed")
    output = root / "BENCHMARKS.md"
    output.write_text("# Benchmarks\n\n## Real data\n\nkept as it was\n", encoding="utf-8")
    command = [sys.executable, "-m", "benchmarks.speed", "--quick", "--threads", "1", "--work-dir", str(root / "work"),
               "--output", str(output)]
    completed = subprocess.run(command, cwd=REPOSITORY, capture_output=True, text=True, timeout=900)
    assert completed.returncode == 0, completed.stderr[-4000:]
    return completed.stdout.strip().splitlines()[-1], output.read_text(encoding="utf-8")


class TestSpeedQuick:
    def test_last_line_is_machine_readable(self, quick_run: tuple[str, str]) -> None:
        match = LAST_LINE.match(quick_run[0])
        assert match, quick_run[0]
        speedup, rss_ratio, fraction, r2_diff = (float(value) for value in match.groups())
        assert all(math.isfinite(value) for value in (speedup, rss_ratio, fraction, r2_diff))
        assert speedup > 0 and rss_ratio > 0 and 0 <= fraction <= 1 and r2_diff >= 0

    def test_performance_section_is_written_and_other_sections_kept(self, quick_run: tuple[str, str]) -> None:
        text = quick_run[1]
        assert "## Real data\n\nkept as it was\n" in text
        assert text.count("## Performance") == 1
        for heading in ("### Verdicts", "### Time and memory by section", "### Attention: FLOP rate",
                        "### Memory", "### R2 of the two implementations"):
            assert heading in text
        assert "python -m benchmarks.speed --quick" in text and "Epochs: attention 1, MLP 2" in text

    def test_stats_pooled_ridge_agrees_with_nineteen_sklearn_fits(self, quick_run: tuple[str, str]) -> None:
        """The suite's one multi-target solve against the notebook's 19 separate ``Ridge`` fits: same R2."""
        rows = {line.split("|")[1].strip(): line.split("|") for line in quick_run[1].splitlines()
                if line.startswith("| ") and line.split("|")[1].strip() in DIMENSIONS}
        assert set(rows) == set(DIMENSIONS)
        assert all(abs(float(cells[4].strip().rstrip(" *"))) < 1e-3 for cells in rows.values())


class TestWritePerformanceSection:
    def test_replaces_only_its_own_section(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr("benchmarks.speed.markdown.performance_markdown",
                            lambda results, comparison: "## Performance\n\nnew\n")
        path = tmp_path / "BENCHMARKS.md"
        path.write_text("# Benchmarks\n\n## Performance\n\nold\n\n## Real data\n\nkept\n", encoding="utf-8")
        write_performance_section(path, {}, {})
        assert path.read_text(encoding="utf-8") == "# Benchmarks\n\n## Performance\n\nnew\n\n## Real data\n\nkept\n"
