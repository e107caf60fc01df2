"""What a fit resolves from its options and its data, the same for the in-memory and the streamed fit."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ..data.dataset import label_text
from ..errors import DataError, OptionError
from ..options import FitOptions
from ..threshold import ThresholdRule
from .newton import MAX_NEWTON_PARAMS

DEFAULT_EPOCHS = {"lbfgs": 1000, "sgd": 100, "adam": 100}  # lbfgs: an iteration cap, rarely reached
DEFAULT_LR = {"sgd": 0.1, "adam": 0.01}
MINIBATCH_SOLVERS = ("sgd", "adam")


def class_weights(counts: np.ndarray) -> np.ndarray:
    """scikit-learn's 'balanced', from the training rows' count of each class: n_rows / (n_classes * count)."""
    counts = np.asarray(counts, dtype=np.float32)
    return (counts.sum() / (len(counts) * counts)).astype(np.float32)


def class_weight_vector(
    option: str | Mapping[object, float], class_names: Sequence[str], train_counts: np.ndarray, source: str
) -> np.ndarray | None:
    """The float32 weight of each class's rows (in ``class_names``' order) that the ``class_weight`` option means,
    or None for ``"none"``: ``"balanced"`` from the training rows' count of each class (``train_counts``), a mapping
    {label: weight} as scikit-learn reads it (a label matches the class of its name, ``1`` or ``1.0`` the class
    ``'1'``; a class not named weighs 1). Raises :class:`OptionError` for a label that is no class."""
    if isinstance(option, str) and option == "none":
        return None
    if isinstance(option, str) and option == "balanced":
        counts = np.asarray(train_counts)
        if not counts.all():
            name = class_names[int(np.flatnonzero(counts == 0)[0])]
            raise DataError(
                f"{source}: class {name!r} has no training rows (all in the validation split), so class_weight="
                "balanced cannot weigh it; give a smaller val_fraction"
            )
        return class_weights(counts)
    index = {name: i for i, name in enumerate(class_names)}
    unknown = [label for label in option if label_text(label) not in index]
    if unknown:
        raise OptionError(
            "class_weight",
            f"names {', '.join(repr(label) for label in unknown)}, not a class of the labels; the classes are "
            f"{', '.join(repr(name) for name in class_names)}",
        )
    vector = np.ones(len(class_names), dtype=np.float32)
    for label, weight in option.items():
        vector[index[label_text(label)]] = weight
    return vector


def resolved_class_weight(option: str | Mapping[object, float]) -> str | dict:
    """The option as the resolved options record it (JSON): a mapping keyed by class name."""
    if isinstance(option, str):
        return option
    return {label_text(label): float(weight) for label, weight in option.items()}


@dataclass(frozen=True)
class FitPlan:
    """A fit's options resolved against its data and machine, built once (:func:`make_plan`) for the in-memory and
    the streamed fit alike: what the solvers, the hooks, the metrics and the resolved options record read.

    Attributes
    ----------
    options : FitOptions, as given, ``l2`` a number (``"auto"`` resolved by cross-validation)
    device : torch.device
    optimizer : str, ``lbfgs``, ``sgd`` or ``adam`` (``auto`` resolved)
    solver : str, ``newton``, ``firth``, ``proximal-newton`` (an L1 penalty), ``lbfgs``, ``sgd`` or ``adam``
    epochs : int, the epochs (sgd/adam) or the iteration cap (newton/lbfgs)
    lr : float or None, the learning rate of sgd/adam
    class_weights : ndarray of shape (n_classes,) float32, or None: each class's row weight in the log-loss
    threshold : ThresholdRule, a binary model's decision threshold rule
    val_fraction : float, the share of rows held out for validation
    streamed : dict or None, a streamed fit's reading options and process count
    """

    options: FitOptions
    device: torch.device
    optimizer: str
    solver: str
    epochs: int
    lr: float | None
    class_weights: np.ndarray | None
    threshold: ThresholdRule
    val_fraction: float
    streamed: dict | None = None

    @property
    def minibatch(self) -> bool:
        """Whether the solver is a mini-batch one (epochs, early stopping, a learning rate)."""
        return self.solver in MINIBATCH_SOLVERS

    def resolved(self) -> dict:
        """The resolved options as a fit records them (JSON): every option, the resolved values in their place."""
        out = {**vars(self.options), "na_values": list(self.options.na_values)}
        out["class_weight"] = resolved_class_weight(self.options.class_weight)
        out |= {"optimizer": self.optimizer, "solver": self.solver, "epochs": self.epochs, "lr": self.lr}
        out["device"] = str(self.device)
        if self.streamed is not None:
            out["streamed"] = self.streamed
        return out


def make_plan(
    opts: FitOptions,
    *,
    device: torch.device,
    class_names: Sequence[str],
    train_counts: np.ndarray,
    n_features: int,
    source: str,
    auto_optimizer: str = "lbfgs",
    newton: bool = True,
    streamed: dict | None = None,
) -> FitPlan:
    """The :class:`FitPlan` of options ``opts`` (``l2`` a number) for data of ``class_names`` (the training rows'
    count of each in ``train_counts``) and ``n_features`` design columns: ``auto_optimizer`` is what ``auto`` means
    here, ``newton`` whether Newton's method may solve a small lbfgs fit (its Hessian needs the rows in memory)."""
    optimizer = opts.optimizer if opts.optimizer != "auto" else auto_optimizer
    n_params = (1 if len(class_names) == 2 else len(class_names)) * (n_features + 1)
    solver = optimizer
    if optimizer == "lbfgs" and newton and n_params <= MAX_NEWTON_PARAMS:
        solver = "newton"
    if opts.penalty == "firth":
        if n_params > MAX_NEWTON_PARAMS:
            raise OptionError(
                "penalty",
                f"firth is for models of at most {MAX_NEWTON_PARAMS} parameters (each step solves with the "
                f"information matrix); this one has {n_params}",
            )
        solver = "firth"
    if opts.l1 > 0:
        if optimizer in MINIBATCH_SOLVERS or n_params > MAX_NEWTON_PARAMS or not newton:
            raise OptionError(
                "l1",
                f"is solved exactly by proximal Newton steps, for models of at most {MAX_NEWTON_PARAMS} parameters "
                f"with the rows in memory and the lbfgs optimizer; this one has {n_params} parameters"
                + (f" and optimizer={optimizer}" if optimizer in MINIBATCH_SOLVERS else ""),
            )
        solver = "proximal-newton"
    return FitPlan(
        options=opts,
        device=device,
        optimizer=optimizer,
        solver=solver,
        epochs=opts.epochs or DEFAULT_EPOCHS[optimizer],
        lr=opts.lr or DEFAULT_LR.get(optimizer),
        class_weights=class_weight_vector(opts.class_weight, class_names, train_counts, source),
        threshold=ThresholdRule.parse(opts.threshold),
        val_fraction=opts.val_fraction,
        streamed=streamed,
    )
