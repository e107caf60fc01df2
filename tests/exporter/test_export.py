"""The exported file: contract, metadata, one self-contained file, values equal to an independent computation."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from logreg_onnx.runtime import contract
from logreg_onnx.trainer.engine.model import load_model
from onnx.reference import ReferenceEvaluator

from ..conftest import BREAST_CANCER


def _session(path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def _numpy_probabilities(run) -> callable:
    """The model's arithmetic redone in float64 numpy from model.pt's tensors: independent of torch and ONNX."""
    payload = torch.load(run / "model.pt", weights_only=True)
    state = {k: v.double().numpy() for k, v in payload["state_dict"].items()}
    W, b = state["linear.weight"], state["linear.bias"]
    # numeric runs: a missing value (NaN) takes the training median written in the run's metrics.json
    medians = np.array([c["median"] for c in json.loads((run / "metrics.json").read_text())["data"]["columns"]])

    def probabilities(X):
        X = np.where(np.isnan(X), medians, X)
        z = ((X - state["mean"]) / state["scale"]) @ W.T + b
        if W.shape[0] == 1:
            z = np.concatenate([np.zeros_like(z), z], axis=1)
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)

    return probabilities


@pytest.mark.parametrize("which", ["binary", "multiclass"])
def test_file_follows_the_contract(which, binary_run, multiclass_run):
    run = binary_run if which == "binary" else multiclass_run
    path = run / "model.onnx"
    assert not list(run.glob("*.data")), "weights must be inside the one file"
    proto = onnx.load(path)
    onnx.checker.check_model(proto, full_check=True)
    onnx.shape_inference.infer_shapes(proto, check_type=True, strict_mode=True)
    assert all(t.data_location != onnx.TensorProto.EXTERNAL for t in proto.graph.initializer)
    metadata = {p.key: p.value for p in proto.metadata_props}
    n_classes = len(json.loads(metadata["class_names"]))
    explain = json.loads(metadata["explain"])
    assert metadata["logreg_onnx_format"] == "3"
    assert [o.name for o in proto.graph.output] == ["label", "probabilities", "logit", "contributions"] + (
        ["logit_se"] + (["probability_lower", "probability_upper"] if n_classes == 2 else [])
        if explain["intervals"]
        else []
    )
    assert [op.version for op in proto.opset_import if op.domain == ""] == [18]
    # imputation (IsNaN, Where), the linear model and the explain outputs: operators every engine we test runs at 18
    assert {n.op_type for n in proto.graph.node} <= {
        "IsNaN", "Where", "Sub", "Div", "Gemm", "Softmax", "ArgMax",
        "Slice", "Unsqueeze", "Mul", "MatMul", "Add", "ReduceSum", "Sqrt", "Transpose", "Gather", "Neg", "Exp",
        "Reciprocal",
    }  # fmt: skip
    session = _session(path)
    (features,) = session.get_inputs()
    metrics = json.loads((run / "metrics.json").read_text())
    n_features, n_classes = len(metrics["feature_names"]), len(metrics["class_names"])
    assert (features.name, features.type, features.shape[1]) == ("features", "tensor(float)", n_features)
    assert isinstance(features.shape[0], str)  # symbolic: the batch is dynamic
    label, probabilities, *_ = session.get_outputs()
    assert (label.name, label.type, len(label.shape)) == ("label", "tensor(int64)", 1)
    assert (probabilities.name, probabilities.type, probabilities.shape[1]) == (
        "probabilities",
        "tensor(float)",
        n_classes,
    )

    meta = session.get_modelmeta()
    props = meta.custom_metadata_map
    assert json.loads(props["feature_names"]) == metrics["feature_names"]
    assert json.loads(props["class_names"]) == metrics["class_names"]
    assert props["threshold"] == "0.5"
    assert props["model_sha256"] == hashlib.sha256((run / "model.pt").read_bytes()).hexdigest()
    assert json.loads(props["metrics"])["train"]["log_loss"] == metrics["train"]["log_loss"]
    versions = json.loads(props["versions"])
    assert versions["torch"] == torch.__version__ and versions["onnx"] == onnx.__version__ and versions["logreg-onnx"]
    assert props[contract.KEY_FORMAT] == contract.FORMAT_VERSION
    assert meta.producer_name == "logreg-onnx"
    assert f"float32 [batch, {n_features}]" in meta.description and metrics["feature_names"][0] in meta.description
    assert all(not n.metadata_props and not n.doc_string for n in proto.graph.node), "no stack traces or paths"


@pytest.mark.parametrize("which", ["binary", "multiclass"])
def test_values_equal_an_independent_float64_computation(which, binary_run, multiclass_run):
    run = binary_run if which == "binary" else multiclass_run
    model, _ = load_model(run / "model.pt")
    rng = np.random.default_rng(0)
    X = (model.mean.numpy() + model.scale.numpy() * rng.standard_normal((500, model.n_features))).astype(np.float32)
    expected = _numpy_probabilities(run)(X.astype(np.float64))
    label, probabilities = _session(run / "model.onnx").run(["label", "probabilities"], {"features": X})
    np.testing.assert_allclose(probabilities, expected, atol=2e-6, rtol=1e-5)
    clear = np.sort(expected, axis=1)[:, -1] - np.sort(expected, axis=1)[:, -2] > 1e-5
    assert np.array_equal(label[clear], expected.argmax(axis=1)[clear])
    reference_label, reference_p = ReferenceEvaluator(str(run / "model.onnx")).run(
        ["label", "probabilities"], {"features": X}
    )
    np.testing.assert_allclose(reference_p, expected, atol=2e-6, rtol=1e-5)
    assert np.array_equal(reference_label[clear], expected.argmax(axis=1)[clear])


@pytest.mark.parametrize("which", ["binary", "multiclass"])
def test_extreme_logits_stay_probabilities(which, binary_run, multiclass_run):
    run = binary_run if which == "binary" else multiclass_run
    model, _ = load_model(run / "model.pt")
    W = model.linear.weight.detach().double().numpy()
    mean, scale = model.mean.double().numpy(), model.scale.double().numpy()
    rows = []
    for target in (100, 150, 500, 1e4, 1e6):
        for sign in (1, -1):
            direction = W[0] if W.shape[0] == 1 else W[1] - W.mean(axis=0)
            rows.append(mean + scale * sign * target * direction / (direction @ direction))
    X = np.array(rows, dtype=np.float32)
    z = ((X.astype(np.float64) - mean) / scale) @ W.T
    assert np.abs(z).max() > 100
    label, p = _session(run / "model.onnx").run(["label", "probabilities"], {"features": X})
    assert p.min() >= 0.0 and p.max() <= 1.0
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-6)
    np.testing.assert_array_equal(label, p.argmax(axis=1))


def test_dynamic_batch_sizes(binary_run):
    session = _session(binary_run / "model.onnx")
    X = np.random.default_rng(1).normal(10, 5, size=(5000, 30)).astype(np.float32)
    _, full = session.run(["label", "probabilities"], {"features": X})
    for n in (1, 2, 3, 4999):
        _, part = session.run(["label", "probabilities"], {"features": X[:n]})
        np.testing.assert_allclose(part, full[:n], atol=1e-7)


@pytest.mark.parametrize("which", ["binary", "multiclass"])
def test_test_vectors_replay(which, binary_run, multiclass_run):
    import jsonschema

    run = binary_run if which == "binary" else multiclass_run
    vectors = json.loads((run / "model.testvectors.json").read_text())
    jsonschema.validate(vectors, contract.TESTVECTORS_SCHEMA)
    assert vectors["model_sha256"] == hashlib.sha256((run / "model.onnx").read_bytes()).hexdigest()
    groups = {c["group"] for c in vectors["cases"]}
    assert {"random x1", "near boundary", "saturated"} <= groups
    # the synthetic multiclass model's all-zero rows lie 2,000 spreads from its first feature's mean: float32 cannot
    # carry their logits against the reference class to the vectors' 1e-5 (relative), so they are left out
    assert ("all zeros" in groups) == (which == "binary")
    X = np.array([[np.nan if v is None else v for v in c["features"]] for c in vectors["cases"]], dtype=np.float32)
    label, p = _session(run / "model.onnx").run(["label", "probabilities"], {"features": X})
    np.testing.assert_allclose(p, [c["probabilities"] for c in vectors["cases"]], atol=vectors["atol"])
    np.testing.assert_array_equal(label, [c["label"] for c in vectors["cases"]])
    expected = _numpy_probabilities(run)(X.astype(np.float64))
    np.testing.assert_allclose([c["probabilities"] for c in vectors["cases"]], expected, atol=vectors["atol"])


def test_parity_report_covers_the_training_rows_and_every_batch_size(binary_run):
    report = json.loads((binary_run / "parity.json").read_text())
    assert report["probes"]["training data"] == 569  # the run's own rows, re-read from the unchanged CSV
    runtimes = {(r["runtime"], r["batch"]) for r in report["results"]}
    assert {
        ("runtime.load (onnxruntime)", "1"),
        ("runtime.load (onnxruntime)", "2"),
        ("onnx.reference", "1"),
    } <= runtimes
    assert any(int(batch) > 1000 for _, batch in runtimes)
    # the report's numbers are the real ones: recompute the largest difference on the training rows independently
    from logreg_onnx.trainer.data.dataset import load_dataset
    from logreg_onnx.trainer.options import ReadOptions

    from logreg_onnx import runtime

    X = load_dataset(BREAST_CANCER, ReadOptions(label="diagnosis")).X
    expected = _numpy_probabilities(binary_run)(X.astype(np.float64))
    got = runtime.load(binary_run / "model.onnx").predict_proba(X)
    largest = max(r["max_abs"] for r in report["results"] if r["output"] == "probabilities" and r["batch"] != "1")
    assert np.abs(got - expected).max() <= largest + 1e-6
