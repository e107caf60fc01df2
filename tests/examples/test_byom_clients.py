"""Models brought from PyTorch and scikit-learn, served and replayed as the toolkit's own: the Node.js client checks
their test vectors (format 3: the explain outputs too), predicts what Python predicts and explains as the Python runtime
explains, the browser page too, and `logreg serve` (a real server on a loopback port) answers what the user's own
object answers."""

from __future__ import annotations

import json
import urllib.request
import warnings

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("sklearn")

from logreg_onnx import runtime

from ..conftest import PENGUINS
from ..runtime.serving import running_server
from .conftest import assert_same_explanations, csv_rows, npm_install
from .test_node import NODE_DIR, _node


@pytest.fixture(scope="module")
def node_cli():
    npm_install(NODE_DIR)
    return NODE_DIR / "cli.js"


@pytest.fixture(scope="module")
def penguins_pipeline(tmp_path_factory):
    """A scikit-learn pipeline on the raw penguins CSV (text columns, NA cells), exported; (path, pipeline, rows)."""
    import pandas as pd
    from logreg_onnx.exporter import export
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    frame = pd.read_csv(PENGUINS)
    species = frame.pop("species")
    numeric = [c for c in frame.columns if frame[c].dtype.kind in "fi"]
    text = [c for c in frame.columns if c not in numeric]
    columns = ColumnTransformer(
        [
            ("numbers", make_pipeline(SimpleImputer(strategy="median", add_indicator=True), StandardScaler()), numeric),
            (
                "text",
                make_pipeline(SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore")),
                text,
            ),
        ]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipeline = make_pipeline(columns, LogisticRegression(max_iter=5000)).fit(frame, species)
    path = tmp_path_factory.mktemp("sklearn") / "penguins.onnx"
    export(pipeline, path)
    return path, pipeline, frame


def _models(tutorial_models_master, penguins_pipeline) -> dict:
    """name -> (model path, a CSV of rows, the user's probabilities for that CSV's rows, class names in order)"""
    import pandas as pd
    import torch

    models = {}
    for name in ("tutorial binary", "tutorial softmax"):
        path, rows, module, (mean, scale) = tutorial_models_master[name]
        X = pd.read_csv(rows).to_numpy(dtype=np.float64)
        x = X if mean is None else (X - mean) / scale
        with torch.no_grad():
            out = module(torch.from_numpy(x.astype(np.float32))).double().numpy()
        models[name] = (path, rows, np.concatenate([1 - out, out], axis=1) if out.shape[1] == 1 else out)
    path, pipeline, frame = penguins_pipeline
    models["scikit-learn penguins"] = (path, PENGUINS, pipeline.predict_proba(frame))
    return models


@pytest.mark.parametrize("which", ["tutorial binary", "tutorial softmax", "scikit-learn penguins"])
def test_node_replays_a_brought_model_and_predicts_what_its_own_object_does(
    which, node_cli, tutorial_models_master, penguins_pipeline
):
    path, rows, expected = _models(tutorial_models_master, penguins_pipeline)[which]
    check = _node(node_cli, "check", path)
    assert check.returncode == 0, check.stdout + check.stderr
    listed = json.loads(path.with_suffix(".testvectors.json").read_text())["outputs"]
    assert "contributions" in listed and f"cases passed (inputs and rows; outputs {', '.join(listed)})" in check.stdout
    predicted = _node(node_cli, "predict", path, rows)
    assert predicted.returncode == 0, predicted.stderr
    model = runtime.load(path)
    classes = model.classes
    got = np.array([[json.loads(line)["probabilities"][c] for c in classes] for line in predicted.stdout.splitlines()])
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, atol=1e-6)
    explained = _node(node_cli, "predict", path, rows, "--explain", "3")
    assert explained.returncode == 0, explained.stderr
    python = model.explain(csv_rows(rows, "species" if which == "scikit-learn penguins" else None), top=3)
    assert_same_explanations([json.loads(line) for line in explained.stdout.splitlines()], python)


@pytest.mark.parametrize("which", ["tutorial softmax", "scikit-learn penguins"])
def test_logreg_serve_answers_what_the_users_object_answers(which, tutorial_models_master, penguins_pipeline):
    import pandas as pd

    path, rows, expected = _models(tutorial_models_master, penguins_pipeline)[which]
    frame = pd.read_csv(rows)
    instances = [
        {k: (None if v != v else v) for k, v in row.items() if k != "species"}
        for row in frame.to_dict(orient="records")
    ]
    with running_server(str(path)) as (url, _):
        request = urllib.request.Request(
            f"{url}/v2/models/{path.stem}/predict",
            data=json.dumps({"instances": instances}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            answer = json.loads(response.read())["predictions"]
    classes = runtime.load(path).classes
    got = np.array([[p["probabilities"][c] for c in classes] for p in answer])
    np.testing.assert_allclose(got, expected, atol=1e-6)
    assert [p["label"] for p in answer] == [classes[i] for i in expected.argmax(axis=1)]


def test_the_browser_page_scores_a_scikit_learn_pipeline_as_the_pipeline_does(penguins_pipeline, tmp_path):
    import pandas as pd

    from .conftest import browser_ready
    from .test_browser import _drive, _serve, assert_explanation_shown

    driver = browser_ready() / "drive.mjs"
    path, pipeline, _ = penguins_pipeline
    csv = tmp_path / "penguins-60.csv"
    csv.write_text("".join(PENGUINS.read_text().splitlines(keepends=True)[:61]))
    row = {"island": "Dream", "bill_length_mm": 46.0, "bill_depth_mm": None, "flipper_length_mm": 192}
    row |= {"body_mass_g": 3700, "sex": "", "year": 2008}
    process, base = _serve("--model", str(path))
    try:
        seen = _drive(driver, f"{base}/browser/?model={path.stem}", row, csv, "sklearn-penguins", tmp_path)
    finally:
        process.kill()
    classes = runtime.load(path).classes
    frame = pd.DataFrame([{k: (np.nan if v in (None, "") else v) for k, v in row.items()}])
    expected = pipeline.predict_proba(frame)[0]
    shown = dict(seen["form"])
    np.testing.assert_allclose([shown[c] for c in classes], expected, atol=1e-6)
    rows = pd.read_csv(csv).drop(columns=["species"])
    assert len(seen["csv"]) == 60
    np.testing.assert_allclose([p for _, p in seen["csv"]], pipeline.predict_proba(rows), atol=1e-6)
    assert [label for label, _ in seen["csv"]] == list(pipeline.predict(rows))
    # the bars: the Python runtime's explanation of the same row (the pipeline has no contributions of its own)
    assert seen["explain"] is not None
    assert_explanation_shown(seen, runtime.load(path), row | {"bill_depth_mm": None, "sex": None})


@pytest.mark.parametrize("engine", ["tract", "openvino"])
@pytest.mark.parametrize("which", ["tutorial binary", "tutorial softmax"])
def test_the_edge_engines_replay_a_pytorch_tutorial_model(engine, which, tutorial_models_master):
    from .test_engines import _replay

    report = _replay(engine, tutorial_models_master[which][0])
    assert report["passed"], report
    assert report["cases"] > 20 and report["max_abs_diff"] < 1e-5


def test_the_c_header_of_a_pytorch_tutorial_model_is_compiled_and_replayed(tutorial_models_master, tmp_path):
    import shutil

    from logreg_onnx.exporter import export

    if shutil.which("cc") is None and shutil.which("gcc") is None:
        pytest.skip("no C compiler: apt-get install gcc")
    _, _, module, (mean, scale) = tutorial_models_master["tutorial binary"]
    result = export(module, tmp_path / "m.onnx", mean=mean, scale=scale, c=True)
    (proof,) = [r for r in result.report.results if r["runtime"].startswith("C99 model.h")]
    assert proof["passed"] and proof["max_abs_diff"] < 1e-5, proof
    assert (tmp_path / "m.h").read_text().count("logreg_predict") >= 2
