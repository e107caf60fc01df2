"""Zero weights dropped from the exported graph and the C header: an L1 fit's graph reads only the design columns
some logit weighs (a Gather before the standardization's Sub), the columns glum's coordinate descent leaves nonzero
on the same data; its predictions equal glum's, and every output proves the test vectors (onnxruntime and the
reference evaluator in the export, the C header's harness, the integer-only header, a scorer, tract and OpenVINO).
The C header holds only the kept columns' constants; the same constants written dense prove the same vectors. A
model without a zero weight has no Gather; a binary model and a three-class one with text columns both drop."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import warnings

import glum
import numpy as np
import onnx
import pandas as pd
import pytest
from logreg_onnx.exporter import c_code
from logreg_onnx.runtime.errors import InputError
from logreg_onnx.trainer.estimator import LogisticRegressionClassifier
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from logreg_onnx import exporter, runtime, trainer

from ..conftest import PENGUINS
from ..examples.test_engines import _replay


def _used(model_path) -> np.ndarray | None:
    """The columns the graph's Gather before the standardization keeps (None: the Sub reads the whole design)."""
    graph = onnx.load(model_path).graph
    producer = {out: node for node in graph.node for out in node.output}
    divide = producer[next(node for node in graph.node if node.op_type == "Gemm").input[0]]
    gather = producer.get(producer[divide.input[0]].input[0])
    if gather is None or gather.op_type != "Gather":
        return None
    values = {t.name: onnx.numpy_helper.to_array(t) for t in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant":
            values[node.output[0]] = onnx.numpy_helper.to_array(node.attribute[0].t)
    return values[gather.input[1]]


def _glum(result, X, y, l1):
    model = result.model
    Xs = (X - model.mean.double().numpy()) / model.scale.double().numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its line search's chatter at the last digits
        fitted = glum.GeneralizedLinearRegressor(
            family="binomial", alpha=l1, l1_ratio=1.0, gradient_tol=1e-12, max_iter=1000, scale_predictors=False
        ).fit(Xs, y)
    return fitted.coef_, 1.0 / (1.0 + np.exp(-(Xs @ fitted.coef_ + fitted.intercept_)))


def _proofs(model_path, testvectors_path):
    """The C header's proof of the graph's constants as written (sparse) and spread over every column (dense)."""
    g = c_code.read_graph(model_path.read_bytes())
    vectors = json.loads(testvectors_path.read_text())
    return g, [c_code.prove(c_code.header_of(h), vectors) for h in (g, dataclasses.replace(g, used=None))]


@pytest.fixture(scope="module")
def breast_cancer_l1(tmp_path_factory):
    X, y = load_breast_cancer(return_X_y=True)
    result = trainer.fit(X, y, l1=0.01, val_fraction=0)
    out = exporter.export(result, tmp_path_factory.mktemp("sparse") / "model.onnx", c=True, c_fixed=True, code="js")
    return X, y, result, out


def test_the_graph_keeps_the_columns_glum_leaves_nonzero(breast_cancer_l1):
    X, y, result, out = breast_cancer_l1
    coef, expected = _glum(result, X, y, 0.01)
    used = _used(out.model_path)
    np.testing.assert_array_equal(used, np.flatnonzero(coef))
    assert 0 < len(used) < 30
    weights = {t.name: t for t in onnx.load(out.model_path).graph.initializer}
    assert [list(t.dims) for t in weights.values() if t.name.startswith("linear.weight")] == [[2, len(used)]]
    model = runtime.load(out.model_path)
    np.testing.assert_allclose(model.predict_proba(X.astype(np.float32))[:, 1], expected, atol=2e-6)
    missing = X[:3].astype(np.float32)
    missing[:, np.setdiff1d(np.arange(30), used)] = np.nan  # imputed, then not read: no probability moves
    np.testing.assert_allclose(model.predict_proba(missing), model.predict_proba(X[:3].astype(np.float32)))


def test_every_output_proves_the_vectors(breast_cancer_l1):
    _, _, _, out = breast_cancer_l1
    assert out.report.passed
    header = out.c_path.read_text()
    used = _used(out.model_path)
    assert f"static const int logreg_used[{len(used)}] = {{{', '.join(map(str, used))}}};" in header
    assert f"static const float logreg_weight[1][{len(used)}]" in header
    assert f"static const float logreg_mean[{len(used)}]" in header
    g, (sparse, dense) = _proofs(out.model_path, out.testvectors_path)
    assert g.weight.shape == (2, 30) and (g.weight[:, np.setdiff1d(np.arange(30), used)] == 0).all()
    assert sparse.passed and dense.passed, (sparse.detail, dense.detail)
    assert sparse.cases == dense.cases > 0 and sparse.max_abs_diff <= 1e-6
    assert out.c_fixed_path.exists() and out.code_paths  # proven too, or the export would have raised


def test_three_classes_with_text_columns_drop_columns_no_class_weighs(tmp_path):
    frame = pd.read_csv(PENGUINS).dropna().reset_index(drop=True)
    X = frame[["island", "bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "sex"]]
    estimator = LogisticRegressionClassifier(l1=0.2, val_fraction=0).fit(X, frame["species"])
    kept = np.flatnonzero((estimator.coef_ != 0).any(axis=0))
    assert estimator.coef_.shape[0] == 3 and 0 < len(kept) < estimator.coef_.shape[1]
    out = exporter.export(estimator, tmp_path / "penguins.onnx", c=True)
    np.testing.assert_array_equal(_used(out.model_path), kept)
    model = runtime.load(out.model_path)
    np.testing.assert_allclose(model.predict_proba(X), estimator.predict_proba(X), atol=2e-6)
    _, (sparse, dense) = _proofs(out.model_path, out.testvectors_path)
    assert sparse.passed and dense.passed, (sparse.detail, dense.detail)
    assert f"logreg_weight[3][{len(kept)}]" in out.c_path.read_text()


def test_a_model_without_zero_weights_reads_every_column(tmp_path):
    X, y = load_breast_cancer(return_X_y=True)
    out = exporter.export(trainer.fit(X, y, l2=1e-3, val_fraction=0), tmp_path / "dense.onnx", c=True)
    assert _used(out.model_path) is None
    assert "logreg_used" not in out.c_path.read_text() and "logreg_weight[1][30]" in out.c_path.read_text()


@pytest.mark.parametrize("engine", ["tract", "openvino"])
def test_edge_engines_replay_the_sparse_graph(breast_cancer_l1, engine):
    _, _, _, out = breast_cancer_l1
    report = _replay(engine, out.model_path, out.testvectors_path)
    assert report["passed"] and report["explain_passed"], report


def test_a_value_in_a_column_not_read_is_still_refused(breast_cancer_l1, tmp_path):
    """Infinity in a dropped column gives NaN, as in a dense graph (the guard: 0 * the design row's sum), so the
    runtime refuses the row naming the cell, and so does the C header's logreg_predict; likewise a missing value
    in a dropped column of a scikit-learn L1 pipeline, whose graph imputes nothing."""
    X, _, _, out = breast_cancer_l1
    dropped = int(np.setdiff1d(np.arange(30), _used(out.model_path))[0])
    row = X[:1].astype(np.float32).copy()
    row[0, dropped] = np.inf
    model = runtime.load(out.model_path)
    with pytest.raises(InputError, match=rf"x{dropped}.*inf"):
        model.predict_proba(row)
    program = tmp_path / "main.c"
    values = ", ".join("INFINITY" if np.isinf(v) else f"{float(v)!r}f" for v in row[0])
    program.write_text(
        f'#define LOGREG_IMPLEMENTATION\n#include "{out.c_path}"\n#include <stdio.h>\n'
        f"int main(void) {{ float x[30] = {{{values}}}, p[2]; logreg_predict(x, p); "
        'printf("%d\\n", p[0] != p[0]); return 0; }\n'
    )
    subprocess.run([c_code.find_compiler(), *c_code.COMPILE_FLAGS, str(program), "-o", str(tmp_path / "main"), "-lm"],
                   check=True)  # fmt: skip
    assert subprocess.run([str(tmp_path / "main")], capture_output=True, text=True).stdout.strip() == "1"

    pipeline = make_pipeline(StandardScaler(), LogisticRegression(penalty="l1", solver="liblinear", C=0.02))
    pipeline.fit(X, load_breast_cancer().target)
    exported = exporter.export(pipeline, tmp_path / "sklearn.onnx", sample=X[:50])
    kept = _used(exported.model_path)
    assert kept is not None and np.array_equal(kept, np.flatnonzero(pipeline[-1].coef_[0]))
    sklearn_model = runtime.load(exported.model_path)
    np.testing.assert_allclose(sklearn_model.predict_proba(X.astype(np.float32)), pipeline.predict_proba(X), atol=2e-6)
    missing = X[:1].astype(np.float32).copy()
    missing[0, int(np.setdiff1d(np.arange(30), kept)[0])] = np.nan
    with pytest.raises(InputError, match="missing"):
        sklearn_model.predict_proba(missing)
