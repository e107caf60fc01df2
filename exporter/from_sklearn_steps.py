"""What each scikit-learn preprocessing step does to the columns it is given, as features of the raw columns.

A fitted pipeline is walked step by step: every column a step outputs is a :class:`Value`, :class:`Missing` or
:class:`Level` of one raw input column, each an affine ``(g - mean) / scale`` of something the toolkit's
:class:`~trainer.data.columns.Encoding` computes (an imputed number, a missing indicator, a one-hot of some texts).
Scalers compose into ``(mean, scale)`` exactly as written (never folded into weights); :func:`assemble` turns the
features the ``LogisticRegression`` sees, and its coefficients, into an Encoding and the canonical model's weights.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np
from logreg_onnx.trainer.data.columns import Column, Encoding
from logreg_onnx.trainer.data.table import MISSING_LEVEL

from .errors import ExportOptionError

SCALERS = ("StandardScaler", "MinMaxScaler", "RobustScaler", "MaxAbsScaler")
SUPPORTED_STEPS = (
    f"{', '.join(SCALERS)}, SimpleImputer, OneHotEncoder, ColumnTransformer (columns by name or position), "
    "Pipeline, 'passthrough' or None, ending in LogisticRegression or LogisticRegressionCV"
)


@dataclass(frozen=True)
class Value:
    """A numeric column: ``(x - mean) / scale``, x with missing values filled with ``fill`` (raw units; None: left
    missing)."""

    column: int
    mean: float = 0.0
    scale: float = 1.0
    fill: float | None = None


@dataclass(frozen=True)
class Missing:
    """``([the column is missing] - mean) / scale``: a SimpleImputer's missing indicator."""

    column: int
    mean: float = 0.0
    scale: float = 1.0


@dataclass(frozen=True)
class Text:
    """A text column on its way to a OneHotEncoder, missing values filled with ``fill`` (None: left missing)."""

    column: int
    fill: str | None = None


@dataclass(frozen=True)
class Level:
    """``([the text is one of values, or (unseen) any text no level of the column is] - mean) / scale``: one
    OneHotEncoder output. ``values`` are runtime texts: ``""`` is the missing value."""

    column: int
    values: frozenset[str]
    unseen: bool = False
    mean: float = 0.0
    scale: float = 1.0


Feature = Value | Missing | Text | Level


@dataclass
class TextColumn:
    """What the user's pipeline makes of a text column: how a missing value reaches it (``marker``: np.nan, None
    or a string), for an encoder with ``handle_unknown="error"`` the runtime texts it accepts, and for a column of
    integer or boolean codes their values by text (what the pipeline is given back)."""

    marker: object = np.nan
    accepted: frozenset[str] | None = None
    categories: list[str] = field(default_factory=list)  # every text its encoder knows, dropped ones too
    values: dict[str, object] = field(default_factory=dict)  # integer or boolean categories by their text


@dataclass
class Walk:
    """The walk's state: the raw columns, what is known of each text column, and the notes said in the report."""

    names: list[str]
    text: dict[int, TextColumn] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)


def refuse(where: str, step: object, why: str) -> ExportOptionError:
    return ExportOptionError("model", f"{where} ({type(step).__name__}): {why}; supported: {SUPPORTED_STEPS}")


def check_fitted(step: object, where: str) -> None:
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    try:
        check_is_fitted(step)
    except NotFittedError:
        raise ExportOptionError(
            "model", f"{where} ({type(step).__name__}) is not fitted: fit the pipeline before exporting it"
        ) from None


def walk_step(step: object, features: list[Feature], where: str, walk: Walk) -> list[Feature]:
    """The features ``step`` outputs from its input ``features`` (one per input column, in order)."""
    kind = type(step).__name__
    if step is None or (isinstance(step, str) and step == "passthrough") or _identity(step):
        return features
    if kind == "Pipeline":
        for name, inner in step.steps:
            features = walk_step(inner, features, f"{where} > {name!r}", walk)
        return features
    if kind not in (*SCALERS, "SimpleImputer", "OneHotEncoder", "ColumnTransformer"):
        raise refuse(where, step, "not a step whose output is known exactly")
    check_fitted(step, where)
    width = getattr(step, "n_features_in_", len(features))
    if width != len(features):
        raise refuse(where, step, f"fitted on {width} columns but given {len(features)} here")
    if kind == "ColumnTransformer":
        return _column_transformer(step, features, where, walk)
    if kind == "SimpleImputer":
        return _imputer(step, features, where, walk)
    if kind == "OneHotEncoder":
        return _one_hot(step, features, where, walk)
    return [_scaled(f, center, divide, where, step) for f, center, divide in zip(features, *_affine(step), strict=True)]


def _identity(step: object) -> bool:
    """A FunctionTransformer without a function (what a ColumnTransformer's remainder="passthrough" becomes)."""
    return type(step).__name__ == "FunctionTransformer" and step.func is None


def _affine(step: object) -> tuple[np.ndarray, np.ndarray]:
    """A scaler as ``(x - center) / divide`` per column, from its own fitted numbers."""
    n = step.n_features_in_
    kind = type(step).__name__
    if kind == "StandardScaler":
        center = step.mean_ if step.with_mean else None
        divide = step.scale_ if step.with_std else None
    elif kind == "RobustScaler":
        center = step.center_ if step.with_centering else None
        divide = step.scale_ if step.with_scaling else None
    elif kind == "MaxAbsScaler":
        center, divide = None, step.scale_
    else:  # MinMaxScaler: x * scale_ + min_
        if step.clip:
            raise refuse("MinMaxScaler", step, "clip=True is not affine; refit with clip=False")
        center, divide = -step.min_ / step.scale_, 1.0 / step.scale_
    center = np.zeros(n) if center is None else np.asarray(center, dtype=np.float64)
    divide = np.ones(n) if divide is None else np.asarray(divide, dtype=np.float64)
    return center, divide


def _scaled(feature: Feature, center: float, divide: float, where: str, step: object) -> Feature:
    """``(feature - center) / divide``, kept in (mean, scale) form: ``(g - (mean + center * scale)) / (scale *
    divide)``."""
    if isinstance(feature, Text):
        raise refuse(where, step, f"it scales the text column {feature.column} (encode it first)")
    return replace(feature, mean=feature.mean + float(center) * feature.scale, scale=feature.scale * float(divide))


def _is_nan(value: object) -> bool:
    return isinstance(value, (float, np.floating)) and math.isnan(value)


def _imputer(step, features: list[Feature], where: str, walk: Walk) -> list[Feature]:
    marker = step.missing_values
    if not (_is_nan(marker) or marker is None or marker == ""):
        raise refuse(where, step, f"missing_values={marker!r}: only NaN (or None or '' in text columns) is supported")
    out: list[Feature] = []
    for feature, statistic in zip(features, step.statistics_.tolist(), strict=True):
        if isinstance(feature, (Level, Missing)):
            out.append(feature)  # an encoded column is never missing: nothing to impute
        elif isinstance(statistic, str) or isinstance(feature, Text):
            if feature == Value(feature.column):
                feature = Text(feature.column)
            if not isinstance(feature, Text) or not isinstance(statistic, str):
                raise refuse(where, step, f"it fills {statistic!r} into the column {walk.names[feature.column]!r}")
            if feature.fill is None:
                walk.text.setdefault(feature.column, TextColumn()).marker = marker
                feature = Text(feature.column, statistic)
            out.append(feature)
        elif not _is_nan(marker):
            raise refuse(where, step, f"missing_values={marker!r} in the numeric column {walk.names[feature.column]!r}")
        elif _is_nan(statistic) and not step.keep_empty_features:
            continue  # a column missing in every training row: sklearn drops it
        elif feature.fill is not None:
            out.append(feature)  # filled already: nothing left to impute
        else:
            # the imputer fills (g - mean) / scale with the statistic: g is filled with statistic * scale + mean
            fill = 0.0 if _is_nan(statistic) else float(statistic) * feature.scale + feature.mean
            if (feature.mean, feature.scale) != (0.0, 1.0):
                walk.note(f"{where}: this SimpleImputer fills scaled values; its fill is converted to raw units")
            out.append(replace(feature, fill=fill))
    if step.add_indicator:
        for j in step.indicator_.features_.tolist():
            feature = features[j]
            if not isinstance(feature, (Value, Text)) or feature.fill is not None:
                raise refuse(
                    where, step, f"add_indicator on {walk.names[feature.column]!r}, imputed or encoded already"
                )
            out.append(Missing(feature.column))
    return out


def _one_hot(step, features: list[Feature], where: str, walk: Walk) -> list[Feature]:
    unknown = step.handle_unknown
    if unknown not in ("ignore", "infrequent_if_exist", "warn", "error"):
        raise refuse(where, step, f"handle_unknown={unknown!r} is not supported")
    infrequent_all = getattr(step, "infrequent_categories_", [None] * len(features))
    drop_idx = step.drop_idx_
    out: list[Feature] = []
    for i, (feature, categories) in enumerate(zip(features, step.categories_, strict=True)):
        name = walk.names[feature.column]
        categories = list(categories.tolist())
        odd = [c for c in categories if not isinstance(c, str) and not (c is None or _is_nan(c)) and not _whole(c)]
        if odd:
            raise refuse(
                where,
                step,
                f"the column {name!r} has categories that are neither text nor whole numbers (such as {odd[0]!r}); "
                "one-hot encode text, integer or boolean columns (convert others with .astype(str) before fitting)",
            )
        if isinstance(feature, Value) and (feature.mean, feature.scale) == (0.0, 1.0):
            # integer codes (a year, a zip code): the runtime sends them as their text ("2008"), as a CSV holds them
            fill = feature.fill
            if fill is not None and not float(fill).is_integer():
                raise refuse(where, step, f"it encodes {name!r}, filled with the non-integer {fill!r} first")
            feature = Text(feature.column, None if fill is None else _level_text(int(fill)))
        if not isinstance(feature, Text):
            raise refuse(where, step, f"it encodes the column {name!r}, which is not raw text here")
        column = walk.text.setdefault(feature.column, TextColumn())
        column.values |= {_level_text(c): c for c in categories if _whole(c)}
        nan_category = [c for c in categories if c is None or _is_nan(c)]
        if feature.fill is None and nan_category:
            column.marker = nan_category[0]
        texts = _texts(categories)
        column.categories += [t for t in texts if t not in column.categories]
        infrequent = infrequent_all[i]
        infrequent = [] if infrequent is None else _texts(list(infrequent.tolist()))
        # the output columns as sets of categories: the frequent ones in order, then the infrequent group
        outputs = [[t] for t in texts if t not in infrequent]
        if infrequent:
            outputs.append(infrequent)
        if drop_idx is not None and drop_idx[i] is not None:
            dropped = texts[int(drop_idx[i])]
            outputs = [o for o in outputs if dropped not in o]
        unseen_target = None
        if unknown in ("infrequent_if_exist", "warn") and infrequent and infrequent in outputs:
            unseen_target = outputs.index(infrequent)
        # where a missing value (the runtime's "") lands: on its fill, or on the NaN category; else it is unseen
        missing_as = feature.fill if feature.fill is not None else (MISSING_LEVEL if nan_category else None)
        missing_seen = missing_as is not None and missing_as in texts
        if unknown == "error":
            column.accepted = frozenset(t for t in texts if t != MISSING_LEVEL) | (
                {MISSING_LEVEL} if missing_seen else set()
            )
            walk.note(
                f"{where}: OneHotEncoder(handle_unknown='error') refuses levels of {name!r} it has not seen; such "
                "probe rows were not compared (the ONNX model gives them no level: all zeros)"
            )
        for k, group in enumerate(outputs):
            values = set(group)
            if (missing_seen and missing_as in values) or (not missing_seen and k == unseen_target):
                values.add(MISSING_LEVEL)
            out.append(Level(feature.column, frozenset(values), unseen=k == unseen_target))
    return out


def _texts(categories: list) -> list[str]:
    """Categories as runtime texts: the NaN (or None) category is the missing value "", an integer or a boolean its
    Python text ("2008", "True"), as the runtime turns such a cell into text."""
    return [c if isinstance(c, str) else _level_text(c) if _whole(c) else MISSING_LEVEL for c in categories]


def _whole(value: object) -> bool:
    """An integer or boolean category (not a float: 2008.0 reaches the runtime as "2008.0" from a DataFrame but
    as "2008" from a CSV, so no one text would match both)."""
    return isinstance(value, (bool, int, np.integer, np.bool_))


def _level_text(value: object) -> str:
    return str(value.item() if isinstance(value, np.generic) else value)


def _column_transformer(step, features: list[Feature], where: str, walk: Walk) -> list[Feature]:
    names = list(getattr(step, "feature_names_in_", []))
    out: list[Feature] = []
    for name, transformer, columns in step.transformers_:
        if isinstance(transformer, str) and transformer == "drop":
            continue
        indices = _selected(columns, names, len(features), f"{where} > {name!r}", step)
        if not indices:
            continue
        out += walk_step(transformer, [features[j] for j in indices], f"{where} > {name!r}", walk)
    return out


def _selected(columns: object, names: list[str], width: int, where: str, step: object) -> list[int]:
    """A ColumnTransformer's column selection as positions."""
    if isinstance(columns, (str, int, np.integer)):
        columns = [columns]
    elif isinstance(columns, slice):
        if all(isinstance(v, (int, type(None))) for v in (columns.start, columns.stop)):
            return list(range(width))[columns]
        columns = names[names.index(columns.start) if columns.start else 0 : names.index(columns.stop) + 1]
    elif callable(columns):
        raise refuse(where, step, "columns chosen by a callable; select them by name")
    values = list(np.asarray(columns).tolist()) if not isinstance(columns, list) else columns
    if values and all(isinstance(v, bool) for v in values):
        return [j for j, keep in enumerate(values) if keep]
    out = []
    for value in values:
        if isinstance(value, str):
            if value not in names:
                raise refuse(where, step, f"selects the column {value!r}, which the model does not take")
            out.append(names.index(value))
        elif isinstance(value, int):
            out.append(value % width)
        else:
            raise refuse(where, step, f"selects columns by {value!r}; select them by name or position")
    return out


@dataclass
class Design:
    """The canonical model's parts: the Encoding and, per design column, the weights and the standardization."""

    encoding: Encoding
    weight: np.ndarray  # (n_rows, n_design)
    bias: np.ndarray  # (n_rows,)
    mean: np.ndarray  # (n_design,)
    scale: np.ndarray  # (n_design,)
    kinds: dict[int, str]  # raw column -> "numeric" | "text", the columns the model takes


def assemble(features: list[Feature], coef: np.ndarray, intercept: np.ndarray, walk: Walk) -> Design:
    """The Encoding and the linear map of ``coef @ features + intercept``.

    Each feature is ``(sum of some design columns - mean) / scale``. A design column that one feature alone
    reads keeps that feature's scale and weight, and the first such column of the feature takes its mean; a design
    column several features read (a missing text filled with a level and also indicated) gets the sum of their
    ``weight / scale``; every mean not taken goes into the bias."""
    by_column: dict[int, list[int]] = {}
    for e, feature in enumerate(features):
        if isinstance(feature, Text):
            raise ExportOptionError(
                "model", f"the text column {walk.names[feature.column]!r} reaches the model without a OneHotEncoder"
            )
        by_column.setdefault(feature.column, []).append(e)
    numeric_cols = [j for j in sorted(by_column) if j not in walk.text]
    text_cols = [j for j in sorted(by_column) if j in walk.text]
    columns: dict[int, Column] = {}
    values_design, indicator_design, level_design = [], [], []
    for j in numeric_cols:
        values = [e for e in by_column[j] if isinstance(features[e], Value)]
        missing = [e for e in by_column[j] if isinstance(features[e], Missing)]
        fills = {features[e].fill for e in values}
        if len(fills) > 1:
            raise ExportOptionError(
                "model", f"the column {walk.names[j]!r} is imputed in two ways (fills {sorted(map(str, fills))})"
            )
        fill = fills.pop() if fills else (0.0 if missing else None)
        if missing and fill is None:
            raise ExportOptionError("model", f"the column {walk.names[j]!r} has a missing indicator but no fill")
        columns[j] = Column(walk.names[j], "numeric", median=fill, indicator=bool(missing))
        values_design.append(values)
        if missing:
            indicator_design.append(missing)
    for j in text_cols:
        column, design = _text_column(j, [(e, features[e]) for e in by_column[j]], walk)
        columns[j] = column
        level_design += design
    encoding = Encoding(tuple(columns[j] for j in sorted(columns)))
    design = values_design + indicator_design + level_design
    if len(design) != encoding.width():
        raise AssertionError(f"{len(design)} design columns assembled for an encoding of width {encoding.width()}")
    coef = np.asarray(coef, dtype=np.float64)
    weight = np.zeros((coef.shape[0], len(design)))
    mean, scale = np.zeros(len(design)), np.ones(len(design))
    bias = np.asarray(intercept, dtype=np.float64).reshape(coef.shape[0]).copy()
    centred = set()
    for d, readers in enumerate(design):
        if len(readers) == 1:
            (e,) = readers
            weight[:, d], scale[d] = coef[:, e], features[e].scale
            if e not in centred:
                mean[d] = features[e].mean
                centred.add(e)
        else:
            weight[:, d] = sum(coef[:, e] / features[e].scale for e in readers)
    for e, feature in enumerate(features):
        if e not in centred:
            bias -= coef[:, e] * feature.mean / feature.scale
    # The graph subtracts the mean in float32: a mean such as 2008.03 (years) would lose its fifth digit there, and
    # the logits with it. The graph gets the float32 nearest each mean; the remainder goes into the bias here.
    rounded = mean.astype(np.float32).astype(np.float64)
    bias -= weight @ ((mean - rounded) / scale)
    mean = rounded
    kinds = {j: "numeric" for j in numeric_cols} | {j: "text" for j in text_cols}
    return Design(encoding, weight, bias, mean, scale, kinds)


def _text_column(j: int, features: list[tuple[int, Feature]], walk: Walk) -> tuple[Column, list[list[int]]]:
    """A text column's Column and, per design column, the features that read it: each text's signature is the
    set of features it lights; texts lit like an unseen one fold into "other"."""
    known: list[str] = [t for t in walk.text[j].categories if t != MISSING_LEVEL]
    for _, feature in features:
        if isinstance(feature, Level):
            known += sorted(v for v in feature.values if v not in known and v != MISSING_LEVEL)
    if MISSING_LEVEL not in known:
        known.append(MISSING_LEVEL)

    def signature(text: str) -> tuple[int, ...]:
        return tuple(
            e
            for e, feature in features
            if (text == MISSING_LEVEL if isinstance(feature, Missing) else text in feature.values)
        )

    unseen = tuple(e for e, f in features if isinstance(f, Level) and f.unseen)
    signatures = {text: signature(text) for text in known}
    if unseen:
        other = tuple(t for t in known if signatures[t] == unseen and t != MISSING_LEVEL)
        if not other:  # only the missing value is lit like an unseen one: it stands for "other"
            other = (MISSING_LEVEL,)
        levels = [t for t in known if t not in other and not (t == MISSING_LEVEL and signatures[t] == unseen)]
    else:
        other = ()
        levels = [t for t in known if signatures[t]]
    # a level that adds nothing (an encoder's dropped category) is the reference: treatment coding, no design column
    reference = next((t for t in known if not signatures[t] and t != MISSING_LEVEL), None)
    levels = [t for t in known if t in levels or t == reference]
    column = Column(walk.names[j], "categorical", levels=tuple(levels), other=other, reference=reference)
    design = [list(signatures[t]) for t in column.design_levels]
    if other:
        design.append(list(unseen))
    return column, design
