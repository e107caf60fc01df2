"""Graph contract format 2: the raw Palmer penguins CSV (text columns, NA cells) trained, exported, proven and
scored end to end; verification catches a wrong level or median in the graph; unseen levels and missing values act
the same in PyTorch, onnxruntime and onnx's reference evaluator."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pandas as pd
import pytest
from click.testing import CliRunner
from logreg_onnx.exporter.graph import serialize
from logreg_onnx.exporter.parity import verify_file
from logreg_onnx.exporter.rundir import load_run
from onnx import numpy_helper
from onnx.reference import ReferenceEvaluator

from logreg_onnx import runtime
from logreg_onnx.cli import main

PENGUINS = Path(__file__).resolve().parents[2] / "examples" / "penguins" / "penguins.csv"


def _invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def penguins_run(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("penguins") / "run"
    result = _invoke("train", PENGUINS, "--label", "species", "--out", run, "--export")
    assert result.exit_code == 0, result.output
    assert "2 categorical: island, sex" in result.stderr
    assert "missing values imputed with the training median" in result.stderr
    return run


def test_raw_penguins_train_export_and_predict(penguins_run, tmp_path):
    proto = onnx.load(penguins_run / "model.onnx")
    assert [op.version for op in proto.opset_import if op.domain == ""] == [19]
    assert [i.name for i in proto.graph.input] == ["features", "categories"]
    report = json.loads((penguins_run / "parity.json").read_text())
    assert report["passed"]
    assert {"missing values", "every level", "unseen and empty values"} <= set(report["probes"])
    assert report["probes"]["training data"] == 344

    out = tmp_path / "scored.csv"
    result = _invoke("predict", penguins_run / "model.onnx", PENGUINS, "--keep", "species", "-o", out)
    assert result.exit_code == 0, result.output
    scored = pd.read_csv(out)
    # the reference: the PyTorch model on the same file as pandas reads it (its own parser and NA rules)
    frame = pd.read_csv(PENGUINS)
    run = load_run(penguins_run)
    expected = run.model.probabilities(frame.drop(columns=["species"]))
    got = scored[[f"p_{c}" for c in run.class_names]].to_numpy()
    np.testing.assert_allclose(got, expected, atol=1e-6)
    assert (scored["label"] == frame["species"]).mean() > 0.98


def test_reference_evaluator_agrees_on_missing_and_unseen_values(penguins_run):
    model = runtime.load(penguins_run / "model.onnx")
    evaluator = ReferenceEvaluator(onnx.load(penguins_run / "model.onnx"))
    numeric = np.array([[np.nan, 17.0, np.nan, 4000.0, 2008.0], [39.0, np.nan, 180.0, np.nan, np.nan]], np.float32)
    categories = np.array([["Atlantis", ""], ["", "male"]], dtype=object)
    _, expected = evaluator.run(["label", "probabilities"], {"features": numeric, "categories": categories})
    _, got = model.run_inputs(numeric, categories)
    np.testing.assert_allclose(got, expected, atol=1e-6)
    run = load_run(penguins_run)
    frame = pd.DataFrame(
        {"island": ["Atlantis", None], "bill_length_mm": [None, 39.0], "bill_depth_mm": [17.0, None]}
        | {"flipper_length_mm": [None, 180.0], "body_mass_g": [4000.0, None], "sex": [None, "male"]}
        | {"year": [2008.0, None]}
    )
    np.testing.assert_allclose(run.model.probabilities(frame), expected, atol=1e-6)


def _tampered(proto: onnx.ModelProto, name: str, change) -> onnx.ModelProto:
    copy = onnx.ModelProto()
    copy.CopyFrom(proto)
    tensor = next(t for t in copy.graph.initializer if t.name == name)
    values = numpy_helper.to_array(tensor).copy()
    tensor.CopyFrom(numpy_helper.from_array(change(values), name))
    return copy


@pytest.mark.parametrize(
    ("initializer", "change"),
    [
        ("pre_cat0_levels", lambda v: v[::-1].copy()),  # two island levels swapped
        ("pre_medians_centered", lambda v: v + np.float32(0.05)),  # a median off by 0.05 of its column's unit
        ("pre_centers", lambda v: v * np.float32(1.001)),  # the numeric columns' centering off by 0.1%
    ],
)
def test_verification_catches_a_wrong_level_or_median(penguins_run, tmp_path, initializer, change):
    run = load_run(penguins_run)
    proto = onnx.load(penguins_run / "model.onnx")
    assert any(t.name == initializer for t in proto.graph.initializer)
    path = tmp_path / "tampered.onnx"
    path.write_bytes(serialize(_tampered(proto, initializer, change)))
    report = verify_file(path, run.model, data_rows=run.data_rows())
    assert not report.passed


def test_an_unseen_level_counts_as_other_when_rare_levels_were_folded(tmp_path):
    rng = np.random.default_rng(5)
    n = 400
    city = rng.choice(["paris", "rome", "oslo"], n).astype(object)
    city[:4] = ["bern", "bern", "riga", "riga"]
    x = rng.normal(size=n)
    y = np.where(x + (city == "rome") + rng.normal(size=n) > 0.5, "yes", "no")
    data = tmp_path / "cities.csv"
    pd.DataFrame({"city": city, "x": x, "y": y}).to_csv(data, index=False)
    run = tmp_path / "run"
    result = _invoke("train", data, "--label", "y", "--min-frequency", "3", "--out", run, "-q", "--export")
    assert result.exit_code == 0, result.output
    model = runtime.load(run / "model.onnx")
    (column,) = [c for c in model.columns if c.kind == "categorical"]
    assert column.other == ("bern", "riga")
    p = model.predict_proba([{"city": v, "x": 0.3} for v in ("bern", "riga", "tokyo", "paris")])
    np.testing.assert_array_equal(p[0], p[1])
    np.testing.assert_array_equal(p[0], p[2])  # unseen -> the "other" level
    assert not np.array_equal(p[0], p[3])
    assert model.unseen_counts == {"city": 1}


def test_a_model_trained_without_imputation_has_no_imputation_nodes_and_refuses_nan(tmp_path):
    data = tmp_path / "d.csv"
    rng = np.random.default_rng(2)
    X = rng.normal(size=(200, 3))
    pd.DataFrame(X, columns=["a", "b", "c"]).assign(y=(X[:, 0] > 0).astype(int)).to_csv(data, index=False)
    run = tmp_path / "run"
    assert _invoke("train", data, "--label", "y", "--missing", "error", "--out", run, "-q", "--export").exit_code == 0
    proto = onnx.load(run / "model.onnx")
    operators = {n.op_type for n in proto.graph.node}
    assert not operators & {"IsNaN", "Where", "Equal"}  # the features input is the design matrix itself
    assert {"Sub", "Div", "Gemm", "Softmax", "ArgMax"} <= operators
    assert [op.version for op in proto.opset_import if op.domain == ""] == [18]
    model = runtime.load(run / "model.onnx")
    with pytest.raises(runtime.InputError, match="cannot impute"):
        model.predict_proba({"a": 0.1, "b": None, "c": 0.3})


def test_opset_too_old_for_categorical_columns_is_a_clean_error(penguins_run):
    result = _invoke("export", penguins_run, "--opset", "18", "--out", penguins_run / "old.onnx")
    assert result.exit_code == 2
    assert "--opset 18 is too old for this model: its categorical columns need opset 19" in result.stderr
    assert not (penguins_run / "old.onnx").exists()
