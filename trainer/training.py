"""trainer.fit: validate options and data, split, standardize, optimize, and measure the result."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from . import optim
from .callbacks import Callback, EarlyStopping, History, ProgressBar, TrainingState
from .data import Dataset, check_features, encode_labels
from .errors import DataError, OptionError
from .metrics import classification_metrics, log_loss
from .model import LogisticModel

OPTIMIZERS = ("lbfgs", "sgd", "adam")
CLASS_WEIGHTS = ("none", "balanced")
DEVICES = ("auto", "cpu", "cuda")
DEFAULT_EPOCHS = {"lbfgs": 1000, "sgd": 100, "adam": 100}  # lbfgs: an iteration cap, rarely reached
DEFAULT_LR = {"sgd": 0.1, "adam": 0.01}
DEFAULT_L2 = 1e-3


class SeparableDataWarning(UserWarning):
    """With ``l2=0`` the training data were classified perfectly: the maximum-likelihood weights are infinite."""


@dataclass(frozen=True)
class FitOptions:
    """Every training option, validated. See ``logreg train --help`` for their meaning."""

    optimizer: str = "auto"
    epochs: int | None = None
    batch_size: int = 256
    lr: float | None = None
    l2: float = DEFAULT_L2
    val_fraction: float = 0.2
    class_weight: str = "none"
    seed: int = 0
    device: str = "auto"
    patience: int = 10

    def __post_init__(self) -> None:
        def check(ok: bool, message: str) -> None:
            if not ok:
                raise OptionError(message)

        check(
            self.optimizer in ("auto", *OPTIMIZERS),
            f"optimizer must be one of auto, {', '.join(OPTIMIZERS)}; got {self.optimizer!r}",
        )
        check(self.epochs is None or self.epochs >= 1, f"epochs must be at least 1, got {self.epochs}")
        check(self.batch_size >= 1, f"batch_size must be at least 1, got {self.batch_size}")
        check(self.lr is None or (math.isfinite(self.lr) and self.lr > 0), f"lr must be positive, got {self.lr}")
        check(math.isfinite(self.l2) and self.l2 >= 0, f"l2 must be zero or positive, got {self.l2}")
        check(0 <= self.val_fraction < 1, f"val_fraction must be in [0, 1), got {self.val_fraction}")
        check(self.class_weight in CLASS_WEIGHTS, f"class_weight must be none or balanced, got {self.class_weight!r}")
        check(self.device in DEVICES, f"device must be one of {', '.join(DEVICES)}, got {self.device!r}")
        check(self.patience >= 1, f"patience must be at least 1, got {self.patience}")


@dataclass
class FitResult:
    """What :func:`fit` returns.

    Attributes
    ----------
    model : LogisticModel, on the CPU, in eval mode
    metrics : dict with "train" and (when a validation split exists) "validation" blocks
    history : list of dict, one per epoch or L-BFGS iteration
    feature_names, class_names : list of str
    options : dict, the resolved options (optimizer, epochs, lr filled in)
    converged : bool, L-BFGS stopped by its convergence test rather than the iteration cap
    stop_reason : str, why training ended
    interrupted : bool, ended by Ctrl-C
    train_indices, val_indices : ndarray of int, the rows of the input in each split
    """

    model: LogisticModel
    metrics: dict
    history: list[dict]
    feature_names: list[str]
    class_names: list[str]
    options: dict
    converged: bool
    stop_reason: str
    interrupted: bool = False
    train_indices: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    val_indices: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))


def fit(
    X: object,
    y: Sequence[object] | np.ndarray,
    *,
    feature_names: Sequence[str] | None = None,
    progress: bool = False,
    callbacks: Sequence[Callback] = (),
    **options,
) -> FitResult:
    """Fit a logistic model to ``X`` (array-like of shape (n_samples, n_features)) and labels ``y`` (any values).

    Two distinct labels give a binary sigmoid model, more a multinomial softmax model. ``options`` are the fields of
    :class:`FitOptions`. Features are converted to float32, the precision of the model's input in ONNX: a column
    whose spread is tiny next to its magnitude (1000 +- 0.01) loses digits there, in training and in use alike.
    Raises :class:`~trainer.errors.DataError` or :class:`~trainer.errors.OptionError`.
    """
    X = check_features(X)
    if len(y) != len(X):
        raise DataError(f"y has {len(y)} labels but X has {len(X)} rows")
    y_index, class_names = encode_labels(y, source="y")
    names = list(feature_names) if feature_names is not None else [f"x{i}" for i in range(X.shape[1])]
    if len(names) != X.shape[1] or len(set(names)) != len(names):
        raise DataError(f"feature_names must be {X.shape[1]} distinct names, got {names!r}")
    dataset = Dataset(X=X, y=y_index, feature_names=names, class_names=class_names)
    return fit_dataset(dataset, progress=progress, callbacks=callbacks, **options)


def fit_dataset(
    dataset: Dataset, *, progress: bool = False, callbacks: Sequence[Callback] = (), **options
) -> FitResult:
    """Fit on an already validated :class:`~trainer.data.Dataset` (what :func:`trainer.data.load_dataset` returns)."""
    opts = FitOptions(**options)
    device = _resolve_device(opts.device)
    n_classes = len(dataset.class_names)
    if len(dataset.y) < n_classes:
        raise DataError(
            f"{dataset.source}: {len(dataset.y)} rows but {n_classes} classes; need a row per class at least"
        )
    optimizer = opts.optimizer if opts.optimizer != "auto" else _auto_optimizer(dataset.X, device)
    epochs = opts.epochs or DEFAULT_EPOCHS[optimizer]
    lr = opts.lr or DEFAULT_LR.get(optimizer)
    resolved = {**vars(opts), "optimizer": optimizer, "epochs": epochs, "lr": lr, "device": str(device)}

    torch.manual_seed(opts.seed)
    rng = np.random.default_rng(opts.seed)
    train_idx, val_idx = _stratified_split(dataset.y, opts.val_fraction, rng, dataset.source)
    model = LogisticModel(dataset.X.shape[1], n_classes)
    train_X = dataset.X[train_idx]
    mean, scale = _standardization(train_X)
    with torch.no_grad():
        model.mean.copy_(torch.from_numpy(mean))
        model.scale.copy_(torch.from_numpy(scale))
        torch.nn.init.zeros_(model.linear.weight)  # the problem is convex: zeros is a fine, deterministic start
        torch.nn.init.zeros_(model.linear.bias)
    model.to(device)

    # Train the Linear on standardized copies made once, in place, so the data are not standardized every pass.
    train_X -= mean
    train_X /= scale
    y_train = dataset.y[train_idx]
    weights = _class_weights(y_train, n_classes) if opts.class_weight == "balanced" else None
    objective = optim.Objective(
        torch.from_numpy(train_X).to(device),
        torch.from_numpy(y_train).to(device),
        None if weights is None else torch.from_numpy(weights[y_train]).to(device),
        binary=model.is_binary,
        l2=opts.l2,
    )
    del train_X
    evaluate_validation = _validation_evaluator(model, dataset, val_idx, device)

    state = TrainingState(model=model, optimizer=optimizer, max_epochs=epochs)
    hooks: list[Callback] = [History()]
    if optimizer != "lbfgs":
        hooks.append(EarlyStopping(opts.patience))
    if progress:
        hooks.append(ProgressBar())
    hooks.extend(callbacks)

    interrupted = False
    converged = False
    for hook in hooks:
        hook.on_train_begin(state)
    try:
        if optimizer == "lbfgs":
            converged = optim.run_lbfgs(state, objective, model.linear, hooks, evaluate_validation)
        else:
            generator = torch.Generator().manual_seed(opts.seed)
            optim.run_minibatch(
                state,
                objective,
                model.linear,
                hooks,
                evaluate_validation,
                algorithm=optimizer,
                lr=lr,
                batch_size=opts.batch_size,
                generator=generator,
            )
    except KeyboardInterrupt:
        interrupted = True
        state.stop_reason = (
            f"interrupted (Ctrl-C) after {state.epoch} {'iterations' if optimizer == 'lbfgs' else 'epochs'}"
        )
    finally:
        for hook in hooks:
            hook.on_train_end(state)
    del objective

    model = model.cpu().eval()
    stop_reason = state.stop_reason or _stop_reason(optimizer, converged, state.epoch, epochs)
    metrics = _split_metrics(model, dataset, train_idx, val_idx, weights, opts.l2)
    if opts.l2 == 0 and metrics["train"]["accuracy"] == 1.0:
        if converged:
            stop_reason = f"stopped after {state.epoch} iterations at the limit of floating-point precision"
        converged = False  # there is no finite optimum to have converged to
        warnings.warn(
            "the training data look linearly separable: every row is classified correctly, so with --l2 0 the "
            "maximum-likelihood weights are infinite and training stopped at "
            f"{'the iteration cap' if not converged else 'the limit of floating-point precision'} "
            f"({state.epoch} iterations). Use --l2 > 0 (e.g. 1e-3) for finite, meaningful weights.",
            SeparableDataWarning,
            stacklevel=2,
        )
    return FitResult(
        model=model,
        metrics=metrics,
        history=state.history,
        feature_names=list(dataset.feature_names),
        class_names=list(dataset.class_names),
        options=resolved,
        converged=converged,
        stop_reason=stop_reason,
        interrupted=interrupted,
        train_indices=train_idx,
        val_indices=val_idx,
    )


def _resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise OptionError(f"--device cuda, but this torch ({torch.__version__}) sees no CUDA GPU; use --device cpu")
    return torch.device(device)


def _auto_optimizer(X: np.ndarray, device: torch.device) -> str:
    """L-BFGS when the standardized data fit on the device with room for the passes, else mini-batch Adam."""
    if device.type != "cuda":
        return "lbfgs"
    free, _ = torch.cuda.mem_get_info(device)
    return "lbfgs" if 3 * X.nbytes < free else "adam"


def _stratified_split(y: np.ndarray, fraction: float, rng: np.random.Generator, source: str):
    """Shuffle each class and move ``fraction`` of it (rounded, at least one row kept for training) to validation."""
    if fraction == 0:
        return rng.permutation(len(y)), np.zeros(0, dtype=np.int64)
    train, val = [], []
    for k in np.unique(y):
        rows = rng.permutation(np.flatnonzero(y == k))
        n_val = min(round(fraction * len(rows)), len(rows) - 1)
        val.append(rows[:n_val])
        train.append(rows[n_val:])
    train_idx, val_idx = np.sort(np.concatenate(train)), np.sort(np.concatenate(val))
    if len(val_idx) == 0:
        raise DataError(
            f"{source}: --val-fraction {fraction} of {len(y)} rows leaves no validation rows; "
            "use a larger fraction, or 0 for no validation split"
        )
    return train_idx, val_idx


def _standardization(X: np.ndarray, chunk_rows: int = 65536) -> tuple[np.ndarray, np.ndarray]:
    """Column mean and population standard deviation, in float64, two passes a chunk at a time (np.std would
    make a float64 copy of the whole data)."""
    mean = X.mean(axis=0, dtype=np.float64)
    squares = np.zeros_like(mean)
    for start in range(0, len(X), chunk_rows):
        squares += ((X[start : start + chunk_rows] - mean) ** 2).sum(axis=0)
    scale = np.sqrt(squares / len(X))
    scale[scale < 1e-12 * np.maximum(np.abs(mean), 1.0)] = 1.0  # a constant column: leave it unscaled
    return mean.astype(np.float32), scale.astype(np.float32)


def _class_weights(y: np.ndarray, n_classes: int) -> np.ndarray:
    """scikit-learn's 'balanced': n_samples / (n_classes * count of the class)."""
    counts = np.bincount(y, minlength=n_classes).astype(np.float32)
    return (len(y) / (n_classes * counts)).astype(np.float32)


def _validation_evaluator(model: LogisticModel, dataset: Dataset, val_idx: np.ndarray, device: torch.device):
    if len(val_idx) == 0:
        return lambda: (None, None)
    X_val = torch.from_numpy(dataset.X[val_idx]).to(device)
    y_val = torch.from_numpy(dataset.y[val_idx]).to(device)

    def evaluate() -> tuple[float, float]:
        with torch.no_grad():
            logits = model.logits(X_val).double()
            if model.is_binary:
                loss = torch.nn.functional.binary_cross_entropy_with_logits(logits[:, 0], y_val.double())
                predicted = (logits[:, 0] > 0).long()
            else:
                loss = torch.nn.functional.cross_entropy(logits, y_val)
                predicted = logits.argmax(dim=1)
            return float(loss), float((predicted == y_val).double().mean())

    return evaluate


def _split_metrics(model, dataset, train_idx, val_idx, weights, l2) -> dict:
    """Metrics of the saved (float32) weights, computed in float64 for accurate log-losses."""
    blocks = {}
    for name, rows in (("train", train_idx), ("validation", val_idx)):
        if len(rows) == 0:
            continue
        probabilities = predict_proba_float64(model, dataset.X, rows)
        y = dataset.y[rows]
        blocks[name] = classification_metrics(y, probabilities)
        if name == "train":
            row_weights = None if weights is None else weights[y].astype(np.float64)
            penalty = 0.5 * l2 * float((model.linear.weight.detach().double() ** 2).sum())
            blocks[name]["objective"] = log_loss(y, probabilities, sample_weight=row_weights) + penalty
    return blocks


def predict_proba_float64(model: LogisticModel, X: np.ndarray, rows: np.ndarray, chunk_rows: int = 65536):
    """``model``'s probabilities for ``X[rows]`` in float64, a chunk at a time: no float64 copy of the data."""
    model64 = LogisticModel(model.n_features, model.n_classes).double()
    model64.load_state_dict({k: v.double() for k, v in model.state_dict().items()})
    out = np.empty((len(rows), model.n_classes))
    with torch.no_grad():
        for start in range(0, len(rows), chunk_rows):
            chunk = torch.from_numpy(X[rows[start : start + chunk_rows]]).double()
            out[start : start + chunk_rows] = model64(chunk).numpy()
    return out


def _stop_reason(optimizer: str, converged: bool, epoch: int, epochs: int) -> str:
    if optimizer == "lbfgs":
        return f"converged after {epoch} iterations" if converged else f"reached the iteration cap ({epochs})"
    return f"ran all {epochs} epochs"
