"""Format 3's explain outputs against independent references: SHAP's LinearExplainer (interventional) for the
contributions, statsmodels' get_prediction for the intervals, and the baseline row's own definition."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from logreg_onnx.runtime import contract

from logreg_onnx import exporter, runtime, trainer
from logreg_onnx.cli import main

from ..conftest import PENGUINS

shap = pytest.importorskip("shap")
sm = pytest.importorskip("statsmodels.api")
smf = pytest.importorskip("statsmodels.formula.api")


def _table_coefficients(result) -> tuple[np.ndarray, np.ndarray]:
    """The fit's coefficient table (original units) as (n_logits, n_design) slopes and (n_logits,) intercepts."""
    rows = result.coefficients.to_json()["rows"]
    logits = list(dict.fromkeys(r["class"] for r in rows))
    terms = list(dict.fromkeys(r["term"] for r in rows))
    table = {(r["class"], r["term"]): r["estimate"] for r in rows}
    coef = np.array([[table[(c, t)] for t in terms[1:]] for c in logits])
    return coef, np.array([table[(c, terms[0])] for c in logits])


def _shap_explainer(coef, intercept, design):
    # the whole training design as the background (SHAP's masker samples 100 rows unless told otherwise)
    background = shap.maskers.Independent(design, max_samples=len(design))
    return shap.LinearExplainer((coef, intercept), background, feature_perturbation="interventional")


def _shap_values(coef, intercept, design) -> np.ndarray:
    """SHAP's interventional values of each logit, (n_rows, n_design, n_logits), background = the training design."""
    explainer = _shap_explainer(coef, intercept, design)
    values = explainer.shap_values(design)
    values = np.asarray(values)
    if values.ndim == 2:
        return values[:, :, None]
    return values if values.shape[:2] == design.shape else np.moveaxis(values, 0, -1)


@pytest.fixture(scope="module")
def breast_cancer(tmp_path_factory):
    from sklearn.datasets import load_breast_cancer

    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    result = trainer.fit(X, y.map({0: "malignant", 1: "benign"}), val_fraction=0)
    path = tmp_path_factory.mktemp("bc") / "model.onnx"
    result.export(path)
    return result, X, path


def test_contributions_equal_shap_on_breast_cancer(breast_cancer):
    result, X, path = breast_cancer
    design = X.to_numpy(dtype=np.float64)
    coef, intercept = _table_coefficients(result)
    expected = _shap_values(coef, intercept, design)
    model = runtime.load(path)
    got = model.run_outputs(X.to_numpy(np.float32), None, ["contributions", "logit"])
    np.testing.assert_allclose(got["contributions"], expected, atol=1e-5, rtol=0)
    baseline_logit = model.metadata["explain"]["baseline_logit"]
    # SHAP's own expected value is the logit at the background's mean: the model's baseline logit
    shap_expected = _shap_explainer(coef, intercept, design)
    assert abs(baseline_logit[0] - float(np.ravel(shap_expected.expected_value)[0])) < 1e-5
    np.testing.assert_allclose(got["contributions"].sum(axis=1) + baseline_logit, got["logit"], atol=2e-5)


def test_contributions_equal_shap_on_penguins_summed_per_raw_column(tmp_path):
    frame = pd.read_csv(PENGUINS)
    features = frame.drop(columns=["species"])
    result = trainer.fit(features, frame["species"], val_fraction=0, missing="impute", l2=0.01)
    path = tmp_path / "model.onnx"
    result.export(path)
    encoding = result.model.encoding
    table = encoding.prepare(features, ())
    design = encoding.design(table).astype(np.float64)  # the training design: imputed, indicators, one-hot
    coef, intercept = _table_coefficients(result)
    per_design = _shap_values(coef, intercept, design)  # (rows, design, logits), one logit per class after the first
    names = encoding.design_names()
    raw = encoding.names
    # a design column belongs to the raw column its name starts with: "sex[male]", "bill_depth_mm[missing]"
    owner = [next(j for j, r in enumerate(raw) if n == r or n.startswith(r + "[")) for n in names]
    expected = np.zeros((len(design), len(raw), per_design.shape[2]))
    for d, j in enumerate(owner):
        expected[:, j, :] += per_design[:, d, :]
    model = runtime.load(path)
    numeric, categories = model.graph_inputs(features)
    got = model.run_outputs(numeric, categories, ["contributions"])["contributions"]
    assert got.shape == (len(frame), len(raw), len(result.class_names) - 1)
    np.testing.assert_allclose(got, expected, atol=1e-5, rtol=0)
    assert {r["column"] for r in model.explain(features.iloc[:5], top=2)[0]["toward"]} <= set(raw)


def _spector():
    data = sm.datasets.spector.load_pandas()
    exog = sm.add_constant(data.exog)
    return data, exog, sm.Logit(data.endog, exog).fit(disp=0)


def test_intervals_equal_statsmodels_on_spector(tmp_path):
    data, exog, results = _spector()
    path = tmp_path / "spector.onnx"
    exporter.export(results, path)
    model = runtime.load(path)
    got = model.run_outputs(
        data.exog.to_numpy(np.float32), None, ["probability_lower", "probability_upper", "logit_se"]
    )
    frame = results.get_prediction(exog).summary_frame()
    np.testing.assert_allclose(got["probability_lower"], frame["ci_lower"], rtol=1e-5)
    np.testing.assert_allclose(got["probability_upper"], frame["ci_upper"], rtol=1e-5)
    linear = results.get_prediction(exog, which="linear").summary_frame()
    np.testing.assert_allclose(got["logit_se"][:, 0], linear["se"], rtol=1e-5)


def test_intervals_equal_statsmodels_with_text_columns(tmp_path):
    frame = pd.read_csv(PENGUINS).dropna()
    frame = frame.assign(male=(frame["sex"] == "male").astype(int))
    results = smf.logit("male ~ bill_length_mm + bill_depth_mm + C(island) + C(species)", data=frame).fit(disp=0)
    path = tmp_path / "penguins.onnx"
    exporter.export(results, path)
    model = runtime.load(path)
    rows = frame[["bill_length_mm", "bill_depth_mm", "island", "species"]]
    numeric, categories = model.graph_inputs(rows)
    got = model.run_outputs(numeric, categories, ["probability_lower", "probability_upper"])
    expected = results.get_prediction(frame).summary_frame()
    np.testing.assert_allclose(got["probability_lower"], expected["ci_lower"], rtol=1e-5)
    np.testing.assert_allclose(got["probability_upper"], expected["ci_upper"], rtol=1e-5)


def test_multinomial_logit_se_is_the_delta_method_of_statsmodels_covariance(tmp_path):
    frame = pd.read_csv(PENGUINS).dropna()
    exog = sm.add_constant(frame[["bill_length_mm", "flipper_length_mm"]])
    codes = pd.Categorical(frame["species"]).codes
    results = sm.MNLogit(codes, exog).fit(disp=0, maxiter=200)
    path = tmp_path / "mn.onnx"
    exporter.export(results, path)
    model = runtime.load(path)
    got = model.run_outputs(exog.iloc[:, 1:].to_numpy(np.float32), None, ["logit_se", "logit"])
    x = exog.to_numpy(np.float64)
    cov = results.cov_params()
    labels = list(dict.fromkeys(label for label, _ in cov.index))  # MNLogit's classes after the first, in order
    for c, label in enumerate(labels):
        block = cov.loc[(label, slice(None)), (label, slice(None))].to_numpy()  # selected by label, not position
        np.testing.assert_allclose(got["logit_se"][:, c], np.sqrt(np.einsum("ij,jk,ik->i", x, block, x)), rtol=1e-5)
    linear = np.asarray(results.predict(exog, which="linear"))  # MNLogit's, the reference class's 0 first
    np.testing.assert_allclose(got["logit"], linear[:, 1:], rtol=1e-5, atol=1e-5)
    assert "probability_lower" not in {o.name for o in model.outputs}  # multinomial: per-logit intervals only
    interval = model.explain(exog.iloc[:1, 1:], top=1)[0]["interval"]
    assert set(interval["logit_lower"]) == set(model.classes[1:])


def test_the_toolkits_own_intervals_agree_with_statsmodels(tmp_path):
    data, exog, results = _spector()
    fit = trainer.fit(data.exog, data.endog.astype(int).astype(str), val_fraction=0, l2=0)
    path = tmp_path / "toolkit.onnx"
    fit.export(path)
    got = runtime.load(path).run_outputs(data.exog.to_numpy(np.float32), None, ["probability_lower", "logit_se"])
    frame = results.get_prediction(exog).summary_frame()
    linear = results.get_prediction(exog, which="linear").summary_frame()
    # two solvers' optima and covariances: the same to their convergence, far below the intervals' width
    np.testing.assert_allclose(got["logit_se"][:, 0], linear["se"], rtol=1e-4)
    np.testing.assert_allclose(got["probability_lower"], frame["ci_lower"], rtol=1e-3)


def test_a_row_equal_to_the_baseline_has_no_contributions(tmp_path):
    data, _, results = _spector()
    path = tmp_path / "spector.onnx"
    exporter.export(results, path)
    model = runtime.load(path)
    explain = model.metadata["explain"]
    baseline = np.array([explain["baseline"]], dtype=np.float32)  # a numeric model: the design row is the row
    got = model.run_outputs(baseline, None, ["contributions", "logit"])
    np.testing.assert_allclose(got["contributions"], 0.0, atol=1e-6)
    np.testing.assert_allclose(got["logit"][0], explain["baseline_logit"], atol=1e-6)
    np.testing.assert_allclose(explain["baseline"], data.exog.mean().to_numpy(), rtol=1e-12)


def test_a_penalized_fit_has_no_intervals_and_says_why(breast_cancer):
    _, _, path = breast_cancer
    model = runtime.load(path)
    outputs = [o.name for o in model.outputs]
    assert outputs == ["label", "probabilities", "logit", "contributions"]
    assert "l2 penalty" in model.metadata["explain"]["intervals_note"]
    assert "interval" not in model.explain(np.zeros((1, 30), np.float32))[0]


def test_predict_explain_names_the_strongest_reasons(breast_cancer, tmp_path):
    result, X, path = breast_cancer
    rows = X.iloc[:50]
    source = tmp_path / "rows.csv"
    rows.to_csv(source, index=False)
    out = tmp_path / "scored.csv"
    invoked = CliRunner().invoke(main, ["predict", str(path), str(source), "--explain", "3", "-o", str(out)])
    assert invoked.exit_code == 0, invoked.output
    scored = pd.read_csv(out, keep_default_na=False)
    assert list(scored.columns[-6:]) == [f"{k}_{i}" for i in (1, 2, 3) for k in ("reason", "contribution")]
    coef, intercept = _table_coefficients(result)
    values = _shap_values(coef, intercept, X.to_numpy(np.float64))[:50, :, 0]
    sign = np.where(scored["label"] == result.class_names[1], 1.0, -1.0)  # toward the predicted class
    toward = values * sign[:, None]
    strongest = np.argmax(toward, axis=1)
    assert list(scored["reason_1"]) == [X.columns[j] for j in strongest]
    np.testing.assert_allclose(scored["contribution_1"].astype(float), toward.max(axis=1), atol=1e-5)


def test_a_format_2_model_loads_and_refuses_to_explain(tmp_path, breast_cancer):
    from logreg_onnx.exporter.from_toolkit import source_of_fit
    from logreg_onnx.exporter.graph import add_metadata, export_graph, serialize

    result, X, _ = breast_cancer
    source = source_of_fit(result)
    proto = add_metadata(
        export_graph(source.model),
        feature_names=source.encoding.names,
        class_names=source.class_names,
        metrics={},
        model_sha256=source.model_sha256,
    )
    path = tmp_path / "format2.onnx"
    path.write_bytes(serialize(proto))
    model = runtime.load(path)
    assert model.metadata[contract.KEY_FORMAT] == 2  # decoded from JSON
    assert [o.name for o in model.outputs] == ["label", "probabilities"]
    import torch

    with torch.no_grad():
        expected = result.model(torch.from_numpy(X.iloc[:5].to_numpy(np.float32))).numpy()
    np.testing.assert_allclose(model.predict_proba(X.iloc[:5]), expected, atol=1e-5)
    with pytest.raises(runtime.ModelError, match="format 2 has no explanations"):
        model.explain(X.iloc[:1])
    rows = tmp_path / "rows.csv"
    X.iloc[:3].to_csv(rows, index=False)
    invoked = CliRunner().invoke(main, ["predict", str(path), str(rows), "--explain", "2"])
    assert invoked.exit_code == 2 and "no explanations" in invoked.output and "Traceback" not in invoked.output
