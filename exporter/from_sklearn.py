"""scikit-learn models as export sources: a fitted ``LogisticRegression(CV)``, alone or at the end of a Pipeline of
scalers, imputers, one-hot encoders and a ColumnTransformer, verified against the pipeline's own ``predict_proba``
and ``predict``."""

from __future__ import annotations

import warnings

import numpy as np
from logreg_onnx.trainer.data.table import MISSING_LEVEL
from logreg_onnx.trainer.options import DEFAULT_NA_VALUES

from .errors import ExportOptionError
from .from_sklearn_steps import SUPPORTED_STEPS, Design, Value, Walk, assemble, check_fitted, walk_step
from .source import Source, canonical_model, design_mean, label_indices, sample_table
from .verify import Probes

ESTIMATORS = ("LogisticRegression", "LogisticRegressionCV")


def source_of_sklearn(
    estimator: object,
    *,
    feature_names: list[str] | None = None,
    class_names: list[str] | None = None,
    sample: object = None,
    threshold: float | None = None,
) -> Source:
    """A fitted scikit-learn ``LogisticRegression`` or ``LogisticRegressionCV``, or a ``Pipeline`` ending in one
    (see ``SUPPORTED_STEPS``), as a :class:`~exporter.source.Source` whose reference is ``estimator`` itself.

    Parameters
    ----------
    estimator : the fitted model. Its input columns are those it was fitted on (``feature_names_in_``), text and
        missing values included, as a DataFrame would hold them; the model takes those it uses, in that order.
    feature_names : list of str, optional. The columns' names for a model fitted on an array (default x0, x1,
        ...); checked against ``feature_names_in_`` otherwise.
    class_names : list of str, optional. Default: ``classes_`` as text.
    sample : DataFrame or array-like of shape (n_samples, n_features), optional. Rows also verified on.
    threshold : float, optional. A binary model's threshold on the second class's probability (default 0.5, what
        ``predict`` uses).

    Raises
    ------
    ExportOptionError : an unfitted model, a step or setting that is not supported (the message names the step).
    """
    final, steps = _final_step(estimator)
    names = _input_names(estimator, final, feature_names)
    walk = Walk(names)
    features = [Value(j) for j in range(len(names))]
    for name, step in steps:
        features = walk_step(step, features, f"step {name!r}", walk)
    if len(features) != final.n_features_in_:
        raise ExportOptionError(
            "model",
            f"the steps before {type(final).__name__} give {len(features)} columns but it was fitted on "
            f"{final.n_features_in_}; supported: {SUPPORTED_STEPS}",
        )
    classes = np.asarray(final.classes_)
    design = assemble(features, final.coef_, final.intercept_, walk)
    model = canonical_model(
        design.encoding, design.weight, design.bias, n_classes=len(classes), mean=design.mean, scale=design.scale
    )
    chosen = 0.5 if threshold is None else float(threshold)
    unused = [names[j] for j in range(len(names)) if j not in design.kinds]
    notes = list(walk.notes)
    if unused:
        notes.append(f"columns the pipeline does not use are not inputs of the model: {', '.join(unused)}")
    what = describe(estimator)
    rows = sample_table(design.encoding, sample, DEFAULT_NA_VALUES)
    return Source(
        model=model,
        class_names=_class_names(classes, class_names),
        expected=_expected(estimator, names, design, walk, classes, chosen),
        origin=f"the scikit-learn {type(estimator).__name__}",
        threshold=chosen,
        na_values=list(DEFAULT_NA_VALUES),
        sample=rows,
        facts={"source": f"scikit-learn {_sklearn_version()} {what}"},
        notes=notes,
        baseline=(baseline := design_mean(design.encoding, rows)),
        baseline_note="the mean design row of the sample= rows" if baseline is not None else "",
        intervals_note="scikit-learn's LogisticRegression keeps no covariance of its estimates",
    )


def _final_step(estimator: object) -> tuple[object, list[tuple[str, object]]]:
    """The LogisticRegression(CV) at the end, and the steps before it."""
    kind = type(estimator).__name__
    if kind == "Pipeline":
        *steps, (name, final) = estimator.steps
        where = f"the last step {name!r}"
    else:
        steps, final, where = [], estimator, "the model"
    if type(final).__name__ not in ESTIMATORS:
        raise ExportOptionError(
            "model",
            f"{where} is a {type(final).__name__}: expected LogisticRegression or LogisticRegressionCV, alone or "
            f"at the end of a Pipeline of {SUPPORTED_STEPS}",
        )
    check_fitted(final, where)
    multi_class = getattr(final, "multi_class", "multinomial")
    one_vs_rest = multi_class == "ovr" or (
        multi_class == "auto" and getattr(final, "solver", "") == "liblinear" and len(final.classes_) > 2
    )
    if one_vs_rest and len(final.classes_) > 2:
        raise ExportOptionError(
            "model",
            f"{where} is a one-vs-rest {type(final).__name__} (multi_class={multi_class!r}): its probabilities are "
            "not a softmax; refit it multinomial (the default with the lbfgs solver)",
        )
    return final, steps


def fitted_names(estimator: object) -> list[str] | None:
    """The columns' names the model was fitted on (its first real step's ``feature_names_in_``), or None."""
    if type(estimator).__name__ == "Pipeline":
        first = next((s for _, s in estimator.steps if s is not None and not isinstance(s, str)), None)
        return None if first is None else fitted_names(first)
    names = getattr(estimator, "feature_names_in_", None)
    return None if names is None else [str(n) for n in names]


def _input_names(estimator: object, final: object, feature_names: list[str] | None) -> list[str]:
    fitted = fitted_names(estimator)
    if fitted is not None:
        if feature_names is not None and list(feature_names) != fitted:
            raise ExportOptionError(
                "feature_names",
                f"the model was fitted on the columns {fitted}, got {list(feature_names)}; leave feature_names out",
            )
        return fitted
    width = getattr(estimator, "n_features_in_", None)
    if width is None:
        steps = estimator.steps if type(estimator).__name__ == "Pipeline" else [("model", estimator)]
        width = next((s.n_features_in_ for _, s in steps if hasattr(s, "n_features_in_")), final.n_features_in_)
    if feature_names is None:
        return [f"x{j}" for j in range(width)]
    names = [str(n) for n in feature_names]
    if len(names) != width or len(set(names)) != len(names):
        raise ExportOptionError(
            "feature_names", f"expected {width} distinct names (the model's input columns), got {len(names)}: {names}"
        )
    return names


def _class_names(classes: np.ndarray, class_names: list[str] | None) -> list[str]:
    if class_names is None:
        return [str(c) for c in classes.tolist()]
    names = [str(n) for n in class_names]
    if len(names) != len(classes) or len(set(names)) != len(names):
        raise ExportOptionError(
            "class_names", f"expected {len(classes)} distinct names (classes_ {classes.tolist()}), got {names}"
        )
    return names


def _expected(estimator, names: list[str], design: Design, walk: Walk, classes: np.ndarray, threshold: float):
    """The pipeline itself on probe rows, given as a user's DataFrame holds them: numbers as float64 with NaN, text
    as object with the pipeline's own missing marker; rows it refuses score NaN."""
    numeric = [j for j in sorted(design.kinds) if design.kinds[j] == "numeric"]
    text = [j for j in sorted(design.kinds) if design.kinds[j] == "text"]
    imputed = np.array([c.median is not None for c in design.encoding.numeric], dtype=bool)
    by_names = fitted_names(estimator) is not None

    def frame(probes: Probes):
        n = len(probes.rows)
        columns: dict[str, np.ndarray] = {name: np.full(n, np.nan) for name in names}
        for k, j in enumerate(numeric):
            columns[names[j]] = probes.rows[:, k].astype(np.float64)
        for k, j in enumerate(text):
            marker, codes = walk.text[j].marker, walk.text[j].values
            values = probes.categories[:, k].tolist()
            columns[names[j]] = np.array(
                [marker if v == MISSING_LEVEL else _code(v, codes) if codes else v for v in values], dtype=object
            )
        if by_names:
            import pandas

            return pandas.DataFrame(columns, columns=names)
        dtype = object if text else np.float64
        return np.column_stack([columns[name].astype(dtype) for name in names]) if names else np.empty((n, 0))

    def refused(probes: Probes) -> np.ndarray:
        """Rows the pipeline is known to refuse: a missing number it does not impute, a level it raises on."""
        out = (np.isnan(probes.rows) & ~imputed).any(axis=1) if numeric else np.zeros(len(probes.rows), bool)
        for k, j in enumerate(text):
            accepted, codes = walk.text[j].accepted, walk.text[j].values
            if accepted is not None:
                out |= np.array([v not in accepted for v in probes.categories[:, k].tolist()], dtype=bool)
            if codes:  # a column of integer codes takes no other text: such a row is no row of the user's data
                out |= np.array([v != MISSING_LEVEL and _code(v, codes) is None for v in probes.categories[:, k]])
        return out

    def expected(probes: Probes) -> tuple[np.ndarray, np.ndarray]:
        n = len(probes.rows)
        labels = np.zeros(n, dtype=np.int64)
        probabilities = np.full((n, len(classes)), np.nan)
        rows = np.flatnonzero(~refused(probes))
        if len(rows):
            X = frame(probes.subset(rows))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # unseen levels, feature names: the user's own pipeline's noise
                p, predicted = _score(estimator, X, rows)
            labels[rows], probabilities[rows] = label_indices(predicted, classes), p
        if len(classes) == 2 and threshold != 0.5:
            labels = (np.nan_to_num(probabilities[:, 1]) > threshold).astype(np.int64)
        return labels, probabilities

    return expected


def _code(text: str, codes: dict[str, object]) -> object:
    """A column of integer (or boolean) codes: the code of ``text`` ("2008" -> 2008), an unseen integer as such;
    None for any other text."""
    if text in codes:
        return codes[text]
    if isinstance(next(iter(codes.values())), (bool, np.bool_)):
        return None
    try:
        code = int(text)
    except ValueError:
        return None
    return code if str(code) == text else None  # " 2008 " or "+2008" is another text to the graph, not 2008


def _score(estimator, X, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """predict_proba and predict on X; if the pipeline raises, halves of the rows, so that only the rows it refuses
    score NaN (and predict the first class)."""
    try:
        return np.asarray(estimator.predict_proba(X), dtype=np.float64), np.asarray(estimator.predict(X))
    except ValueError:
        if len(rows) == 1:
            classes = np.asarray(estimator.classes_)
            return np.full((1, len(classes)), np.nan), classes[:1]
    half = len(rows) // 2
    take = (lambda part: X.iloc[part]) if hasattr(X, "iloc") else (lambda part: X[part])
    first = _score(estimator, take(slice(0, half)), rows[:half])
    second = _score(estimator, take(slice(half, None)), rows[half:])
    return np.concatenate([first[0], second[0]]), np.concatenate([first[1], second[1]])


def describe(step: object) -> str:
    """A pipeline in words: ``Pipeline(ColumnTransformer(num: Pipeline(SimpleImputer, StandardScaler), ...),
    LogisticRegression)``."""
    kind = type(step).__name__
    if kind == "Pipeline":
        return f"Pipeline({', '.join(describe(s) for _, s in step.steps if s is not None and s != 'passthrough')})"
    if kind == "ColumnTransformer":
        parts = [
            f"{name}: {describe(t) if not isinstance(t, str) else t}"
            for name, t, _ in getattr(step, "transformers_", step.transformers)
            if not (isinstance(t, str) and t == "drop")
        ]
        return f"ColumnTransformer({', '.join(parts)})"
    return kind


def _sklearn_version() -> str:
    import sklearn

    return sklearn.__version__
