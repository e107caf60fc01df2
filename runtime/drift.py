"""Drift: the training rows' profile stored in a model, and how far new rows have moved from it (numpy only).

The profile (metadata key ``profile``, written by the exporter from the training rows or the ``sample`` given) holds,
per numeric column, about 20 quantile bins of the training values plus a missing bin; per text column each level's
share (the missing level ``""`` one of them) plus an ``(unseen)`` bin; and the same bins for the score (a binary
model's probability of its second class, a multiclass model's top probability). New rows are binned by the same
rule (:func:`bin_numeric`, :func:`bin_levels`), so the two histograms compare bin for bin:

- **PSI**, the population stability index ``sum (new - train) * ln(new / train)`` over the bins, each share floored
  at :data:`PSI_FLOOR` (an empty bin would be infinite). Bands, as usually read: under 0.1 stable, 0.1 to 0.25 a
  moderate shift, above 0.25 a major one.
- **KS** (numeric columns, the score): the Kolmogorov-Smirnov statistic of the binned values, the largest gap between
  the two cumulative shares over the bins (missing values left out); it equals ``scipy.stats.ks_2samp`` of the two
  samples' bin indices.
- **chi-square** (text columns): ``sum (observed - expected)^2 / expected`` over the levels seen in training, expected
  from the training shares scaled to the new rows' count there, and its p-value (``scipy.stats.chisquare``'s).
- the missing rate before and after, and the count of unseen levels.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from . import contract

PROFILE_BINS = 20
PSI_FLOOR = 1e-4  # a bin's share is at least this in the PSI: empty bins happen, a log of 0 does not
BANDS = ((0.1, "stable"), (0.25, "moderate shift"), (math.inf, "major shift"))
UNSEEN = "(unseen)"
SCORE = "(score)"
DIGITS = 6  # significant digits kept in the profile: bins are shares, not measurements


def band(psi: float) -> str:
    """The usual reading of a PSI: "stable" under 0.1, "moderate shift" to 0.25, "major shift" above."""
    return next(name for bound, name in BANDS if psi < bound)


def quantile_edges(values: np.ndarray, bins: int = PROFILE_BINS) -> list[float]:
    """The interior edges of ``bins`` quantile bins of the finite ``values`` (duplicates merged: a column of few
    distinct values gets fewer bins)."""
    finite = values[np.isfinite(values)].astype(np.float64)
    if not len(finite):
        return []
    edges = np.quantile(finite, np.linspace(0.0, 1.0, bins + 1)[1:-1])
    return [float(_round(e)) for e in np.unique(edges)]


def bin_numeric(values: np.ndarray, edges: Sequence[float]) -> np.ndarray:
    """Counts per bin: ``len(edges) + 1`` bins (``x <= edges[0]``, ..., ``x > edges[-1]``), then the missing bin."""
    values = np.asarray(values, dtype=np.float64)
    missing = np.isnan(values)
    index = np.searchsorted(np.asarray(edges, dtype=np.float64), values[~missing], side="left")
    counts = np.bincount(index, minlength=len(edges) + 1).astype(np.float64)
    return np.append(counts, float(missing.sum()))


def bin_levels(texts: Sequence[str], levels: Sequence[str]) -> np.ndarray:
    """Counts per level (in ``levels`` order, ``""`` the missing level when listed), then the unseen bin."""
    index = {level: i for i, level in enumerate(levels)}
    codes = np.fromiter((index.get(t, len(levels)) for t in texts), dtype=np.int64, count=len(texts))
    return np.bincount(codes, minlength=len(levels) + 1).astype(np.float64)


def psi(train: np.ndarray, new: np.ndarray) -> float:
    """The population stability index of two histograms (counts or shares, same bins)."""
    expected = np.maximum(np.asarray(train, dtype=np.float64) / max(float(np.sum(train)), 1.0), PSI_FLOOR)
    actual = np.maximum(np.asarray(new, dtype=np.float64) / max(float(np.sum(new)), 1.0), PSI_FLOOR)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def ks_statistic(train: np.ndarray, new: np.ndarray) -> float:
    """The largest gap between the cumulative shares of two histograms over ordered bins."""
    a, b = np.asarray(train, dtype=np.float64), np.asarray(new, dtype=np.float64)
    if a.sum() == 0 or b.sum() == 0:
        return 0.0
    return float(np.max(np.abs(np.cumsum(a) / a.sum() - np.cumsum(b) / b.sum())))


def chi_square(train_shares: np.ndarray, observed: np.ndarray) -> tuple[float, float]:
    """Pearson's chi-square of ``observed`` counts against ``train_shares`` over the bins training saw (share > 0),
    the expected counts scaled to the observed total there; and its p-value (``len(bins) - 1`` degrees of freedom)."""
    shares = np.asarray(train_shares, dtype=np.float64)
    seen = shares > 0
    observed = np.asarray(observed, dtype=np.float64)[seen]
    total = observed.sum()
    if total == 0 or seen.sum() < 2:
        return 0.0, 1.0
    expected = shares[seen] / shares[seen].sum() * total
    statistic = float(np.sum((observed - expected) ** 2 / expected))
    return statistic, chi2_sf(statistic, int(seen.sum()) - 1)


def chi2_sf(x: float, dof: int) -> float:
    """P(X > x) for a chi-square variable of ``dof`` degrees of freedom: the regularized upper incomplete gamma
    function Q(dof/2, x/2) (a series below a + 1, Lentz's continued fraction above, as Numerical Recipes' gammq)."""
    if x <= 0:
        return 1.0
    a, z = dof / 2.0, x / 2.0
    log_front = -z + a * math.log(z) - math.lgamma(a)
    if z < a + 1.0:
        term = total = 1.0 / a
        n = a
        for _ in range(1000):
            n += 1.0
            term *= z / n
            total += term
            if abs(term) < abs(total) * 1e-15:
                break
        return max(0.0, 1.0 - total * math.exp(log_front))
    tiny = 1e-300
    b, c, d = z + 1.0 - a, 1.0 / tiny, 1.0 / (z + 1.0 - a)
    h = d
    for i in range(1, 1000):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1.0 / d
        step = d * c
        h *= step
        if abs(step - 1.0) < 1e-15:
            break
    return min(1.0, math.exp(log_front) * h)


def score_of(probabilities: np.ndarray) -> np.ndarray:
    """The score the profile bins: a binary model's probability of its second class, else the top probability."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    return probabilities[:, 1] if probabilities.shape[1] == 2 else probabilities.max(axis=1)


def make_profile(
    numeric_names: Sequence[str],
    numeric: np.ndarray,
    categorical_names: Sequence[str],
    categories: np.ndarray,
    levels: Mapping[str, Sequence[str]],
    probabilities: np.ndarray,
) -> dict:
    """The profile of training rows (the graph's inputs: float32 numeric columns with NaN, text columns with "")
    and of the model's probabilities on them. ``levels``: each text column's training levels."""
    columns = []
    for j, name in enumerate(numeric_names):
        edges = quantile_edges(numeric[:, j])
        columns.append(
            {"name": name, "kind": "numeric", "edges": edges, "counts": _ints(bin_numeric(numeric[:, j], edges))}
        )
    for j, name in enumerate(categorical_names):
        known = list(levels[name])
        counts = bin_levels(categories[:, j].tolist(), known)
        columns.append({"name": name, "kind": "categorical", "levels": known, "counts": _ints(counts)})
    score = score_of(probabilities)
    edges = quantile_edges(score)
    return {
        "rows": len(probabilities),
        "columns": columns,
        "score": {"edges": edges, "counts": _ints(bin_numeric(score, edges))},
    }


@dataclass(frozen=True)
class Profile:
    """A model's training profile (see the module docstring), read from its ``profile`` metadata."""

    document: Mapping

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, object]) -> Profile | None:
        value = metadata.get(contract.KEY_PROFILE)
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                return None
        return cls(value) if isinstance(value, Mapping) and "columns" in value else None

    @property
    def rows(self) -> int:
        return int(self.document["rows"])

    def compare(
        self, numeric_names: Sequence[str], numeric: np.ndarray, categories: np.ndarray, probabilities: np.ndarray
    ) -> dict:
        """The drift of new rows (the graph's inputs and the model's probabilities on them) from this profile: per
        column and for the score, PSI with its band, KS or chi-square, missing rates, unseen counts."""
        numeric_index = {name: j for j, name in enumerate(numeric_names)}
        categorical_j = 0
        report = []
        for column in self.document["columns"]:
            train = np.asarray(column["counts"], dtype=np.float64)
            if column["kind"] == "numeric":
                values = numeric[:, numeric_index[column["name"]]]
                new = bin_numeric(values, column["edges"])
                entry = {"column": column["name"], "kind": "numeric", "ks": ks_statistic(train[:-1], new[:-1])}
                missing_before, missing_after = _share(train[-1], train), _share(new[-1], new)
                unseen = 0
            else:
                texts = categories[:, categorical_j].tolist()
                categorical_j += 1
                levels = list(column["levels"])
                new = bin_levels(texts, levels)
                statistic, p = chi_square(train, new)
                entry = {"column": column["name"], "kind": "categorical", "chi2": statistic, "chi2_p": p}
                missing = levels.index("") if "" in levels else None
                missing_before = _share(train[missing], train) if missing is not None else 0.0
                missing_after = float(np.mean([t == "" for t in texts])) if texts else 0.0
                unseen = int(new[-1])
            value = psi(train, new)
            entry |= {
                "psi": value,
                "band": band(value),
                "missing_before": missing_before,
                "missing_after": missing_after,
                "unseen": unseen,
            }
            report.append(entry)
        score = self.document["score"]
        train = np.asarray(score["counts"], dtype=np.float64)
        new = bin_numeric(score_of(probabilities), score["edges"])
        value = psi(train, new)
        return {
            "rows": len(probabilities),
            "training_rows": self.rows,
            "columns": report,
            "score": {"psi": value, "band": band(value), "ks": ks_statistic(train[:-1], new[:-1])},
        }


def format_drift(report: dict) -> str:
    """``logreg drift``'s table: one line per column, then the score."""
    width = max([len(c["column"]) for c in report["columns"]] + [len(SCORE)])
    head = f"{'column':<{width}}  {'PSI':>7}  {'band':<14}  {'KS / chi2 (p)':>18}  {'missing':>15}  {'unseen':>6}"
    lines = [f"{report['rows']:,} rows against a profile of {report['training_rows']:,} training rows", head]
    lines.append("-" * len(head))
    for c in report["columns"]:
        test = f"{c['ks']:.3f}" if c["kind"] == "numeric" else f"{c['chi2']:.1f} ({c['chi2_p']:.2g})"
        missing = f"{c['missing_before']:.1%} -> {c['missing_after']:.1%}"
        lines.append(
            f"{c['column']:<{width}}  {c['psi']:>7.3f}  {c['band']:<14}  {test:>18}  {missing:>15}  {c['unseen']:>6}"
        )
    s = report["score"]
    lines.append(f"{SCORE:<{width}}  {s['psi']:>7.3f}  {s['band']:<14}  {s['ks']:>18.3f}  {'':>15}  {'':>6}")
    lines.append("PSI bands: under 0.1 stable, 0.1 to 0.25 moderate shift, above 0.25 major shift")
    return "\n".join(lines)


def _share(part: float, counts: np.ndarray) -> float:
    total = float(np.sum(counts))
    return float(part) / total if total else 0.0


def _ints(counts: np.ndarray) -> list[int]:
    return [int(c) for c in counts]


def _round(value: float) -> float:
    return float(f"{value:.{DIGITS}g}")
