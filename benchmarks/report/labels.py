"""Report renderers for the label audit: correlation, factors, distributions, reliability, fold integrity."""

from __future__ import annotations

from benchmarks.report.format import interval, table

Rendered = "tuple[str, list[str]] | None"


def render_correlation(audit: dict) -> Rendered:
    result = audit.get("correlation")
    if result is None:
        return None
    top = result["top_pairs"]
    groups = result.get("redundant_groups", [])
    answer = (f"{result['n_strong_pairs']} of {result['n_pairs']} pairs have |r| > {result['strong_threshold']}; "
              f"near-duplicates: {top[0]['a']} and {top[0]['b']} (r = {top[0]['r']:.3f}), "
              f"{top[1]['a']} and {top[1]['b']} (r = {top[1]['r']:.3f})")
    high_vif = ", ".join(f"{name} {vif:.1f}" for name, vif in result["vif"].items() if vif > result["vif_threshold"])
    body = [f"Protocol: {result.get('protocol', '')}. Pearson r; no sampling uncertainty is attached to r here "
            f"(n = {result['n_segments']}, so a 95% CI half-width is at most about "
            f"{1.96 / result['n_segments'] ** 0.5:.3f}).",
            "", f"- {result['n_moderate_pairs']} pairs with {result['moderate_threshold']} < |r| <= "
            f"{result['strong_threshold']}",
            f"- VIF > {result['vif_threshold']}: {result['n_high_vif']} dimensions "
            f"({high_vif or 'none'})",
            "- Redundant groups (every pair |r| > 0.7): "
            + ("; ".join("{" + ", ".join(group) + "}" for group in groups) or "none"),
            "", "Top pairs by |r|:", ""]
    body += table(["dimension a", "dimension b", "r"], [(pair["a"], pair["b"], pair["r"]) for pair in top])
    return answer, body


def render_factors(audit: dict) -> Rendered:
    retention, pca = audit.get("factor_retention"), audit.get("pca")
    if retention is None or pca is None:
        return None
    count = retention["pca_parallel_analysis"]
    stability = audit.get("factor_stability", {})
    excerpt = stability.get("excerpt", {})
    answer = (f"{count} factors by PCA parallel analysis (MAP: {retention['map_squared']}, factor-based parallel "
              f"analysis: {retention['factor_parallel_analysis']}); "
              f"{retention['components_for_90_percent']} components for 90% of the variance")
    body = [f"Protocol: {pca['protocol']}; {pca['parallel_analysis']['n_simulations']} simulated normal data sets, "
            f"95th percentile threshold.", ""]
    body += table(["rule", "retained"], [
        ("PCA parallel analysis (Horn)", count),
        ("factor parallel analysis (SMC diagonal)", retention["factor_parallel_analysis"]),
        ("Velicer MAP (squared partials)", retention["map_squared"]),
        ("Velicer MAP (4th power, 2000 revision)", retention["map_fourth_power"]),
        ("components for 90% / 95% variance",
         f"{retention['components_for_90_percent']} / {retention['components_for_95_percent']}"),
    ])
    if excerpt:
        body += ["", f"Stability ({stability.get('protocol', '')}): parallel analysis gives "
                     f"{excerpt['parallel_mode']} in {excerpt['parallel_mode_share']:.0%} of excerpt resamples"
                     + (f" and {stability['performer']['parallel_mode']} in "
                        f"{stability['performer']['parallel_mode_share']:.0%} of performer resamples"
                        if "performer" in stability else "")
                     + f"; MAP gives {excerpt['map_mode']} in {excerpt['map_mode_share']:.0%} of excerpt resamples."]
    body += ["", "Salient loadings (|loading| > 0.3) of each retained principal component:", ""]
    for index, salient in enumerate(pca["salient_dimensions"]):
        names = ", ".join(f"{item['name']} {item['loading']:+.2f}" for item in salient[:8])
        body.append(f"- PC{index + 1} ({pca['explained_variance_ratio'][index]:.1%}): {names}")
    efa = audit.get("efa")
    if efa is not None:
        largest = max(abs(value) for i, row in enumerate(efa["factor_correlation"])
                      for j, value in enumerate(row) if i != j)
        body += ["", f"Oblique EFA ({efa['protocol']}): RMSR {efa['rmsr']:.3f}; largest factor correlation "
                     f"{largest:.2f}; "
                     "communalities are diag(P Phi P^T)."]
    return answer, body


def render_distributions(audit: dict) -> Rendered:
    result = audit.get("distributions")
    if result is None:
        return None
    dims = result["dimensions"]
    flagged = result.get("flagged", [])
    lowest = min(dims, key=lambda name: dims[name]["variance"])
    answer = (f"{len(flagged)} dimensions flagged ({', '.join(flagged) or 'none'}); lowest variance: {lowest} "
              f"({dims[lowest]['variance']:.4f})")
    rows = [(name, values["variance"], values["skewness"], values["floor_share"], values["ceiling_share"],
             values["entropy_nats"])
            for name, values in dims.items()]
    body = [f"Protocol: {result.get('protocol', '')}. Skew and variance flag distribution shape only; "
            "noisiness is measured by rater reliability (section 4).", ""]
    body += table(["dimension", "variance", "skew", f"share < {result['floor']}", f"share > {result['ceiling']}",
                   "KDE entropy (nats)"], rows)
    return answer, body


def render_reliability(audit: dict) -> Rendered:
    result = audit.get("reliability")
    if result is None:
        return None
    if "status" in result:
        return result["status"], []
    names = result["dimensions"]
    alpha, split = result["alpha"], result["split_half"]
    order = sorted(range(len(names)), key=lambda index: split["statistic"][index])
    noisiest = ", ".join(f"{names[i]} ({split['statistic'][i]:.2f})" for i in order[:3])
    answer = (f"noisiest dimensions (lowest split-half reliability = R2 ceiling): {noisiest}; "
              f"most reliable: {names[order[-1]]} ({split['statistic'][order[-1]]:.2f})")
    rows = [(names[i], alpha["statistic"][i], interval(alpha["ci_low"][i], alpha["ci_high"][i]),
             split["statistic"][i], interval(split["ci_low"][i], split["ci_high"][i]), result["noise_ceiling"][i])
            for i in range(len(names))]
    body = [f"Protocol: {result['protocol']}.", ""]
    body += table(["dimension", "Krippendorff alpha (interval)", "95% CI", "split-half (Spearman-Brown)", "95% CI",
                   "R2 noise ceiling"], rows)
    return answer, body


def render_fold_integrity(audit: dict) -> Rendered:
    result = audit.get("fold_integrity")
    if result is None:
        return None
    parts, body = [], []
    for name, audit_of_file in result.items():
        if "status" in audit_of_file:
            parts.append(f"{name}: {audit_of_file['status']}")
            continue
        leaked = sum(audit_of_file["n_shared_excerpts"])
        parts.append(f"{name}: " + ("no excerpt shared between train and val" if leaked == 0 else
                                    f"excerpts leak between train and val ({audit_of_file['n_shared_excerpts']} "
                                    "per fold)"))
        body += [f"**{name}** ({audit_of_file['n_folds']} folds; {audit_of_file['n_labelled_in_no_fold']} labelled "
                 f"keys in no fold; {audit_of_file['n_val_keys_in_several_folds']} val keys in several folds):", ""]
        body += [f"- {verdict}" for verdict in audit_of_file["verdicts"]] + [""]
    return "; ".join(parts) or "no fold files audited", body
