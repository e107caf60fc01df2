"""trainer.fit: validate options and data, split, standardize, optimize, measure, and say what looks wrong."""

from __future__ import annotations

import contextlib
import dataclasses
import warnings
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import torch

from ..data.columns import fit_encoding
from ..data.dataset import (
    Dataset,
    check_offsets,
    check_weights,
    encode_labels,
    missing_labels,
    review,
    table_from_input,
)
from ..data.roles import cluster_ids, frequency_weights, offset_values, row_weights
from ..data.table import Table
from ..errors import DataError, OptionError, Setting
from ..options import FitOptions
from ..stats.coefficients import Optimum, coefficient_table
from ..stats.metrics import classification_metrics, log_loss
from ..stats.sandwich import covariance_rule
from ..stats.separation import SeparableDataWarning, separated_classes, separation_message
from . import optim
from .callbacks import Callback, EarlyStopping, History, ProgressBar, TrainingState
from .firth import check_firth_classes, run_firth
from .model import LogisticModel, float64_copy
from .moments import standardization
from .newton import run_newton
from .plan import FitPlan, make_plan
from .proximal import run_proximal_newton
from .result import FitResult, fit_result

_MAX_NEWTON_ITERATIONS = 100  # from zeros Newton needs a handful; more means separable data
SERIAL_CELLS = 1 << 20  # a data set of fewer values (rows x columns) is fitted on one torch thread


def fit(
    X: object,
    y: Sequence[object] | np.ndarray,
    *,
    feature_names: Sequence[str] | None = None,
    sample_weight: Sequence[float] | np.ndarray | None = None,
    offset: str | Sequence[float] | np.ndarray | None = None,
    progress: bool = False,
    callbacks: Sequence[Callback] = (),
    **options,
) -> FitResult:
    """Fit a logistic model to ``X`` (array-like of shape (n_samples, n_features)) and labels ``y`` (any values).

    Two distinct labels give a binary sigmoid model, more a multinomial softmax model. ``options`` are the fields of
    :class:`~trainer.options.FitOptions`. Features are converted to float32, the precision of the model's input in
    ONNX: a column whose spread is tiny next to its magnitude (1000 +- 0.01) loses digits there, in training and in
    use alike. ``sample_weight``: array-like of shape (n_samples,), each row's frequency weight (as ``weight=COL``
    names a column of ``X``). ``offset``: the name of a column of ``X`` (the ``offset`` option), or array-like of
    shape (n_samples,), each row's known term of the logit. Raises :class:`~trainer.errors.DataError` or
    :class:`~trainer.errors.OptionError`.
    """
    values = None
    if isinstance(offset, str):
        options["offset"] = offset
    else:
        values = offset
    opts = FitOptions(**options)
    dataset = dataset_from_arrays(X, y, feature_names, opts, sample_weight=sample_weight, offset=values)
    return fit_dataset(dataset, opts, progress=progress, callbacks=callbacks)


def dataset_from_arrays(
    X: object,
    y: object,
    feature_names: Sequence[str] | None,
    opts: FitOptions,
    *,
    sample_weight: Sequence[float] | np.ndarray | None = None,
    offset: Sequence[float] | np.ndarray | None = None,
) -> Dataset:
    """Validate features (arrays or a DataFrame, see :func:`trainer.data.table_from_input`) and labels into a
    :class:`Dataset`. Rows with a missing label are dropped (``missing="impute"`` or ``"drop"``) or refused
    (``"error"``); rows with a missing feature value are kept for imputation, dropped, or refused likewise."""
    y_array = np.asarray(y, dtype=object) if not isinstance(y, np.ndarray) else y
    if y_array.ndim != 1:
        raise DataError(f"y must be 1-D (one label per row), got shape {y_array.shape}")
    na_values = set(opts.na_values)
    table = table_from_input(X, feature_names, opts.categorical, na_values)
    if len(y_array) != len(table):
        raise DataError(f"y has {len(y_array)} labels but X has {len(table)} rows")
    if sample_weight is not None and opts.weight is not None:
        raise DataError("sample_weight= and ", Setting("weight"), " both give weights; give one")
    weights = None
    if sample_weight is not None:
        # a Python argument only (the CLI's is --weight COL): named as it is, not as a setting with a flag
        weights = check_weights(sample_weight, len(table), what="sample_weight", role="sample_weight")
    if offset is not None and opts.offset is not None:
        raise DataError("offset= values and ", Setting("offset"), " both give offsets; give one")
    offsets = None if offset is None else check_offsets(offset, len(table), what="offset", role="offset")
    label_gaps = missing_labels(y_array, na_values)
    # rows with a missing feature value matter only when they are refused or dropped (imputing keeps them all)
    feature_gaps = (
        np.isnan(table.numeric).any(axis=1) | (table.categories == "").any(axis=1)
        if opts.missing != "impute"
        else np.zeros(len(table), dtype=bool)
    )
    notes = []
    if opts.missing == "error" and (label_gaps.any() or feature_gaps.any()):
        if label_gaps.any():
            first = int(np.flatnonzero(label_gaps)[0])
            raise DataError(
                f"y has {int(label_gaps.sum())} missing labels (the first at row {first}: {y_array[first]!r}); "
                "leave such rows out with ",
                Setting("missing", "drop"),
            )
        first = int(np.flatnonzero(feature_gaps)[0])
        raise DataError(
            f"X has {int(feature_gaps.sum())} rows with a missing value (the first is row {first}); impute them with ",
            Setting("missing", "impute"),
            ", or leave them out with ",
            Setting("missing", "drop"),
        )
    drop = label_gaps | feature_gaps if opts.missing == "drop" else label_gaps
    if drop.any():
        keep = np.flatnonzero(~drop)
        table, y_array = table.take(keep), y_array[keep]
        weights = None if weights is None else weights[keep]
        offsets = None if offsets is None else offsets[keep]
        if label_gaps.any():
            notes.append(f"dropped {int(label_gaps.sum())} rows with a missing label")
        if (drop & ~label_gaps).any():
            notes.append(f"dropped {int((drop & ~label_gaps).sum())} rows with a missing value")
    if not len(table):
        raise DataError("no rows left after dropping those with missing values")
    y_index, class_names = encode_labels(y_array, source="y")
    dataset = Dataset.from_table(table, y_index, class_names, notes=notes, weights=weights, offsets=offsets,
                                 offset_name=None if offsets is None else "offset")  # fmt: skip
    review(dataset)
    return dataset


def encode_dataset(dataset: Dataset, train_idx: np.ndarray, opts: FitOptions) -> Dataset:
    """``dataset`` with ``X`` the design matrix: medians and levels learned on the training rows only."""
    if dataset.encoding is not None:
        return dataset
    table = dataset.table
    if table is None:
        table = Table(
            list(dataset.feature_names),
            ["numeric"] * dataset.X.shape[1],
            dataset.X,
            np.empty((len(dataset.X), 0), dtype=object),
        )
    whole = len(train_idx) == len(dataset.y)
    encoding = fit_encoding(
        table,
        None if whole else train_idx,
        missing=opts.missing,
        min_frequency=opts.min_frequency,
        treatment=opts.l1 == 0 and opts.l2 == 0,  # no penalty makes the dropped reference level identifiable
        source=dataset.source,
    )
    if encoding.width() == 0:
        raise DataError(f"{dataset.source}: no usable features: every categorical column has a single level")
    X = encoding.design(table)
    return replace(
        dataset,
        X=X,
        feature_names=encoding.design_names(),
        table=table,
        encoding=encoding,
        notes=[*dataset.notes, *encoding.notes],
    )


def fit_dataset(
    dataset: Dataset,
    options: FitOptions | None = None,
    *,
    progress: bool = False,
    callbacks: Sequence[Callback] = (),
    **kwargs,
) -> FitResult:
    """Fit on an already validated :class:`~trainer.data.Dataset` (what :func:`trainer.data.load_dataset` returns);
    ``options`` or the keyword arguments give the :class:`FitOptions`."""
    opts = options if options is not None else FitOptions(**kwargs)
    with _threads_for(dataset):
        return _fit_dataset(dataset, opts, progress, callbacks)


@contextlib.contextmanager
def _threads_for(dataset: Dataset):
    """One torch thread for a small data set: its products are too small to share, and idle worker threads waiting
    for work compete with everything else on a busy machine (the plotting helper of ``logreg train``, say), which
    costs a small fit several times its time. The previous count is restored."""
    previous = torch.get_num_threads()
    if dataset.X.size >= SERIAL_CELLS or previous == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _fit_dataset(dataset: Dataset, opts: FitOptions, progress: bool, callbacks: Sequence[Callback]) -> FitResult:
    device = resolve_device(opts.device)
    torch.manual_seed(opts.seed)
    se = covariance_rule(opts.se)
    dataset = frequency_weights(dataset, opts.weight)
    dataset = offset_values(dataset, opts.offset)
    if dataset.offsets is not None:
        check_offset_fit(dataset, opts)
    dataset, clusters = cluster_ids(dataset, se.column) if se.kind == "cluster" else (dataset, None)
    if opts.penalty == "firth":
        check_firth_classes(len(dataset.class_names))
        opts = replace(opts, l2=0.0)  # Jeffreys' prior is the penalty: the design is coded as for maximum likelihood
    if se.kind in ("hc2", "hc3") and len(dataset.class_names) > 2:
        raise OptionError(
            "se",
            f"{se.kind} is defined here for a binary model (a multinomial row's leverage is a matrix); these labels "
            f"have {len(dataset.class_names)} classes: use hc0, hc1 (robust) or cluster:COL",
        )
    train_idx, val_idx = _stratified_split(dataset.y, opts.val_fraction, np.random.default_rng(opts.seed), dataset)
    dataset = encode_dataset(dataset, train_idx, opts)
    standardized = _standardized_rows(dataset, train_idx)
    opts, penalty_path, start = _resolve_penalty(dataset, train_idx, standardized[2], opts)
    plan = _plan(dataset, train_idx, opts, device)
    model, objective = _prepare(dataset, train_idx, standardized, plan)
    del standardized  # the objective holds the rows now, and frees them after training
    if start is not None:  # --l2/--l1 auto: the refit starts from the folds' mean optimum at the chosen value
        optim.set_parameters(model.linear, start.to(model.linear.weight.dtype))
    if dataset.offsets is not None and plan.minibatch:
        raise OptionError("optimizer", f"{plan.solver} does not take an offset yet; use lbfgs with an offset")
    evaluate_validation = _validation_evaluator(model, dataset, val_idx, device)
    state = TrainingState(model=model, optimizer=plan.optimizer, max_epochs=plan.epochs)
    hooks = training_hooks(plan, progress, callbacks)
    outcome = optimize(state, hooks, objective, model, plan, evaluate_validation)
    del objective
    model = model.cpu().eval()
    weights = plan.class_weights
    l1, l2 = opts.penalty_terms()
    train_logits = outcome.get("train_logits")
    metrics, computed = _split_metrics(model, dataset, train_idx, val_idx, weights, (l1, l2), train_logits)
    unpenalized = l1 == 0 and l2 == 0 and opts.penalty != "firth"
    separated, quasi = (
        separated_classes(outcome.get("train_logits"), model, dataset, train_idx) if unpenalized else ([], False)
    )
    if separated:
        warnings.warn(SeparableDataWarning(*separation_message(separated, dataset.class_names, quasi)), stacklevel=2)

    def probabilities_of(rows: np.ndarray) -> np.ndarray:  # each split's, computed once for the metrics
        split = "train" if rows is train_idx else "validation" if rows is val_idx else None
        return computed[split] if split in computed else predict_proba_float64(model, dataset.X, rows, dataset.offsets)

    rows = train_idx if len(train_idx) != len(dataset.y) else slice(None)
    information = outcome.get("information")
    optimum = Optimum(computed["train"], information) if outcome.get("train_logits") is not None else None
    coefficients = coefficient_table(
        model,
        # the rows are read again only for what the fit did not compute at its optimum
        dataset.X[rows] if information is None or not se.classical or opts.penalty == "firth" else None,
        dataset.y[rows],
        list(dataset.class_names),
        list(dataset.feature_names),
        l2=l2,
        l1=l1,
        penalty=opts.penalty,
        weighted=weights is not None,
        frequency=None if dataset.weights is None else dataset.weights[rows],
        standardized=opts.coefficients == "standardized",
        optimum=optimum,
        se=se,
        groups=None if clusters is None else clusters[rows],
        offsets=None if dataset.offsets is None else dataset.offsets[rows],
        offset_name=dataset.offset_name,
    )
    return fit_result(
        model=model,
        metrics=metrics,
        probabilities_of=probabilities_of,
        train_rows=train_idx,
        val_rows=val_idx,
        dataset=dataset,
        plan=plan,
        state=state,
        outcome=outcome,
        coefficients=coefficients,
        separated=separated,
        penalty_path=penalty_path,
    )


def _standardized_rows(dataset: Dataset, train_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, torch.Tensor]:
    """The training rows' mean and scale, and the rows standardized ((x - mean) / scale in float32, exactly as the
    model computes it, in torch's multithreaded kernels): in place when the rows are already a private copy (a
    split), else into one new array. Computed once, for the penalty's cross-validation and the fit alike."""
    whole = len(train_idx) == len(dataset.y)  # no split: use the rows in place, no gather
    train_X = dataset.X if whole else dataset.X[train_idx]
    weights = None if dataset.weights is None else dataset.weights[train_idx]
    mean, scale = standardization(train_X, weights=weights)  # a row of weight w counts as w rows here too
    source = torch.from_numpy(train_X)
    standardized = torch.sub(source, torch.from_numpy(mean), out=source if not whole else None)
    return mean, scale, standardized.div_(torch.from_numpy(scale))


def _resolve_penalty(dataset: Dataset, train_idx: np.ndarray, standardized: torch.Tensor, opts: FitOptions):
    """``l2="auto"`` or ``l1="auto"``: the value cross-validation picks on the training rows (standardized as the
    model will be), the path it picked from (``{"l2": path}`` or ``{"l1": path}``), and a warm start for the refit;
    any other value as it is (no path, no start)."""
    if opts.l2 != "auto" and opts.l1 != "auto":
        return opts, None, None
    whole = len(train_idx) == len(dataset.y)
    y = dataset.y if whole else dataset.y[train_idx]
    n_classes = len(dataset.class_names)
    common = {"binary": n_classes == 2, "n_classes": n_classes, "folds": opts.folds, "seed": opts.seed}
    for name, values in (("weights", dataset.weights), ("offsets", dataset.offsets)):
        common[name] = None if values is None else values if whole else values[train_idx]
    if opts.l1 == "auto":
        from .l1_path import cross_validate as l1_cross_validate

        share = 1.0 if opts.elastic_net is None else opts.elastic_net
        best, path, start = l1_cross_validate(standardized, y, share=share, **common)
        return dataclasses.replace(opts, l1=best), {"l1": path}, start
    from .penalty import cross_validate

    best, path, start = cross_validate(standardized, y, **common)
    return dataclasses.replace(opts, l2=best), {"l2": path}, start


def _plan(dataset: Dataset, train_idx: np.ndarray, opts: FitOptions, device: torch.device) -> FitPlan:
    n_classes = len(dataset.class_names)
    if len(dataset.y) < n_classes:
        raise DataError(
            f"{dataset.source}: {len(dataset.y)} rows but {n_classes} classes; need a row per class at least"
        )
    y_train = dataset.y if len(train_idx) == len(dataset.y) else dataset.y[train_idx]
    return make_plan(
        opts,
        device=device,
        class_names=dataset.class_names,
        train_counts=np.bincount(y_train, minlength=n_classes),
        n_features=dataset.X.shape[1],
        source=dataset.source,
        auto_optimizer=_auto_optimizer(dataset.X, device) if opts.optimizer == "auto" else opts.optimizer,
    )


def _prepare(dataset: Dataset, train_idx: np.ndarray, rows: tuple, plan: FitPlan):
    """The model with its standardization set, and the objective over the standardized float32 training rows."""
    n_classes = len(dataset.class_names)
    whole = len(train_idx) == len(dataset.y)
    mean, scale, standardized = rows
    device = plan.device
    model = initial_model(n_classes, dataset.encoding, mean, scale, dataset.offset_name).to(device)
    y_train = dataset.y if whole else dataset.y[train_idx]
    weights = row_weights(plan.class_weights, dataset, train_idx)
    offsets = None if dataset.offsets is None else dataset.offsets if whole else dataset.offsets[train_idx]
    objective = optim.Objective(
        standardized.to(device),
        torch.from_numpy(y_train).to(device),
        None if weights is None else torch.from_numpy(weights.astype(np.float32)).to(device),
        binary=model.is_binary,
        l2=plan.options.penalty_terms()[1],
        offsets=None if offsets is None else torch.from_numpy(offsets).to(device),
    )
    return model, objective


def initial_model(
    n_classes: int, encoding, mean: np.ndarray, scale: np.ndarray, offset: str | None = None
) -> LogisticModel:
    """A model with its standardization set and zero weights: the problem is convex, so zeros is a fine,
    deterministic start."""
    model = LogisticModel(len(mean), n_classes, encoding, offset)
    with torch.no_grad():
        model.mean.copy_(torch.from_numpy(mean))
        model.scale.copy_(torch.from_numpy(scale))
        torch.nn.init.zeros_(model.linear.weight)
        torch.nn.init.zeros_(model.linear.bias)
    return model


def training_hooks(plan: FitPlan, progress: bool, callbacks: Sequence[Callback]) -> list[Callback]:
    """The hooks a fit runs: its history, early stopping (mini-batch solvers), a progress bar, then the user's."""
    hooks: list[Callback] = [History()]
    if plan.minibatch:
        hooks.append(EarlyStopping(plan.options.patience))
    if progress:
        hooks.append(ProgressBar())
    hooks.extend(callbacks)
    return hooks


def optimize(state, hooks, objective, model, plan: FitPlan, evaluate_validation, minibatches=None) -> dict:
    """Run the solver with the hooks; Ctrl-C ends it cleanly and the final hooks still run. ``minibatches(linear)``
    gives the mini-batch solvers' ``(epoch_batches, module)`` (see :func:`trainer.engine.optim.run_minibatch`); by
    default the training rows in memory, reshuffled each epoch (a streamed fit reads its batches from disk)."""
    outcome = {"converged": False, "interrupted": False, "train_logits": None, "information": None}
    for hook in hooks:
        hook.on_train_begin(state)
    try:
        V = optim.parameters_of(model.linear)
        if plan.solver == "newton":
            V, converged, final = run_newton(
                state, objective, V, hooks, evaluate_validation, max_iterations=_MAX_NEWTON_ITERATIONS
            )
            optim.set_parameters(model.linear, V)
            outcome["converged"] = converged
            if final is not None:
                # float64 logits at the solver's optimum; the saved float32 weights round it, which moves the log-loss
                # by a second-order amount (below 1e-12 relative) since the gradient vanishes there
                outcome["train_logits"] = final[3].cpu()
                outcome["information"] = None if final[4] is None else final[4].cpu()  # every row's Hessian there
        elif plan.solver == "firth":
            V, outcome["converged"], final = run_firth(
                state, objective, V, hooks, evaluate_validation, max_iterations=plan.epochs
            )
            optim.set_parameters(model.linear, V)
            if final is not None:
                outcome["train_logits"], outcome["information"] = final[3], final[4]
        elif plan.solver == "proximal-newton":
            V, outcome["converged"], final = run_proximal_newton(
                state, objective, V, hooks, evaluate_validation, l1=plan.options.penalty_terms()[0],
                max_iterations=plan.epochs,
            )  # fmt: skip
            optim.set_parameters(model.linear, V)
            if final is not None:
                outcome["train_logits"] = final[3].cpu()
        elif plan.solver == "lbfgs":
            V, outcome["converged"] = optim.run_lbfgs(state, objective, V, hooks, evaluate_validation)
            optim.set_parameters(model.linear, V)
        else:
            if minibatches is None:
                generator = torch.Generator().manual_seed(plan.options.seed)
                epoch_batches, module = optim.shuffled_slices(objective, plan.options.batch_size, generator), None
            else:
                epoch_batches, module = minibatches(model.linear)
            optim.run_minibatch(
                state,
                objective,
                model.linear,
                hooks,
                evaluate_validation,
                algorithm=plan.solver,
                lr=plan.lr,
                epoch_batches=epoch_batches,
                module=module,
            )
    except KeyboardInterrupt:
        outcome["interrupted"] = True
        unit = "epochs" if plan.minibatch else "iterations"
        state.stop_reason = f"interrupted (Ctrl-C) after {state.epoch} {unit}"
    finally:
        for hook in hooks:
            hook.on_train_end(state)
    outcome["stop_reason"] = state.stop_reason or _stop_reason(plan, outcome["converged"], state.epoch)
    return outcome


def resolve_device(device: str) -> torch.device:
    """The torch device of the ``device`` option: ``auto`` is CUDA when torch sees a GPU, else the CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise OptionError(
            "device", f"cuda, but this torch ({torch.__version__}) sees no CUDA GPU; use ", Setting("device", "cpu")
        )
    return torch.device(device)


def _auto_optimizer(X: np.ndarray, device: torch.device) -> str:
    """L-BFGS when the standardized data fit on the device with room for the passes, else mini-batch Adam."""
    if device.type != "cuda":
        return "lbfgs"
    free, _ = torch.cuda.mem_get_info(device)
    return "lbfgs" if 3 * X.nbytes < free else "adam"


def check_offset_fit(dataset: Dataset, opts: FitOptions) -> None:
    """What an offset needs of the options (:meth:`FitOptions.check_offset`) and of the data: one logit (a binary
    model)."""
    opts.check_offset()
    if len(dataset.class_names) != 2:
        raise OptionError(
            "offset",
            f"is a known term of a binary model's one logit; these labels have {len(dataset.class_names)} classes: "
            "leave the offset out",
        )


def _stratified_split(y: np.ndarray, fraction: float, rng: np.random.Generator, dataset: Dataset):
    """Shuffle each class and move ``fraction`` of it (rounded, at least one row kept for training) to validation."""
    if fraction == 0:
        return np.arange(len(y)), np.zeros(0, dtype=np.int64)
    train, val = [], []
    for k in np.unique(y):
        rows = rng.permutation(np.flatnonzero(y == k))
        n_val = min(round(fraction * len(rows)), len(rows) - 1)
        val.append(rows[:n_val])
        train.append(rows[n_val:])
    train_idx, val_idx = np.sort(np.concatenate(train)), np.sort(np.concatenate(val))
    if len(val_idx) == 0:
        raise DataError(
            f"{dataset.source}: ",
            Setting("val_fraction", fraction),
            f" of {len(y)} rows leaves no validation rows; use a larger fraction, or 0 for no validation split",
        )
    return train_idx, val_idx


def _validation_evaluator(model: LogisticModel, dataset: Dataset, val_idx: np.ndarray, device: torch.device):
    if len(val_idx) == 0:
        return lambda V=None: (None, None)
    X_val = torch.from_numpy(dataset.X[val_idx]).to(device)
    y_val = torch.from_numpy(dataset.y[val_idx]).to(device)
    offsets = None if dataset.offsets is None else torch.from_numpy(dataset.offsets[val_idx]).to(device)

    def evaluate(V: torch.Tensor | None = None) -> tuple[float, float]:
        """Validation loss and accuracy of the model, or of parameters ``V`` (which the model then takes)."""
        if V is not None:
            optim.set_parameters(model.linear, V)
        with torch.no_grad():
            logits = model.logits(X_val).double()
            if offsets is not None:
                logits = logits + offsets[:, None]
            if model.is_binary:
                loss = torch.nn.functional.binary_cross_entropy_with_logits(logits[:, 0], y_val.double())
                predicted = (logits[:, 0] > 0).long()
            else:
                loss = torch.nn.functional.cross_entropy(logits, y_val)
                predicted = logits.argmax(dim=1)
            return float(loss), float((predicted == y_val).double().mean())

    return evaluate


def _split_metrics(model, dataset, train_idx, val_idx, weights, penalties, train_logits) -> tuple[dict, dict]:
    """Metrics of the saved (float32) weights, computed in float64 for accurate log-losses; and each split's
    probabilities."""
    blocks, computed = {}, {}
    for name, rows in (("train", train_idx), ("validation", val_idx)):
        if len(rows) == 0:
            continue
        if name == "train" and train_logits is not None:
            probabilities = _probabilities(train_logits, model.is_binary)
        else:
            probabilities = predict_proba_float64(model, dataset.X, rows, dataset.offsets)
        computed[name] = probabilities
        y = dataset.y[rows] if len(rows) != len(dataset.y) else dataset.y
        frequency = None if dataset.weights is None else dataset.weights[rows]
        blocks[name] = classification_metrics(y, probabilities, sample_weight=frequency)
        if name == "train":
            objective_weights = row_weights(weights, dataset, rows)
            l1, l2 = penalties
            W = model.linear.weight.detach().double()
            penalty = float(optim.weight_penalty(W, l2)) + l1 * float(W.abs().sum())
            blocks[name]["objective"] = log_loss(y, probabilities, sample_weight=objective_weights) + penalty
    return blocks, computed


def _probabilities(logits: torch.Tensor, binary: bool) -> np.ndarray:
    if binary:
        z = logits[:, 0]
        return torch.stack([torch.sigmoid(-z), torch.sigmoid(z)], dim=1).numpy()
    return torch.softmax(logits, dim=1).numpy()


def predict_proba_float64(
    model: LogisticModel, X: np.ndarray, rows: np.ndarray, offsets: np.ndarray | None = None, chunk_rows: int = 65536
):
    """``model``'s probabilities for ``X[rows]`` (plus ``offsets[rows]`` on the logit, when given) in float64, a chunk
    at a time: no float64 copy of the data."""
    model64 = float64_copy(model)
    out = np.empty((len(rows), model.n_classes))
    with torch.no_grad():
        for start in range(0, len(rows), chunk_rows):
            chunk = torch.from_numpy(X[rows[start : start + chunk_rows]]).double()
            offset = None if offsets is None else torch.from_numpy(offsets[rows[start : start + chunk_rows]])
            out[start : start + chunk_rows] = model64(chunk, offset).numpy()
    return out


def _stop_reason(plan: FitPlan, converged: bool, epoch: int) -> str:
    if not plan.minibatch:
        if converged:
            return f"converged after {epoch} iterations"
        return (
            f"reached the iteration cap ({plan.epochs})"
            if epoch >= plan.epochs
            else f"stopped after {epoch} iterations"
        )
    return f"ran all {plan.epochs} epochs"
