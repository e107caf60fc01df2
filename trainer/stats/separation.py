"""Complete separation with ``l2=0``: which classes the fitted model separates perfectly, and what to tell the user."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

if TYPE_CHECKING:
    from ..data.dataset import Dataset
    from ..engine.model import LogisticModel
from ..errors import Placeholder, Setting, TrainerWarning


class SeparableDataWarning(TrainerWarning):
    """With ``l2=0`` a class is perfectly separated from the others: its maximum-likelihood weights are infinite."""


def separated_classes(
    train_logits, model: LogisticModel, dataset: Dataset, train_idx: np.ndarray
) -> tuple[list[str], bool]:
    """Classes that the fitted unpenalized model classifies perfectly against all the others on the training rows,
    every row with a margin of at least 5 in log-odds: the signature of (quasi-)complete separation, where the
    likelihood keeps rising as that class's weights grow without bound. Binary data are one such "class" pair, and
    for them quasi-complete separation is found too (:func:`quasi_separated`). Returns the classes and whether the
    separation is quasi-complete."""
    if train_logits is None:
        with torch.no_grad():
            offsets = None if dataset.offsets is None else torch.from_numpy(dataset.offsets[train_idx])
            logits = model.logits(torch.from_numpy(dataset.X[train_idx]), offsets).double()
    else:
        logits = train_logits
    y = torch.from_numpy(dataset.y[train_idx] if len(train_idx) != len(dataset.y) else dataset.y)
    if model.is_binary:
        margin = torch.where(y == 1, logits[:, 0], -logits[:, 0])
        if bool((margin >= 5).all()):
            return list(dataset.class_names), False
        rows = dataset.X[train_idx] if len(train_idx) != len(dataset.y) else dataset.X
        signs = torch.where(y == 1, 1.0, -1.0).double().numpy()
        quasi = quasi_separated(model, rows, signs, margin.numpy())
        return (list(dataset.class_names) if quasi else []), quasi
    found = []
    for k, name in enumerate(dataset.class_names):
        others = torch.cat([logits[:, :k], logits[:, k + 1 :]], dim=1).logsumexp(dim=1)
        log_odds = logits[:, k] - others
        mine = y == k
        if bool((log_odds[mine] >= 5).all()) and bool((log_odds[~mine] <= -5).all()):
            found.append(name)
    return found, False


_CHUNK_ROWS = 65536


def quasi_separated(
    model: LogisticModel, X: np.ndarray, signs: np.ndarray, margin: np.ndarray, *, wide: float = 10.0
) -> bool:
    """Quasi-complete separation of a binary model's training rows ``X`` (``signs`` +1 for the second class, -1 for
    the first; the fit's ``margin``, the log-odds of each row's own label): a direction of the parameters that
    leaves every other row's logit unchanged and gives every row classified with a margin above ``wide`` a margin of
    5 or more by itself. Along it the likelihood rises without
    bound (those rows' probabilities tend to 1 while the others' stay), so the fit ended where floating-point
    precision ends, as under complete separation; R's glm says "fitted probabilities numerically 0 or 1 occurred".
    A finite optimum that merely classifies some rows very confidently has no such direction: the other rows pin
    every parameter."""
    wide_rows = margin > wide
    if not wide_rows.any():
        return False
    mean = model.mean.detach().double().numpy()
    scale = model.scale.detach().double().numpy()
    beta = torch.cat([model.linear.weight.detach()[0], model.linear.bias.detach()]).double().numpy()

    def design(rows: np.ndarray) -> np.ndarray:  # float64 standardized rows and the intercept, a chunk at a time
        return np.hstack([(rows - mean) / scale, np.ones((len(rows), 1))])

    # the other rows' null space, by the 1e-9 relative rank of their singular values: from the R of a QR factorization
    # taken a chunk at a time (R of [R; next chunk]), so (params x params) memory, never a float64 copy of the rows
    # nor an SVD's rows x rows factor; most data show full rank from a sample first
    if _full_rank_by_sample(X, ~wide_rows, mean, scale):
        return False
    R = np.zeros((0, len(beta)))
    for start in range(0, len(X), _CHUNK_ROWS):
        chunk = slice(start, start + _CHUNK_ROWS)
        others = X[chunk][~wide_rows[chunk]]
        if len(others):
            R = np.linalg.qr(np.vstack([R, design(others)]), mode="r")
    if len(R):
        _, singular, right = np.linalg.svd(R, full_matrices=True)
        null = right[int((singular > singular[0] * _RANK_TOLERANCE).sum()) :]  # moving no other row's logit
    else:
        null = np.eye(len(beta))
    if not len(null):
        return False
    direction = null.T @ (null @ beta)  # the part of the parameters that moves no other row's logit
    for start in range(0, len(X), _CHUNK_ROWS):
        chunk = slice(start, start + _CHUNK_ROWS)
        chosen = wide_rows[chunk]
        if chosen.any() and not ((design(X[chunk][chosen]) @ direction) * signs[chunk][chosen] >= 5).all():
            return False
    return True


_SAMPLE_ROWS = 8192
_RANK_TOLERANCE = 1e-9  # a singular value below this share of the largest counts as 0


def _full_rank_by_sample(X: np.ndarray, others: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> bool:
    """Whether the rows ``X[others]`` (standardized, with the intercept's column) have no null space by
    :func:`quasi_separated`'s rule (no singular value at or below 1e-9 of the largest), shown from a sample of them:
    adding rows adds a positive semidefinite term to ``Z'Z``, so the rows' smallest singular value is at least the
    sample's, and their largest is at most the square root of ``Z'Z``'s trace, at most ``rows * (1 + sum_j max_i
    z_ij^2)`` from each column's extremes. A thousandfold margin covers rounding. False when that cannot show it
    (the whole factorization then decides)."""
    rows = np.flatnonzero(others)
    if not len(rows):
        return False
    picked = rows[np.linspace(0, len(rows) - 1, min(len(rows), _SAMPLE_ROWS)).astype(np.int64)]
    sample = np.hstack([(X[picked] - mean) / scale, np.ones((len(picked), 1))])
    smallest = np.linalg.svd(np.linalg.qr(sample, mode="r"), compute_uv=False)[-1] if len(picked) > len(mean) else 0.0
    reach = np.maximum(np.abs(X.max(axis=0) - mean), np.abs(X.min(axis=0) - mean)) / scale
    largest = np.sqrt(len(rows) * (1.0 + float((reach.astype(np.float64) ** 2).sum())))
    return bool(smallest > largest * _RANK_TOLERANCE * 1000)


def separation_message(separated: list[str], class_names: list[str], quasi: bool = False) -> tuple:
    """The warning's parts (text and :class:`~trainer.errors.Setting`)."""
    if quasi:
        what = (
            "the training data look quasi-completely separated: a combination of the features classifies a subset of "
            "the rows perfectly (their probabilities tend to 0 or 1) while leaving the others alone"
        )
    elif len(class_names) == 2:
        what = "the training data look linearly separable: every row is classified correctly"
    else:
        what = (
            f"class{'es' if len(separated) > 1 else ''} {', '.join(repr(c) for c in separated)} "
            f"{'are' if len(separated) > 1 else 'is'} perfectly separated from the others on the training rows"
        )
    return (
        f"{what}, so with ",
        Setting("l2", 0),
        " the maximum-likelihood weights are infinite and training stopped where floating-point precision ends; "
        "the probabilities near 0 and 1 are overconfident and the weights meaningless. Use ",
        Setting("l2"),
        " > 0 (e.g. ",
        Setting("l2", Placeholder("1e-3")),
        ") for finite, meaningful weights, or ",
        Setting("penalty", "firth"),
        " for finite estimates with intervals (Firth's penalized likelihood, binary models)",
    )
