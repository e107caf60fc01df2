"""The coefficient table as text, from its JSON form (metrics.json's ``coefficients``, or the model's metadata): shared
by ``logreg train`` and ``logreg info``, which has no torch."""

from __future__ import annotations

import math

# how the table's standard errors were computed (its fit's "covariance": trainer/stats/sandwich.py), in words
ROBUST_WORDS = {
    "hc0": "robust HC0 (White's sandwich)",
    "hc1": "robust HC1 (the sandwich times n / (n - k))",
    "hc2": "robust HC2 (each row's score over sqrt(1 - its leverage))",
    "hc3": "robust HC3 (each row's score over 1 - its leverage)",
}


def model_words(table: dict) -> list[str]:
    """What the fitted model holds besides the table's terms, in words, one line each: an offset in its logit."""
    offset = table.get("fit", {}).get("offset")
    return [] if offset is None else [f"the logit includes the offset {offset!r} (coefficient 1, not fitted)"]


def inference_words(table: dict) -> list[str]:
    """How the table's standard errors, intervals and p-values were computed, in words, where they are not the
    classical Wald ones of maximum likelihood ("standard errors clustered by ..."): one line each."""
    fit = table.get("fit", {})
    kind = fit.get("covariance", "classical")
    if not table.get("classical"):
        return []
    lines = []
    if kind.startswith("cluster:"):
        lines.append(
            f"standard errors clustered by {kind[len('cluster:') :]!r} (times G / (G - 1) * (n - 1) / (n - k))"
        )
    elif kind != "classical":
        lines.append(f"standard errors {ROBUST_WORDS.get(kind, kind)}")
    if fit.get("penalty") == "firth":
        lines.append(
            "Firth's penalized likelihood: "
            + (
                "intervals from the profile penalized likelihood, p-values from penalized likelihood ratio tests "
                "(z is their signed root), standard errors from the inverse information"
                if fit.get("intervals") != "wald"
                else "Wald intervals and p-values from the inverse information"
            )
        )
    return lines


def format_coefficients(table: dict, top: int | None = None) -> str:
    """The ``top`` terms by |z| (by |estimate| when standard errors do not apply), or all; then the fit statistics."""
    rows, classical = table["rows"], table["classical"]

    def strength(row: dict) -> float:
        value = row["z"] if classical else row.get("per_sd", row["estimate"])
        return abs(value) if value is not None and math.isfinite(value) else 0.0

    shown = rows if top is None or top >= len(rows) else sorted(rows, key=strength, reverse=True)[:top]
    width = max([len(r["term"]) for r in shown] + [4])
    klass = max([len(r["class"]) for r in shown] + [0])
    head = f"{'class':<{klass}}  " if klass else ""
    if classical:
        lines = [
            f"{head}{'term':<{width}}  {'estimate':>10} {'std err':>9} {'z':>8} {'p':>9}  {'[0.025':>10} {'0.975]':>10}"
            f"  {'odds ratio':>10}"
        ]
    else:
        lines = [f"{head}{'term':<{width}}  {'estimate':>10}  {'odds ratio':>10}"]
    for r in shown:
        prefix = f"{r['class']:<{klass}}  " if klass else ""
        if classical:
            lines.append(
                f"{prefix}{r['term']:<{width}}  {_g(r['estimate'], 10, '.4g')} {_g(r['std_error'], 9, '.3g')} "
                f"{_g(r['z'], 8, '.3f')} {format_p(r['p_value']):>9}  {_g(r['ci_low'], 10, '.4g')} "
                f"{_g(r['ci_high'], 10, '.4g')}  {_g(r['odds_ratio'], 10, '.4g')}"
            )
        else:
            lines.append(
                f"{prefix}{r['term']:<{width}}  {_g(r['estimate'], 10, '.4g')}  {_g(r['odds_ratio'], 10, '.4g')}"
            )
    fit = table["fit"]
    summary = (
        f"log-likelihood {fit['log_likelihood']:.4f} (null {fit['null_log_likelihood']:.4f}), McFadden pseudo R2 "
        f"{fit['pseudo_r2']:.4f}, AIC {fit['aic']:.2f}, BIC {fit['bic']:.2f}"
    )
    if fit.get("llr_p_value") is not None:
        summary += f", likelihood-ratio test p {format_p(fit['llr_p_value'])}"
    lines.append(summary)
    units = (
        "per standard deviation of each feature" if table.get("units") == "standardized" else "in the features' units"
    )
    lines.append(
        f"coefficients {units}"
        + (
            f"; each class against the reference class {table['reference_class']!r}"
            if table.get("reference_class")
            else ""
        )
    )
    if table.get("note"):
        lines.append(f"note: {table['note']}")
    lines.extend(inference_words(table))
    lines.extend(model_words(table))
    if fit.get("zero_weights") is not None:
        lines.append(f"{fit['zero_weights']} of {fit['weights']} weights exactly 0 (the L1 penalty)")
    if top is not None and top < len(rows):
        by = "z" if classical else "estimate per standard deviation of the feature"
        lines.append(f"({top} of {len(rows)} terms, by |{by}|; all with --summary)")
    return "\n".join(lines)


def _g(value: float | None, width: int, spec: str) -> str:
    """A number of the table, or "nan" where the JSON holds null (a value that was not finite: separated classes)."""
    return f"{'nan':>{width}}" if value is None else f"{value:>{width}{spec}}"


def format_p(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "nan"
    return "<1e-300" if value == 0 else f"{value:.3g}"
