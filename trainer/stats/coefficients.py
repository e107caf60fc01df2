"""The coefficient table of a fitted model, as statsmodels' Logit and MNLogit report it: estimates in the original units
of the features (or per standard deviation), standard errors from the observed information at the optimum in float64,
z, two-sided p-values, 95% intervals, odds ratios; and the fit statistics (log-likelihood, McFadden's pseudo R-squared,
AIC, BIC, the likelihood-ratio test).

A multinomial model is reported as MNLogit does: each class against the first (the reference), since softmax logits
are only defined up to a common shift. Classical standard errors assume the unpenalized, unweighted maximum-likelihood
fit; with an l2 penalty or class weights the table keeps the estimates and odds ratios and leaves the rest out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

Z_95 = 1.959963984540054  # the normal distribution's 97.5% quantile
COLUMNS = (
    "class",
    "term",
    "estimate",
    "std_error",
    "z",
    "p_value",
    "ci_low",
    "ci_high",
    "odds_ratio",
    "odds_ratio_low",
    "odds_ratio_high",
)
INTERCEPT = "Intercept"
MAX_INFORMATION_WORK = 4e10  # multiply-adds for the observed information (rows x parameters^2): about a minute here


@dataclass
class CoefficientTable:
    """``rows``: one dict per (class, term) with :data:`COLUMNS` (None where a value does not apply); ``fit``: the fit
    statistics; ``classical``: whether standard errors, z, p-values and intervals apply; ``note`` says why not."""

    rows: list[dict]
    fit: dict
    classical: bool
    reference_class: str | None
    units: str  # "original" or "standardized"
    note: str = ""
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        """Plain JSON (a value that is not finite becomes null)."""
        return {
            "units": self.units,
            "classical": self.classical,
            "reference_class": self.reference_class,
            "note": self.note,
            "notes": self.notes,
            "fit": {k: _finite(v) for k, v in self.fit.items()},
            "rows": [{k: _finite(v) for k, v in row.items()} for row in self.rows],
        }

    def to_csv(self) -> str:
        """``coefficients.csv``: :data:`COLUMNS`, an empty cell where a value does not apply."""
        lines = [",".join(COLUMNS)]
        for row in self.rows:
            cells = []
            for column in COLUMNS:
                value = row[column]
                if value is None:
                    cells.append("")
                elif isinstance(value, str):
                    cells.append('"' + value.replace('"', '""') + '"' if any(c in value for c in ',"\n') else value)
                else:
                    cells.append(repr(float(value)))
            lines.append(",".join(cells))
        return "\n".join(lines) + "\n"


def _finite(value):
    return None if isinstance(value, float) and not math.isfinite(value) else value


def coefficient_table(
    model,
    X: np.ndarray,
    y: np.ndarray,
    class_names: list[str],
    design_names: list[str],
    *,
    l2: float = 0.0,
    weighted: bool = False,
    standardized: bool = False,
) -> CoefficientTable:
    """The table of ``model`` (a fitted :class:`~trainer.model.LogisticModel`) on its training rows: ``X`` the float32
    design matrix of shape (n_rows, n_design), ``y`` class indices."""
    weight = model.linear.weight.detach().double().numpy()  # (1 or K, D), on standardized features
    bias = model.linear.bias.detach().double().numpy()
    mean = model.mean.detach().double().numpy()
    scale = model.scale.detach().double().numpy()
    binary = model.is_binary
    if not binary:  # MNLogit's parameters: each class against the first
        weight, bias = weight[1:] - weight[0], bias[1:] - bias[0]
    if standardized:
        slopes, intercepts = weight, bias
        design = (X.astype(np.float64) - mean) / scale
    else:
        slopes = weight / scale
        intercepts = bias - slopes @ mean
        design = X.astype(np.float64)
    params = np.concatenate([intercepts[:, None], slopes], axis=1)  # (K-1, D+1)
    augmented = np.concatenate([np.ones((len(design), 1)), design], axis=1)
    probabilities = _probabilities(augmented @ params.T, binary)
    n, k_classes = len(y), len(class_names)
    log_likelihood = float(np.log(np.clip(probabilities[np.arange(n), y], 1e-300, None)).sum())
    counts = np.bincount(y, minlength=k_classes).astype(np.float64)
    present = counts[counts > 0]
    null_log_likelihood = float((present * np.log(present / n)).sum())
    n_params = params.size
    df_model = n_params - params.shape[0]  # without the intercepts
    llr = 2.0 * (log_likelihood - null_log_likelihood)
    fit = {
        "n_rows": n,
        "log_likelihood": log_likelihood,
        "null_log_likelihood": null_log_likelihood,
        "pseudo_r2": 1.0 - log_likelihood / null_log_likelihood if null_log_likelihood else None,
        "aic": -2.0 * log_likelihood + 2.0 * n_params,
        "bic": -2.0 * log_likelihood + math.log(n) * n_params,
        "df_model": df_model,
        "llr": llr,
        "llr_p_value": chi2_sf(llr, df_model) if df_model > 0 else None,
    }
    classical, note, notes = l2 == 0 and not weighted, "", []
    if l2 != 0:
        note = (
            f"the model is fitted with an l2 penalty ({l2:g}): classical standard errors, p-values and intervals do "
            "not apply"
        )
    elif weighted:
        note = "the model is fitted with class weights: classical standard errors, p-values and intervals do not apply"
    std_errors = None
    work = n * float(n_params) ** 2
    if classical and work > MAX_INFORMATION_WORK:
        classical = False
        note = (
            f"standard errors not computed: the observed information of {n_params:,} parameters on {n:,} rows is "
            f"{work:.1e} multiply-adds (the limit is {MAX_INFORMATION_WORK:.0e})"
        )
    if classical:
        information = _observed_information(augmented, probabilities, binary)
        try:
            covariance = np.linalg.inv(information)
            std_errors = np.sqrt(np.clip(np.diag(covariance), 0, None)).reshape(params.shape)
        except np.linalg.LinAlgError:
            classical = False
            note = "the observed information is singular (collinear terms): no standard errors"
        if std_errors is not None and not np.isfinite(std_errors).all():
            notes.append("some standard errors are not finite (a term without variation, or separated classes)")
    terms = [INTERCEPT, *design_names]
    rows = []
    reference = None if binary else class_names[0]
    for c in range(params.shape[0]):
        label = "" if binary else class_names[c + 1]
        for t, term in enumerate(terms):
            estimate = float(params[c, t])
            row = dict.fromkeys(COLUMNS)
            row.update({"class": label, "term": term, "estimate": estimate, "odds_ratio": _exp(estimate)})
            # per standard deviation of the term's feature: comparable across terms, so the printed table's ranking
            # (without standard errors) uses it; not a coefficients.csv column
            row["per_sd"] = None if t == 0 else (estimate if standardized else estimate * float(scale[t - 1]))
            if std_errors is not None:
                se = float(std_errors[c, t])
                z = estimate / se if se > 0 else math.nan
                low, high = estimate - Z_95 * se, estimate + Z_95 * se
                row.update(
                    {
                        "std_error": se,
                        "z": z,
                        "p_value": math.erfc(abs(z) / math.sqrt(2.0)) if math.isfinite(z) else math.nan,
                        "ci_low": low,
                        "ci_high": high,
                        "odds_ratio_low": _exp(low),
                        "odds_ratio_high": _exp(high),
                    }
                )
            rows.append(row)
    units = "standardized" if standardized else "original"
    return CoefficientTable(rows, fit, classical, reference, units, note, notes)


def _probabilities(logits: np.ndarray, binary: bool) -> np.ndarray:
    if binary:
        p = 1.0 / (1.0 + np.exp(-logits[:, 0]))
        return np.stack([1.0 - p, p], axis=1)
    full = np.concatenate([np.zeros((len(logits), 1)), logits], axis=1)  # the reference class's logit is 0
    full -= full.max(axis=1, keepdims=True)
    e = np.exp(full)
    return e / e.sum(axis=1, keepdims=True)


def _observed_information(X: np.ndarray, probabilities: np.ndarray, binary: bool) -> np.ndarray:
    """The negative log-likelihood's Hessian at the parameters (for the logit link, observed = expected information)."""
    if binary:
        w = probabilities[:, 1] * probabilities[:, 0]
        return (X * w[:, None]).T @ X
    p = probabilities[:, 1:]  # the non-reference classes
    k, d = p.shape[1], X.shape[1]
    information = np.empty((k * d, k * d))
    for a in range(k):
        for b in range(a, k):
            w = p[:, a] * ((1.0 if a == b else 0.0) - p[:, b])
            block = (X * w[:, None]).T @ X
            information[a * d : (a + 1) * d, b * d : (b + 1) * d] = block
            information[b * d : (b + 1) * d, a * d : (a + 1) * d] = block.T
    return information


def chi2_sf(x: float, df: int) -> float:
    """The chi-squared distribution's survival function: the regularized upper incomplete gamma Q(df/2, x/2)."""
    if x <= 0:
        return 1.0
    return float(
        torch.special.gammaincc(torch.tensor(df / 2.0, dtype=torch.float64), torch.tensor(x / 2.0, dtype=torch.float64))
    )


def _exp(value: float) -> float:
    return math.exp(value) if value < 709.0 else math.inf
