"""statsmodels' fitted ``Logit`` and ``MNLogit`` results (arrays or the patsy formula API) as export sources.

The canonical model reads each design column's weight from ``results.params`` by the column's name in the design
(``GPA``, ``C(island)[T.Dream]``): the constant or ``Intercept`` becomes the bias, a ``C(x)`` term in treatment
coding becomes a categorical column whose reference level has no design column. The reference the export is proven
against is ``results.predict`` itself, on a DataFrame built as the user's data would hold the probe rows (a formula)
or on the exog matrix (arrays); the coefficient table goes into the metadata from the results' own ``params``,
``bse``, ``tvalues``, ``pvalues`` and ``conf_int()``, so ``logreg info`` prints what ``results.summary()`` prints.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

import numpy as np
from logreg_onnx.trainer.data.columns import Column, Encoding
from logreg_onnx.trainer.data.table import MISSING_LEVEL, cell_text
from logreg_onnx.trainer.options import DEFAULT_NA_VALUES

from .errors import ExportOptionError, type_name
from .source import Source, canonical_model, sample_table
from .statsmodels_table import coefficient_json
from .verify import Probes

SUPPORTED_RESULTS = "a fitted statsmodels Logit or MNLogit results object (sm.Logit(...).fit(), smf.logit(...).fit())"
SUPPORTED_TERMS = (
    "numeric variables by name (x, Q('x y')), C(x) in treatment coding (C(x, Treatment(reference=...))), a text "
    "column, and the Intercept"
)
SAMPLE_ROWS = 20_000  # of the training rows, the probes verified besides the synthetic ones


@dataclass
class _Design:
    """How the results' design (exog) columns map to the canonical encoding: ``exog_index[j]`` is the exog column of
    design column j; ``intercept`` the exog column of the constant (None: no bias), whose value is ``constant``."""

    encoding: Encoding
    exog_index: list[int]
    intercept: int | None
    constant: float = 1.0
    values: dict[str, dict[str, object]] = field(default_factory=dict)  # per categorical column: level -> raw value
    notes: list[str] = field(default_factory=list)


def source_of_statsmodels(
    results: object,
    *,
    feature_names: list[str] | None = None,
    class_names: list[str] | None = None,
    sample: object = None,
    threshold: float | None = None,
) -> Source:
    """The :class:`~exporter.source.Source` of a fitted statsmodels ``Logit`` or ``MNLogit`` results object.

    Parameters
    ----------
    results : LogitResults or MNLogitResults (their wrappers), fitted on arrays or with the formula API.
    feature_names : list of str, optional. Arrays: the names of the exog columns other than the constant, in order
        (default: the results' ``exog_names``). A formula names its own columns (its variables).
    class_names : list of str, optional. Default "0", "1" (Logit) or the outcome's levels (MNLogit).
    sample : DataFrame or array-like of shape (n_samples, n_features), optional. Rows probed besides the synthetic
        ones; by default the first training rows.
    threshold : float, optional. Logit only: the decision threshold on the second class's probability.

    Raises
    ------
    ExportOptionError : another results type, a term the graph cannot compute, or an argument that does not fit.
    """
    kind = _kind(results)
    model = results.model
    formula = getattr(model, "formula", None)
    if getattr(model, "offset", None) is not None or getattr(model, "exposure", None) is not None:
        raise ExportOptionError("model", f"the {kind} model has an offset or exposure; refit it without one")
    if kind == "MNLogit" and threshold is not None:
        raise ExportOptionError("threshold", "applies to a binary Logit only, not to an MNLogit")
    params = np.asarray(results.params, dtype=np.float64)
    params = params.reshape(len(params), -1)  # (n_exog, n_free): one column for Logit, one per class after the first
    exog_names = [str(name) for name in model.exog_names]
    design = _formula_design(model, exog_names, feature_names) if formula else _array_design(model, feature_names)
    classes = _class_names(model, kind, params.shape[1], class_names)
    weight = params[design.exog_index].T  # (n_free, n_design)
    bias = params[design.intercept] * design.constant if design.intercept is not None else np.zeros(params.shape[1])
    if kind == "MNLogit":  # the first class is MNLogit's reference: logit 0
        weight = np.vstack([np.zeros((1, weight.shape[1])), weight])
        bias = np.concatenate([[0.0], bias])
        design.notes.append(
            "MNLogit's predict overflows to NaN past logits of about 709: such rows are compared with the softmax over "
            "its own linear predictor, results.predict(which='linear')"
        )
    encoding = design.encoding
    means = _design_means(model, design)
    mean = _centre(design, means)
    canonical = canonical_model(encoding, weight, bias + weight @ mean, n_classes=len(classes), mean=mean)
    covariance = _covariance(results, design, mean, params.shape)
    chosen = 0.5 if threshold is None else float(threshold)
    na_values = list(DEFAULT_NA_VALUES)
    rows = sample_table(encoding, sample, na_values)
    if rows is None:
        rows = _training_rows(model, design, formula)
    import statsmodels

    described = f"formula {formula!r}" if formula else "arrays"
    return Source(
        model=canonical,
        class_names=classes,
        expected=_expected(results, design, formula, kind, chosen),
        origin=f"the statsmodels {kind} results",
        threshold=chosen,
        metrics={"coefficients": coefficient_json(results, kind, classes, exog_names)},
        na_values=na_values,
        sample=rows,
        facts={"source": f"statsmodels {statsmodels.__version__} {kind} ({described})"},
        notes=design.notes,
        baseline=means,
        baseline_note="the training means of the design (the results' exog)",
        covariance=covariance,
        intervals_note="" if covariance is not None else "the results' cov_params() is not finite",
    )


def _centre(design: _Design, means: np.ndarray) -> np.ndarray:
    """Per design column, the value the graph subtracts first: a numeric column's training mean (float32, as the
    graph holds it), 0 for a level's column. The bias takes ``weight @ mean``, the same logits in exact arithmetic;
    in float32 the graph then adds small terms ``w (x - mean)`` instead of cancelling large ``w x`` against a large
    intercept, which statsmodels' raw-unit parameters often are (an intercept of 170 against 10 per millimetre)."""
    mean = np.zeros(design.encoding.width())
    n_numeric = len(design.encoding.numeric)
    mean[:n_numeric] = means[:n_numeric].astype(np.float32)
    return mean


def _covariance(results, design: _Design, mean: np.ndarray, shape: tuple[int, int]) -> np.ndarray | None:
    """Each logit's covariance of the canonical model's ``[w | b]`` (see :mod:`exporter.explain`) from the results'
    ``cov_params()``: ``w_j`` is the exog parameter of design column j, ``b`` the constant's parameter times the
    constant plus ``w @ mean`` (the graph's centring), a linear map ``T`` of each class's parameters, so the
    covariance is ``T S T'``. MNLogit orders its parameters class by class."""
    n_exog, n_free = shape
    covariance = np.asarray(results.cov_params(), dtype=np.float64).reshape(n_free * n_exog, n_free * n_exog)
    width = len(design.exog_index)
    T = np.zeros((width + 1, n_exog))
    T[np.arange(width), design.exog_index] = 1.0
    if design.intercept is not None:
        T[width, design.intercept] = design.constant
    T[width, design.exog_index] += mean
    blocks = []
    for c in range(n_free):
        block = covariance[c * n_exog : (c + 1) * n_exog, c * n_exog : (c + 1) * n_exog]
        blocks.append(T @ block @ T.T)
    out = np.stack(blocks)
    return out if np.isfinite(out).all() else None


def _design_means(model, design: _Design) -> np.ndarray:
    """The training rows' mean design row: the mean of each exog column a design column is read from (zeros
    without rows)."""
    exog = np.asarray(model.exog, dtype=np.float64)
    if not len(exog):
        return np.zeros(len(design.exog_index))
    return exog[:, design.exog_index].mean(axis=0)


def _kind(results: object) -> str:
    """ "Logit" or "MNLogit", or raise naming what was given."""
    from statsmodels.discrete.discrete_model import Logit, MNLogit

    model = getattr(results, "model", None)
    if model is None or not hasattr(results, "params"):
        if isinstance(results, (Logit, MNLogit)):
            raise ExportOptionError("model", f"got an unfitted {type(results).__name__} model; export model.fit()")
        raise ExportOptionError("model", f"expected {SUPPORTED_RESULTS}; got {type_name(results)}")
    if type(model) is Logit or type(model) is MNLogit:
        return type(model).__name__
    raise ExportOptionError(
        "model",
        f"expected {SUPPORTED_RESULTS}; got {type(results).__name__} of a statsmodels {type(model).__name__} model "
        "(only the logistic link is supported: refit with Logit or MNLogit)",
    )


def _array_design(model, feature_names: list[str] | None) -> _Design:
    """Arrays: every exog column is a numeric input, but the constant (``add_constant``'s "const"), the bias."""
    names = [str(name) for name in model.exog_names]
    exog = np.asarray(model.exog, dtype=np.float64)
    const_idx = getattr(model.data, "const_idx", None)
    notes = []
    intercept, constant = None, 1.0
    if const_idx is not None and len(exog) and np.all(exog[:, const_idx] == exog[0, const_idx]):
        intercept, constant = int(const_idx), float(exog[0, const_idx])
        notes.append(f"the constant column {names[intercept]!r} (all {constant:g}) became the bias")
    else:
        notes.append("no constant column: the model has no bias (as statsmodels fitted it)")
    inputs = [j for j in range(len(names)) if j != intercept]
    given = [names[j] for j in inputs]
    if feature_names is not None:
        feature_names = [str(name) for name in feature_names]
        if len(feature_names) != len(inputs) or len(set(feature_names)) != len(feature_names):
            raise ExportOptionError(
                "feature_names",
                f"expected {len(inputs)} distinct names for the exog columns {', '.join(given)} (the constant "
                f"left out), got {len(feature_names)}: {feature_names!r}",
            )
        given = feature_names
    notes.append("missing values are not imputed: statsmodels predicts NaN for such a row, the ONNX model refuses it")
    return _Design(Encoding.numeric_only(given), inputs, intercept, constant, notes=notes)


def _formula_design(model, exog_names: list[str], feature_names: list[str] | None) -> _Design:
    """A patsy formula: each term one raw column (a numeric variable, or a categorical one in treatment coding)."""
    spec = getattr(model.data, "model_spec", None) or getattr(model.data, "design_info", None)
    from patsy import DesignInfo

    if not isinstance(spec, DesignInfo):
        raise ExportOptionError(
            "model",
            f"the formula {model.formula!r} was built by {type(spec).__module__.split('.')[0]}, not patsy; refit "
            "with statsmodels.formula.api.options.formula_engine = 'patsy'",
        )
    frame = model.data.frame
    columns: dict[str, Column] = {}
    exog_of: dict[str, list[int]] = {}  # per raw column: the exog columns of its design columns, in design order
    values: dict[str, dict[str, object]] = {}
    intercept, notes = None, []
    for term, span in spec.term_slices.items():
        width = span.stop - span.start
        if not term.factors:
            intercept = span.start
            continue
        name = term.name()
        if len(term.factors) > 1:
            raise ExportOptionError("model", f"the term {name!r} is an interaction; supported: {SUPPORTED_TERMS}")
        factor = term.factors[0]
        variable, contrast = _variable(factor, name)
        if variable not in frame.columns:
            raise ExportOptionError(
                "model", f"the term {name!r} reads {variable!r}, which is not a column of the data the model was fit on"
            )
        if variable in columns:
            raise ExportOptionError("model", f"the column {variable!r} is used by two terms; use it in one term only")
        info = spec.factor_infos[factor]
        if info.type == "numerical":
            if contrast or width != 1:
                raise ExportOptionError("model", f"the term {name!r} has {width} columns; supported: {SUPPORTED_TERMS}")
            columns[variable] = Column(variable, "numeric")
            exog_of[variable] = [span.start]
            continue
        matrix = spec.term_codings[term][0].contrast_matrices[factor].matrix
        column, positions, raw = _categorical(variable, name, info.categories, np.asarray(matrix))
        columns[variable] = column
        exog_of[variable] = [span.start + p for p in positions]
        values[variable] = raw
        if column.reference is not None:
            notes.append(
                f"{name}: treatment coding, reference level {column.reference!r}; a level the model has not seen "
                "(patsy raises on it: statsmodels cannot score the row) adds nothing in the ONNX model, which scores "
                "it as the reference level"
            )
        else:
            notes.append(
                f"{name}: one column per level (no reference); a level the model has not seen (patsy raises on "
                "it) adds nothing from this column in the ONNX model"
            )
    ordered = [columns[name] for name in frame.columns if name in columns]
    names = [c.name for c in ordered]
    if feature_names is not None and [str(n) for n in feature_names] != names:
        raise ExportOptionError(
            "feature_names", f"a formula names its own columns ({', '.join(names)}); got {list(feature_names)!r}"
        )
    encoding = Encoding(tuple(ordered))
    design_order = [c for c in encoding.numeric] + [c for c in encoding.categorical]
    exog_index = [j for c in design_order for j in exog_of[c.name]]
    if sorted(exog_index + ([intercept] if intercept is not None else [])) != list(range(len(exog_names))):
        raise ExportOptionError("model", f"the formula {model.formula!r} has design columns no term accounts for")
    if intercept is None:
        notes.append("the formula has no Intercept: the model has no bias")
    notes.append(
        "missing values are not imputed: statsmodels (patsy) predicts NaN for a row with a missing value; the ONNX "
        "model refuses a missing number and scores a missing category as an unseen level"
    )
    return _Design(encoding, exog_index, intercept, 1.0, values, notes)


def _variable(factor, term: str) -> tuple[str, bool]:
    """The raw column a factor reads, and whether it names a contrast: ``x``, ``Q('x')``, ``C(x)``, ``C(x,
    Treatment)``, ``C(x, Treatment(reference=...))``, ``C(x, levels=[...])``; anything else is refused."""
    refused = ExportOptionError("model", f"the term {term!r} transforms its variable; supported: {SUPPORTED_TERMS}")
    code = getattr(factor, "code", None)
    try:
        node = ast.parse(code, mode="eval").body
    except (SyntaxError, TypeError, ValueError):
        raise refused from None
    if isinstance(node, ast.Call) and _called(node) == "C" and node.args:
        contrast = node.args[1] if len(node.args) > 1 else None
        keywords = {k.arg: k.value for k in node.keywords}
        if len(node.args) > 2 or set(keywords) - {"contrast", "levels"} or (contrast and "contrast" in keywords):
            raise refused
        contrast = contrast or keywords.get("contrast")
        if contrast is not None and _called(contrast) != "Treatment":
            raise ExportOptionError(
                "model",
                f"the term {term!r} uses the contrast {ast.unparse(contrast)}; only Treatment coding is supported "
                "(C(x) or C(x, Treatment(reference=...)))",
            )
        return _name(node.args[0], refused), True
    return _name(node, refused), False


def _called(node: ast.AST) -> str | None:
    """The name a node calls or is (``Treatment``, ``patsy.Treatment(...)`` -> "Treatment")."""
    node = node.func if isinstance(node, ast.Call) else node
    if isinstance(node, ast.Attribute):
        return node.attr
    return node.id if isinstance(node, ast.Name) else None


def _name(node: ast.AST, refused: ExportOptionError) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if (
        isinstance(node, ast.Call)
        and _called(node) == "Q"
        and len(node.args) == 1
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    ):
        return node.args[0].value
    raise refused


def _categorical(variable: str, term: str, categories, matrix: np.ndarray) -> tuple[Column, list[int], dict]:
    """A categorical column from patsy's levels and contrast matrix (rows: levels, columns: the term's design
    columns), which must be a 0/1 selection: each level one column or none (the reference)."""
    texts = [cell_text(level) for level in categories]
    if MISSING_LEVEL in texts or len(set(texts)) != len(texts):
        raise ExportOptionError(
            "model", f"the term {term!r} has levels that are empty or equal as text: {list(categories)!r}"
        )
    ones = np.isin(matrix, (0.0, 1.0)).all()
    selection = ones and (matrix.sum(axis=0) == 1).all() and (matrix.sum(axis=1) <= 1).all()
    zero_rows = np.flatnonzero(matrix.sum(axis=1) == 0)
    if not selection or len(zero_rows) > 1:
        raise ExportOptionError(
            "model", f"the term {term!r} is not in treatment coding; use C({variable}) or C({variable}, Treatment(...))"
        )
    reference = texts[int(zero_rows[0])] if len(zero_rows) else None
    positions = [int(np.argmax(matrix[i])) for i, text in enumerate(texts) if text != reference]
    column = Column(variable, "categorical", levels=tuple(texts), reference=reference)
    return column, positions, dict(zip(texts, categories, strict=True))


def _class_names(model, kind: str, n_free: int, class_names: list[str] | None) -> list[str]:
    if kind == "Logit":
        default = ["0", "1"]
    else:
        names_map = getattr(model, "_ynames_map", None) or {}
        default = [str(names_map[k]) for k in sorted(names_map)] if names_map else [str(j) for j in range(n_free + 1)]
    if class_names is None:
        return default
    names = [str(name) for name in class_names]
    if len(names) != len(default) or len(set(names)) != len(names):
        raise ExportOptionError(
            "class_names", f"expected {len(default)} distinct names (the outcome's levels: {default!r}), got {names!r}"
        )
    return names


def _training_rows(model, design: _Design, formula: str | None):
    """The first :data:`SAMPLE_ROWS` training rows as the user's data holds them, typed by the encoding."""
    encoding = design.encoding
    if formula:
        frame = model.data.frame
        rows = frame.iloc[:SAMPLE_ROWS][[c.name for c in encoding.columns]]
    else:
        exog = np.asarray(model.exog, dtype=np.float64)[:SAMPLE_ROWS]
        rows = exog[:, [j for j in range(exog.shape[1]) if j != design.intercept]]
    return encoding.prepare(rows, DEFAULT_NA_VALUES)


def _expected(results, design: _Design, formula: str | None, kind: str, threshold: float):
    """``results.predict`` on the probe rows: label indices (n,) and probabilities (n, n_classes); NaN for a row
    statsmodels cannot score (patsy raises on an unseen level, or drops a row with a missing value).

    MNLogit's ``predict`` divides ``exp`` of its logits, which overflows to NaN past logits of about 709; such a row
    gets the softmax over [0, ``results.predict(which="linear")``] instead: still statsmodels' own design and
    parameters, so a row far into saturation is still a test of the conversion."""
    n_classes = 2 if kind == "Logit" else int(results.model.J)

    def predict(probes: Probes, width: int | None, **which) -> np.ndarray:
        if formula:
            return _predict_frame(results, _frame(design, probes), width, which)
        exog = probes.rows.astype(np.float64)
        if design.intercept is not None:
            exog = np.insert(exog, design.intercept, design.constant, axis=1)
        return _shaped(results.predict(exog, **which), len(exog), width)

    def expected(probes: Probes) -> tuple[np.ndarray, np.ndarray]:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            if kind == "Logit":
                p = predict(probes, None)
                probabilities = np.stack([1.0 - p, p], axis=1)
                return (np.nan_to_num(p) > threshold).astype(np.int64), probabilities
            probabilities = predict(probes, n_classes)
            overflowed = np.flatnonzero(~np.isfinite(probabilities).all(axis=1) & _scorable(design, probes))
            if len(overflowed):
                linear = predict(probes.subset(overflowed), n_classes, which="linear")
                probabilities[overflowed] = _softmax(linear)
        labels = np.nan_to_num(probabilities, nan=-1.0).argmax(axis=1).astype(np.int64)
        return labels, probabilities

    return expected


def _scorable(design: _Design, probes: Probes) -> np.ndarray:
    """Per probe row: no value missing and every category a level (rows statsmodels scores, unless it overflows)."""
    known = np.isfinite(probes.rows).all(axis=1)
    for j, column in enumerate(design.encoding.categorical):
        levels = design.values[column.name]
        known &= np.array([value in levels for value in probes.categories[:, j].tolist()], dtype=bool)
    return known


def _softmax(logits: np.ndarray) -> np.ndarray:
    """Probabilities of shape (n, k) from MNLogit's logits (n, k), the first class's 0; NaN where a logit is."""
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def _shaped(predicted, n_rows: int, width: int | None) -> np.ndarray:
    """``predict``'s answer as float64 of shape (n,) (``width`` None) or (n, width); MNLogit's linear predictor of
    (n, width - 1) columns gets the first class's logit 0 in front (statsmodels versions differ in that)."""
    predicted = np.asarray(predicted, dtype=np.float64)
    if width is None:
        return predicted.reshape(-1)
    predicted = predicted.reshape(n_rows, -1)
    if predicted.shape[1] == width - 1:
        predicted = np.concatenate([np.zeros((n_rows, 1)), predicted], axis=1)
    return predicted


def _frame(design: _Design, probes: Probes):
    """The probe rows as the user's DataFrame would hold them: numbers, the levels' own values (int, bool, str),
    None where a value is missing, and any other text as it is (an unseen level)."""
    import pandas as pd

    encoding = design.encoding
    numeric = {c.name: probes.rows[:, j].astype(np.float64) for j, c in enumerate(encoding.numeric)}
    categorical = {}
    for j, column in enumerate(encoding.categorical):
        raw = design.values[column.name]
        cells = [None if v == MISSING_LEVEL else raw.get(v, v) for v in probes.categories[:, j].tolist()]
        categorical[column.name] = pd.Series(cells, dtype=object)
    return pd.DataFrame({name: (numeric | categorical)[name] for name in encoding.names})


def _predict_frame(results, frame, width: int | None, which: dict) -> np.ndarray:
    """``results.predict(frame, **which)`` as float64 of shape (n,) (``width`` None) or (n, width); a batch patsy
    refuses (a level it has not seen) is split in halves until the refused rows stand alone, and those get NaN."""
    from patsy import PatsyError

    try:
        predicted = results.predict(frame, **which)
    except (PatsyError, ValueError, KeyError, TypeError):
        if len(frame) == 1:
            return np.full((1, width) if width else (1,), np.nan)
        half = len(frame) // 2
        return np.concatenate([_predict_frame(results, part, width, which) for part in (frame[:half], frame[half:])])
    predicted = predicted.reindex(frame.index) if hasattr(predicted, "reindex") else predicted
    return _shaped(predicted, len(frame), width)
