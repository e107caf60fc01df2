"""What guards format 3's explain outputs: the export fails closed on a wrong explain constant, the test-vector replay
fails a wrong, NaN or missing explain value, the predict session is the graph pruned as onnx prunes it, and the
ranking toward the predicted class follows its definition on hand-computed cases."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from logreg_onnx.runtime import contract, testvectors
from logreg_onnx.runtime.explain import ranked, toward_predicted
from logreg_onnx.runtime.prune import without_outputs

from logreg_onnx import exporter, runtime, trainer

sm = pytest.importorskip("statsmodels.api")


def _spector():
    data = sm.datasets.spector.load_pandas()
    return data, sm.Logit(data.endog, sm.add_constant(data.exog)).fit(disp=0)


@pytest.fixture(scope="module")
def spector_model(tmp_path_factory):
    _, results = _spector()
    path = tmp_path_factory.mktemp("spector") / "model.onnx"
    exporter.export(results, path)
    return path


@pytest.mark.parametrize("constant", ["coefficients", "factor_w"])
def test_a_wrong_explain_constant_fails_the_export_and_writes_nothing(constant, tmp_path, monkeypatch):
    from logreg_onnx.exporter import write

    real = write.export_graph

    def tampered(*args, **kwargs):
        proto = real(*args, **kwargs)
        tensor = next(t for t in proto.graph.initializer if t.name == constant)
        values = onnx.numpy_helper.to_array(tensor).copy()
        values.flat[0] *= 1.001  # one value, in its 4th significant digit
        tensor.CopyFrom(onnx.numpy_helper.from_array(values, name=constant))
        return proto

    monkeypatch.setattr(write, "export_graph", tampered)
    _, results = _spector()
    path = tmp_path / "model.onnx"
    with pytest.raises(exporter.VerificationFailed):
        exporter.export(results, path)
    assert not path.exists()
    report = json.loads((tmp_path / "parity.json").read_text())
    failed = {r["output"] for r in report["results"] if not r["passed"]}
    assert failed and failed <= {"contributions", "baseline+sum", "logit_se", "probability_lower", "probability_upper"}


def _replay_with(spector_model, tmp_path, change) -> dict:
    document = json.loads(spector_model.with_name("model.testvectors.json").read_text())
    change(document["cases"][3])
    path = tmp_path / "changed.testvectors.json"
    path.write_text(json.dumps(document))
    return testvectors.replay(runtime.load(spector_model), path)


def test_the_replay_passes_the_vectors_as_written(spector_model, tmp_path):
    result = _replay_with(spector_model, tmp_path, lambda case: None)
    assert result["status"] == "passed" and result["cases"] > 20


@pytest.mark.parametrize(
    "change",
    [
        lambda case: case["contributions"][1].__setitem__(0, case["contributions"][1][0] + 1e-3),
        lambda case: case.__setitem__("logit_se", [case["logit_se"][0] * 1.001]),
        lambda case: case.__setitem__("probability_upper", case["probability_upper"] - 1e-3),
        lambda case: case.__setitem__("logit", [float("nan")]),
    ],
    ids=["contribution", "logit_se", "probability_upper", "nan logit"],
)
def test_the_replay_fails_a_changed_explain_value(spector_model, tmp_path, change):
    result = _replay_with(spector_model, tmp_path, change)
    assert result["status"] == "failed" and result["failing_cases"] == [3]


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda case: case.pop("logit"), "no readable 'logit'"),
        (lambda case: case.__setitem__("contributions", [[0.1], [0.2]]), "no readable 'contributions'"),
    ],
)
def test_the_replay_calls_a_malformed_case_unreadable(spector_model, tmp_path, change, words):
    result = _replay_with(spector_model, tmp_path, change)
    assert result["status"] == "unreadable" and words in result["error"]


def test_the_predict_session_is_the_graph_onnx_extracts(spector_model, tmp_path):
    data = spector_model.read_bytes()
    pruned = onnx.load_model_from_string(without_outputs(data, contract.OUTPUT_NAMES))
    onnx.checker.check_model(pruned, full_check=True)
    extracted = tmp_path / "extracted.onnx"
    full = tmp_path / "full.onnx"
    full.write_bytes(data)
    onnx.utils.extract_model(str(full), str(extracted), ["features"], list(contract.OUTPUT_NAMES))
    reference = onnx.load(extracted)
    assert [n.op_type for n in pruned.graph.node] == [n.op_type for n in reference.graph.node]
    assert {i.name for i in pruned.graph.initializer} == {i.name for i in reference.graph.initializer}
    assert [o.name for o in pruned.graph.output] == list(contract.OUTPUT_NAMES)
    assert len(pruned.graph.node) < len(onnx.load_model_from_string(data).graph.node)


def test_toward_the_predicted_class_by_hand():
    contributions = np.array([[[0.5], [-2.0], [1.0]], [[0.5], [-2.0], [1.0]]], dtype=np.float32)
    # binary: along the second class's logit when it is predicted, against it when the first is
    toward = toward_predicted(np.array([1, 0]), contributions, binary=True)
    np.testing.assert_array_equal(toward, [[0.5, -2.0, 1.0], [-0.5, 2.0, -1.0]])
    up, down = ranked(toward, 2)
    assert up.tolist() == [[2, 0], [1, 0]] and down.tolist() == [[1, 0], [2, 0]]
    # three classes, one column: logits against the reference (class 0) are [0, 3, -3]; centred [0, 3, -3]; and
    # a second column with logits [0, 1, 2]: centred [-1, 0, 1]
    multi = np.array([[[3.0, -3.0], [1.0, 2.0]]], dtype=np.float32)
    for label, expected in ((0, [0.0, -1.0]), (1, [3.0, 0.0]), (2, [-3.0, 1.0])):
        np.testing.assert_allclose(toward_predicted(np.array([label]), multi, binary=False)[0], expected)


def test_the_toolkits_multinomial_standard_errors_equal_mnlogits(tmp_path):
    rng = np.random.default_rng(7)
    X = rng.normal(size=(600, 2))
    logits = np.column_stack([np.zeros(600), 0.8 * X[:, 0] - 0.5, -0.7 * X[:, 1] + 0.4 * X[:, 0]])
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    y = np.array([rng.choice(3, p=row) for row in p])
    fit = trainer.fit(X, np.array(["a", "b", "c"])[y], val_fraction=0, l2=0)
    path = tmp_path / "model.onnx"
    fit.export(path)
    got = runtime.load(path).run_outputs(X.astype(np.float32), None, ["logit_se"])["logit_se"]
    import pandas as pd

    exog = pd.DataFrame(sm.add_constant(X), columns=["const", "x0", "x1"])
    results = sm.MNLogit(pd.Series(y), exog).fit(disp=0)
    cov = results.cov_params()
    x = exog.to_numpy()
    for c in (1, 2):  # MNLogit's classes after the first, selected by their labels
        block = cov.loc[(str(c), slice(None)), (str(c), slice(None))].to_numpy()
        np.testing.assert_allclose(got[:, c - 1], np.sqrt(np.einsum("ij,jk,ik->i", x, block, x)), rtol=1e-3)
