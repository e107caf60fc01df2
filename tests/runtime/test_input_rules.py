"""The runtime's input rules (docs/inputs.md), the same in Python, the server and ``logreg predict``; the odd inputs
of issue 18 (defect 7), booleans and extra keys (defect 8), column numbers in the model's feature order (defect 9),
and ``logreg info`` when the raw rows of the test vectors cannot be scored (defect 3)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from click.testing import CliRunner

from logreg_onnx import runtime
from logreg_onnx.cli import main

from ..conftest import PENGUIN, REPO
from .asgi import asgi

EXAMPLE = REPO / "artifacts" / "example" / "model.onnx"
PENGUINS = REPO / "artifacts" / "example-penguins" / "model.onnx"
ROW = PENGUIN


@pytest.fixture(scope="module")
def penguins():
    return runtime.load(PENGUINS)


@pytest.fixture(scope="module")
def example():
    return runtime.load(EXAMPLE)


@pytest.fixture(scope="module")
def example_row(example):
    vectors = json.loads(EXAMPLE.with_name("model.testvectors.json").read_text())
    return dict(zip(example.feature_names, vectors["cases"][0]["features"], strict=True))


def _message(call) -> str:
    with pytest.raises(runtime.InputError) as caught:
        call()
    return str(caught.value)


# -- defect 7: odd inputs -------------------------------------------------------------------------------------------
def test_a_dict_of_columns_is_refused_saying_how_to_pass_several_rows(penguins, example, example_row):
    columns = {name: [value, value] for name, value in ROW.items()}
    expected = (
        "a dict is one row of column name to value, but every value of this one is a list (column 'island': "
        "['Dream', 'Dream']); for several rows pass a list of dicts, or pandas.DataFrame(your_dict)"
    )
    assert _message(lambda: penguins.predict(columns)) == expected
    assert _message(lambda: penguins.predict_one(columns)) == expected
    numeric = {name: np.array([value]) for name, value in example_row.items()}
    assert _message(lambda: example.predict_proba(numeric)).startswith(
        "a dict is one row of column name to value, but every value of this one is a list (column 'mean_radius': "
    )
    # the way the message names works, and gives what the rows give
    pd = pytest.importorskip("pandas")
    np.testing.assert_array_equal(penguins.predict_proba(pd.DataFrame(columns)), penguins.predict_proba([ROW, ROW]))


def test_no_rows(penguins, example):
    for model in (penguins, example):
        assert _message(lambda m=model: m.predict([])) == (
            "no rows: got an empty list; pass one row (a dict of column name to value) or a list of rows"
        )
    # an array with zero rows has a width, and gives zero predictions
    assert example.predict_proba(np.zeros((0, example.n_features), np.float32)).shape == (0, 2)


def test_the_server_says_what_is_wrong_with_a_predict_body(penguins):
    pytest.importorskip("starlette", reason="the serve extra")
    from logreg_onnx.runtime.server import create_app

    app = create_app({"penguins": penguins})
    cases = {
        b'{"instances": []}': (
            '"instances" is an empty list; send at least one row: {"instances": [{"feature": value}]}'
        ),
        b'{"rows": [{}]}': "expected {\"instances\": [row, ...]}, got an object with keys ['rows']; rows are objects "
        "keyed by feature",
        b'{"instances": {"island": "Dream"}}': '"instances" must be a list of rows, got dict',
        b"[1, 2]": 'expected {"instances": [row, ...]}, got list; rows are objects keyed by feature',
    }
    for body, message in cases.items():
        assert asgi(app, "POST", "/predict", body) == (400, {"error": message})


# -- defect 8: one rule for booleans and for extra keys ------------------------------------------------------------
def test_a_boolean_is_not_a_number_in_any_form(penguins, example, example_row):
    pd = pytest.importorskip("pandas")
    name = example.feature_names[3]
    expected = f"row 0, column 3 ({name!r}): True is a boolean, not a number (send 1 or 0)"
    assert _message(lambda: example.predict(example_row | {name: True})) == expected
    assert _message(lambda: example.predict([list(example_row.values())[:3] + [True] + [1.0] * 26])) == expected
    assert _message(lambda: example.predict_one(example_row | {name: True})) == expected
    frame = pd.DataFrame([example_row]).assign(**{name: [True]})
    assert _message(lambda: example.predict(frame)) == expected
    assert _message(lambda: example.predict(np.ones((1, 30), dtype=bool))).startswith(
        "row 0, column 0 ('mean_radius'): True is a boolean, not a number"
    )
    assert _message(lambda: penguins.predict(ROW | {"year": np.bool_(False)})) == (
        "row 0, column 6 ('year'): False is a boolean, not a number (send 1 or 0)"
    )
    # in a text column a boolean is its text, as Python writes it
    np.testing.assert_array_equal(
        penguins.predict_proba(ROW | {"sex": True}), penguins.predict_proba(ROW | {"sex": "True"})
    )


def test_a_boolean_through_the_server_and_json_lines(penguins, tmp_path):
    pytest.importorskip("starlette", reason="the serve extra")
    from logreg_onnx.runtime.server import create_app

    app = create_app({"penguins": penguins})
    body = json.dumps({"instances": [ROW | {"year": True}]}).encode()
    assert asgi(app, "POST", "/predict", body) == (
        400,
        {"error": "row 0, column 6 ('year'): True is a boolean, not a number (send 1 or 0)"},
    )
    rows = tmp_path / "rows.jsonl"
    rows.write_text(json.dumps(ROW) + "\n" + json.dumps(ROW | {"year": True}) + "\n")
    result = CliRunner().invoke(main, ["predict", str(PENGUINS), str(rows)])
    assert result.exit_code == 2
    assert result.stderr.strip() == f"Error: {rows}:2: key 'year': true is a boolean, not a number (send 1 or 0)"


def test_extra_keys_are_ignored_everywhere(penguins, tmp_path):
    pd = pytest.importorskip("pandas")
    from logreg_onnx.runtime.server import create_app

    extra = ROW | {"id": 17, "note": "not a feature"}
    expected = penguins.predict_proba([ROW])
    np.testing.assert_array_equal(penguins.predict_proba(extra), expected)
    np.testing.assert_array_equal(penguins.predict_proba([extra]), expected)
    np.testing.assert_array_equal(penguins.predict_proba(pd.DataFrame([extra])), expected)
    assert penguins.predict_one(extra) == penguins.predict_one(ROW)
    status, answer = asgi(
        create_app({"penguins": penguins}), "POST", "/predict", json.dumps({"instances": [extra]}).encode()
    )
    assert status == 200
    got = [answer["predictions"][0]["probabilities"][c] for c in penguins.classes]
    np.testing.assert_allclose(got, expected[0], atol=0)
    rows = tmp_path / "rows.jsonl"
    rows.write_text(json.dumps(extra) + "\n")
    result = CliRunner().invoke(main, ["predict", str(PENGUINS), str(rows)])
    assert result.exit_code == 0, result.output
    got = [json.loads(result.stdout)[f"p_{c}"] for c in penguins.classes]
    np.testing.assert_allclose(got, expected[0], atol=0)


# -- defect 9: column numbers count every feature ------------------------------------------------------------------
def test_column_numbers_are_the_models_feature_order(penguins):
    pd = pytest.importorskip("pandas")
    assert penguins.feature_names.index("bill_length_mm") == 1 and penguins.numeric_names.index("bill_length_mm") == 0
    assert _message(lambda: penguins.predict(ROW | {"bill_length_mm": float("inf")})) == (
        "row 0, column 1 ('bill_length_mm') is inf; features must be finite numbers"
    )
    assert _message(lambda: penguins.predict([ROW, ROW | {"body_mass_g": "3700"}])) == (
        "row 1, column 4 ('body_mass_g'): '3700' is a str, not a number"
    )
    assert _message(lambda: penguins.predict([ROW | {"flipper_length_mm": 1e300}])) == (
        "row 0, column 3 ('flipper_length_mm') is 1e+300, beyond float32's range (+-3.403e+38); the model computes "
        "in float32"
    )
    frame = pd.DataFrame([ROW, ROW]).assign(bill_depth_mm=[17.5, "deep"])
    assert (
        _message(lambda: penguins.predict(frame)) == "row 1, column 2 ('bill_depth_mm'): 'deep' is a str, not a number"
    )
    assert _message(lambda: penguins.predict([ROW | {"sex": ["female"]}])) == (
        "row 0, column 5 ('sex'): ['female'] is a list, not a value"
    )
    as_lists = [[ROW[name] for name in penguins.feature_names]]
    as_lists[0][4] = float("inf")
    assert (
        _message(lambda: penguins.predict(as_lists))
        == "row 0, column 4 ('body_mass_g') is inf; features must be finite numbers"
    )


# -- defect 3: info when the raw rows fail -------------------------------------------------------------------------
def test_info_reports_raw_rows_that_cannot_be_scored(tmp_path):
    model = tmp_path / "model.onnx"
    shutil.copy(PENGUINS, model)
    vectors = json.loads(PENGUINS.with_name("model.testvectors.json").read_text())
    vectors["cases"][2]["row"]["bill_length_mm"] = "forty"  # the graph inputs still pass; the raw row cannot
    (tmp_path / "model.testvectors.json").write_text(json.dumps(vectors))
    result = CliRunner().invoke(main, ["info", str(model)])
    assert result.exit_code == 1, result.output
    line = next(line for line in result.stdout.splitlines() if line.startswith("test vectors"))
    assert line == (
        f"test vectors FAILED: 0/{len(vectors['cases'])} cases within 1e-05 (max difference "
        f"{json.loads(CliRunner().invoke(main, ['info', str(model), '--json']).stdout)['test_vectors']['max_abs']:.2e}"
        "), model.testvectors.json; the raw rows cannot be scored: row 2, column 1 ('bill_length_mm'): 'forty' is a "
        "str, not a number"
    )
    assert (
        result.stderr.strip()
        == f"Error: {model} does not reproduce its test vectors ({tmp_path / 'model.testvectors.json'})"
    )
    facts = json.loads(CliRunner().invoke(main, ["info", str(model), "--json"]).stdout)["test_vectors"]
    assert facts["status"] == "failed" and facts["failing_count"] == len(vectors["cases"])
    assert facts["error"].startswith("the raw rows cannot be scored")
