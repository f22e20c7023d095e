"""``report.md``: the audit's consolidated results in the original notebook's order, every number with its protocol.

Each renderer takes the ``audit.json`` payload and returns ``(one-line answer, markdown lines)`` or None when its
section was not run.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from benchmarks.report.downstream import render_competition, render_stop_prediction
from benchmarks.report.embedding import render_cca, render_residuals
from benchmarks.report.html import write_html_report
from benchmarks.report.labels import (
    render_correlation,
    render_distributions,
    render_factors,
    render_fold_integrity,
    render_reliability,
)
from benchmarks.report.layers import render_layer_sweep
from benchmarks.report.probing import render_probing
from datamodules.jsonio import write_text_atomic

Renderer = Callable[[dict], "tuple[str, list[str]] | None"]
SECTIONS: tuple[tuple[str, Renderer], ...] = (
    ("1. Correlation and redundancy", render_correlation),
    ("2. How many factors", render_factors),
    ("3. Label distributions", render_distributions),
    ("4. Rater reliability and noise ceiling", render_reliability),
    ("4b. Fold integrity", render_fold_integrity),
    ("5. Probing: which dimensions are audible", render_probing),
    ("5e. Layer sweep: which layer hears each dimension", render_layer_sweep),
    ("6. Residuals", render_residuals),
    ("7. Canonical correlations", render_cca),
    ("8. Teacher STOP prediction", render_stop_prediction),
    ("10. Competition placement", render_competition),
)


def section_answers(audit: dict) -> list[tuple[str, str]]:
    """``(section title, one-line answer)`` for every section present in ``audit``."""
    answers = []
    for title, renderer in SECTIONS:
        rendered = renderer(audit)
        if rendered is not None:
            answers.append((title, rendered[0]))
    return answers


def render_report(audit: dict, figures: list[str]) -> str:
    """The whole markdown text."""
    run = audit.get("run", {})
    lines = ["# percepiano-bench audit report", ""]
    lines += [f"- command: `{' '.join(run.get('command') or [])}`", f"- seed: {run.get('seed')}",
              f"- revision: {run.get('git_revision')}", f"- configuration fingerprint: `{run.get('fingerprint')}`"]
    alignment = run.get("alignment", {})
    if alignment:
        lines.append(f"- segments: {alignment.get('n_labelled')} labelled, {alignment.get('n_embedded')} embedded; "
                     f"{alignment.get('n_labelled_without_embeddings', 0)} labelled without embeddings, "
                     f"{alignment.get('n_embedded_without_labels', 0)} embedded without labels, "
                     f"{alignment.get('n_labelled_in_no_fold', 0)} in no fold (held out, unused)")
    if run.get("executor"):
        lines.append(f"- executor: {run['executor']}{main_threads_text(run.get('main_threads') or {})}")
    lines += unit_time_lines(run.get("unit_times") or [])
    lines += failed_trial_lines(run.get("failed_trials") or [])
    lines.append("")
    for title, renderer in SECTIONS:
        rendered = renderer(audit)
        if rendered is None:
            continue
        answer, body = rendered
        lines += [f"## {title}", "", f"**{answer}**", "", *body, ""]
    if figures:
        lines += ["## Figures", ""] + [f"![{name}](figures/{name})" for name in figures] + [""]
    return "\n".join(lines)


def main_threads_text(phases: dict[str, dict]) -> str:
    """``; main-process threads by phase (idle CPUs before it): ...``; empty without any.

    Examples
    --------
    >>> main_threads_text({"probing": {"threads": 2, "idle_cpus": 1.9}, "downstream": {"threads": 1, "idle_cpus": 0}})
    '; main-process threads by phase (idle CPUs before it): probing 2 (1.9), downstream 1 (0)'
    """
    if not phases:
        return ""
    parts = [f"{phase} {chosen['threads']}" + ("" if chosen.get("idle_cpus") is None else f" ({chosen['idle_cpus']:g})")
             for phase, chosen in phases.items()]
    return f"; main-process threads by phase (idle CPUs before it): {', '.join(parts)}"


def unit_time_lines(units: list[dict]) -> list[str]:
    """One line of what the executor's fold units cost, by prober (and layer selection); none without units.

    Examples
    --------
    >>> unit_time_lines([{"prober": "mlp", "layers": None, "resumed": False, "wall_s": 4.0, "cpu_s": 3.5},
    ...                  {"prober": "mlp", "layers": None, "resumed": False, "wall_s": 6.0, "cpu_s": 5.5},
    ...                  {"prober": "mlp", "layers": "2", "resumed": True, "wall_s": 0.5, "cpu_s": 0.5}])[0][-65:]
    'mlp 2 fitted, 10.0 / 9.0 s; mlp (layers 2) 1 resumed, 0.5 / 0.5 s'
    """
    if not units:
        return []
    groups: dict[tuple[str, str | None], list[dict]] = {}
    for unit in units:
        groups.setdefault((unit["prober"], unit.get("layers")), []).append(unit)
    parts = []
    for (prober, layers), members in groups.items():
        fitted = sum(not unit["resumed"] for unit in members)
        counts = ", ".join(f"{count} {kind}" for count, kind in ((fitted, "fitted"), (len(members) - fitted, "resumed"))
                           if count)
        parts.append(f"{prober}{f' (layers {layers})' if layers else ''} {counts}, "
                     f"{sum(unit['wall_s'] for unit in members):.1f} / {sum(unit['cpu_s'] for unit in members):.1f} s")
    return [f"- fold units (wall / CPU seconds summed over units, as their workers measured them): {'; '.join(parts)}"]


def failed_trial_lines(failures: list[dict]) -> list[str]:
    """One line per fold fit that failed on every attempt; its prober is left out of the sections below."""
    if not failures:
        return []
    lines = [f"- **failed trials: {len(failures)}** (each retried once; their probers are left out of the "
             "sections below):"]
    for failure in failures:
        layers = f", layers {failure['layers']}" if failure.get("layers") else ""
        lines.append(f"  - {failure['prober']} seed {failure['seed']} fold {failure['fold']}{layers} "
                     f"({failure['attempts']} attempts): {failure['error']}")
    return lines


def write_report(audit: dict, out_dir: Path) -> Path:
    """Write ``report.md`` atomically beside ``audit.json``, then the self-contained ``report.html``; returns the
    path of ``report.md``."""
    figures = sorted(path.name for path in (Path(out_dir) / "figures").glob("*.png"))
    path = Path(out_dir) / "report.md"
    write_text_atomic(path, render_report(audit, figures))
    write_html_report(Path(out_dir))
    return path
