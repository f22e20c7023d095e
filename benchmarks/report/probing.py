"""Report renderer for probing: which dimensions are audible, per prober, with CIs, p-values and ceilings."""

from __future__ import annotations

import json
from collections import Counter

from analyses.callbacks.probing import ORIGINAL_SECTION
from analyses.permutation import STOP_CONFIDENCE
from analyses.probing_comparison import FDR_LEVEL
from benchmarks.report.format import interval, table
from datamodules.dimensions import DIMENSIONS


def _stopped_text(probers: dict) -> str:
    """How many dimensions of each Ridge prober stopped early, and after how many permutations at least."""
    parts = []
    for name, entry in probers.items():
        drawn = entry.get("n_permutations_drawn")
        if drawn and min(drawn) < max(drawn):
            stopped = [n for n in drawn if n < max(drawn)]
            parts.append(f"{name}: {len(stopped)} dimensions stopped after {min(stopped)}-{max(stopped)}")
    return f" ({'; '.join(parts)})" if parts else ""


def render_probing(audit: dict) -> tuple[str, list[str]] | None:
    result = audit.get("probing_comparison")
    if result is None:
        return None
    probers, baselines = result["probers"], result["baselines"]
    audible = result["audible_dimensions"]
    answer = (f"{len(audible)} of 19 dimensions audible ({', '.join(audible) or 'none'}): significantly above the "
              f"permutation null for some prober (BH over all prober x dimension tests, FDR 0.05) with pooled R2 > 0"
              if result["tested_probers"] else "no permutation test was run")
    mean_r2 = {name: _mean(entry["r2_pooled"]) for name, entry in probers.items()}
    answer += "; mean pooled R2 " + ", ".join(f"{name} {value:.3f}" for name, value in mean_r2.items())
    body = [f"Protocol: out-of-fold predictions over {result['n_folds']} folds (grouped by excerpt); R2 pooled over "
            f"all out-of-fold rows is the main number, the mean of per-fold R2 is given beside it (the original "
            f"notebook mixed the two); 95% CIs from {result['n_bootstrap']} bootstrap resamples of whole excerpts; "
            f"p-values from {result['n_permutations']} permutations of labels in excerpt blocks (Ridge probers: "
            f"refitted per permutation, a dimension stopping early once the {STOP_CONFIDENCE:.1%} Clopper-Pearson "
            f"lower bound of its p-value is above the FDR level {FDR_LEVEL:g}, the largest threshold BH can use, so "
            f"that a stopped test would have been significant with all permutations with probability below "
            f"{1 - STOP_CONFIDENCE:.1g}{_stopped_text(probers)}; trained probers: their out-of-fold predictions "
            f"against labels permuted within each validation fold, no refit), BH-corrected jointly over all tested "
            f"probers and dimensions; leaky "
            f"variants are not tested; seed {result['seed']}. Variants: `ridge`, `attention`, `mlp` are the original "
            f"recipes (faithful); `ridge_tuned`, `attention_es`, `mlp_es` tune or stop early inside the training part "
            f"only; `factor` fits the label PCA in each training fold, `factor_leaky` on all labels "
            f"(the original's leak)."
            + _standardization_text(audit.get("run", {}).get("standardization")), ""]
    names = list(probers)
    ceiling = result.get("noise_ceiling")
    descriptors = baselines.get("descriptors", {})
    fitted = "r2_pooled" in descriptors
    header = ["dimension", *[f"{name} R2 [95% CI]" for name in names], "best", "train-mean R2",
              *(["descriptor R2 [95% CI]"] if fitted else []), "excerpt-identity R2", "noise ceiling"]
    rows = []
    for index, dimension in enumerate(DIMENSIONS):
        cells = [dimension]
        for name in names:
            entry = probers[name]
            mark = "*" if entry["audible"] and entry["audible"][index] else ""
            cells.append(f"{_fmt(entry['r2_pooled'][index])}{mark} "
                         f"{interval(entry['ci_low'][index], entry['ci_high'][index], 2)}")
        cells += [result["best_method"].get(dimension),
                  baselines["training_mean"]["r2_pooled"][index] if "training_mean" in baselines else None,
                  *([f"{_fmt(descriptors['r2_pooled'][index])} "
                     f"{interval(descriptors['ci_low'][index], descriptors['ci_high'][index], 2)}"] if fitted else []),
                  _first(baselines, "excerpt_identity", index), None if ceiling is None else ceiling[index]]
        rows.append(cells)
    body += table(header, rows)
    audible_by = result.get("audible_by", {})
    body += ["", "`*`: significantly above the permutation null (joint BH) with R2 > 0. Found by: "
             + ("; ".join(f"{dim} ({', '.join(names)})" for dim, names in audible_by.items()) or "none")
             + ". Mean of per-fold R2 per prober: "
             + ", ".join(f"{name} {_mean(entry['r2_fold_mean']):.3f}" for name, entry in probers.items()) + "."]
    body += ["", _descriptor_text(descriptors, result.get("below_baselines", {}))]
    body += _search_lines(audit, names)
    tested = [name for name in names if probers[name].get("pvalue")]
    if tested:
        body += ["", f"Permutation p-values, raw / BH-adjusted over all {len(tested)} x 19 tests "
                 f"(min raw p = 1/({result['n_permutations']} + 1)):", ""]
        body += table(["dimension", *tested], [
            [dimension, *[_pvalues(probers[name], index) for name in tested]]
            for index, dimension in enumerate(DIMENSIONS)])
    seeded = {name: entry["seed_runs"] for name, entry in probers.items() if entry.get("seed_runs")}
    if seeded:
        body += ["", "Seeds: these probers were run with several seeds; every statistic above uses their seed ensemble "
                 "(out-of-fold predictions averaged over seeds). Mean pooled R2 of each seed alone, then the "
                 "ensemble's: " + "; ".join(
                     f"{name} {' / '.join(f'{value:.3f}' for value in runs['mean_r2'])} (seeds "
                     f"{', '.join(map(str, runs['seeds']))}; ensemble {mean_r2[name]:.3f})"
                     for name, runs in seeded.items())
                 + ". Range of each dimension's R2 over the seeds:", ""]
        body += table(["dimension", *seeded], [
            [dimension, *[f"{min(r[index] for r in runs['r2_pooled']):.3f} to "
                          f"{max(r[index] for r in runs['r2_pooled']):.3f}"
                          for runs in seeded.values()]] for index, dimension in enumerate(DIMENSIONS)])
    paired = result.get("paired_differences", {})
    if paired:
        body += ["", "Paired excerpt bootstrap of pooled R2 differences (dimensions whose 95% CI excludes 0):", ""]
        for pair, values in paired.items():
            better = [DIMENSIONS[i] for i in range(19) if values["ci_low"][i] is not None and values["ci_low"][i] > 0]
            worse = [DIMENSIONS[i] for i in range(19) if values["ci_high"][i] is not None and values["ci_high"][i] < 0]
            body.append(f"- {pair}: better on {', '.join(better) or 'none'}; worse on {', '.join(worse) or 'none'}")
    return answer, body


def _search_lines(audit: dict, names: list[str]) -> list[str]:
    """Per tuned prober and fold: the hyper-parameter settings the inner search kept, and its cost."""
    lines = []
    for name in names:
        entry = audit.get(ORIGINAL_SECTION.get(name, f"{name}_probing"), {}).get(name, {})
        folds = [fold for fold in entry.get("fold_outputs", []) if "candidates" in fold]
        if not folds:
            continue
        rows = []
        for index, fold in enumerate(folds):
            candidates = json.loads(fold["candidates"])
            chosen = fold["chosen_candidate"]
            counts = Counter(chosen if isinstance(chosen, list) else [chosen])
            kept = "; ".join(f"{_setting(candidates[k])}" + (f" ({n} dimensions)" if isinstance(chosen, list) else "")
                             for k, n in sorted(counts.items()))
            rows.append([f"fold {index}", len(candidates), kept, f"{fold['search_seconds']:.0f} s"])
        lines += ["", f"`{name}` hyper-parameter search (inner excerpt split of each fold's training part; candidate 0 "
                  "is the hand-set recipe; settings kept):", ""]
        lines += table(["fold", "candidates", "kept", "search time"], rows)
    return lines


def _setting(candidate: dict) -> str:
    return ", ".join(f"{key}={value:g}" if isinstance(value, float) else f"{key}={value}"
                     for key, value in sorted(candidate.items()))


def _descriptor_text(descriptors: dict, below: dict) -> str:
    if "r2_pooled" not in descriptors:
        return f"Descriptor baseline: {descriptors.get('skipped', 'not run')}."
    counts = "; ".join(f"{name} {len(entry['descriptors'])} ({', '.join(entry['descriptors']) or 'none'})"
                       for name, entry in below.items() if "descriptors" in entry)
    return (f"Descriptor baseline (what any prober must beat), mean pooled R2 {descriptors['mean_r2']:.3f}: "
            f"{descriptors['protocol']}. Dimensions where a prober is below it: {counts or 'none'}.")


def _standardization_text(counts: dict | None) -> str:
    if not counts:
        return ""
    clip = counts.get("clip")
    return (" Features are standardised on each fold's training rows; "
            + (f"values are clipped to +-{clip:g} training standard deviations" if clip is not None else "no clipping")
            + f" (features clipped per fold: stats view {counts['stats']['clipped']}, frames view "
              f"{counts['frames']['clipped']}); features with no training variance keep scale 1 (per fold: stats "
              f"view {counts['stats']['constant']}, frames view {counts['frames']['constant']}).")


def _pvalues(entry: dict, index: int) -> str:
    raw, adjusted = entry["pvalue"][index], entry["pvalue_bh"][index]
    return "—" if raw is None else f"{raw:.4f} / {adjusted:.4f}"


def _first(baselines: dict, prefix: str, index: int) -> object:
    for name, values in baselines.items():
        if name.startswith(prefix):
            return values["r2_pooled"][index]
    return None


def _mean(values: list) -> float:
    finite = [value for value in values if value is not None]
    return sum(finite) / len(finite) if finite else float("nan")


def _fmt(value: object) -> str:
    return "—" if value is None else f"{value:.3f}"
