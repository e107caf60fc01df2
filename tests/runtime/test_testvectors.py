"""The test-vector file format is a documented JSON Schema (runtime.contract.TESTVECTORS_SCHEMA); the committed
example's file follows it, checked by the jsonschema library, an independent validator."""

from __future__ import annotations

import json

import pytest
from logreg_onnx.runtime import contract


def test_example_test_vectors_follow_the_schema(example_path):
    jsonschema = pytest.importorskip("jsonschema")
    document = json.loads(example_path.with_name("model.testvectors.json").read_text())
    jsonschema.Draft202012Validator.check_schema(contract.TESTVECTORS_SCHEMA)
    jsonschema.validate(document, contract.TESTVECTORS_SCHEMA)
    broken = {**document, "cases": [{**document["cases"][0], "label": -1}]}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, contract.TESTVECTORS_SCHEMA)


def test_format_2_test_vectors_carry_raw_rows_and_follow_the_schema():
    jsonschema = pytest.importorskip("jsonschema")
    from .test_categorical import PENGUINS_MODEL

    document = json.loads(PENGUINS_MODEL.with_name("model.testvectors.json").read_text())
    jsonschema.validate(document, contract.TESTVECTORS_SCHEMA)
    assert document["format_version"] == 2 and document["inputs"] == ["features", "categories"]
    for case in document["cases"]:
        assert list(case["row"]) == document["feature_names"]
        assert len(case["categories"]) == 2 and all(isinstance(v, str) for v in case["categories"])
    broken = {**document, "cases": [{**document["cases"][0], "categories": [None, "male"]}]}
    with pytest.raises(jsonschema.ValidationError):  # a missing category is "", never null, in the tensor
        jsonschema.validate(broken, contract.TESTVECTORS_SCHEMA)
