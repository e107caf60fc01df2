"""What every generated scorer computes, read once from the verified graph (exporter/c_graph.py) as float64 lists:
the languages' generators (exporter/scorers/lang_*.py) only spell it.

A binary model trained with ``--offset`` takes the offset (a float64, 0 for a row without one) after the inputs, in
``predict`` and ``explain``: added to the one logit, as the graph adds it, and in no column's contribution."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import onnx
from logreg_onnx.runtime import contract

from ..c_graph import read_graph

# what every scorer says when a value is missing in a column the model has no median for (as contract.js does)
MISSING_REFUSED = "a missing value, and this model cannot impute it (no training median)"
# and when the offset is NaN or infinite (as the runtime says, runtime/inputs.py), followed by the value
OFFSET_REFUSED = "offset must be a finite number, got "

# the metadata a client needs to read rows the way the runtime does (examples/node/contract.js): a scorer carries
# them so that it describes itself as the ONNX file does
CLIENT_METADATA = (
    contract.KEY_FORMAT,
    contract.KEY_FEATURE_NAMES,
    contract.KEY_CLASS_NAMES,
    contract.KEY_COLUMNS,
    contract.KEY_NA_VALUES,
    contract.KEY_THRESHOLD,
    contract.KEY_EXPLAIN,
    contract.KEY_OFFSET,
)


@dataclass(frozen=True)
class Scorer:
    """A logistic model as plain numbers: imputation, indicators, one-hot levels, standardization, the linear map.

    A binary model keeps one weight row (the second class's logit minus the first's: the first logit is 0), so
    its probabilities are a sigmoid; a multiclass model keeps every row and a softmax."""

    numeric_names: list[str]
    categorical_names: list[str]
    class_names: list[str]
    column_names: list[str]  # every input column, in the order of the contributions' rows
    medians: list[float] | None  # per numeric column; NaN for a column without one (never read)
    indicator_index: list[int]  # numeric columns with a missing-value indicator
    levels: list[list[str]]  # per text column: the one-hot levels, in design order
    kept: list[list[str] | None]  # per text column: the known levels when it has an "(other)" column
    mean: list[float]
    scale: list[float]
    weight: list[list[float]]  # (rows, n_design): one row for a binary model
    bias: list[float]
    threshold: float  # a binary model's threshold on the second class's probability
    baseline: list[float] | None = None  # format 3: the design row contributions are measured from
    coefficients: list[list[float]] | None = None  # (n_design, n_logits): each logit's weight per design column
    column_of: list[int] | None = None  # per design column, the input column it sums into
    metadata: dict[str, str] | None = None  # the file's CLIENT_METADATA entries (JSON texts, as in the file)
    offset_column: str | None = None  # a binary model with the offset input: the training's offset column

    @property
    def binary(self) -> bool:
        return len(self.class_names) == 2

    @property
    def n_design(self) -> int:
        return len(self.mean)

    @property
    def n_logits(self) -> int:
        return len(self.class_names) - 1

    @property
    def explains(self) -> bool:
        return self.coefficients is not None

    @property
    def offset(self) -> bool:
        """Whether predict and explain take an offset, after the inputs."""
        return self.offset_column is not None


def scorer_of(model_bytes: bytes) -> Scorer:
    """The :class:`Scorer` of a graph written by this exporter (its layout checked by ``read_graph``)."""
    g = read_graph(model_bytes)
    weight, bias = g.rows()
    e = g.explain
    return Scorer(
        numeric_names=list(g.numeric_names),
        categorical_names=list(g.categorical_names),
        class_names=list(g.class_names),
        column_names=list(g.column_names),
        medians=None if g.medians is None else _floats(g.medians),
        indicator_index=list(g.indicator_index),
        levels=[list(v) for v in g.levels],
        kept=[None if v is None else list(v) for v in g.kept],
        mean=_floats(g.mean),
        scale=_floats(g.scale),
        weight=[_floats(row) for row in weight],
        bias=_floats(bias),
        threshold=g.threshold,
        baseline=None if e is None else _floats(e.baseline),
        coefficients=None if e is None else [_floats(row) for row in e.coefficients],
        column_of=None if e is None else [int(c) for c in e.groups],
        metadata=client_metadata(model_bytes),
        offset_column=g.offset_column,
    )


def client_metadata(model_bytes: bytes) -> dict[str, str]:
    props = {p.key: p.value for p in onnx.load_from_string(model_bytes).metadata_props}
    return {key: props[key] for key in CLIENT_METADATA if key in props}


def identifier(stem: str, reserved: frozenset[str] = frozenset()) -> str:
    """A lower-case identifier from a file stem ("model-v2" -> "model_v2"), for a Go package or a Rust module;
    ``reserved`` (the language's keywords and the names its proof uses) get a ``_model`` suffix."""
    name = re.sub(r"[^A-Za-z0-9_]", "_", stem).strip("_").lower() or "model"
    name = f"m_{name}" if name[0].isdigit() else name
    return f"{name}_model" if name in reserved else name


def class_name(stem: str, reserved: frozenset[str] = frozenset()) -> str:
    """A class name from a file stem ("model-v2" -> "ModelV2"), for Java and C#; ``reserved`` (the standard classes
    the code uses, the proof's harness) get a ``Model`` suffix."""
    parts = [p for p in re.split(r"[^A-Za-z0-9]", stem) if p]
    name = "".join(p[:1].upper() + p[1:] for p in parts) or "Model"
    name = f"M{name}" if name[0].isdigit() else name
    return f"{name}Model" if name.lower() in {r.lower() for r in reserved} else name


def _floats(values) -> list[float]:
    return [float(v) for v in np.asarray(values, dtype=np.float64).reshape(-1)]
