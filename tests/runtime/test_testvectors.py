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


@pytest.mark.parametrize("version", [2, 3])
def test_committed_test_vectors_carry_raw_rows_and_follow_the_schema(version):
    jsonschema = pytest.importorskip("jsonschema")
    from .serving import PENGUINS, PENGUINS_FORMAT2

    model = PENGUINS_FORMAT2 if version == 2 else PENGUINS
    document = json.loads(model.with_name(model.stem + contract.TESTVECTORS_SUFFIX).read_text())
    jsonschema.validate(document, contract.TESTVECTORS_SCHEMA)
    assert document["format_version"] == version and document["inputs"] == ["features", "categories"]
    explain = ["logit", "contributions"] if version == 3 else []  # the committed model is penalized: no intervals
    assert document["outputs"] == ["label", "probabilities", *explain]
    for case in document["cases"]:
        assert list(case["row"]) == document["feature_names"]
        assert len(case["categories"]) == 2 and all(isinstance(v, str) for v in case["categories"])
        for name in explain:
            assert name in case
        if explain:  # one contribution list per column, one value per logit (the classes after the first)
            assert len(case["contributions"]) == len(document["feature_names"])
            assert {len(c) for c in case["contributions"]} == {len(document["class_names"]) - 1}
    broken = {**document, "cases": [{**document["cases"][0], "categories": [None, "male"]}]}
    with pytest.raises(jsonschema.ValidationError):  # a missing category is "", never null, in the tensor
        jsonschema.validate(broken, contract.TESTVECTORS_SCHEMA)
