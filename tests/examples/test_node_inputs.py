"""The Node.js client follows the same input rules as the Python runtime (docs/inputs.md): extra keys ignored, a
boolean refused in a numeric column and read as "True"/"False" in a text one, column numbers in the model's feature
order, an empty array refused; and it gives the Python runtime's labels and probabilities. Its explain (format 3)
takes rows by the same rules, and refuses a bad ``top`` as the Python runtime does."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest

from logreg_onnx import runtime

from ..conftest import PENGUIN, REPO
from .conftest import assert_same_explanations, npm_install

NODE_DIR = REPO / "examples" / "node"
PENGUINS_MODEL = REPO / "artifacts" / "example-penguins" / "model.onnx"
ROW = PENGUIN

# Each case: rows handed to Model.predict; the script prints {"ok": predictions} or {"error": message} per case.
SCRIPT = """
import { loadModel } from %(index)s;
const model = await loadModel(%(model)s);
const cases = JSON.parse(process.argv[2]);
const out = [];
for (const rows of cases) {
  try {
    out.push({ ok: await model.predict(rows) });
  } catch (error) {
    out.push({ error: error.message, name: error.name });
  }
}
console.log(JSON.stringify(out));
"""


# Each case: [rows, options] handed to Model.explain of the model in argv; {"ok": explanations} or {"error": message}.
EXPLAIN_SCRIPT = """
import { loadModel } from %(index)s;
const model = await loadModel(process.argv[2]);
const out = [];
for (const [rows, options] of JSON.parse(process.argv[3])) {
  try {
    out.push({ ok: await model.explain(rows, options) });
  } catch (error) {
    out.push({ error: error.message, name: error.name });
  }
}
console.log(JSON.stringify(out));
"""


@pytest.fixture(scope="module")
def node_explain(tmp_path_factory):
    npm_install(NODE_DIR)
    script = tmp_path_factory.mktemp("node") / "explain.mjs"
    script.write_text(EXPLAIN_SCRIPT % {"index": json.dumps((NODE_DIR / "index.js").as_uri())})

    def run(model_path, cases: list) -> list[dict]:
        result = subprocess.run(
            ["node", str(script), str(model_path), json.dumps(cases)], capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    return run


@pytest.fixture(scope="module")
def node_predict(tmp_path_factory):
    npm_install(NODE_DIR)
    script = tmp_path_factory.mktemp("node") / "predict.mjs"
    index = (NODE_DIR / "index.js").as_uri()
    script.write_text(SCRIPT % {"index": json.dumps(index), "model": json.dumps(str(PENGUINS_MODEL))})

    def run(cases: list) -> list[dict]:
        result = subprocess.run(
            ["node", str(script), json.dumps(cases)], capture_output=True, text=True, timeout=120, cwd=NODE_DIR
        )
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    return run


def _probabilities(prediction: dict, classes: list[str]) -> list[float]:
    return [prediction["probabilities"][c] for c in classes]


def test_node_and_python_follow_one_input_rule(node_predict):
    model = runtime.load(PENGUINS_MODEL)
    misspelled = {k: v for k, v in ROW.items() if k != "body_mass_g"} | {"body_mass": 3700.0}
    cases = [
        [ROW | {"id": 7, "note": "extra keys are ignored"}],
        [ROW | {"bill_length_mm": True}],
        [ROW | {"sex": True}],
        [misspelled],
        [],
        [ROW | {"bill_length_mm": None}],  # a missing value: this model imputes it
    ]
    answers = node_predict(cases)

    # extra keys: ignored by both, with Python's probabilities
    expected = model.predict_proba(ROW)[0]
    np.testing.assert_allclose(_probabilities(answers[0]["ok"][0], model.classes), expected, atol=1e-6)
    np.testing.assert_allclose(model.predict_proba(cases[0][0])[0], expected, atol=0)
    assert answers[0]["ok"][0]["label"] == model.predict(ROW)[0]

    # a boolean in a numeric column: refused by both, the column numbered in the model's feature order
    assert answers[1] == {
        "error": 'row 0, column 1 ("bill_length_mm"): true is a boolean, not a number (send 1 or 0)',
        "name": "InputError",
    }
    with pytest.raises(runtime.InputError) as caught:
        model.predict(cases[1][0])
    assert str(caught.value) == "row 0, column 1 ('bill_length_mm'): True is a boolean, not a number (send 1 or 0)"

    # a boolean in a text column: the text "True" in both
    np.testing.assert_allclose(
        _probabilities(answers[2]["ok"][0], model.classes),
        model.predict_proba(ROW | {"sex": "True"})[0],
        atol=1e-6,
    )
    np.testing.assert_allclose(model.predict_proba(cases[2][0]), model.predict_proba(ROW | {"sex": "True"}), atol=0)

    # a missing feature: both name it, and the unused key that is probably its misspelling
    assert answers[3]["error"] == (
        'row 0: missing feature "body_mass_g" (the row also has "body_mass", which the model does not use: a '
        "misspelling?)"
    )
    with pytest.raises(runtime.InputError) as caught:
        model.predict([misspelled])
    assert str(caught.value) == (
        "row 0: missing feature 'body_mass_g' (the row also has 'body_mass', which the model does not use: a "
        "misspelling?)"
    )

    # no rows: refused by both in one line
    assert answers[4]["error"] == "no rows: got an empty array; pass an array of row objects"
    with pytest.raises(runtime.InputError, match=r"^no rows: got an empty list"):
        model.predict([])

    np.testing.assert_allclose(
        _probabilities(answers[5]["ok"][0], model.classes), model.predict_proba(cases[5][0])[0], atol=1e-6
    )


def test_node_explain_takes_rows_and_top_by_the_python_rules(node_explain, penguins_run_master):
    model_path = penguins_run_master / "model.onnx"
    model = runtime.load(model_path)
    cases = [
        [[ROW | {"id": 7}], {"top": 2}],  # extra keys ignored
        [[ROW, ROW | {"bill_depth_mm": None, "sex": None}], {}],  # top 3 by default; missing values imputed
        [[ROW | {"bill_length_mm": True}], {"top": 2}],
        [[], {"top": 2}],
        [[ROW], {"top": 0}],
        [[ROW], {"top": 1001}],
        [[ROW], {"top": 2.5}],
        [[ROW], {"top": "3"}],
    ]
    answers = node_explain(model_path, cases)
    assert_same_explanations(answers[0]["ok"], model.explain([ROW], top=2))
    assert_same_explanations(answers[1]["ok"], model.explain(cases[1][0]))
    assert max(len(r["toward"]) for r in answers[1]["ok"]) == 3
    # a bad row: the message predict gives, in both clients
    assert answers[2]["error"] == 'row 0, column 1 ("bill_length_mm"): true is a boolean, not a number (send 1 or 0)'
    with pytest.raises(runtime.InputError, match=r"^row 0, column 1 \('bill_length_mm'\): True is a boolean"):
        model.explain(cases[2][0], top=2)
    assert answers[3]["error"] == "no rows: got an empty array; pass an array of row objects"
    # a bad top: one line, the range and what was got, as Python's check_top says it
    for answer, top in zip(answers[4:], [0, 1001, 2.5, "3"], strict=True):
        with pytest.raises(runtime.InputError) as caught:
            model.explain([ROW], top=top)
        python = str(caught.value)
        assert answer == {"error": python.replace("'3'", '"3"'), "name": "InputError"}
        assert python.startswith("top must be a whole number from 1 to 1000, got ")
