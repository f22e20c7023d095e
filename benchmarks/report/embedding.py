"""Report renderers for the embedding-space analyses: residuals and CCA."""

from __future__ import annotations

from benchmarks.report.format import number, table


def render_residuals(audit: dict) -> tuple[str, list[str]] | None:
    result = audit.get("residuals")
    if result is None:
        return None
    oof, in_sample = result["out_of_fold"], result["in_sample"]
    fractions = oof["unexplained_fraction"]
    best = min(fractions, key=fractions.get)
    answer = (f"out of fold, Ridge leaves {oof['mean_unexplained_fraction']:.2f} of label variance unexplained on "
              f"average (in-sample, as the original: {in_sample['mean_unexplained_fraction']:.2f}); residuals hold "
              f"{oof['n_components_above_noise']} components above the noise floor")
    body = [f"Protocol: {result['protocol']}. Best explained out of fold: {best} "
            f"({fractions[best]:.2f} unexplained).", ""]
    body += table(["dimension", "unexplained, out-of-fold (main)", "unexplained, in-sample (labelled, leaks)"],
                  [(name, fractions[name], in_sample["unexplained_fraction"][name]) for name in fractions])
    return answer, body


def render_cca(audit: dict) -> tuple[str, list[str]] | None:
    result = audit.get("cca")
    if result is None:
        return None
    heldout = result["heldout_correlations"]
    answer = (f"{result['n_above_threshold_heldout']} canonical correlations above {result['threshold']} on held-out "
              f"rows (in-sample: {result['n_above_threshold_in_sample']}); "
              f"shared variance {result['shared_variance_heldout']:.3f} "
              f"held out vs {result['shared_variance_in_sample']:.3f} in-sample")
    body = [f"Protocol: {result['protocol']}; PCA to {result['n_pca_components']} components fitted on training rows; "
            f"{result['folds']} folds. {result['shared_variance_definition']}.", ""]
    body += table(["component", "held-out r (main)", "in-sample r (labelled)"],
                  [(index + 1, heldout[index], result["in_sample_correlations"][index])
                   for index in range(min(8, len(heldout)))])
    return answer, [line if isinstance(line, str) else number(line) for line in body]
