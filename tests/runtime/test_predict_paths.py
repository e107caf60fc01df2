"""Every way of asking for a prediction gives the same labels and probabilities (issue 18, structure point 4).

One dict, a list of dicts, a 2-D array, a DataFrame, the server's V2 infer and /predict, and ``logreg predict`` (CSV
and JSON lines), on a numeric model, a text-only one, a mixed one, a binary one exported with ``--threshold 0.3``
and a multiclass one. The reference is onnx's ReferenceEvaluator run on graph inputs this test builds itself from the
raw rows, never the runtime's own output read back.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from logreg_onnx import runtime
from logreg_onnx.cli import main

from ..conftest import PENGUINS, REPO, write_csv
from .asgi import asgi

onnx = pytest.importorskip("onnx")
pytest.importorskip("torch")  # the text-only, threshold and multiclass models are trained here
pytest.importorskip("starlette")

ATOL = 1e-6  # onnxruntime against onnx's reference evaluator, both float32
THRESHOLD = 0.3


def _train(folder: Path, data: Path, *args: str) -> Path:
    result = CliRunner().invoke(main, ["train", str(data), *args, "--out", str(folder), "-q", "--export"])
    assert result.exit_code == 0, result.output
    return folder / "model.onnx"


def _threshold_data(path: Path) -> Path:
    """A binary problem with one number and one text column, where p(second class) spans 0..1."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=400)
    c = rng.choice(["a", "b", "c"], size=400)
    logit = 1.5 * x + np.select([c == "a", c == "b"], [-0.5, 0.3], 1.0) - 0.2
    y = np.where(rng.random(400) < 1 / (1 + np.exp(-logit)), "yes", "no")
    return write_csv(path, ["x", "c", "y"], [[repr(float(v)), t, k] for v, t, k in zip(x, c, y, strict=True)])


def _multiclass_data(path: Path) -> Path:
    rng = np.random.default_rng(5)
    X = rng.normal(size=(450, 3)) * [1.0, 10.0, 0.1]
    logits = X @ np.array([[1.0, 0.1, -5.0], [-1.0, 0.05, 5.0], [0.2, -0.1, 0.0]]).T
    P = np.exp(logits - logits.max(axis=1, keepdims=True))
    P /= P.sum(axis=1, keepdims=True)
    y = np.array([rng.choice(["red", "green", "blue"], p=p) for p in P])
    return write_csv(
        path, ["x0", "x1", "x2", "y"], [[*map(repr, row), k] for row, k in zip(X.tolist(), y, strict=True)]
    )


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("paths")
    return {
        "numeric": REPO / "artifacts" / "example" / "model.onnx",
        "mixed": REPO / "artifacts" / "example-penguins" / "model.onnx",
        "text-only": _train(folder / "text", PENGUINS, "--label", "species", "--features", "island,sex"),
        "threshold 0.3": _train(
            folder / "threshold",
            _threshold_data(folder / "threshold.csv"),
            "--label",
            "y",
            "--threshold",
            str(THRESHOLD),
        ),
        "multiclass": _train(folder / "multiclass", _multiclass_data(folder / "multiclass.csv"), "--label", "y"),
    }


def _rows(model: runtime.Model) -> list[dict]:
    """Raw rows as users send them: the model's test-vector inputs by column name (None for a missing value), and
    for the threshold model a grid that crosses the 0.3 threshold in every level."""
    vectors = json.loads(model.path.with_name(model.path.stem + ".testvectors.json").read_text())
    rows = []
    for case in vectors["cases"]:
        row = {n: (None if v is None else v) for n, v in zip(model.numeric_names, case["features"], strict=True)}
        texts = case.get("categories", [])
        row |= {n: (t if t != "" else None) for n, t in zip(model.categorical_names, texts, strict=True)}
        rows.append({name: row[name] for name in model.feature_names})
    if model.threshold != 0.5:
        rows += [{"x": float(x), "c": c} for c in ("a", "b", "c") for x in np.linspace(-2, 2, 41)]
    return rows


def _graph_inputs(model: runtime.Model, rows: list[dict]) -> dict[str, np.ndarray]:
    """The graph's inputs, built here from the contract's words (runtime/contract.py), not by the runtime."""
    feed = {}
    if model.numeric_names:
        feed["features"] = np.array(
            [[np.nan if r[n] is None else r[n] for n in model.numeric_names] for r in rows], dtype=np.float32
        )
    if model.categorical_names:
        feed["categories"] = np.array(
            [["" if r[n] is None else str(r[n]).strip() for n in model.categorical_names] for r in rows], dtype=object
        )
    return feed


def _reference(path: Path, feed: dict) -> tuple[np.ndarray, np.ndarray]:
    from onnx.reference import ReferenceEvaluator

    labels, probabilities = ReferenceEvaluator(onnx.load(path)).run(["label", "probabilities"], feed)
    return np.asarray(labels, dtype=np.int64), np.asarray(probabilities, dtype=np.float64)


def _from_predictions(model: runtime.Model, predictions: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    labels = np.array([model.classes.index(p["label"]) for p in predictions])
    return labels, np.array([[p["probabilities"][c] for c in model.classes] for p in predictions])


def _from_output(model: runtime.Model, text: str, jsonl: bool) -> tuple[np.ndarray, np.ndarray]:
    records = [json.loads(line) for line in text.splitlines()] if jsonl else list(csv.DictReader(io.StringIO(text)))
    labels = np.array([model.classes.index(r["label"]) for r in records])
    return labels, np.array([[float(r[f"p_{c}"]) for c in model.classes] for r in records])


def _every_form(model: runtime.Model, rows: list[dict], folder: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(labels, probabilities) of ``rows`` through each input form."""
    import pandas as pd
    from logreg_onnx.runtime.server import create_app

    got = {}
    one = [model.run(row) for row in rows]
    got["one dict: run"] = (np.concatenate([o[0] for o in one]), np.concatenate([o[1] for o in one]))
    got["one dict: predict, predict_proba"] = (
        np.array([model.classes.index(model.predict(row)[0]) for row in rows]),
        np.concatenate([model.predict_proba(row) for row in rows]),
    )
    got["one dict: predict_one"] = (
        got["one dict: run"][0],  # predict_one answers probabilities only
        np.array([[model.predict_one(row)[c] for c in model.classes] for row in rows]),
    )
    got["list of dicts"] = model.run(rows)
    got["list of dicts: predict"] = (
        np.array([model.classes.index(k) for k in model.predict(rows)]),
        got["list of dicts"][1],
    )
    ordered = [[row[name] for name in model.feature_names] for row in rows]
    matrix = np.array(ordered, dtype=np.float32 if not model.categorical_names else object)
    got["2-D array"] = model.run(matrix)
    got["2-D array, one row at a time"] = (
        np.concatenate([model.run(r)[0] for r in matrix]),
        np.concatenate([model.predict_proba(r) for r in matrix]),
    )
    frame = pd.DataFrame(rows).assign(id=range(len(rows)))  # an extra column, ignored
    got["DataFrame"] = model.run(frame)

    app = create_app({"m": model})
    inputs = []
    feed = _graph_inputs(model, rows)
    if "features" in feed:
        data = [None if v != v else v for v in feed["features"].ravel().tolist()]
        inputs.append({"name": "features", "datatype": "FP32", "shape": list(feed["features"].shape), "data": data})
    if "categories" in feed:
        shape = list(feed["categories"].shape)
        inputs.append(
            {"name": "categories", "datatype": "BYTES", "shape": shape, "data": feed["categories"].ravel().tolist()}
        )
    status, answer = asgi(app, "POST", "/v2/models/m/infer", json.dumps({"inputs": inputs}).encode())
    assert status == 200, answer
    outputs = {o["name"]: o for o in answer["outputs"]}
    got["server V2 infer"] = (
        np.array(outputs["label"]["data"]),
        np.array(outputs["probabilities"]["data"]).reshape(outputs["probabilities"]["shape"]),
    )
    status, answer = asgi(app, "POST", "/predict", json.dumps({"instances": rows}).encode())
    assert status == 200, answer
    got["server /predict"] = _from_predictions(model, answer["predictions"])

    header = ["id", *model.feature_names]
    csv_path = write_csv(
        folder / "rows.csv",
        header,
        [
            [
                i,
                *(
                    "" if row[n] is None else repr(row[n]) if isinstance(row[n], float) else row[n]
                    for n in model.feature_names
                ),
            ]
            for i, row in enumerate(rows)
        ],
    )
    jsonl_path = folder / "rows.jsonl"
    jsonl_path.write_text("".join(json.dumps({"id": i, **row}) + "\n" for i, row in enumerate(rows)))
    for name, path, jsonl in (("logreg predict CSV", csv_path, False), ("logreg predict JSON lines", jsonl_path, True)):
        result = CliRunner().invoke(main, ["predict", str(model.path), str(path)])
        assert result.exit_code == 0, result.output
        got[name] = _from_output(model, result.stdout, jsonl)
    return got


@pytest.mark.parametrize("which", ["numeric", "text-only", "mixed", "threshold 0.3", "multiclass"])
def test_every_input_form_gives_the_reference_labels_and_probabilities(which, models, tmp_path):
    pytest.importorskip("pandas")
    model = runtime.load(models[which])
    rows = _rows(model)
    expected_labels, expected = _reference(model.path, _graph_inputs(model, rows))
    if which == "threshold 0.3":
        # the reference's own label is the threshold's (not the argmax), and rows on both sides of 0.3 are probed
        np.testing.assert_array_equal(expected_labels, (expected[:, 1] > THRESHOLD).astype(np.int64))
        assert ((expected[:, 1] > THRESHOLD) & (expected[:, 1] < 0.5)).sum() >= 3
    top = np.sort(expected, axis=1)
    # rows whose label a float32 rounding could flip are compared on probabilities only
    margin = np.abs(expected[:, 1] - model.threshold) if len(model.classes) == 2 else top[:, -1] - top[:, -2]
    decided = margin > 1e-5
    for form, (labels, probabilities) in _every_form(model, rows, tmp_path).items():
        np.testing.assert_allclose(probabilities, expected, atol=ATOL, rtol=0, err_msg=f"{which}: {form}")
        np.testing.assert_array_equal(labels[decided], expected_labels[decided], err_msg=f"{which}: {form}")


def test_the_single_dict_path_takes_the_graphs_label(models):
    """The bug that started this: with --threshold 0.3, one dict answered the argmax and a list the threshold's."""
    model = runtime.load(models["threshold 0.3"])
    row = next(
        {"x": float(x), "c": c}
        for c in ("a", "b", "c")
        for x in np.linspace(-2, 2, 401)
        if THRESHOLD < model.predict_proba([{"x": float(x), "c": c}])[0, 1] < 0.5
    )
    assert model.predict(row)[0] == model.predict([row])[0] == model.classes[1]
    assert model.run(row)[0].tolist() == [1]
    assert model.predict(row, threshold=0.5)[0] == model.classes[0]  # an explicit threshold still overrides
