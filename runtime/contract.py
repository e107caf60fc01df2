"""The graph contract every model of this toolkit follows, and the test-vector file format: written down once, checked
by one function that ``runtime.load`` and the exporter both call.

A model file has one input and two outputs, in this order:

- ``features``: float32 ``[batch, n_features]``, raw (unstandardized) feature values, batch dimension dynamic;
- ``label``: int64 ``[batch]``, index into ``class_names`` of the predicted class (argmax of the probabilities, so a
  binary model predicts the second class when its probability is above 0.5);
- ``probabilities``: float32 ``[batch, n_classes]``, one column per class in ``class_names`` order, rows summing to 1.

Metadata keys live in the ONNX ``metadata_props`` (onnxruntime: ``get_modelmeta().custom_metadata_map``), all strings.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

INPUT_NAME = "features"
LABEL_OUTPUT = "label"
PROBABILITIES_OUTPUT = "probabilities"
OUTPUT_NAMES = (LABEL_OUTPUT, PROBABILITIES_OUTPUT)

# metadata_props keys
PRODUCER = "logreg-onnx"
KEY_FORMAT = "logreg_onnx_format"  # the contract version, below
FORMAT_VERSION = "1"
KEY_FEATURE_NAMES = "feature_names"  # JSON list of str
KEY_CLASS_NAMES = "class_names"  # JSON list of str
KEY_THRESHOLD = "threshold"  # decimal string; binary decision threshold on the second class's probability
KEY_OPSET = "onnx_opset"  # decimal string: the default-domain opset the graph was written at
KEY_MODEL_SHA256 = "model_sha256"  # SHA-256 of the trained weights and config (model.pt content)
KEY_METRICS = "metrics"  # JSON object: the training run's metrics.json blocks "train"/"validation"
KEY_VERSIONS = "versions"  # JSON object: torch, onnx, logreg-onnx versions used to write the file
KEY_DIGEST = "logreg_onnx_sha256"  # the file's integrity digest: see runtime/integrity.py

REQUIRED_METADATA = (KEY_FORMAT, KEY_FEATURE_NAMES, KEY_CLASS_NAMES, KEY_THRESHOLD)

ELEMENT_TYPES = {"tensor(float)": "float32", "tensor(int64)": "int64", "tensor(double)": "float64"}


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
        metadata[KEY_FORMAT] == FORMAT_VERSION,
        f"logreg-onnx format {metadata[KEY_FORMAT]!r}; this runtime reads format {FORMAT_VERSION}",
    )
    missing = [key for key in REQUIRED_METADATA if key not in metadata]
    check("metadata present", not missing, f"missing {', '.join(missing)}" if missing else "all present")
    names = _names(metadata)
    check("metadata readable", names is not None, "feature_names and class_names must be JSON lists of strings")
    feature_names, class_names = names or ([], [])
    check(
        "names valid",
        len(set(feature_names)) == len(feature_names) >= 1 and len(class_names) >= 2,
        f"{len(feature_names)} feature names, {len(class_names)} classes: feature names must be distinct and "
        "there must be two classes or more",
    )
    check(
        "input name",
        [i.name for i in inputs] == [INPUT_NAME],
        f"inputs {[i.name for i in inputs]}, expected [{INPUT_NAME!r}]",
    )
    if len(inputs) == 1:
        spec = inputs[0]
        check("input type float32", spec.element_type == "float32", f"element type {spec.element_type}")
        check(
            "dynamic batch",
            len(spec.shape) == 2 and not isinstance(spec.shape[0], int),
            f"input shape {list(spec.shape)}; the first dimension must be symbolic",
        )
        check(
            "input width",
            len(spec.shape) == 2 and (spec.shape[1] == len(feature_names) or not isinstance(spec.shape[1], int)),
            f"input shape {list(spec.shape)}, {len(feature_names)} feature names",
        )
    check(
        "output names and order",
        [o.name for o in outputs] == list(OUTPUT_NAMES),
        f"outputs {[o.name for o in outputs]}, expected {list(OUTPUT_NAMES)} in that order",
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
    return checks


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
# case's ``features`` to the model's ``features`` input (one row, or all cases as one batch) and compare the outputs.
TESTVECTORS_SUFFIX = ".testvectors.json"
TESTVECTORS_FORMAT = "logreg-onnx/testvectors"
TESTVECTORS_VERSION = 1
TESTVECTORS_RULE = (
    "for each case: label equal (unless the top two expected probabilities are within 2*atol), and "
    "|probability - expected| <= atol for every class"
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
        "input",
        "outputs",
        "feature_names",
        "class_names",
        "atol",
        "rule",
        "cases",
    ],
    "properties": {
        "format": {"const": TESTVECTORS_FORMAT},
        "format_version": {"const": TESTVECTORS_VERSION},
        "model_sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$", "description": "SHA-256 of the model file"},
        "input": {"const": INPUT_NAME},
        "outputs": {"const": list(OUTPUT_NAMES)},
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
                    "features": {"type": "array", "items": {"type": "number"}, "description": "float32 values"},
                    "label": {"type": "integer", "minimum": 0, "description": "expected label output"},
                    "class_name": {"type": "string"},
                    "probabilities": {"type": "array", "items": {"type": "number", "minimum": 0, "maximum": 1}},
                },
            },
        },
    },
}
