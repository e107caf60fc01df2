"""A statsmodels result's coefficient table in the toolkit's JSON form, carried in the exported file's metadata."""

from __future__ import annotations

import math

import numpy as np


def coefficient_json(results, kind: str, class_names: list[str], exog_names: list[str]) -> dict:
    """The results' coefficient table in the JSON form of :meth:`trainer.stats.coefficients.CoefficientTable.to_json`
    (what ``logreg info`` prints): each term's estimate, standard error, z, p-value and 95% interval as statsmodels
    computed them, in the order of ``results.summary()`` (class by class for MNLogit)."""
    n_terms = len(exog_names)
    params = np.asarray(results.params, dtype=np.float64).reshape(n_terms, -1)
    n_free = params.shape[1]
    bse = np.asarray(results.bse, dtype=np.float64).reshape(n_terms, n_free)
    z = np.asarray(results.tvalues, dtype=np.float64).reshape(n_terms, n_free)
    p = np.asarray(results.pvalues, dtype=np.float64).reshape(n_terms, n_free)
    interval = np.asarray(results.conf_int(alpha=0.05), dtype=np.float64)
    interval = interval.reshape(n_terms, 2)[None] if kind == "Logit" else interval.reshape(n_free, n_terms, 2)
    rows = []
    for c in range(n_free):
        label = "" if kind == "Logit" else class_names[c + 1]
        for t, term in enumerate(exog_names):
            low, high = float(interval[c, t, 0]), float(interval[c, t, 1])
            rows.append(
                {
                    "class": label,
                    "term": term,
                    "estimate": float(params[t, c]),
                    "std_error": float(bse[t, c]),
                    "z": float(z[t, c]),
                    "p_value": float(p[t, c]),
                    "ci_low": low,
                    "ci_high": high,
                    "odds_ratio": _exp(float(params[t, c])),
                    "odds_ratio_low": _exp(low),
                    "odds_ratio_high": _exp(high),
                }
            )
    fit = {
        "n_rows": int(results.nobs),
        "log_likelihood": float(results.llf),
        "null_log_likelihood": float(results.llnull),
        "pseudo_r2": float(results.prsquared),
        "aic": float(results.aic),
        "bic": float(results.bic),
        "df_model": float(results.df_model),
        "llr": float(results.llr),
        "llr_p_value": float(results.llr_pvalue),
    }
    cov_type = getattr(results, "cov_type", "nonrobust")
    note = "" if cov_type == "nonrobust" else f"standard errors of covariance type {cov_type!r}, as statsmodels fitted"
    table = {
        "units": "raw",
        "classical": True,
        "reference_class": class_names[0] if kind == "MNLogit" else None,
        "note": note,
        "notes": [],
        "fit": fit,
        "rows": rows,
    }
    return _finite(table)


def _finite(value):
    """JSON without NaN or infinity (null instead), as CoefficientTable.to_json writes."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _exp(value: float) -> float:
    return math.exp(value) if value < 709.0 else math.inf
