"""The graph contract every model of this toolkit follows, and the test-vector file format: written down once, checked
by one function that ``runtime.load`` and the exporter both call.

Format 3 (what the exporter writes; formats 1 and 2 still load). Inputs, batch dimension dynamic:

- ``features``: float32 ``[batch, n_numeric]``, the raw (unstandardized) values of the numeric columns, in the order
  the ``columns`` metadata lists them. NaN means missing: a column with a ``median`` imputes it inside the graph
  (and sets its missing indicator, when it has one); in a column without one (``missing`` was not ``impute`` in
  training) NaN reaches the outputs as NaN, and the runtime refuses such rows. Present when the model has numeric
  columns.
- ``categories``: string ``[batch, n_categorical]``, the categorical columns' values in ``columns`` order, compared
  exactly with the training levels: a client trims surrounding whitespace and sends a missing value (null, NaN, an
  empty cell, one of the ``na_values`` texts) as the empty string ``""``, which is a level of its own when training
  saw missing values. A value that is none of the levels (unseen in training) counts as the column's ``other`` level
  when it has one (``min_frequency``), and otherwise adds nothing from that column; the runtime predicts and counts
  such values, or raises with ``unseen="error"``. Present (and the opset 19 or more, for string ``Equal``) only when
  the model has categorical columns: a numeric model stays at opset 18 and runs on every engine it ran on before.
- ``offset``: float32 ``[batch]``, a known term added to each row's logit (a binary model trained with ``--offset
  COL``, whose metadata ``offset`` names COL): ``z = b + sum_j beta_j x_j + offset``. Present only in such a model,
  and then required by the graph (an engine cannot be relied on to fill an optional input: OpenVINO folds one into a
  constant, onnxruntime-node drops its feed): every client of this toolkit feeds 0 for a row that does not give the
  column, as the training's offset-free rows would be scored.

Outputs, in this order (the first two unchanged since format 1; ``L`` is ``n_classes - 1``, the logits against the
reference class ``class_names[0]``; ``C`` the number of raw columns, ``feature_names`` order):

- ``label``: int64 ``[batch]``, index into ``class_names`` of the predicted class: a multiclass model's most probable
  class; a binary model's second class when its probability is above the ``threshold`` metadata value (0.5 unless
  exported with another), else the first. Every runtime path returns this output as the label;
- ``probabilities``: float32 ``[batch, n_classes]``, one column per class in ``class_names`` order, rows summing to 1;
- ``logit`` (format 3): float32 ``[batch, L]``, ``log(p_l / p_0)``: the linear predictor of class ``l + 1`` against
  the reference class, ``z_l = b_l + sum_j beta_jl x_j`` over the design columns ``x_j`` (plus the ``offset``
  input, in a model that has one);
- ``contributions`` (format 3): float32 ``[batch, C, L]``, the part of each logit owed to each raw column, measured
  from the ``explain`` metadata's ``baseline`` design row: ``sum_{j in column c} beta_jl (x_j - baseline_j)`` (a text
  column's level columns and a numeric column's missing indicator sum into their column), so that
  ``baseline_logit_l + sum_c contributions[c, l] == logit_l`` to float32 rounding (SHAP's interventional values;
  a model with an ``offset`` input adds it: the offset is no column's contribution);
- ``logit_se`` (format 3, when the fit has classical standard errors): float32 ``[batch, L]``, the delta method's
  standard error ``sqrt(u' S_l u)`` of each logit, ``u = [(x - mean) / scale, 1]`` and ``S_l`` the covariance of
  the fit's parameters of that logit (held in the graph as a factor ``F_l F_l'``);
- ``probability_lower``, ``probability_upper`` (format 3, binary models with ``logit_se``): float32 ``[batch]``, the
  95% interval of the second class's probability, ``sigmoid(logit -+ z * logit_se)`` with ``z`` = 1.959964. A
  multinomial model's intervals are per logit (``logit -+ z * logit_se``): a class's probability depends on every
  logit, so no one interval of it follows from one standard error.

A model without classical standard errors (penalized, weighted, not fitted by maximum likelihood, or brought without
a covariance) has no ``logit_se`` and no probability interval; its ``explain`` metadata says why.

Format 2 had only ``label`` and ``probabilities``; format 1 also had the one input ``features`` (every column numeric,
no imputation) and no ``columns`` key.

Metadata keys live in the ONNX ``metadata_props`` (onnxruntime: ``get_modelmeta().custom_metadata_map``), all strings.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

INPUT_NAME = "features"  # float32 numeric columns
CATEGORIES_INPUT = "categories"  # string categorical columns (format 2, only when the model has some)
OFFSET_INPUT = "offset"  # float32 [batch], a binary model's known term of the logit (only when trained with one)
MISSING_LEVEL = ""  # a missing categorical value, as every client sends it
LABEL_OUTPUT = "label"
PROBABILITIES_OUTPUT = "probabilities"
OUTPUT_NAMES = (LABEL_OUTPUT, PROBABILITIES_OUTPUT)  # what every format has, and every runtime path returns
LOGIT_OUTPUT = "logit"
CONTRIBUTIONS_OUTPUT = "contributions"
LOGIT_SE_OUTPUT = "logit_se"
PROBABILITY_LOWER_OUTPUT = "probability_lower"
PROBABILITY_UPPER_OUTPUT = "probability_upper"
EXPLAIN_OUTPUTS = (LOGIT_OUTPUT, CONTRIBUTIONS_OUTPUT)  # format 3: always
INTERVAL_OUTPUTS = (LOGIT_SE_OUTPUT,)  # format 3, with classical standard errors
BINARY_INTERVAL_OUTPUTS = (PROBABILITY_LOWER_OUTPUT, PROBABILITY_UPPER_OUTPUT)  # and a binary model
Z_95 = 1.959963984540054  # the normal distribution's 97.5% quantile: the intervals' z

# metadata_props keys
PRODUCER = "logreg-onnx"
KEY_FORMAT = "logreg_onnx_format"  # the contract version, below
FORMAT_VERSION = "3"  # what the exporter writes
READABLE_FORMATS = ("1", "2", "3")  # what the runtime loads
FORMAT_WITHOUT_EXPLAIN = "2"  # the newest format with only label and probabilities (a graph built without explain)
KEY_FEATURE_NAMES = "feature_names"  # JSON list of str: every input column in the training order
# JSON list, one object per column in feature_names order (format 2):
#   {"name", "kind": "numeric", "median": number or null, "indicator": bool}
# "median" is the value a missing number is imputed with: the training median for the toolkit's own models, the
# imputer's fill (mean, median, most frequent, constant) for a scikit-learn pipeline.
#   {"name", "kind": "categorical", "levels": [str], "other": [str], "reference": str or null}
# "levels" are the training levels with an input code of their own ("" the missing level), "other" the rare ones
# folded together, "reference" the level without a design column (treatment coding, l2=0), or null (one-hot).
KEY_COLUMNS = "columns"
KEY_NA_VALUES = "na_values"  # JSON list of str: texts that mean a missing value in a CSV cell (format 2)
KEY_CLASS_NAMES = "class_names"  # JSON list of str
KEY_THRESHOLD = "threshold"  # decimal string; binary decision threshold on the second class's probability
KEY_OPSET = "onnx_opset"  # decimal string: the default-domain opset the graph was written at
KEY_MODEL_SHA256 = "model_sha256"  # SHA-256 of the trained weights and config (model.pt content)
KEY_METRICS = "metrics"  # JSON object: the training run's metrics.json blocks "train"/"validation"
KEY_VERSIONS = "versions"  # JSON object: torch, onnx, logreg-onnx versions used to write the file
KEY_COEFFICIENTS = "coefficients"  # JSON object: the run's coefficient table (metrics.json "coefficients"), optional
PARITY_FILE = "parity.json"  # the verification report the exporter writes beside a model (not read by the runtime)
KEY_PROFILE = "profile"  # JSON object, optional: the training rows' profile for drift checks (runtime/drift.py)
KEY_SOURCE = "source"  # str, optional: the model the file was exported from when not trained here ("scikit-learn ...")
# JSON object (format 3): {"reference_class": str, "logits": [class names after the first], "baseline": [number per
# design column], "baseline_note": str, "baseline_logit": [number per logit], "intervals": bool (whether logit_se and
# the probability intervals are outputs), "intervals_note": str (why not, when not), "level": 0.95, "z": number}
KEY_EXPLAIN = "explain"
# JSON object, present when the graph has the ``offset`` input: {"column": the training's offset column, which a row
# given by column name may carry (a client takes it from there, or 0 when the row lacks it)}
KEY_OFFSET = "offset"
KEY_DIGEST = "logreg_onnx_sha256"  # the file's integrity digest: see runtime/integrity.py
# JSON object, present in a portable graph only (``logreg export --portable``): its ``categories`` input is int64
# codes, not text, so that the graph holds no string tensor and only core operators (tract, OpenVINO, onnxruntime's
# web builds run it). The client maps each text to its code by the rule of :data:`CATEGORY_CODES`, the same texts
# as a string graph takes (trimmed, an NA text as missing): the value written is that rule.
KEY_CATEGORY_CODES = "category_codes"
CODE_MISSING = -1  # "" (a missing value), unless "" is itself one of the column's levels
CODE_UNSEEN = -2  # a text that is none of the column's levels
CATEGORY_CODES = {
    "codes": "a column's levels, then its other levels (its 'columns' entry), numbered from 0 in that order",
    "missing": CODE_MISSING,
    "unseen": CODE_UNSEEN,
}
CASE_CATEGORY_CODES = "category_codes"  # a portable model's test-vector case: its categories input for the texts


def offset_column(metadata: Mapping[str, str]) -> str | None:
    """The column a row gives the ``offset`` input in, when the model has that input (:data:`KEY_OFFSET`)."""
    try:
        value = json.loads(metadata.get(KEY_OFFSET, "null"))
    except ValueError:
        return None
    column = value.get("column") if isinstance(value, dict) else None
    return column if isinstance(column, str) else None


def input_names(n_numeric: int, n_categorical: int, offset: bool) -> list[str]:
    """The graph's inputs, in order, for a model of these columns, with or without the ``offset`` input."""
    return (
        ([INPUT_NAME] if n_numeric else [])
        + ([CATEGORIES_INPUT] if n_categorical else [])
        + ([OFFSET_INPUT] if offset else [])
    )


def is_portable(metadata: Mapping[str, str]) -> bool:
    """Whether a graph's ``categories`` input takes int64 codes (:data:`KEY_CATEGORY_CODES`) rather than text."""
    return KEY_CATEGORY_CODES in metadata


REQUIRED_METADATA = (KEY_FORMAT, KEY_FEATURE_NAMES, KEY_CLASS_NAMES, KEY_THRESHOLD)

ELEMENT_TYPES = {
    "tensor(float)": "float32",
    "tensor(int64)": "int64",
    "tensor(double)": "float64",
    "tensor(string)": "string",
}


@dataclass(frozen=True)
class ColumnSpec:
    """One input column of a model, from the ``columns`` metadata (or, for format 1, a numeric column)."""

    name: str
    kind: str  # "numeric" | "categorical"
    median: float | None = None
    indicator: bool = False
    levels: tuple[str, ...] = ()
    other: tuple[str, ...] = ()
    reference: str | None = None

    @property
    def imputed(self) -> bool:
        return self.median is not None

    def to_json(self) -> dict:
        """The column's entry of the ``columns`` metadata."""
        if self.kind == "numeric":
            return {"name": self.name, "kind": "numeric", "median": self.median, "indicator": self.indicator}
        return {
            "name": self.name,
            "kind": "categorical",
            "levels": list(self.levels),
            "other": list(self.other),
            "reference": self.reference,
        }

    @classmethod
    def from_json(cls, spec: Mapping) -> ColumnSpec:
        """A column from its ``columns`` entry; KeyError, TypeError or ValueError for one that is not readable."""
        if spec["kind"] == "numeric":
            median = spec.get("median")
            return cls(spec["name"], "numeric", None if median is None else float(median), bool(spec.get("indicator")))
        if spec["kind"] != "categorical":
            raise ValueError(f"unknown column kind {spec['kind']!r}")
        levels, other = tuple(spec["levels"]), tuple(spec.get("other", ()))
        if not all(isinstance(v, str) for v in (*levels, *other)):
            raise TypeError("levels must be strings")
        return cls(spec["name"], "categorical", levels=levels, other=other, reference=spec.get("reference"))


def code_table(column: ColumnSpec) -> dict[str, int]:
    """A categorical column's texts and their codes in a portable graph (:data:`CATEGORY_CODES`); a text not in it
    is :data:`CODE_UNSEEN`, and "" :data:`CODE_MISSING` unless it is a level."""
    return {text: code for code, text in enumerate((*column.levels, *column.other))}


def columns_of(metadata: Mapping[str, str]) -> list[ColumnSpec] | None:
    """The model's input columns, or None when the metadata do not describe them readably."""
    try:
        names = json.loads(metadata.get(KEY_FEATURE_NAMES, "null"))
        if KEY_COLUMNS not in metadata:
            return [ColumnSpec(str(n), "numeric") for n in names] if isinstance(names, list) else None
        out = [ColumnSpec.from_json(spec) for spec in json.loads(metadata[KEY_COLUMNS])]
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    if [c.name for c in out] != names:
        return None
    return out


@dataclass(frozen=True)
class TensorSpec:
    """One graph input or output as the contract sees it. ``shape`` entries are ints, symbolic names or None."""

    name: str
    element_type: str  # "float32", "int64", ...
    shape: tuple[int | str | None, ...]


@dataclass(frozen=True)
class Check:
    """One contract check: its name, whether it passed, and what was found."""

    name: str
    passed: bool
    detail: str


def check_graph(
    inputs: Sequence[TensorSpec], outputs: Sequence[TensorSpec], metadata: Mapping[str, str]
) -> list[Check]:
    """Every check of the contract on a model's signature and metadata, passed or not (the first failure explains)."""
    checks: list[Check] = []

    def check(name: str, ok: bool, detail: str) -> None:
        checks.append(Check(name, bool(ok), detail))

    check(
        "written by logreg-onnx",
        KEY_FORMAT in metadata,
        f"metadata keys {sorted(metadata)[:8]}; a logreg-onnx model has {KEY_FORMAT!r}",
    )
    if not checks[-1].passed:
        return checks
    check(
        "format version",
        metadata[KEY_FORMAT] in READABLE_FORMATS,
        f"logreg-onnx format {metadata[KEY_FORMAT]!r}; this runtime reads formats {', '.join(READABLE_FORMATS)}",
    )
    missing = [key for key in REQUIRED_METADATA if key not in metadata]
    check("metadata present", not missing, f"missing {', '.join(missing)}" if missing else "all present")
    names = _names(metadata)
    columns = columns_of(metadata) if names is not None else None
    check(
        "metadata readable",
        names is not None and columns is not None,
        "feature_names and class_names must be JSON lists of strings, and columns a JSON list describing each "
        "feature in that order",
    )
    feature_names, class_names = names or ([], [])
    check(
        "names valid",
        len(set(feature_names)) == len(feature_names) >= 1 and len(class_names) >= 2,
        f"{len(feature_names)} feature names, {len(class_names)} classes: feature names must be distinct and "
        "there must be two classes or more",
    )
    columns = columns or []
    n_numeric = sum(c.kind == "numeric" for c in columns)
    n_categorical = len(columns) - n_numeric
    offset = KEY_OFFSET in metadata
    expected = input_names(n_numeric, n_categorical, offset)
    check(
        "input names",
        [i.name for i in inputs] == expected,
        f"inputs {[i.name for i in inputs]}, expected {expected} for {n_numeric} numeric and {n_categorical} "
        f"categorical columns{' and an offset' if offset else ''}",
    )
    if offset:
        check(
            "offset column",
            offset_column(metadata) is not None and len(class_names) == 2,
            f"metadata offset {metadata[KEY_OFFSET][:80]!r} must be an object naming its column, in a binary model",
        )
        spec = next((i for i in inputs if i.name == OFFSET_INPUT), None)
        if spec is not None:
            check(f"input {OFFSET_INPUT} type float32", spec.element_type == "float32", spec.element_type)
            check(
                f"input {OFFSET_INPUT} shape",
                len(spec.shape) == 1 and not isinstance(spec.shape[0], int),
                f"input shape {list(spec.shape)}; expected [batch], the dimension symbolic",
            )
    text_type = "int64" if is_portable(metadata) else "string"
    for spec in inputs:
        width, element = {INPUT_NAME: (n_numeric, "float32"), CATEGORIES_INPUT: (n_categorical, text_type)}.get(
            spec.name, (None, None)
        )
        if width is None:
            continue
        check(f"input {spec.name} type {element}", spec.element_type == element, f"element type {spec.element_type}")
        check(
            f"input {spec.name} dynamic batch",
            len(spec.shape) == 2 and not isinstance(spec.shape[0], int),
            f"input shape {list(spec.shape)}; the first dimension must be symbolic",
        )
        check(
            f"input {spec.name} width",
            len(spec.shape) == 2 and (spec.shape[1] == width or not isinstance(spec.shape[1], int)),
            f"input shape {list(spec.shape)}, {width} columns",
        )
    allowed = expected_outputs(metadata.get(KEY_FORMAT), len(class_names), intervals_of(metadata))
    check(
        "output names and order",
        [o.name for o in outputs] == allowed,
        f"outputs {[o.name for o in outputs]}, expected {allowed} in that order",
    )
    by_name = {o.name: o for o in outputs}
    if LABEL_OUTPUT in by_name:
        check("label type", by_name[LABEL_OUTPUT].element_type == "int64", by_name[LABEL_OUTPUT].element_type)
    if PROBABILITIES_OUTPUT in by_name:
        spec = by_name[PROBABILITIES_OUTPUT]
        check("probabilities type", spec.element_type == "float32", spec.element_type)
        check(
            "probabilities width",
            len(spec.shape) == 2 and (spec.shape[1] == len(class_names) or not isinstance(spec.shape[1], int)),
            f"probabilities shape {list(spec.shape)}, {len(class_names)} classes",
        )
    for name, inner in output_dims(len(class_names), len(feature_names)).items():
        if name in OUTPUT_NAMES or name not in by_name:
            continue
        spec = by_name[name]
        fits = len(spec.shape) == 1 + len(inner) and all(
            not isinstance(got, int) or got == want for got, want in zip(spec.shape[1:], inner, strict=True)
        )
        check(f"{name} type", spec.element_type == "float32", spec.element_type)
        check(
            f"{name} shape",
            fits,
            f"{name} shape {list(spec.shape)}, expected [batch{''.join(f', {d}' for d in inner)}]",
        )
    return checks


def output_dims(n_classes: int, n_columns: int) -> dict[str, tuple[int, ...]]:
    """Each output's dimensions after the batch, as the contract defines them."""
    n_logits = n_classes - 1
    return {
        LABEL_OUTPUT: (),
        PROBABILITIES_OUTPUT: (n_classes,),
        LOGIT_OUTPUT: (n_logits,),
        CONTRIBUTIONS_OUTPUT: (n_columns, n_logits),
        LOGIT_SE_OUTPUT: (n_logits,),
        PROBABILITY_LOWER_OUTPUT: (),
        PROBABILITY_UPPER_OUTPUT: (),
    }


def expected_outputs(format_version: str | None, n_classes: int, intervals: bool) -> list[str]:
    """The output names, in order, of a model of this format, number of classes, and with or without intervals."""
    names = list(OUTPUT_NAMES)
    if format_version not in (None, "1", FORMAT_WITHOUT_EXPLAIN):
        names += EXPLAIN_OUTPUTS
        if intervals:
            names += INTERVAL_OUTPUTS + (BINARY_INTERVAL_OUTPUTS if n_classes == 2 else ())
    return names


def intervals_of(metadata: Mapping[str, str]) -> bool:
    """Whether the ``explain`` metadata says the model has interval outputs."""
    explain = explain_of(metadata)
    return bool(explain and explain.get("intervals"))


def explain_of(metadata: Mapping[str, str]) -> dict | None:
    """The ``explain`` metadata entry decoded, or None when there is none readable."""
    try:
        value = json.loads(metadata.get(KEY_EXPLAIN, "null"))
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def first_failure(checks: Sequence[Check]) -> str | None:
    """The sentence a user reads when the contract is not met, or None when it is."""
    failed = [c for c in checks if not c.passed]
    return "; ".join(f"{c.name}: {c.detail}" for c in failed) or None


def _names(metadata: Mapping[str, str]) -> tuple[list[str], list[str]] | None:
    try:
        feature_names = json.loads(metadata.get(KEY_FEATURE_NAMES, "null"))
        class_names = json.loads(metadata.get(KEY_CLASS_NAMES, "null"))
        float(metadata.get(KEY_THRESHOLD, "nan"))
    except ValueError:
        return None
    if not all(isinstance(v, list) and all(isinstance(s, str) for s in v) for v in (feature_names, class_names)):
        return None
    return feature_names, class_names


# -- test vectors ------------------------------------------------------------------------------------------------
# Written beside every model as <model stem>.testvectors.json, for a client in any language to check itself: feed each
# case's ``features`` (null is NaN) to the model's ``features`` input and its ``categories`` to ``categories`` (one
# row, or all cases as one batch), and compare the outputs. Each case also has the raw ``row``, keyed by column name,
# with text and nulls as a user would give them: a client that prepares its own inputs checks that too.
# Version 3 (format 3 models) adds each case's explain outputs, named in ``outputs``: ``logit`` [L], ``contributions``
# [C][L] (per column, per logit), and with intervals ``logit_se`` [L], ``probability_lower``, ``probability_upper``.
# A model with an ``offset`` input lists it in ``inputs``; each case then has its ``offset`` (a number, fed as that
# input) and its ``row`` has the value under the offset column's name, as a user's row would.
# Version 2 had only label and probabilities; version 1 (format 1 models) had one ``input`` and no ``row`` or
# ``categories``; readers take all three.
TESTVECTORS_SUFFIX = ".testvectors.json"
TESTVECTORS_FORMAT = "logreg-onnx/testvectors"
TESTVECTORS_VERSION = 3
TESTVECTORS_READABLE = (1, 2, 3)
TESTVECTORS_RULE = (
    "for each case: label equal (unless the top two expected probabilities are within 2*atol), and "
    "|probability - expected| <= atol for every class; every other output listed (logit, contributions, logit_se, "
    "probability_lower, probability_upper): |value - expected| <= atol * max(1, |expected|)"
)

# The file's schema, JSON Schema (draft 2020-12). tests/runtime/test_testvectors.py validates every file the exporter
# writes against it with the jsonschema library.
TESTVECTORS_SCHEMA: dict = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "logreg-onnx test vectors",
    "type": "object",
    "required": [
        "format",
        "format_version",
        "model_sha256",
        "outputs",
        "feature_names",
        "class_names",
        "atol",
        "rule",
        "cases",
    ],
    "properties": {
        "format": {"const": TESTVECTORS_FORMAT},
        "format_version": {"enum": list(TESTVECTORS_READABLE)},
        "model_sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$", "description": "SHA-256 of the model file"},
        "input": {"const": INPUT_NAME, "description": "version 1: the one input"},
        "inputs": {
            "type": "array",
            "items": {"enum": [INPUT_NAME, CATEGORIES_INPUT, OFFSET_INPUT]},
            "minItems": 1,
            "description": "version 2: the model's inputs, in order",
        },
        "columns": {"type": "array", "description": "version 2: the model's columns metadata, decoded"},
        "outputs": {
            "type": "array",
            "prefixItems": [{"const": LABEL_OUTPUT}, {"const": PROBABILITIES_OUTPUT}],
            "items": {"enum": [*EXPLAIN_OUTPUTS, *INTERVAL_OUTPUTS, *BINARY_INTERVAL_OUTPUTS]},
            "minItems": 2,
            "description": "the outputs each case carries, in the model's order",
        },
        "feature_names": {"type": "array", "items": {"type": "string"}, "minItems": 1},
        "class_names": {"type": "array", "items": {"type": "string"}, "minItems": 2},
        "atol": {"type": "number", "exclusiveMinimum": 0, "description": "absolute tolerance on each probability"},
        "rule": {"type": "string", "description": "how to compare, in words"},
        "cases": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["group", "features", "label", "class_name", "probabilities"],
                "properties": {
                    "group": {"type": "string", "description": "which probe group the row comes from"},
                    "features": {
                        "type": "array",
                        "items": {"type": ["number", "null"]},
                        "description": "float32 values of the numeric columns; null is NaN (a missing value)",
                    },
                    "categories": {
                        "type": "array",
                        "items": {"type": "string"},
                        "description": 'the categorical columns\' values, "" for a missing one',
                    },
                    CASE_CATEGORY_CODES: {
                        "type": "array",
                        "items": {"type": "integer"},
                        "description": "a portable model (metadata 'category_codes'): the categories input for the "
                        "texts, each column's code by that rule",
                    },
                    OFFSET_INPUT: {"type": "number", "description": "a model with an offset input: this case's"},
                    "row": {
                        "type": "object",
                        "additionalProperties": {"type": ["number", "string", "null"]},
                        "description": "the raw row by column name, as a user gives it",
                    },
                    "label": {"type": "integer", "minimum": 0, "description": "expected label output"},
                    "class_name": {"type": "string"},
                    "probabilities": {"type": "array", "items": {"type": "number", "minimum": 0, "maximum": 1}},
                    LOGIT_OUTPUT: {"type": "array", "items": {"type": "number"}, "description": "version 3: [L]"},
                    CONTRIBUTIONS_OUTPUT: {
                        "type": "array",
                        "items": {"type": "array", "items": {"type": "number"}},
                        "description": "version 3: [C][L], per raw column in feature_names order, per logit",
                    },
                    LOGIT_SE_OUTPUT: {"type": "array", "items": {"type": "number", "minimum": 0}},
                    PROBABILITY_LOWER_OUTPUT: {"type": "number", "minimum": 0, "maximum": 1},
                    PROBABILITY_UPPER_OUTPUT: {"type": "number", "minimum": 0, "maximum": 1},
                },
            },
        },
    },
}
