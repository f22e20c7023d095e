"""Report section of the layer sweep: which layer is best per dimension, and how sure."""

from __future__ import annotations

from benchmarks.report.format import interval, table


def render_layer_sweep(audit: dict) -> tuple[str, list[str]] | None:
    result = audit.get("layer_sweep")
    if result is None:
        return None
    answers, body = [], [f"Protocol: {result['protocol']}. Store {result['store']}, layers "
                         f"{', '.join(result['available_layers'])}.", ""]
    for name, sweep in result["probers"].items():
        mean_r2 = sweep["mean_r2"]
        top = max(range(len(mean_r2)), key=mean_r2.__getitem__)
        answers.append(f"{name}: best mean R2 on {sweep['layers'][top]} ({mean_r2[top]:.3f})")
        wins = {layer: sweep["best_layer"].count(layer) for layer in sweep["layers"]}
        body += [f"**{name}** ({sweep['variant']}, {sweep['n_rows']} rows). {sweep['protocol']}.", ""]
        body += table(["layers", "served", "mean R2", "dimensions where best"],
                      [[layer, sweep["layers_served"][layer], f"{value:.3f}", wins[layer]]
                       for layer, value in zip(sweep["layers"], mean_r2, strict=True)])
        body.append("")
        rows = []
        for column, dimension in enumerate(sweep["dimensions"]):
            best = sweep["layers"].index(sweep["best_layer"][column])
            r2 = interval(sweep["ci_low"][best][column], sweep["ci_high"][best][column])
            lead = interval(sweep["lead_ci_low"][column], sweep["lead_ci_high"][column])
            rows.append([dimension, sweep["best_layer"][column], f"{sweep['r2'][best][column]:.3f} {r2}",
                         f"{sweep['p_best'][best][column]:.2f}", f"{sweep['lead'][column]:+.3f} {lead}"])
        body += table(["dimension", "best layer", "its R2 [95% CI]", "P(best)", "lead over runner-up [95% CI]"], rows)
        body += ["", f"![layer sweep {name}](figures/layer_sweep_{name}.png)", ""]
    return "; ".join(answers), body
