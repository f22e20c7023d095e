"""Report renderers for the downstream validations: teacher STOP prediction and competition placement."""

from __future__ import annotations

from benchmarks.report.format import interval, table


def render_stop_prediction(audit: dict) -> tuple[str, list[str]] | None:
    result = audit.get("stop_prediction")
    if result is None:
        return None
    counts = (f"{result.get('n_segments', 0)} segments ({result.get('n_stop', 0)} STOP, "
              f"{result.get('n_continue', 0)} CONTINUE)")
    skipped = result.get("exclusions", {}).get("skipped_counts") or {}
    body = [f"Segments: {counts}; skipped candidates: "
            + (", ".join(f"{reason} {count}" for reason, count in skipped.items()) or "none") + "."]
    if not result.get("results"):
        return f"{result.get('status', 'not run')}; {counts}", body
    configs = result["results"]
    best = max(configs, key=lambda name: configs[name]["auc"])
    answer = (f"best AUC {configs[best]['auc']:.3f} {interval(configs[best]['ci_low'], configs[best]['ci_high'])} "
              f"({best}) against a segment-duration baseline of {result['baseline_auc']:.3f} and chance "
              f"{result.get('chance_auc', 0.5)}; {counts}")
    body += [f"Protocol: leave-one-video-out logistic regression (standardised on training videos, C = 1), AUC on "
             f"the pooled held-out predictions, 95% CI from a bootstrap over videos. Qualities: "
             f"{result.get('quality_source', '')}. The `label_components_leaky` row fits the label PCA on all "
             f"segments (the original notebook's leak); `label_components` fits it on training videos only.", ""]
    body += table(["feature set", "AUC", "95% CI", "features"],
                  [(name, value["auc"], interval(value["ci_low"], value["ci_high"]), value["n_features"])
                   for name, value in configs.items()])
    return answer, body


def render_competition(audit: dict) -> tuple[str, list[str]] | None:
    result = audit.get("competition_validation")
    if result is None:
        return None
    dedup = result.get("dedup") or {}
    header = (f"{result.get('n_recordings', 0)} recordings after removing "
              f"{dedup.get('n_duplicates_dropped', 0)} duplicated lines")
    if result.get("overall_rho") is None:
        return f"{result.get('status', 'not run')}; {header}", []
    per_dimension = result["per_dimension"]
    significant = [name for name, value in per_dimension.items()
                   if value.get("pval_bh") is not None and value["pval_bh"] < 0.05]
    answer = (f"overall Spearman rho {result['overall_rho']:.3f} (p = {result['overall_pval']:.3g}) between mean "
              f"predicted quality and placement; {len(significant)} dimensions significant after BH; {header}")
    body = [f"Sign: {result.get('sign_convention', '')}. Qualities: {result.get('quality_source', '')}.", ""]
    body += table(["dimension", "rho", "p", "p (BH)", "n"],
                  [(name, value["rho"], value["pval"], value["pval_bh"], value["n"])
                   for name, value in per_dimension.items()])
    return answer, body
