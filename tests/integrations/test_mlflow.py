"""logreg_onnx.mlflow and ``logreg train --mlflow``: a logged model, loaded back by MLflow's own
``mlflow.pyfunc.load_model``, scores as ``runtime.load`` does on the same file; a logged run holds the params and
metrics of its metrics.json, as ``MlflowClient().get_run`` returns them; without mlflow, one line and exit 2."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import textwrap

import mlflow  # the 'mlflow' extra: make install puts it in .venv
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from logreg_onnx import mlflow as lm
from logreg_onnx import runtime
from logreg_onnx.cli import main

from ..conftest import BREAST_CANCER, PENGUINS


@pytest.fixture
def tracking_uri(tmp_path, monkeypatch):
    """A fresh sqlite tracking store under tmp_path (MLflow 3's local store), unset again afterwards; the working
    folder is tmp_path too, where a sqlite store keeps its artifacts (./mlruns)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    yield uri
    mlflow.set_tracking_uri(None)  # back to MLflow's own resolution (set_tracking_uri also set the variable)


def _expected_frame(model_path, data):
    """The reference: runtime.load on the same file, the same rows."""
    model = runtime.load(model_path)
    return model.classes, model.predict_proba(data), model.predict(data)


@pytest.mark.parametrize(
    ("run_fixture", "data"), [("penguins_run_master", PENGUINS), ("binary_run_master", BREAST_CANCER)]
)
def test_a_logged_model_loaded_by_mlflow_scores_as_the_runtime(request, tracking_uri, run_fixture, data):
    run_dir = request.getfixturevalue(run_fixture)
    info = lm.log_model(run_dir / "model.onnx", registered_model_name=f"logreg-{run_dir.parent.name}")
    frame = pd.read_csv(data)  # as a user reads it: the penguins' NA cells are NaN, year is int64
    loaded = mlflow.pyfunc.load_model(info.model_uri)
    predicted = loaded.predict(frame)
    classes, probabilities, labels = _expected_frame(run_dir / "model.onnx", frame)
    assert list(predicted.columns) == ["label", *(f"p_{name}" for name in classes)]
    columns = [f"p_{name}" for name in classes]
    np.testing.assert_allclose(predicted[columns].to_numpy(), probabilities, rtol=0, atol=1e-6)
    assert predicted["label"].tolist() == labels.tolist()
    # the registered version is the same model
    registered = mlflow.pyfunc.load_model(f"models:/logreg-{run_dir.parent.name}/1")
    np.testing.assert_allclose(registered.predict(frame.head(20)).iloc[:, 1:].to_numpy(), probabilities[:20], atol=1e-6)
    # what MLflow would install to serve it: the runtime's dependencies, not torch
    with open(mlflow.pyfunc.get_model_dependencies(info.model_uri)) as handle:
        requirements = handle.read()
    assert "onnxruntime" in requirements and "logreg-onnx" in requirements
    assert "torch" not in requirements and "onnx\n" not in requirements
    # the signature: the columns by name, categorical ones strings
    schema = loaded.metadata.get_input_schema()
    model = runtime.load(run_dir / "model.onnx")
    assert schema.input_names() == [column.name for column in model.columns]
    kinds = {c.name: str(t) for c, t in zip(model.columns, schema.input_types(), strict=True)}
    assert all(("string" in kinds[c.name]) == (c.kind == "categorical") for c in model.columns), kinds


def test_the_logged_model_carries_the_files_beside_it(tracking_uri, penguins_run_master, tmp_path):
    info = lm.log_model(penguins_run_master / "model.onnx")
    folder = mlflow.artifacts.download_artifacts(info.model_uri, dst_path=str(tmp_path / "download"))
    names = {path.name for path in (tmp_path / "download").rglob("*") if path.is_file()}
    # lm.PARITY_FILE is the name the exporter writes: the run directory has it
    assert (penguins_run_master / lm.PARITY_FILE).is_file()
    assert {"model.onnx", "model.testvectors.json", lm.PARITY_FILE, "metrics.json"} <= names, names
    copied = next((tmp_path / "download").rglob("model.onnx")).read_bytes()
    assert copied == (penguins_run_master / "model.onnx").read_bytes(), folder


def test_the_pyfunc_loads_and_scores_without_torch(tracking_uri, penguins_run_master):
    info = lm.log_model(penguins_run_master / "model.onnx")
    script = textwrap.dedent(
        f"""
        import sys
        for name in ("torch", "onnx", "onnxscript", "matplotlib"):
            sys.modules[name] = None  # as in an install without the 'train' extra
        import mlflow, pandas
        mlflow.set_tracking_uri({tracking_uri!r})
        model = mlflow.pyfunc.load_model({info.model_uri!r})
        print(model.predict(pandas.read_csv({str(PENGUINS)!r})).to_json(orient="split"))
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    predicted = pd.read_json(io.StringIO(result.stdout.strip().splitlines()[-1]), orient="split")
    _, probabilities, labels = _expected_frame(penguins_run_master / "model.onnx", pd.read_csv(PENGUINS))
    np.testing.assert_allclose(predicted.iloc[:, 1:].to_numpy(), probabilities, atol=1e-6)
    assert predicted["label"].tolist() == labels.tolist()


def test_train_with_mlflow_logs_params_metrics_history_and_model(tracking_uri, tmp_path):
    run_dir = tmp_path / "run"
    args = ["train", str(BREAST_CANCER), "--label", "diagnosis", "--out", str(run_dir), "-q", "--export", "--report"]
    result = CliRunner().invoke(main, [*args, "--mlflow", tracking_uri])
    assert result.exit_code == 0, result.output
    document = json.loads((run_dir / "metrics.json").read_text())
    client = mlflow.MlflowClient(tracking_uri)
    (found,) = client.search_runs(experiment_ids=["0"])
    assert f"logged to MLflow: run {found.info.run_id} at {tracking_uri}" in result.output
    run = client.get_run(found.info.run_id)
    params = run.data.params
    for name, value in {**document["options"], **document["read"]}.items():
        expected = ",".join(map(str, value)) if isinstance(value, list) else str(value)
        assert params[name] == expected, name
    metrics = run.data.metrics
    for block in ("train", "validation"):
        for name in ("log_loss", "accuracy", "roc_auc", "f1"):
            assert metrics[f"{block}.{name}"] == pytest.approx(document[block][name], rel=1e-12), (block, name)
        assert metrics[f"{block}.calibration.brier"] == pytest.approx(document[block]["calibration"]["brier"])
    assert metrics["threshold.value"] == pytest.approx(document["threshold"]["value"])
    with open(run_dir / "history.csv", newline="") as handle:
        history = list(csv.DictReader(handle))
    logged = client.get_metric_history(run.info.run_id, "val_loss")
    assert [m.step for m in logged] == [int(row["epoch"]) for row in history]
    np.testing.assert_allclose([m.value for m in logged], [float(row["val_loss"]) for row in history], rtol=1e-12)
    artifacts = {f.path for f in client.list_artifacts(run.info.run_id)}
    assert {"metrics.json", "history.csv", "training.png", "roc.png", "report.html"} <= artifacts, artifacts
    assert run.data.tags["logreg_onnx.data.sha256"] == document["data"]["sha256"]
    (model,) = mlflow.search_logged_models(filter_string=f"source_run_id = '{run.info.run_id}'", output_format="list")
    frame = pd.read_csv(BREAST_CANCER)
    predicted = mlflow.pyfunc.load_model(model.model_uri).predict(frame)
    _, probabilities, labels = _expected_frame(run_dir / "model.onnx", frame)
    np.testing.assert_allclose(predicted[["p_benign", "p_malignant"]].to_numpy(), probabilities, atol=1e-6)
    assert predicted["label"].tolist() == labels.tolist()


def test_mlflow_without_a_uri_uses_mlflows_default_store(binary_run_master, tmp_path, monkeypatch):
    """No URI: MLflow's own resolution, which with nothing set is sqlite:///mlflow.db in the working folder."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    script = f"from logreg_onnx.mlflow import log_run; print(log_run({str(binary_run_master)!r}))"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    run_id = result.stdout.strip().splitlines()[-1]
    assert (tmp_path / "mlflow.db").is_file()
    run = mlflow.MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}").get_run(run_id)
    assert run.data.params["label"] == "diagnosis"


BLOCKED_MLFLOW = """
import sys
sys.modules["mlflow"] = None  # as in an install without the 'mlflow' extra
sys.argv[0] = "logreg"
from logreg_onnx.cli import run
run()
"""


def test_without_the_extra_train_mlflow_says_what_to_install(tmp_path):
    args = ["train", str(BREAST_CANCER), "--label", "diagnosis", "--out", str(tmp_path / "run"), "--mlflow"]
    result = subprocess.run([sys.executable, "-c", BLOCKED_MLFLOW, *args], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert result.stderr == (
        "Error: this command needs mlflow, which is not installed; install the 'mlflow' extra: pip install "
        "'.[mlflow]' in the repository's folder\n"
    )
    assert not (tmp_path / "run").exists()  # checked before training
    script = 'import sys; sys.modules["mlflow"] = None\nimport logreg_onnx.mlflow'
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "install the 'mlflow' extra: pip install '.[mlflow]'" in result.stderr.splitlines()[-1]
