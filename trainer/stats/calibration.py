"""How well the probabilities are calibrated (Brier score, expected calibration error, the reliability diagram's bins),
and the decision threshold of a binary model: precision, recall, F1 and cost at each threshold, and the rule that
picks one on the validation rows (``--threshold``)."""

from __future__ import annotations

import numpy as np

from ..errors import OptionError
from ..threshold import ThresholdRule

CALIBRATION_BINS = 10
GRID = np.round(np.arange(0.005, 1.0, 0.005), 3)  # the thresholds tried: 0.005 ... 0.995
RULES = ("auto", "f1", "youden", "cost")


def calibration(y: np.ndarray, probabilities: np.ndarray, bins: int = CALIBRATION_BINS) -> dict:
    """Brier score (binary: of the second class, as scikit-learn's ``brier_score_loss``; multiclass: the sum over
    classes), the expected calibration error over ``bins`` equal-width bins (binary: of the second class's
    probability; multiclass: of the top class's confidence), and those bins for the reliability diagram."""
    n, k = probabilities.shape
    if k == 2:
        score = probabilities[:, 1]
        outcome = (y == 1).astype(np.float64)
        brier = float(np.mean((score - outcome) ** 2))
    else:
        onehot = np.eye(k)[y]
        brier = float(np.mean(((probabilities - onehot) ** 2).sum(axis=1)))
        score = probabilities.max(axis=1)
        outcome = (probabilities.argmax(axis=1) == y).astype(np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.digitize(score, edges[1:-1], right=True), 0, bins - 1)
    counts = np.bincount(index, minlength=bins)
    predicted_sums = np.bincount(index, weights=score, minlength=bins)
    observed_sums = np.bincount(index, weights=outcome, minlength=bins)
    table, ece = [], 0.0
    for b in np.flatnonzero(counts):
        count = int(counts[b])
        predicted, observed = float(predicted_sums[b] / count), float(observed_sums[b] / count)
        ece += count / n * abs(predicted - observed)
        table.append(
            {
                "low": float(edges[b]),
                "high": float(edges[b + 1]),
                "count": count,
                "mean_predicted": predicted,
                "observed": observed,
            }
        )
    return {"brier": brier, "ece": float(ece), "bins": table, "of": "second class" if k == 2 else "top class"}


def threshold_table(y: np.ndarray, p: np.ndarray, cost_fp: float = 1.0, cost_fn: float = 1.0, grid=GRID) -> list[dict]:
    """At each threshold t of ``grid`` (the second class when p > t): counts, precision, recall, F1, the false and
    true positive rates, Youden's J and the cost per row."""
    positive = y == 1
    rows = []
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    grid = np.asarray(grid, dtype=np.float64)
    # row i is predicted positive at threshold t_j exactly when p_i > t_j, that is for the first `below[i]` thresholds
    # of the sorted grid: counting rows by `below` gives every threshold's counts in one pass
    order = np.argsort(grid, kind="stable")
    below = np.searchsorted(grid[order], p, side="left")
    above_pos = np.cumsum(np.bincount(below[positive], minlength=len(grid) + 1)[::-1])[::-1]
    above_all = np.cumsum(np.bincount(below, minlength=len(grid) + 1)[::-1])[::-1]
    tps, predicted_counts = np.empty(len(grid), dtype=np.int64), np.empty(len(grid), dtype=np.int64)
    tps[order], predicted_counts[order] = above_pos[1:], above_all[1:]
    for t, tp, n_predicted in zip(grid, tps.tolist(), predicted_counts.tolist(), strict=True):
        fp = n_predicted - tp
        fn = n_pos - tp
        precision = tp / (tp + fp) if tp + fp else None
        recall = tp / n_pos if n_pos else None
        f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else None
        tpr, fpr = (tp / n_pos if n_pos else 0.0), (fp / n_neg if n_neg else 0.0)
        rows.append(
            {
                "threshold": float(t),
                "tp": tp,
                "fp": fp,
                "fn": fn,
                "tn": n_neg - fp,
                "precision": precision,
                "recall": recall,
                "f1": f1,
                "tpr": tpr,
                "fpr": fpr,
                "youden": tpr - fpr,
                "cost": (cost_fp * fp + cost_fn * fn) / max(len(y), 1),
            }
        )
    return rows


def choose_threshold(rule: ThresholdRule, y: np.ndarray, p: np.ndarray) -> tuple[float, list[dict]]:
    """The threshold ``rule`` picks on (y, p), and the table it picked from. Ties go to the threshold nearest 0.5."""
    table = threshold_table(y, p, rule.cost_fp, rule.cost_fn)
    if rule.rule == "fixed":
        return float(rule.value), table
    if rule.rule == "f1":
        score = [row["f1"] if row["f1"] is not None else -1.0 for row in table]
    elif rule.rule == "youden":
        score = [row["youden"] for row in table]
    else:
        score = [-row["cost"] for row in table]
    best = max(score)
    candidates = [row["threshold"] for row, s in zip(table, score, strict=True) if s >= best - 1e-12]
    return float(min(candidates, key=lambda t: (abs(t - 0.5), t))), table


def decide(metrics: dict, y: np.ndarray, probabilities_of, train_idx, val_idx, opts) -> None:
    """Calibration of each split (``metrics[split]["calibration"]``) and, for a binary model, the decision threshold
    that ``opts.threshold`` picks on the validation rows (the training rows when there are none):
    ``metrics["threshold"]`` and the table it picked from, ``metrics["thresholds"]``. ``probabilities_of(rows)``:
    the model's probabilities of those rows, float64."""
    rule = ThresholdRule.parse(opts.threshold)
    n_classes = None
    computed = {}
    for split, rows in (("train", train_idx), ("validation", val_idx)):
        if len(rows) and split in metrics:
            computed[split] = probabilities = probabilities_of(rows)
            n_classes = probabilities.shape[1]
            metrics[split]["calibration"] = calibration(y[rows], probabilities)
    if n_classes != 2:
        if not (rule.rule == "fixed" and rule.value == 0.5):
            raise OptionError("threshold", f"applies to binary models; this one has {n_classes} classes")
        return
    split, rows = ("validation", val_idx) if len(val_idx) else ("train", train_idx)
    p = (computed[split] if split in computed else probabilities_of(rows))[:, 1]
    y_rows = y[rows]
    value, table = choose_threshold(rule, y_rows, p)
    on_grid = [row for row in table if row["threshold"] == value]  # a rule's choice is a row of the table already
    (chosen,) = on_grid or threshold_table(y_rows, p, rule.cost_fp, rule.cost_fn, grid=[value])
    metrics["threshold"] = {
        "value": value,
        "rule": opts.threshold,
        "rows": split,
        **{k: chosen[k] for k in ("precision", "recall", "f1", "tpr", "fpr", "cost")},
    }
    metrics["thresholds"] = table
