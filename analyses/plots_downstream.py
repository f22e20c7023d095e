"""Figure of the STOP-prediction AUC per feature set, with bootstrap CIs and the baselines."""

from __future__ import annotations

from matplotlib.figure import Figure


def plot_stop_auc(result: dict) -> Figure:
    """Horizontal AUC bars with 95% CIs per feature set; chance and the duration baseline as vertical lines.

    Parameters
    ----------
    result : dict
        ``StopPredictionResult.to_dict()``: ``results`` ``{name: {auc, ci_low, ci_high, ...}}``, ``baseline_auc``,
        ``n_segments``, ``n_stop``, ``n_continue``.
    """
    configs = result["results"]
    names = list(configs)
    figure = Figure(figsize=(7, 0.45 * len(names) + 1.6))
    axes = figure.add_subplot()
    aucs = [configs[name]["auc"] for name in names]
    low = [configs[name]["auc"] - configs[name]["ci_low"] for name in names]
    high = [configs[name]["ci_high"] - configs[name]["auc"] for name in names]
    axes.barh(range(len(names)), aucs, xerr=[low, high], color="tab:blue", alpha=0.8, capsize=3)
    axes.axvline(result.get("chance_auc", 0.5), color="grey", linestyle=":", label="chance")
    if result.get("baseline_auc") is not None:
        axes.axvline(result["baseline_auc"], color="tab:red", linestyle="--", label="segment-duration baseline")
    axes.set_yticks(range(len(names)), names)
    axes.set_xlim(0, 1)
    axes.set_xlabel("AUC (pooled leave-one-video-out predictions)")
    axes.legend(loc="lower right", fontsize=8)
    axes.set_title(f"Teacher STOP vs CONTINUE: {result['n_segments']} segments ({result['n_stop']} STOP, "
                   f"{result['n_continue']} CONTINUE)\nleave-one-video-out logistic regression; 95% CI: bootstrap "
                   f"over videos", fontsize=9)
    figure.tight_layout()
    return figure
