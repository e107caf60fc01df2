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


def separated_classes(train_logits, model: LogisticModel, dataset: Dataset, train_idx: np.ndarray) -> list[str]:
    """Classes that the fitted unpenalized model classifies perfectly against all the others on the training rows,
    every row with a margin of at least 5 in log-odds: the signature of (quasi-)complete separation, where the
    likelihood keeps rising as that class's weights grow without bound. Binary data are one such "class" pair."""
    if train_logits is None:
        with torch.no_grad():
            logits = model.logits(torch.from_numpy(dataset.X[train_idx])).double()
    else:
        logits = train_logits
    y = torch.from_numpy(dataset.y[train_idx] if len(train_idx) != len(dataset.y) else dataset.y)
    if model.is_binary:
        margin = torch.where(y == 1, logits[:, 0], -logits[:, 0])
        return list(dataset.class_names) if bool((margin >= 5).all()) else []
    found = []
    for k, name in enumerate(dataset.class_names):
        others = torch.cat([logits[:, :k], logits[:, k + 1 :]], dim=1).logsumexp(dim=1)
        log_odds = logits[:, k] - others
        mine = y == k
        if bool((log_odds[mine] >= 5).all()) and bool((log_odds[~mine] <= -5).all()):
            found.append(name)
    return found


def separation_message(separated: list[str], class_names: list[str]) -> tuple:
    """The warning's parts (text and :class:`~trainer.errors.Setting`)."""
    if len(class_names) == 2:
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
        ") for finite, meaningful weights",
    )
