"""Comparing the two implementations' results of ``python -m benchmarks.speed``.

:func:`compare` turns the per-process results into ratios, R2 differences, FLOP rates and target verdicts (pure
arithmetic on the results; no timing here); :func:`benchmarks.speed.markdown.write_performance_section`
renders them as the ``## Performance`` section of a Markdown file.
"""

from __future__ import annotations

import json
import os
import platform
import re
from pathlib import Path

import numpy as np

from analyses.probe_metrics import r2_per_dimension
from benchmarks.orchestration.fold_files import load_out_of_fold
from benchmarks.speed.measure import attention_inference_flops, attention_training_flops, mlp_training_flops
from datamodules.cache import open_cache
from probes.attention import AttentionPoolingProber

PROBERS: tuple[str, ...] = ("ridge", "attention", "mlp")
#: (row label, the original's section, the suite's section); None where one side has no such section.
SECTION_ROWS: tuple[tuple[str, str | None, str | None], ...] = (
    ("label audit", "labels", "labels_callbacks"),
    ("Ridge (19 fits per fold / one solve)", "ridge", "ridge"),
    ("attention (fit, pooled features, readout)", "attention", "attention"),
    ("MLP (19 trainings / one batched)", "mlp", "mlp"),
    ("residuals and CCA", "embedding", "embedding_callbacks"),
    ("Ridge permutation null (suite only)", None, "ridge_permutation_null"),
    ("probing statistics: CIs, tests (suite only)", None, "probing_callbacks"),
)
#: The suite's sections that compute statistics the original never does.
STATISTICS_SECTIONS: tuple[str, ...] = ("labels_callbacks", "probing_callbacks", "embedding_callbacks",
                                        "ridge_permutation_null")
R2_TOLERANCE = 0.02


def compare(results: dict) -> dict:
    """Ratios, R2 per dimension and target verdicts from :func:`benchmarks.speed.run.run_plan`'s results."""
    original, suite = results["original"], results["suite"]
    cache = open_cache(Path(results["cache"]))
    r2 = _r2(cache, results)
    profile = results.get("profile")
    peak = max([p["gflops"] for p in results["peaks"]] + ([profile["peak"]["float32"]["gflops"]] if profile else []))
    attention = _attention_rates(cache, results, peak)
    attention.update(_executor_attention_rate(results, attention, peak))
    memory = _memory(results)
    floor = _time_floor(cache, results, attention, peak)
    speedup = original["process_wall_s"] / suite["process_wall_s"]
    default_executor = results.get("suite_default_executor")
    if default_executor is not None:  # the suite as it runs by default is what the end-to-end target is about
        speedup = original["process_wall_s"] / default_executor["process_wall_s"]
    max_r2_diff = max(float(np.max(np.abs(entry["diff"]))) for entry in r2.values())
    checks = _r2_checks(cache, results)
    replay = checks.get("attention, suite at batch size 1")
    replay_target = [] if replay is None else [(
        f"per-dimension R2 within {R2_TOLERANCE}, attention at the original's batch size 1",
        f"max |diff| {np.max(np.abs(replay['diff'])):.4f}", bool(np.max(np.abs(replay["diff"])) <= R2_TOLERANCE))]
    headline = attention.get("executor_fraction", attention["fraction"])
    return {
        "speedup_end_to_end": speedup,
        "cpu_speedup_end_to_end": original["process_cpu_s"] / suite["process_cpu_s"],
        "rss_ratio": memory["ratio"], "attention_peak_fraction": headline, "max_r2_diff": max_r2_diff,
        "r2": r2, "r2_checks": checks, "attention": attention, "memory": memory, "floor": floor,
        "peak_gflops": peak,
        "targets": [
            ("end to end: suite <= 1/3 of the original's wall time", f"{1 / speedup:.2f} of it", speedup >= 3.0),
            (f"per-dimension R2 within {R2_TOLERANCE} (faithful ridge, attention at batch 32, mlp)",
             f"max |diff| {max_r2_diff:.3f}", max_r2_diff <= R2_TOLERANCE),
            *replay_target,
            ("attention training >= 60% of the matrix-multiply peak (of the dtype its frame products use)",
             _attention_verdict_text(attention), headline >= 0.6),
            ("peak resident memory no higher than the original's", f"{memory['ratio']:.2f} of it",
             memory["ratio"] <= 1.0),
            ("peak resident memory <= 1/4 of the original's", f"{memory['ratio']:.2f}", memory["ratio"] <= 0.25),
            ("peak memory flat when frames double (within 10%)", _flat_text(memory), memory.get("flat")),
        ],
    }


def final_line(comparison: dict) -> str:
    """The machine-readable last line."""
    return (f"speedup_end_to_end={comparison['speedup_end_to_end']:.3f} rss_ratio={comparison['rss_ratio']:.3f} "
            f"attention_peak_fraction={comparison['attention_peak_fraction']:.3f} "
            f"max_r2_diff={comparison['max_r2_diff']:.4f}")


def machine_description(threads: int, load_before: tuple | None, load_after: tuple | None) -> dict:
    """CPU model, logical CPUs, memory, torch version and CPU capability, threads, load averages."""
    import torch

    model = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        found = re.search(r"^model name\s*:\s*(.+)$", cpuinfo.read_text(), re.MULTILINE)
        model = found.group(1).strip() if found else model
    flags = cpuinfo.read_text() if cpuinfo.is_file() else ""
    return {
        "cpu": model, "logical_cpus": os.cpu_count(), "memory_gib": _memory_gib(),
        "torch": torch.__version__, "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "bf16_instructions": any(flag in flags for flag in ("avx512_bf16", "amx_bf16")),
        "threads": threads, "load_before": load_before, "load_after": load_after,
    }


def _memory_gib() -> float | None:
    meminfo = Path("/proc/meminfo")
    if not meminfo.is_file():
        return None
    found = re.search(r"^MemTotal:\s*(\d+) kB", meminfo.read_text(), re.MULTILINE)
    return int(found.group(1)) / 1024**2 if found else None


def _r2(cache, results: dict) -> dict:
    """Per-dimension pooled out-of-fold R2 of the faithful probers, original against suite, on common rows."""
    original = _predictions_npz(results["original"]["predictions_file"])
    scores = {}
    for name in PROBERS:
        if name in original:
            stored = load_out_of_fold(Path(results["suite"]["out"]) / "predictions" / name)
            predicted = np.where((stored["fold_of_row"] >= 0)[:, None], stored["predictions"], np.nan)  # (n, 19)
            suite = _by_key(stored["keys"], predicted)
            scores[name] = _r2_pair(cache, original[name], suite)
    return scores


def _r2_checks(cache, results: dict) -> dict:
    """R2 differences that explain the attention one: the suite at batch size 1, the original with another seed."""
    checks = {}
    original = _predictions_npz(results["original"]["predictions_file"])
    if "attention_batch_1" in results and "attention" in original:
        with np.load(results["attention_batch_1"]["predictions_file"]) as stored:
            suite = _by_key(stored["keys"], stored["predictions"])
        checks["attention, suite at batch size 1"] = _r2_pair(cache, original["attention"], suite)
    if "original_attention_seed_plus_1" in results and "attention" in original:
        other = _predictions_npz(results["original_attention_seed_plus_1"]["predictions_file"])
        checks["attention, original with seed + 1"] = _r2_pair(cache, original["attention"], other["attention"])
    return checks


def _predictions_npz(path: str) -> dict[str, dict[str, np.ndarray]]:
    """``{prober: {key: prediction (19,)}}`` from the original's npz (``keys`` and one array per prober)."""
    with np.load(path) as stored:
        return {name: _by_key(stored["keys"], stored[name]) for name in stored.files if name != "keys"}


def _by_key(keys: np.ndarray, predictions: np.ndarray) -> dict[str, np.ndarray]:
    return {str(key): row for key, row in zip(keys, predictions, strict=True) if np.all(np.isfinite(row))}


def _r2_pair(cache, reference: dict[str, np.ndarray], other: dict[str, np.ndarray]) -> dict:
    """R2 per dimension of two key-to-prediction maps on the keys both predicted; ``diff`` is other - reference."""
    row_of = {key: row for row, key in enumerate(cache.keys)}
    keys = [key for key in reference if key in other]
    y_true = cache.labels[[row_of[key] for key in keys]]  # (n_rows, 19)
    reference_r2 = r2_per_dimension(y_true, np.stack([reference[key] for key in keys]))
    other_r2 = r2_per_dimension(y_true, np.stack([other[key] for key in keys]))
    return {"original": reference_r2, "suite": other_r2, "diff": other_r2 - reference_r2, "n_rows": len(keys)}


def _attention_rates(cache, results: dict, peak: float) -> dict:
    """FLOPs and rates: the suite's training loops (with their monitoring validation passes) and the original's
    section; the suite's against the peak of the dtype its frame products used."""
    dim, epochs = cache.store.dim, results["plan"].epochs["attention"]
    lengths = cache.store.lengths[cache.store_rows]
    monitored = epochs // min(AttentionPoolingProber().monitor_every_n_epochs, epochs)  # validation passes per fold
    suite_flops = sum(epochs * attention_training_flops(lengths[train].sum(), len(train), dim)
                      + monitored * attention_inference_flops(lengths[val].sum(), len(val), dim)
                      for train, val in cache.folds)
    training = results["suite"]["attention_training"]
    counts = results["original"]["counts"]["attention"]
    original_flops = (attention_training_flops(counts["n_training_frames"], counts["n_training_segments"], dim)
                      + attention_inference_flops(counts["n_pooled_frames"], 0, dim))
    original_s = results["original"]["sections"]["attention"]["wall_s"]
    profile = results.get("profile")
    bfloat16 = bool(profile) and profile.get("product_dtype") == "bfloat16"
    product_peak = profile["peak"]["bfloat16"]["gflops"] if bfloat16 else peak
    rates = {
        "suite_flops": suite_flops, "suite_training_s": training["wall_s"], "suite_training_cpu_s": training["cpu_s"],
        "suite_gflops": suite_flops / training["wall_s"] / 1e9, "monitored_epochs": monitored,
        "product_dtype": "bfloat16" if bfloat16 else "float32", "product_peak_gflops": product_peak,
        "fraction": suite_flops / training["wall_s"] / 1e9 / product_peak,
        "fraction_float32": suite_flops / training["wall_s"] / 1e9 / peak,
        "original_flops": original_flops, "original_s": original_s,
        "original_gflops": original_flops / original_s / 1e9,
        "original_fraction": original_flops / original_s / 1e9 / peak,
    }
    if profile:
        rates["profile_fraction"] = profile["flops"] / profile["step_s"] / 1e9 / product_peak
        rates["kernel_fraction"] = profile["frame_products_flops"] / profile["frame_products_s"] / 1e9 / product_peak
        rates["bf16_gflops"] = profile["peak"]["bfloat16"]["gflops"]
    return rates


def _executor_attention_rate(results: dict, attention: dict, peak: float) -> dict:
    """The attention FLOPs per thread-second of the default executor's attention units against one thread's peak.

    The default executor fits each (prober, fold) unit in a worker process with its own threads, and records each
    unit's wall seconds and threads (``run.unit_times`` of its ``audit.json``); the units' FLOPs are those of the
    one-process run (same folds, epochs and monitoring passes). A thread's peak is the larger of the measured
    one-thread peak and the all-thread peak over the threads (the machine's peak per thread while every core
    works). Empty without a default-executor run that timed its units (older runs, ``--quick``).
    """
    executor = results.get("suite_default_executor")
    audit_path = None if executor is None else Path(executor["out"]) / "audit.json"
    if audit_path is None or not audit_path.is_file():
        return {}
    units = [unit for unit in json.loads(audit_path.read_text())["run"].get("unit_times", [])
             if unit["prober"] == "attention" and not unit["resumed"]]
    if not units:
        return {}
    thread_peaks = [entry["gflops"] for entry in results.get("thread_peaks", [])]
    thread_peak = max([peak / results["threads"], *thread_peaks])
    thread_seconds = sum(unit["wall_s"] * unit["threads"] for unit in units)
    gflops = attention["suite_flops"] / thread_seconds / 1e9
    product_peak = thread_peak * attention["product_peak_gflops"] / peak  # bfloat16 runs: scaled alike
    return {"executor_units": len(units), "executor_unit_threads": sorted({unit["threads"] for unit in units}),
            "executor_thread_s": thread_seconds, "executor_gflops_per_thread": gflops,
            "thread_peak_gflops": thread_peak, "executor_fraction": gflops / product_peak}


def _attention_verdict_text(attention: dict) -> str:
    """The attention row's measured value: the default executor's rate where measured, the one-process rate too."""
    one_process = (f"{attention['fraction']:.0%} of the {attention['product_dtype']} peak in one process of "
                   "the benchmark's threads")
    if "executor_fraction" not in attention:
        return one_process
    threads = "/".join(map(str, attention["executor_unit_threads"]))
    return (f"{attention['executor_fraction']:.0%} of a thread's {attention['product_dtype']} peak in the default "
            f"executor's units ({attention['executor_units']} units of {threads} thread(s)); {one_process}")


def _time_floor(cache, results: dict, attention: dict, peak: float) -> dict:
    """The least time the suite could take: its trained probers' FLOPs at the full matrix-multiply peak, plus the
    statistics sections as measured (work the original does not do), against a third of the original's time."""
    suite = results["suite"]["sections"]
    epochs = results["plan"].epochs["mlp"]
    mlp_flops = mlp_training_flops(sum(epochs * len(train) for train, _ in cache.folds), 2 * cache.store.dim)
    statistics_s = sum(suite.get(name, {}).get("wall_s", 0.0) for name in STATISTICS_SECTIONS)
    attention_s, mlp_s = attention["original_flops"] / peak / 1e9, mlp_flops / peak / 1e9
    return {"attention_s": attention_s, "mlp_s": mlp_s, "statistics_s": statistics_s,
            "suite_floor_s": attention_s + mlp_s + statistics_s, "target_s": results["original"]["process_wall_s"] / 3}


def _memory(results: dict) -> dict:
    original, suite, probes = results["original"], results["suite"], results.get("memory", {})
    memory = {
        "original_peak_mb": original["peak_rss_mb"], "suite_peak_mb": suite["peak_rss_mb"],
        "ratio": suite["peak_rss_mb"] / original["peak_rss_mb"],
        "original_imports_mb": original["baseline_memory_mb"].get("rss_mb"),
        "suite_imports_mb": suite["baseline_memory_mb"].get("rss_mb"),
        "original_load_1x_mb": original["sections"]["load"]["peak_rss_mb"],
    }
    memory["data_ratio"] = ((memory["suite_peak_mb"] - memory["suite_imports_mb"])
                            / (memory["original_peak_mb"] - memory["original_imports_mb"]))
    if "1x" in probes:
        memory["suite_attention_1x_mb"] = probes["1x"]["sections"]["attention_one_fold"]["peak_rss_mb"]
    for variant in ("segments", "length"):
        if f"2x_{variant}" in probes:
            memory[f"suite_attention_2x_{variant}_mb"] = (
                probes[f"2x_{variant}"]["sections"]["attention_one_fold"]["peak_rss_mb"])
            original_load = probes[f"original_2x_{variant}"]["sections"]["load"]
            memory[f"original_load_2x_{variant}_mb"] = original_load["peak_rss_mb"]
    if "suite_attention_2x_segments_mb" in memory:
        memory["flat"] = memory["suite_attention_2x_segments_mb"] <= 1.1 * memory["suite_attention_1x_mb"]
    return memory


def _flat_text(memory: dict) -> str:
    if "suite_attention_2x_segments_mb" not in memory:
        return "not measured (--quick)"
    return (f"twice the segments: suite attention fold {memory['suite_attention_1x_mb']:.0f} -> "
            f"{memory['suite_attention_2x_segments_mb']:.0f} MiB, original load {memory['original_load_1x_mb']:.0f} "
            f"-> {memory['original_load_2x_segments_mb']:.0f} MiB")
