"""A format 3 model with categorical columns and missing values (artifacts/example-penguins, trained on the raw
penguins CSV), through the torch-free runtime: every input form, unseen levels, and `logreg predict` with both
engines. The reference is the model's own test vectors, PyTorch's outputs written at export."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from logreg_onnx.runtime import contract, testvectors
from logreg_onnx.runtime.stream import has_pyarrow

from logreg_onnx import runtime
from logreg_onnx.cli import main

from ..conftest import PENGUIN

ROOT = Path(__file__).resolve().parents[2]
PENGUINS_MODEL = ROOT / "artifacts" / "example-penguins" / "model.onnx"
PENGUINS_CSV = ROOT / "examples" / "penguins" / "penguins.csv"


DREAM = PENGUIN


@pytest.fixture(scope="module")
def penguins():
    return runtime.load(PENGUINS_MODEL)


@pytest.fixture(scope="module")
def cases():
    document = json.loads(testvectors.path_for(PENGUINS_MODEL).read_text())
    return document["cases"], document["atol"]


def test_the_model_describes_its_columns(penguins):
    assert penguins.metadata[contract.KEY_FORMAT] == 3
    assert [i.name for i in penguins.inputs] == ["features", "categories"]
    assert penguins.opset == 19
    assert penguins.categorical_names == ["island", "sex"]
    assert penguins.numeric_names == ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "year"]
    assert penguins.feature_names[:2] == ["island", "bill_length_mm"]  # the CSV's own column order
    island, sex = (c for c in penguins.columns if c.kind == "categorical")
    assert island.levels == ("Biscoe", "Dream", "Torgersen") and sex.levels == ("female", "male", "")
    assert all(c.imputed for c in penguins.columns if c.kind == "numeric")
    assert "NA" in penguins.na_values


def test_test_vectors_replay_both_as_tensors_and_as_raw_rows(penguins, cases):
    report = testvectors.replay(penguins)
    assert report["status"] == "passed", report
    groups = {case["group"] for case in cases[0]}
    assert {"missing values", "every level", "unseen and empty values", "training data"} <= groups
    assert any(None in case["row"].values() for case in cases[0])  # nulls in the raw rows


def test_dict_rows_with_text_and_nulls_match_pytorch(penguins, cases):
    rows = [case["row"] for case in cases[0]]
    expected = np.array([case["probabilities"] for case in cases[0]])
    atol = cases[1]
    for row, p in zip(rows, expected, strict=True):  # one at a time: the single-row path
        got = penguins.predict_one(row)
        assert list(got) == penguins.classes
        np.testing.assert_allclose(list(got.values()), p, atol=atol)
    np.testing.assert_allclose(penguins.predict_proba(rows), expected, atol=atol)
    # rows as lists in the model's column order, None for missing
    as_lists = [[row[name] for name in penguins.feature_names] for row in rows]
    np.testing.assert_allclose(penguins.predict_proba(as_lists), expected, atol=atol)


def test_text_is_trimmed_and_na_texts_are_missing(penguins):
    base = DREAM
    p = penguins.predict_proba(base)
    np.testing.assert_array_equal(penguins.predict_proba(base | {"island": "  Dream "}), p)
    missing_sex = penguins.predict_proba(base | {"sex": None})
    for same in ("", "NA", " NA ", float("nan")):
        np.testing.assert_array_equal(penguins.predict_proba(base | {"sex": same}), missing_sex)
    missing_length = penguins.predict_proba(base | {"bill_length_mm": None})
    np.testing.assert_array_equal(penguins.predict_proba(base | {"bill_length_mm": float("nan")}), missing_length)
    assert not np.array_equal(missing_sex, p)


def test_unseen_levels_are_scored_and_counted_or_refused(penguins):
    row = DREAM | {"island": "Atlantis"}
    fresh = runtime.load(PENGUINS_MODEL)
    p = fresh.predict_proba([row, row | {"island": "Biscoe"}, row | {"island": "Lemuria"}])
    assert math.isclose(float(p[0].sum()), 1.0, rel_tol=1e-6)
    np.testing.assert_array_equal(p[0], p[2])  # any unseen value: nothing from that column
    assert fresh.unseen_counts == {"island": 2}
    strict = runtime.load(PENGUINS_MODEL, unseen="error")
    with pytest.raises(runtime.UnseenLevelError) as caught:
        strict.predict_one(row)
    assert isinstance(caught.value, runtime.InputError) and caught.value.row == 0
    assert str(caught.value) == (
        "column 'island': 'Atlantis' was not seen in training; known levels: 'Biscoe', 'Dream', 'Torgersen' "
        "(load with unseen='predict' to score it anyway)"
    )
    with pytest.raises(ValueError, match="unseen must be one of predict, error"):
        runtime.load(PENGUINS_MODEL, unseen="ignore")


def test_bad_values_are_named(penguins):
    row = {"island": "Dream", "bill_length_mm": "46", "bill_depth_mm": 17.5, "flipper_length_mm": 192.0}
    row |= {"body_mass_g": 3700.0, "sex": "female", "year": 2008}
    with pytest.raises(runtime.InputError, match=r"row 0, column 1 \('bill_length_mm'\): '46' is a str, not a number"):
        penguins.predict_proba(row)
    with pytest.raises(runtime.InputError, match=r"row 0: missing feature 'year'"):
        penguins.predict_proba({k: v for k, v in row.items() if k != "year"})
    with pytest.raises(runtime.InputError, match=r"row 0, column 5 \('sex'\): \[1\] is a list, not a value"):
        penguins.predict_proba(row | {"bill_length_mm": 46.0, "sex": [1]})
    with pytest.raises(runtime.InputError, match="expected rows of 7 values"):
        penguins.predict_proba(np.zeros((2, 5), dtype=np.float32))
    inf_message = r"row 0, column 1 \('bill_length_mm'\) is inf; features must be finite"
    with pytest.raises(runtime.InputError, match=inf_message):
        penguins.predict_proba(row | {"bill_length_mm": float("inf")})


def test_a_dataframe_of_mixed_dtypes(penguins, cases):
    pd = pytest.importorskip("pandas")
    rows = [case["row"] for case in cases[0]]
    expected = np.array([case["probabilities"] for case in cases[0]])
    frame = pd.DataFrame(rows)
    frame["island"] = frame["island"].astype("category")
    frame["sex"] = frame["sex"].astype("string")  # pd.NA for missing
    frame["year"] = frame["year"].astype("Float64")
    frame = frame[list(reversed(frame.columns))].assign(other="ignored")
    np.testing.assert_allclose(penguins.predict_proba(frame), expected, atol=cases[1])


def _predict(*args, input=None):
    return CliRunner().invoke(main, ["predict", *map(str, args)], input=input)


@pytest.mark.parametrize("engine", ["python", "pyarrow"])
def test_predict_scores_the_raw_penguins_csv(tmp_path, penguins, engine):
    if engine == "pyarrow" and not has_pyarrow():
        pytest.skip("pyarrow is not installed (the 'fast' extra)")
    out = tmp_path / f"{engine}.csv"
    result = _predict(PENGUINS_MODEL, PENGUINS_CSV, "--engine", engine, "--keep", "species", "-o", out)
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert len(rows) == 344
    assert sum(r["species"] == r["label"] for r in rows) >= 340
    # the same rows through the Python API, as dicts read by the csv module (NA -> None, numbers parsed)
    with open(PENGUINS_CSV, newline="") as handle:
        raw = list(csv.DictReader(handle))
    records = [
        {
            name: (None if row[name] == "NA" else row[name] if name in ("island", "sex") else float(row[name]))
            for name in penguins.feature_names
        }
        for row in raw
    ]
    expected = penguins.predict_proba(records)
    got = np.array([[float(r[f"p_{c}"]) for c in penguins.classes] for r in rows])
    np.testing.assert_array_equal(got.astype(np.float32), expected)


def test_both_engines_write_the_same_bytes(tmp_path):
    if not has_pyarrow():
        pytest.skip("pyarrow is not installed (the 'fast' extra)")
    outputs = []
    for engine in ("python", "pyarrow"):
        out = tmp_path / f"{engine}.csv"
        assert _predict(PENGUINS_MODEL, PENGUINS_CSV, "--engine", engine, "-o", out).exit_code == 0
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]


def test_predict_jsonl_with_text_and_nulls(penguins, cases):
    rows = [case["row"] for case in cases[0]]
    text = "\n".join(json.dumps(row) for row in rows) + "\n"
    result = _predict(PENGUINS_MODEL, "-", "--format", "csv", input=text)
    assert result.exit_code == 0, result.output
    got = np.array([[float(v) for v in line.split(",")[1:]] for line in result.stdout.strip().splitlines()[1:]])
    np.testing.assert_allclose(got, [case["probabilities"] for case in cases[0]], atol=cases[1])


def test_predict_counts_unseen_levels_or_refuses_them(tmp_path):
    lines = PENGUINS_CSV.read_text().splitlines()
    lines[5] = lines[5].replace("Torgersen", "Atlantis", 1)
    data = tmp_path / "unseen.csv"
    data.write_text("\n".join(lines) + "\n")
    result = _predict(PENGUINS_MODEL, data, "-o", tmp_path / "o.csv")
    assert result.exit_code == 0, result.output
    assert "has values not seen in training" in result.stderr and "island 1" in result.stderr
    result = _predict(PENGUINS_MODEL, data, "--unseen", "error", "-o", tmp_path / "o2.csv")
    assert result.exit_code == 2
    assert f"{data}:6: column 'island': 'Atlantis' was not seen in training" in result.stderr
    assert not (tmp_path / "o2.csv").exists()


def test_a_missing_value_is_an_error_for_a_model_without_imputation(example_path):
    model = runtime.load(example_path)  # the committed format-1 example: no imputation
    row = np.full(model.n_features, 10.0, dtype=np.float32)
    row[2] = np.nan
    with pytest.raises(runtime.InputError, match=r"column 2 \('mean_perimeter'\) is nan; features must be finite"):
        model.predict_one(row)
    with pytest.raises(runtime.InputError, match="missing"):
        model.predict_proba({name: None for name in model.feature_names})


def test_a_portable_graphs_codes_follow_the_contracts_rule():
    """contract.CATEGORY_CODES: a column's levels then its other levels from 0, -1 for "" (missing), -2 unseen; a
    level that is "" keeps its own code."""
    from logreg_onnx.runtime.categorical import codes_of

    island = contract.ColumnSpec("island", "categorical", levels=("Biscoe", "Dream"), other=("Torgersen",))
    odd = contract.ColumnSpec("odd", "categorical", levels=("", "x"))
    tables = [contract.code_table(island), contract.code_table(odd)]
    texts = np.array([["Dream", ""], ["Torgersen", "x"], ["", "y"], ["Atlantis", ""]], dtype=object)
    assert codes_of(texts, tables).tolist() == [[1, 0], [2, 1], [-1, -2], [-2, 0]]
    assert (contract.CODE_MISSING, contract.CODE_UNSEEN) == (-1, -2)
