"""The test-vector file format is a documented JSON Schema (runtime.contract.TESTVECTORS_SCHEMA); the committed
example's file follows it, checked by the jsonschema library, an independent validator."""

from __future__ import annotations

import json

import pytest

from runtime import contract


def test_example_test_vectors_follow_the_schema(example_path):
    jsonschema = pytest.importorskip("jsonschema")
    document = json.loads(example_path.with_name("model.testvectors.json").read_text())
    jsonschema.Draft202012Validator.check_schema(contract.TESTVECTORS_SCHEMA)
    jsonschema.validate(document, contract.TESTVECTORS_SCHEMA)
    broken = {**document, "cases": [{**document["cases"][0], "label": -1}]}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, contract.TESTVECTORS_SCHEMA)
