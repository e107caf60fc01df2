"""The Node.js client follows the same input rules as the Python runtime (docs/inputs.md): extra keys ignored, a
boolean refused in a numeric column and read as "True"/"False" in a text one, column numbers in the model's feature
order, an empty array refused; and it gives the Python runtime's labels and probabilities."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest

from logreg_onnx import runtime

from ..conftest import PENGUIN, REPO
from .conftest import npm_install

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
