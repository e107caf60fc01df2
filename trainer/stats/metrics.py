"""Classification metrics in plain numpy (scikit-learn is a test reference, not a dependency)."""

from __future__ import annotations

import numpy as np


def log_loss(y: np.ndarray, probabilities: np.ndarray, *, sample_weight: np.ndarray | None = None) -> float:
    """Mean negative log-likelihood of the true class; probabilities are clipped to [1e-300, 1] before the log."""
    p_true = probabilities[np.arange(len(y)), y].astype(np.float64)
    losses = -np.log(np.clip(p_true, 1e-300, 1.0))
    return float(np.average(losses, weights=sample_weight))


def confusion_matrix(
    y: np.ndarray, predicted: np.ndarray, n_classes: int, sample_weight: np.ndarray | None = None
) -> np.ndarray:
    """Counts of shape (n_classes, n_classes): rows are true classes, columns predicted ones (weighted: the sums of
    the rows' frequency weights)."""
    counts = np.bincount(y * n_classes + predicted, weights=sample_weight, minlength=n_classes * n_classes)
    return counts.reshape(n_classes, n_classes)


def roc_auc(y: np.ndarray, probabilities: np.ndarray, sample_weight: np.ndarray | None = None) -> float | None:
    """Binary: AUC of the second class's probability. Multiclass: one-vs-rest AUC averaged over classes (macro).
    ``sample_weight``: frequency weights (the AUC of the rows repeated that many times).

    ``None`` where it is undefined (a class absent from ``y``, or only one class present).
    """
    n_classes = probabilities.shape[1]
    positives = [1] if n_classes == 2 else range(n_classes)
    scores = [_auc(y == k, probabilities[:, k], sample_weight) for k in positives]
    if any(s is None for s in scores):
        return None
    return float(np.mean(scores))


def roc_curve(is_positive: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """False and true positive rates at every distinct threshold, from (0, 0) to (1, 1)."""
    order = np.argsort(-score, kind="mergesort")
    score, is_positive = score[order], is_positive[order]
    last_of_each_threshold = np.r_[np.flatnonzero(np.diff(score)), len(score) - 1]
    tps = np.cumsum(is_positive)[last_of_each_threshold]
    fps = (last_of_each_threshold + 1) - tps
    tpr = np.r_[0.0, tps / max(tps[-1], 1)]
    fpr = np.r_[0.0, fps / max(fps[-1], 1)]
    return fpr, tpr


def classification_metrics(
    y: np.ndarray, probabilities: np.ndarray, *, sample_weight: np.ndarray | None = None
) -> dict[str, object]:
    """All metrics of a run for one split, JSON-ready.

    Binary precision, recall and f1 are those of the second class (the positive one); multiclass ones are macro
    averages. ``sample_weight``: frequency weights (``--weight``): every metric is that of the rows repeated that
    many times, and ``sum_weight`` joins ``n_rows``.
    """
    n_classes = probabilities.shape[1]
    predicted = probabilities.argmax(axis=1)
    matrix = confusion_matrix(y, predicted, n_classes, sample_weight)
    out = {
        "n_rows": len(y),
        "log_loss": log_loss(y, probabilities, sample_weight=sample_weight),
        "accuracy": float(np.average(predicted == y, weights=sample_weight)),
        "roc_auc": roc_auc(y, probabilities, sample_weight),
        **confusion_metrics(matrix),
    }
    if sample_weight is not None:
        out["sum_weight"] = float(np.sum(sample_weight))
    return out


def confusion_metrics(matrix: np.ndarray) -> dict[str, object]:
    """Precision, recall and f1 (of the second class for a binary model, macro averages otherwise) and the matrix
    itself (rows: true class, columns: predicted)."""
    n_classes = len(matrix)
    true_positive = np.diag(matrix).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(matrix.sum(axis=0) > 0, true_positive / matrix.sum(axis=0), 0.0)
        recall = np.where(matrix.sum(axis=1) > 0, true_positive / matrix.sum(axis=1), 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    pick = (lambda v: float(v[1])) if n_classes == 2 else (lambda v: float(v.mean()))
    return {
        "precision": pick(precision),
        "recall": pick(recall),
        "f1": pick(f1),
        "confusion_matrix": np.asarray(matrix).tolist(),
    }


def _auc(is_positive: np.ndarray, score: np.ndarray, weight: np.ndarray | None = None) -> float | None:
    """The chance that a random positive outscores a random negative, ties counting half (Mann-Whitney U over the
    tie groups of the sorted scores), each row counted ``weight`` times (None: once); None without both classes."""
    order = np.argsort(score)  # ties are grouped below, so the sort need not be stable
    score, positive = score[order], is_positive[order]
    starts = np.r_[True, score[1:] != score[:-1]]
    group = np.cumsum(starts) - 1
    if weight is None:
        pos = np.bincount(group, weights=positive)
        neg = np.bincount(group) - pos
    else:
        weight = np.asarray(weight, dtype=np.float64)[order]
        pos = np.bincount(group, weights=np.where(positive, weight, 0.0))
        neg = np.bincount(group, weights=np.where(positive, 0.0, weight))
    total_pos, total_neg = pos.sum(), neg.sum()
    if total_pos <= 0 or total_neg <= 0:
        return None
    below = np.cumsum(neg) - neg  # negatives strictly below each tie group
    return float((pos * (below + 0.5 * neg)).sum() / (total_pos * total_neg))
