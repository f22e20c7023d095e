"""The ``## Performance`` section of ``BENCHMARKS.md``, rendered from ``python -m benchmarks.speed``'s results and
written in place of the old one (the file's other sections kept)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from benchmarks.orchestration.permutation_nulls import MAX_STACKED_TARGETS
from benchmarks.speed.report import PROBERS, R2_TOLERANCE, SECTION_ROWS
from datamodules.dimensions import DIMENSIONS
from datamodules.jsonio import write_text_atomic

HEADING = "## Performance"


def performance_markdown(results: dict, comparison: dict) -> str:
    """Markdown text of the section (heading included)."""
    plan, machine = results["plan"], results["machine"]
    parts = [
        "## Performance\n",
        f"`{results['command']}` on {results['date']}. Machine: {machine['cpu']}, {machine['logical_cpus']} logical "
        f"CPUs, {_number(machine['memory_gib'], 1)} GiB, torch {machine['torch']} ({machine['cpu_capability']}), "
        f"{machine['threads']} intra-op thread(s) in every process; load average "
        f"{_load(machine['load_before'])} before, {_load(machine['load_after'])} after (the machine is shared: "
        "wall times are noisy, ratios come from one run).\n",
        _data_line(results),
        "### Verdicts\n",
        _table(["target", "measured", "met"],
               [[name, value, _verdict(met)] for name, value, met in comparison["targets"]]),
        "### Time and memory by section\n",
        _sections_table(results, comparison),
        "### Attention: FLOP rate against the matrix-multiply peak\n",
        _attention_text(results, comparison),
        "### Memory\n",
        _memory_text(comparison["memory"]),
        "### R2 of the two implementations (pooled out-of-fold, same folds and epochs)\n",
        _r2_table(comparison["r2"]),
        _r2_checks_text(comparison["r2_checks"]),
        f"Epochs: attention {plan.epochs['attention']}, MLP {plan.epochs['mlp']} (the faithful 50 and 80 times "
        f"{plan.epochs_scale:g}), for both implementations.\n",
        "### Why the missed targets are missed, and what would meet them\n",
        _notes_text(results, comparison),
    ]
    return "\n".join(parts)


def _data_line(results: dict) -> str:
    original = results["original"]
    n_frames, n_segments = original["n_frames"], original["n_segments"]
    return (f"Data: synthetic cache `{results['cache']}`: {n_segments} segments, {n_frames} frames "
            f"(mean {n_frames / n_segments:.0f} per segment) of width {original['dim']}, float16 on disk. One-time "
            f"conversion into the suite's store: {results['convert']['sections']['convert']['wall_s']:.1f} s.\n")


def _sections_table(results: dict, comparison: dict) -> str:
    original, suite = results["original"]["sections"], results["suite"]["sections"]
    rows = [["load the cache (original: torch.load + stats pooling; suite: open store)",
             _seconds(original["load"]["wall_s"]), _seconds(results["suite"]["suite_timings"].get("open_cache")),
             _ratio(original["load"]["wall_s"], results["suite"]["suite_timings"].get("open_cache")), "", "",
             _mib(original["load"]["peak_rss_mb"]), ""]]
    for label, original_name, suite_name in SECTION_ROWS:
        left, right = original.get(original_name or "", {}), suite.get(suite_name or "", {})
        rows.append([label, _seconds(left.get("wall_s")), _seconds(right.get("wall_s")),
                     _ratio(left.get("wall_s"), right.get("wall_s")), _seconds(left.get("cpu_s")),
                     _seconds(right.get("cpu_s")), _mib(left.get("peak_rss_mb")), _mib(right.get("peak_rss_mb"))])
    whole_original, whole_suite = results["original"], results["suite"]
    rows.append(["**end to end (whole process)**", _seconds(whole_original["process_wall_s"]),
                 _seconds(whole_suite["process_wall_s"]), f"**{comparison['speedup_end_to_end']:.2f}x**",
                 _seconds(whole_original["process_cpu_s"]), _seconds(whole_suite["process_cpu_s"]),
                 _mib(whole_original["peak_rss_mb"]), _mib(whole_suite["peak_rss_mb"])])
    workers = results.get("suite_default_executor")
    if workers is not None:
        rows.append([f"**end to end, the suite's default executor ({workers['executor']})**", "",
                     _seconds(workers["process_wall_s"]),
                     f"**{whole_original['process_wall_s'] / workers['process_wall_s']:.2f}x**", "",
                     _seconds(workers["process_cpu_s"]), "", _mib(workers["peak_rss_mb"])])
    header = ["section", "original wall s", "suite wall s", "speed-up", "original CPU s", "suite CPU s",
              "original peak MiB", "suite peak MiB"]
    return _table(header, rows) + (
        "\nSpeed-up is original / suite wall time; CPU time sums all threads. End to end includes interpreter start, "
        "imports and, for the suite, its report, figures and TensorBoard logs. The section rows are the suite in one "
        "process with the benchmark's threads (so each section can be timed); the last row is the same run with the "
        "suite's default executor (the trained probers' folds in worker processes: their CPU time and peak memory are "
        "the main process's only).\n")


def _attention_text(results: dict, comparison: dict) -> str:
    attention, profile = comparison["attention"], results.get("profile")
    peaks = ", ".join(f"{peak['gflops']:.1f}" for peak in results["peaks"])
    lines = [
        f"Matrix-multiply peak (float32 `torch.mm`, 2048 x 2048, best of 5, same threads): {peaks} GFLOP/s before "
        f"and after the run{_profile_peak(profile)}; the largest, {comparison['peak_gflops']:.1f} GFLOP/s, is the "
        f"denominator.{_bf16_text(results, comparison)}\n",
        f"- Suite, attention training loops (all folds, with their {attention['monitored_epochs']} monitoring "
        f"validation passes per fold; frame products in {attention['product_dtype']}): "
        f"{attention['suite_flops'] / 1e12:.3f} TFLOP in {attention['suite_training_s']:.1f} s = "
        f"{attention['suite_gflops']:.1f} GFLOP/s, **{attention['fraction']:.0%} of the "
        f"{attention['product_dtype']} peak** ({attention['product_peak_gflops']:.0f} GFLOP/s"
        f"{_float32_share(attention)}); per CPU second of the process (both threads: "
        f"training and data prefetch; less disturbed by other jobs) "
        f"{attention['suite_flops'] / attention['suite_training_cpu_s'] / 1e9:.1f} GFLOP/s.",
        *_executor_attention_lines(results, attention),
        f"- Original, whole attention section (batch size 1): {attention['original_flops'] / 1e12:.3f} TFLOP in "
        f"{attention['original_s']:.1f} s = {attention['original_gflops']:.1f} GFLOP/s, "
        f"{attention['original_fraction']:.0%} of peak.",
    ]
    batch_1 = results.get("attention_batch_1")
    if batch_1 is not None:
        seconds = batch_1["sections"]["attention"]["wall_s"]
        lines.append(f"- Suite at batch size 1 (the original's optimiser trajectory): {seconds:.1f} s for the same "
                     f"epochs, {attention['original_s'] / seconds:.2f}x the original's speed.")
    if profile is None:
        return "\n".join(lines) + "\n\nNo step profile in `--quick`.\n"
    phases, step = profile["phases_s"], profile["step_s"]
    lines += [
        f"- Profile of {profile['n_steps']} suite steps (batch 32, fold 0, {profile['product_dtype']} products): "
        f"{step:.2f} s = {attention['profile_fraction']:.0%} of the {profile['product_dtype']} peak; data "
        f"{phases['data']:.2f} s (what the prefetch thread did not "
        f"hide), forward {phases['forward']:.2f} s, backward {phases['backward']:.2f} s, optimizer "
        f"{phases['optimizer']:.2f} s. The two frame products alone (the fused projection and its weight gradient, "
        f"one each per packed batch of about {round(profile['n_frames'] / profile['n_steps'])} frames by "
        f"{results['original']['dim']} x {128 + 19}) take {profile['frame_products_s']:.2f} s = "
        f"{attention['kernel_fraction']:.0%} of that peak"
        f"{' (the rounding of the frames included)' if profile['product_dtype'] != 'float32' else ''}; the rest of "
        f"the step "
        f"({max(step - profile['frame_products_s'], 0):.2f} s) is tanh, the segment softmax and sums, and Adam.",
        f"- The same batches by autograd on the per-segment formulation (the suite's attention before the fused "
        f"product, float32), forward and backward only: {profile['per_segment_steps_s']:.2f} s, against "
        f"{phases['forward'] + phases['backward']:.2f} s fused "
        f"({profile['per_segment_steps_s'] / (phases['forward'] + phases['backward']):.2f}x).",
        "\nHeaviest operators of two profiled steps (`torch.profiler`, self CPU time):\n",
        "```text\n" + profile["profile_table"].strip() + "\n```\n",
    ]
    return "\n".join(lines)


def _executor_attention_lines(results: dict, attention: dict) -> list[str]:
    """The default executor's attention rate (one line), or none where its units were not timed."""
    if "executor_fraction" not in attention:
        return []
    thread_peaks = ", ".join(f"{peak['gflops']:.1f}" for peak in results.get("thread_peaks", []))
    threads = "/".join(map(str, attention["executor_unit_threads"]))
    return [
        f"- Suite, default executor (the trained probers' units in worker processes of {threads} thread(s), side by "
        f"side with the other units): the same FLOPs in {attention['executor_units']} attention "
        f"units of {attention['executor_thread_s']:.1f} thread-seconds in all (each unit's wall time times its "
        f"threads, measured in its worker: data module, fit, validation predictions, fold file; `run.unit_times`) = "
        f"{attention['executor_gflops_per_thread']:.1f} GFLOP/s per thread, **{attention['executor_fraction']:.0%} "
        f"of a thread's {attention['product_dtype']} peak** ({attention['thread_peak_gflops']:.1f} GFLOP/s: the "
        f"larger of the one-thread peak, {thread_peaks or 'not measured'} GFLOP/s before and after the run, and "
        f"the all-thread peak over {results['threads']} threads). This is the headline rate: it is how the suite "
        f"runs by default."]


def _notes_text(results: dict, comparison: dict) -> str:
    """One paragraph per missed target, from the measurements above."""
    attention, memory = comparison["attention"], comparison["memory"]
    notes = []
    if comparison["speedup_end_to_end"] < 3.0:
        notes.append(_end_to_end_note(comparison))
    if comparison["rss_ratio"] > 0.25:
        flat = ""
        if "suite_attention_2x_segments_mb" in memory:
            growth = memory["suite_attention_2x_segments_mb"] / memory["suite_attention_1x_mb"] - 1
            original_growth = memory["original_load_2x_segments_mb"] / memory["original_load_1x_mb"] - 1
            flat = (f"; with twice the segments one attention fold of the suite grows by {growth:.0%}, the "
                    f"original's load by {original_growth:.0%}")
        sections = results["suite"]["sections"]
        heaviest = max(sections, key=lambda name: sections[name]["peak_rss_mb"])
        why = ("; the null solves the permutations' targets as stacked Ridge targets, in chunks of at most "
               f"{MAX_STACKED_TARGETS} columns" if heaviest == "ridge_permutation_null" else "")
        notes.append(
            f"- **Memory.** The suite's peak is reached in `{heaviest}` ({sections[heaviest]['peak_rss_mb']:.0f} MiB"
            f"{why}). The suite's imports alone (Lightning, torchmetrics, matplotlib, statsmodels on top of "
            f"torch and scikit-learn) take {memory['suite_imports_mb']:.0f} MiB, "
            f"{memory['suite_imports_mb'] / memory['original_peak_mb']:.0%} of the original's whole peak, so one "
            f"quarter is out of reach at this data size whatever the data path does; above the imports the ratio is "
            f"{memory['data_ratio']:.2f}{flat}. torch and scikit-learn alone, which the original imports too, "
            f"take {memory['original_imports_mb']:.0f} MiB: a quarter of the original's peak is below what either "
            f"implementation needs before it reads any data.")
    if "kernel_fraction" in attention and comparison["attention_peak_fraction"] < 0.6:
        notes.append(
            f"- **Attention rate.** The step is one fused product over the packed batch's frames forward and one "
            f"for the weight gradients (`probes/fused_attention.py`); those two products alone reach "
            f"{attention['kernel_fraction']:.0%} of the square-matrix {attention['product_dtype']} peak at these "
            f"shapes (about "
            f"{round(results['profile']['n_frames'] / results['profile']['n_steps'])} frames by "
            f"{results['original']['dim']} by {128 + 19}: a thin product streaming the frames), and they carry 15% "
            f"more FLOPs than the count above (the head's 19 columns on every frame, where the per-segment "
            f"formulation multiplies 19 x D once per segment). The rest of the step is element-wise (tanh, the "
            f"segment softmax and sums) and Adam; the training loop adds the data path (reading, standardising and "
            f"clipping every frame each epoch in the prefetch thread, which shares the two cores) and the monitoring "
            f"validation passes. What remains: bfloat16 products (opt-in, `product_precision`; they leave the data "
            f"path as the step's bound, see BENCHMARKS.md) and standardisation folded into the product (exact only "
            f"without clipping). Batch buffers reused instead of page-faulted afresh every step are done in the "
            f"default executor's worker processes (`keep_freed_blocks`), not in this one-process run, whose peak "
            f"memory is the one held to the original's.")
    if comparison["max_r2_diff"] > R2_TOLERANCE:
        notes.append(_r2_note(comparison))
    return "\n".join(notes or ["- Every target is met."]) + "\n"


def _r2_note(comparison: dict) -> str:
    agree = ", ".join(f"{name} {np.max(np.abs(entry['diff'])):.4f}" for name, entry in comparison["r2"].items()
                      if np.max(np.abs(entry["diff"])) <= R2_TOLERANCE)
    checks = {label: float(np.max(np.abs(entry["diff"]))) for label, entry in comparison["r2_checks"].items()}
    replay = checks.get("attention, suite at batch size 1")
    seed = checks.get("attention, original with seed + 1")
    text = (f"- **R2.** Max |diff| where the two agree: {agree or 'none'} (the same estimators on the same batches "
            f"and initial weights). The suite's attention trains with batches of 32 by default, 32 times fewer "
            f"Adam steps than the original's batch size 1 at the same epochs: another optimisation path.")
    if replay is not None:
        text += (f" At batch size 1 the suite replays the original's loop (same initial weights, order and steps): "
                 f"max |diff| {replay:.4f}.")
    if seed is not None:
        text += (f" The original's attention against itself with seed + 1 differs by up to {seed:.3f}: the "
                 f"faithful recipe overfits (no early stopping, alpha = 1 readout on D pooled features), and its R2 "
                 f"is set by the optimisation path at least as much as by the data.")
    return text


def _end_to_end_note(comparison: dict) -> str:
    attention, floor = comparison["attention"], comparison["floor"]
    ceiling = 1.0 / attention["original_fraction"] if attention["original_fraction"] > 0 else float("inf")
    return (
        f"- **End to end.** Both implementations execute the same attention FLOPs (the scorer's `Linear(D, 128)` "
        f"forward and weight gradient on every frame, every epoch), and at batch size 1 the original already runs "
        f"them at {attention['original_fraction']:.0%} of the peak: on this CPU no batching can make attention more "
        f"than {ceiling:.1f}x faster, and the suite reaches {attention['fraction']:.0%} in one process"
        f"{_executor_share(attention)}. The 19 MLPs are the same "
        f"FLOPs too. A floor from the measurements: at 100% of the peak the attention FLOPs take "
        f"{floor['attention_s']:.1f} s and the MLPs' {floor['mlp_s']:.1f} s; with the {floor['statistics_s']:.0f} s "
        f"the suite spends on statistics the original never computes (label audit with parallel analysis, factor "
        f"stability and reliability; bootstrap CIs and permutation tests; the Ridge permutation null; residuals and "
        f"CCA with their noise floor) the suite cannot finish in less than {floor['suite_floor_s']:.0f} s, against "
        f"the target's {floor['target_s']:.0f} s (a third of the original's). The floor counts float32 FLOPs; the "
        f"suite's attention multiplies in {attention['product_dtype']}, and the MLPs and the statistics do not.")


def _executor_share(attention: dict) -> str:
    """`` (N% of a thread's peak in the default executor's units)`` where measured, else nothing."""
    if "executor_fraction" not in attention:
        return ""
    return f" ({attention['executor_fraction']:.0%} of a thread's peak in the default executor's units)"


def _float32_share(attention: dict) -> str:
    """``; N% of the float32 peak`` when the frame products ran in another dtype, else nothing."""
    if attention["product_dtype"] == "float32":
        return ""
    return f"; {attention['fraction_float32']:.0%} of the float32 peak"


def _mean_frames(profile: dict) -> int:
    return round(profile["n_frames"] / profile["n_segments"])


def _profile_peak(profile: dict | None) -> str:
    return "" if profile is None else f", {profile['peak']['float32']['gflops']:.1f} in the profile"


def _bf16_text(results: dict, comparison: dict) -> str:
    bf16 = comparison["attention"].get("bf16_gflops")
    if bf16 is None:
        return ""
    if comparison["attention"]["product_dtype"] == "bfloat16":
        return (f" bfloat16 `torch.mm`: {bf16:.1f} GFLOP/s: this run's attention multiplied its frames in bfloat16 "
                f"(`product_precision`), and its rates below are against that peak.")
    if bf16 > comparison["peak_gflops"]:
        return (f" bfloat16 `torch.mm`: {bf16:.1f} GFLOP/s, faster than float32; the suite's attention multiplies in "
                f"float32 by default (bfloat16 is opt-in, `product_precision`).")
    instructions = "has" if results["machine"]["bf16_instructions"] else "has no"
    return (f" bfloat16 `torch.mm`: {bf16:.2f} GFLOP/s; this CPU {instructions} bfloat16 instructions, so reduced "
            "precision is rejected on speed alone (no R2 run needed).")


def _memory_text(memory: dict) -> str:
    lines = [
        f"- Peak resident memory: original {memory['original_peak_mb']:.0f} MiB, suite {memory['suite_peak_mb']:.0f} "
        f"MiB (ratio {memory['ratio']:.2f}). After imports alone: original {memory['original_imports_mb']:.0f} MiB "
        f"(torch, scikit-learn), suite {memory['suite_imports_mb']:.0f} MiB (plus Lightning, torchmetrics, "
        f"matplotlib, scipy, statsmodels). Above the imports: original "
        f"{memory['original_peak_mb'] - memory['original_imports_mb']:.0f} MiB, suite "
        f"{memory['suite_peak_mb'] - memory['suite_imports_mb']:.0f} MiB (ratio {memory['data_ratio']:.2f}).",
    ]
    if "suite_attention_2x_segments_mb" in memory:
        lines.append(
            f"- Twice the frames as twice the segments: one suite attention fold peaks at "
            f"{memory['suite_attention_1x_mb']:.0f} -> {memory['suite_attention_2x_segments_mb']:.0f} MiB (frames "
            f"above the data module's 256 MiB resident budget, as here, are read per batch with `pread`, never "
            f"mapped or held; what grows is per segment, not per frame: "
            f"pooled features, stats and the readout's copies of them), the original's load at "
            f"{memory['original_load_1x_mb']:.0f} -> {memory['original_load_2x_segments_mb']:.0f} MiB (the whole "
            "dict is resident).")
    if "suite_attention_2x_length_mb" in memory:
        lines.append(
            f"- Twice the frames as segments twice as long: the suite's fold peaks at "
            f"{memory['suite_attention_2x_length_mb']:.0f} MiB, because a batch of 32 segments (held "
            f"while the next one is prepared) holds twice the frames: memory is bounded by the batch, 32 x the "
            f"longest segment x D, not by the data; the original's load peaks at "
            f"{memory['original_load_2x_length_mb']:.0f} MiB.")
    return "\n".join(lines) + "\n"


def _r2_table(r2: dict) -> str:
    header = ["dimension"] + [f"{name} {side}" for name in PROBERS if name in r2 for side in ("orig", "suite", "diff")]
    rows = []
    for index, dimension in enumerate(DIMENSIONS):
        row = [dimension]
        for name in PROBERS:
            if name in r2:
                diff = r2[name]["diff"][index]
                flag = " *" if abs(diff) > R2_TOLERANCE else ""
                row += [f"{r2[name]['original'][index]:.3f}", f"{r2[name]['suite'][index]:.3f}", f"{diff:+.3f}{flag}"]
        rows.append(row)
    summary = "; ".join(f"{name}: max |diff| {np.max(np.abs(entry['diff'])):.3f} over {entry['n_rows']} rows"
                        for name, entry in r2.items())
    return _table(header, rows) + f"\n`*`: |diff| > {R2_TOLERANCE}. {summary}.\n"


def _r2_checks_text(checks: dict) -> str:
    if not checks:
        return ""
    lines = ["Checks on the differences (first R2 of the pair is the original's):\n"]
    for label, entry in checks.items():
        worst = int(np.argmax(np.abs(entry["diff"])))
        lines.append(f"- {label}: max |diff| {np.max(np.abs(entry['diff'])):.3f} ({DIMENSIONS[worst]}: "
                     f"{entry['original'][worst]:.3f} vs {entry['suite'][worst]:.3f}), mean diff "
                     f"{np.mean(entry['diff']):+.3f}, over {entry['n_rows']} rows.")
    return "\n".join(lines) + "\n"


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _verdict(met: bool | None) -> str:
    return "n/a" if met is None else ("yes" if met else "**no**")


def _seconds(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"


def _mib(value: float | None) -> str:
    return "" if value is None else f"{value:.0f}"


def _ratio(numerator: float | None, denominator: float | None) -> str:
    return "" if not numerator or not denominator else f"{numerator / denominator:.2f}x"


def _number(value: float | None, digits: int) -> str:
    return "?" if value is None else f"{value:.{digits}f}"


def _load(load: tuple | list | None) -> str:
    return "?" if not load else "/".join(f"{value:.1f}" for value in load)


def write_performance_section(path: Path, results: dict, comparison: dict) -> None:
    """Replace (or append) the ``## Performance`` section of ``path``, atomically."""
    section = performance_markdown(results, comparison).rstrip("\n") + "\n\n"
    path = Path(path)
    text = path.read_text(encoding="utf-8") if path.is_file() else "# Benchmarks\n"
    pattern = re.compile(rf"^{re.escape(HEADING)}\n.*?(?=^## |\Z)", re.MULTILINE | re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: section, text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    write_text_atomic(path, text.rstrip("\n") + "\n")
