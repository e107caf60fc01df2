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

    # the other rows' null space from their Gram matrix, summed a chunk at a time: (params x params) memory, never a
    # float64 copy of the rows (nor an SVD's rows x rows factor); an eigenvalue below 1e-14 of the largest is a
    # singular value below 1e-7 of the largest, as near to 0 as float64's Gram matrix can tell
    if _full_rank_by_sample(X, ~wide_rows, mean, scale):
        return False
    gram = np.zeros((len(beta), len(beta)))
    for start in range(0, len(X), _CHUNK_ROWS):
        chunk = slice(start, start + _CHUNK_ROWS)
        others = X[chunk][~wide_rows[chunk]]
        if len(others):  # [S 1]'[S 1] without the column of ones: S'S, S'1 and the count
            S = (others - mean) / scale
            gram[:-1, :-1] += S.T @ S
            gram[:-1, -1] += S.sum(axis=0)
            gram[-1, -1] += len(S)
    gram[-1, :-1] = gram[:-1, -1]
    eigenvalues, vectors = np.linalg.eigh(gram)
    null = vectors[:, eigenvalues <= eigenvalues[-1] * 1e-14].T if eigenvalues[-1] > 0 else np.eye(len(beta))
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


def _full_rank_by_sample(X: np.ndarray, others: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> bool:
    """Whether the rows ``X[others]`` have no null space by :func:`quasi_separated`'s rule (no eigenvalue of their
    Gram matrix ``G`` at or below 1e-14 of its largest), shown from a sample of them without summing ``G``: adding
    rows adds a positive semidefinite term, so ``G``'s smallest eigenvalue is at least the sample's, and its largest is
    at most its trace, at most ``rows * (1 + sum_j max_i z_ij^2)`` from each column's extremes. False when that
    cannot show it (the whole Gram matrix then decides)."""
    rows = np.flatnonzero(others)
    if not len(rows):
        return False
    picked = rows[np.linspace(0, len(rows) - 1, min(len(rows), _SAMPLE_ROWS)).astype(np.int64)]
    S = (X[picked] - mean) / scale
    sample = np.zeros((len(mean) + 1, len(mean) + 1))
    sample[:-1, :-1], sample[:-1, -1], sample[-1, -1] = S.T @ S, S.sum(axis=0), len(S)
    sample[-1, :-1] = sample[:-1, -1]
    reach = np.maximum(np.abs(X.max(axis=0) - mean), np.abs(X.min(axis=0) - mean)) / scale
    largest = len(rows) * (1.0 + float((reach.astype(np.float64) ** 2).sum()))
    return bool(np.linalg.eigvalsh(sample)[0] > largest * 1e-14)


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
