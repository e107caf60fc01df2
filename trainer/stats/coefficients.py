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

from .firth import MAX_PROFILE_WORK, FirthLikelihood
from .hessian import MAX_INFORMATION_WORK, hessian_sum
from .sandwich import Covariance, sandwich

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
    # when classical: each logit's (the second class's, or each class's against the first) covariance of the
    # solver's parameters [w_1 .. w_D, b] on standardized features, float64 of shape (n_logits, D + 1, D + 1): what
    # the exported graph's logit_se uses (the delta method); not part of the JSON table
    covariance: np.ndarray | None = field(default=None, compare=False, repr=False)
    # when classical: the covariance of the table's estimates, in the order of its rows (what a Wald test reads)
    parameter_covariance: np.ndarray | None = field(default=None, compare=False, repr=False)

    def wald_test(self, hypotheses: str):
        """:func:`trainer.stats.wald.wald_test` of ``hypotheses`` ("x1 = 0, x2 = x3") with this table's covariance."""
        from .wald import wald_test

        return wald_test(self.to_json(), self.parameter_covariance, hypotheses)

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


@dataclass
class Optimum:
    """What a fit already computed at its optimum, so that the table needs no pass over the rows: the float64
    ``probabilities`` of the training rows (n_rows, n_classes), and ``information``, the sum over those rows of the
    log-loss's Hessian in the solver's parameters (standardized features, every class, the bias last in each: see
    :func:`trainer.stats.hessian.hessian_sum`), or None when it was not computed."""

    probabilities: np.ndarray
    information: torch.Tensor | None


def coefficient_table(
    model,
    X: np.ndarray | None,
    y: np.ndarray,
    class_names: list[str],
    design_names: list[str],
    *,
    l2: float = 0.0,
    l1: float = 0.0,
    penalty: str = "l2",
    weighted: bool = False,
    standardized: bool = False,
    optimum: Optimum | None = None,
    se: Covariance | None = None,
    groups: np.ndarray | None = None,
    frequency: np.ndarray | None = None,
    offsets: np.ndarray | None = None,
    offset_name: str | None = None,
) -> CoefficientTable:
    """The table of ``model`` (a fitted :class:`~trainer.model.LogisticModel`) on its training rows: ``X`` the float32
    design matrix of shape (n_rows, n_design), ``y`` class indices. ``optimum``: the probabilities and information
    the fit computed (``X`` is then not read for them, and may be None unless ``se`` is robust); without it both are
    computed from ``X`` a block of rows at a time, in float64. ``se``: the covariance of the standard errors
    (:mod:`trainer.stats.sandwich`), ``groups`` the rows' cluster ids for a clustered one. ``frequency``: the rows'
    frequency weights, as statsmodels' GLM ``freq_weights`` takes them (each row counts that many times: in the
    log-likelihoods, the number of observations of the BIC and the small-sample corrections, and the information).
    ``offsets``: a binary model's known term of each row's logit (its null model is then the intercept with the
    offsets, as statsmodels' ``llnull``).
    ``penalty="firth"``: the model maximizes Firth's penalized likelihood; the standard errors are the inverse
    information's (as logistf's), the intervals and p-values come from the profile penalized likelihood
    (:func:`firth_inference`; ``X`` is read for them), and ``z`` is the signed root of the penalized likelihood ratio
    statistic, so that ``p = 2 * (1 - Phi(|z|))`` still holds."""
    se = se or Covariance()
    V = torch.cat([model.linear.weight.detach(), model.linear.bias.detach()[:, None]], dim=1).double()
    mean = model.mean.detach().double().numpy()
    scale = model.scale.detach().double().numpy()
    binary = model.is_binary
    n, k_classes = len(y), len(class_names)
    free = V.shape[0] if binary else V.shape[0] - 1  # MNLogit's parameters: each class against the first
    width = V.shape[1]
    n_params = free * width
    classical, note, notes = l2 == 0 and l1 == 0 and not weighted, "", []
    if l1 != 0:
        kind = "an elastic-net" if l2 != 0 else "an L1"
        note = (
            f"the model is fitted with {kind} penalty (l1 {l1:g}" + (f", l2 {l2:g}" if l2 else "") + "): classical "
            "standard errors, p-values and intervals do not apply"
        )
    elif l2 != 0:
        note = (
            f"the model is fitted with an l2 penalty ({l2:g}): classical standard errors, p-values and intervals do "
            "not apply"
        )
    elif weighted:
        note = "the model is fitted with class weights: classical standard errors, p-values and intervals do not apply"
    work = n * float(n_params) ** 2
    information = None
    if optimum is not None:
        probabilities, information = optimum.probabilities, optimum.information
    if classical and information is None and work > MAX_INFORMATION_WORK:
        classical = False
        note = (
            f"standard errors not computed: the observed information of {n_params:,} parameters on {n:,} rows is "
            f"{work:.1e} multiply-adds (the limit is {MAX_INFORMATION_WORK:.0e})"
        )
    if optimum is None or (classical and information is None):
        computed, information = _at_rows(
            model, X, mean, scale, information=classical, weights=frequency, offsets=offsets
        )
        probabilities = computed if optimum is None else optimum.probabilities
    if information is not None and not binary:
        information = information[width:, width:]  # the classes after the first: the reference parametrization
    standardized_params = (V if binary else V[1:] - V[0]).numpy()  # (free, D + 1): [w | b] per class
    to_table = _to_table(mean, scale, standardized)  # [w | b] -> [intercept, slopes], per class
    params = standardized_params @ to_table.T  # (free, D + 1)
    row_likelihoods = np.log(np.clip(probabilities[np.arange(n), y], 1e-300, None))
    log_likelihood = float(np.dot(row_likelihoods, frequency) if frequency is not None else row_likelihoods.sum())
    counts = np.bincount(y, weights=frequency, minlength=k_classes).astype(np.float64)
    observations = float(counts.sum()) if frequency is not None else n  # each row counted its weight's times
    present = counts[counts > 0]
    null_log_likelihood = (
        float((present * np.log(present / observations)).sum())
        if offsets is None
        else _null_with_offsets(y, offsets, frequency)
    )
    df_model = n_params - params.shape[0]  # without the intercepts
    llr = 2.0 * (log_likelihood - null_log_likelihood)
    fit = {
        "n_rows": n,
        "log_likelihood": log_likelihood,
        "null_log_likelihood": null_log_likelihood,
        "pseudo_r2": 1.0 - log_likelihood / null_log_likelihood if null_log_likelihood else None,
        "aic": -2.0 * log_likelihood + 2.0 * n_params,
        "bic": -2.0 * log_likelihood + math.log(observations) * n_params,
        "df_model": df_model,
        "llr": llr,
        "llr_p_value": chi2_sf(llr, df_model) if df_model > 0 else None,
        "covariance": se.name,
        **({"penalty": "firth"} if penalty == "firth" else {}),
        # the lasso's zeros, in the model's own weights (a softmax's every class, before the reference contrast)
        **({"l1": l1, "zero_weights": int((V[:, :-1] == 0).sum()), "weights": V[:, :-1].numel()} if l1 else {}),
        **({"n_observations": observations} if frequency is not None else {}),
        **({"offset": offset_name} if offsets is not None else {}),
    }
    std_errors = blocks = table_covariance = inference = None
    if classical:
        try:
            covariance = np.linalg.inv(information.numpy())  # of the standardized [w | b] parameters
            if not se.classical:
                covariance = _robust(covariance, X, y, probabilities, mean, scale, binary, se, groups, frequency)
            blocks = np.stack(
                [covariance[c * width : (c + 1) * width, c * width : (c + 1) * width] for c in range(free)]
            )
            J = np.kron(np.eye(free), to_table)
            covariance = J @ covariance @ J.T
            table_covariance = covariance  # class by class, [intercept, slopes]: the rows' order
            std_errors = np.sqrt(np.clip(np.diag(covariance), 0, None)).reshape(params.shape)
        except np.linalg.LinAlgError:
            classical, blocks = False, None
            note = "the observed information is singular (collinear terms): no standard errors"
        if classical and penalty == "firth":
            inference = firth_inference(standardized_params[0], X, y, mean, scale, to_table, frequency)
            fit |= inference.fit
            notes.extend(inference.notes)
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
                if inference is not None and inference.rows is not None:
                    row.update({"std_error": se, **inference.rows[t]})
                    rows.append(row)
                    continue
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
    if blocks is not None and not np.isfinite(blocks).all():
        blocks = None
    if not classical or not np.isfinite(table_covariance).all():
        table_covariance = None
    return CoefficientTable(
        rows, fit, classical, reference, units, note, notes, covariance=blocks, parameter_covariance=table_covariance
    )


@dataclass
class FirthInference:
    """What a Firth fit's table shows beside its estimates: per term ``rows`` of z, p_value and the intervals (None:
    Wald intervals and p-values, as for the other fits), ``fit`` entries saying which, and ``notes``."""

    rows: list[dict] | None
    fit: dict
    notes: list[str]


def firth_inference(beta, X, y, mean, scale, to_table, frequency) -> FirthInference:
    """Profile penalized likelihood intervals and penalized likelihood ratio tests of each term of the table (the
    functional ``to_table[t]`` of the solver's parameters ``beta``), as logistf computes them: the optimum is first
    polished on the float64 standardized rows (``beta`` is the model's float32 weights)."""
    n, width = X.shape[0], X.shape[1] + 1
    work = 160.0 * n * width**3
    if work > MAX_PROFILE_WORK:
        return FirthInference(
            None,
            {"intervals": "wald", "p_values": "wald"},
            [
                f"Wald intervals and p-values: profile penalized likelihood intervals of {width} parameters on {n:,} "
                f"rows would cost about {work:.1e} multiply-adds (the limit is {MAX_PROFILE_WORK:.0e})"
            ],
        )
    Z = np.empty((n, width))
    Z[:, :-1] = (X - mean) / scale
    Z[:, -1] = 1.0
    likelihood = FirthLikelihood(Z, y, frequency)
    optimum, _ = likelihood.maximize(np.asarray(beta, dtype=np.float64))
    rows, open_ends = [], 0
    for t in range(width):
        low, high, statistic = likelihood.profile(optimum, to_table[t], Z_95)
        open_ends += not (math.isfinite(low) and math.isfinite(high))
        root = math.copysign(math.sqrt(statistic), float(to_table[t] @ optimum.beta))
        rows.append(
            {
                "z": root,
                "p_value": math.erfc(abs(root) / math.sqrt(2.0)),
                "ci_low": low,
                "ci_high": high,
                "odds_ratio_low": _exp(low) if math.isfinite(low) else 0.0 if low < 0 else math.inf,
                "odds_ratio_high": _exp(high) if math.isfinite(high) else math.inf,
            }
        )
    fit = {
        "penalized_log_likelihood": optimum.value,
        "intervals": "profile penalized likelihood",
        "p_values": "penalized likelihood ratio",
    }
    notes = [f"{open_ends} interval(s) open-ended: the profile never falls that far"] if open_ends else []
    return FirthInference(rows, fit, notes)


def _robust(bread, X, y, probabilities, mean, scale, binary: bool, se: Covariance, groups, frequency) -> np.ndarray:
    """The sandwich covariance of the free classes' parameters (the classes after the first)."""
    if X is None:
        raise ValueError("a robust covariance needs the training rows X")
    free = probabilities[:, 1:]  # binary: the second class; multinomial: each class against the first
    observed = np.zeros_like(free)
    hit = y > 0
    observed[np.flatnonzero(hit), y[hit] - 1] = 1.0
    weights = free[:, 0] * (1.0 - free[:, 0]) if binary else None
    return sandwich(bread, X, mean, scale, observed - free, weights, se, groups, frequency)


def _to_table(mean: np.ndarray, scale: np.ndarray, standardized: bool) -> np.ndarray:
    """The linear map from one class's solver parameters ``[w_1 .. w_D, b]`` (on standardized features) to the
    table's ``[intercept, slope_1 .. slope_D]``: per standard deviation, or in the features' original units
    (``slope = w / scale``, ``intercept = b - sum(slope * mean)``). Standard errors follow through the same map."""
    d = len(mean)
    J = np.zeros((d + 1, d + 1))
    J[0, d] = 1.0
    if standardized:
        J[1:, :d] = np.eye(d)
    else:
        J[1:, :d] = np.diag(1.0 / scale)
        J[0, :d] = -mean / scale
    return J


def _null_with_offsets(y: np.ndarray, offsets: np.ndarray, frequency: np.ndarray | None) -> float:
    """The log-likelihood of the binary model with only an intercept and the rows' ``offsets``, at its optimum
    (Newton's method in the one intercept: concave, so a few steps from the offset-free optimum)."""
    w = np.ones(len(y)) if frequency is None else np.asarray(frequency, dtype=np.float64)
    target = (y == 1).astype(np.float64)
    share = float(np.dot(w, target) / w.sum())
    if share in (0.0, 1.0):
        return 0.0
    b = math.log(share / (1.0 - share)) - float(np.average(offsets, weights=w))
    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(-(b + offsets)))
        gradient, curvature = float(np.dot(w, target - p)), float(np.dot(w, p * (1.0 - p)))
        step = gradient / curvature if curvature > 0 else 0.0
        b += step
        if abs(step) < 1e-13 * max(1.0, abs(b)):
            break
    z = b + offsets
    return float(np.dot(w, target * z - np.logaddexp(0.0, z)))


def _at_rows(
    model, X: np.ndarray, mean, scale, *, information: bool, weights=None, offsets=None, chunk_rows: int = 65536
):
    """The model's float64 probabilities of rows ``X`` (plus a binary model's ``offsets`` on the logit) and
    (``information``) the sum of the log-loss's Hessian over them, in the solver's parameters: a chunk at a time,
    standardized in float64, no float64 copy of ``X``."""
    weight = model.linear.weight.detach().double()
    bias = model.linear.bias.detach().double()
    mean_t, scale_t = torch.from_numpy(mean), torch.from_numpy(scale)
    size = weight.numel() + len(bias)
    total = torch.zeros((size, size), dtype=torch.float64) if information else None
    probabilities = np.empty((len(X), model.n_classes))
    for start in range(0, len(X), chunk_rows):
        rows = (torch.from_numpy(X[start : start + chunk_rows]).double() - mean_t) / scale_t
        logits = torch.addmm(bias, rows, weight.T)
        if offsets is not None:
            offset = np.asarray(offsets[start : start + chunk_rows], dtype=np.float64)
            logits = logits + torch.from_numpy(offset)[:, None]
        P = torch.sigmoid(logits) if model.is_binary else torch.softmax(logits, dim=1)
        probabilities[start : start + chunk_rows] = torch.cat([1 - P, P], dim=1) if model.is_binary else P
        if total is not None:
            w = None if weights is None else torch.from_numpy(np.asarray(weights[start : start + chunk_rows]))
            total += hessian_sum(rows, P, None if w is None else w.double())
    return probabilities, total


def chi2_sf(x: float, df: int) -> float:
    """The chi-squared distribution's survival function: the regularized upper incomplete gamma Q(df/2, x/2)."""
    if x <= 0:
        return 1.0
    return float(
        torch.special.gammaincc(torch.tensor(df / 2.0, dtype=torch.float64), torch.tensor(x / 2.0, dtype=torch.float64))
    )


def _exp(value: float) -> float:
    return math.exp(value) if value < 709.0 else math.inf
