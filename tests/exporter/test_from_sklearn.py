"""scikit-learn pipelines exported to ONNX: the runtime, ``logreg predict``, the server and the C header give what the
pipeline's own ``predict_proba`` and ``predict`` give, on the raw rows (text, missing values, unseen levels)."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from logreg_onnx.exporter import c_code, from_sklearn
from logreg_onnx.exporter.api import export
from logreg_onnx.exporter.errors import ExportOptionError, VerificationFailed
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import (
    MaxAbsScaler,
    MinMaxScaler,
    OneHotEncoder,
    PolynomialFeatures,
    RobustScaler,
    StandardScaler,
)
from sklearn.svm import SVC

from logreg_onnx import runtime
from logreg_onnx.cli import main

from ..conftest import BREAST_CANCER, PENGUINS
from ..runtime.serving import running_server

NUMERIC = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "year"]
TEXT = ["island", "sex"]
ATOL = 1e-6


@pytest.fixture(scope="module")
def penguins() -> tuple[pd.DataFrame, pd.Series]:
    frame = pd.read_csv(PENGUINS)  # text columns and NA cells, as a user reads them
    return frame.drop(columns="species"), frame["species"]


@pytest.fixture(scope="module")
def breast_cancer() -> tuple[pd.DataFrame, pd.Series]:
    frame = pd.read_csv(BREAST_CANCER)
    return frame.drop(columns="diagnosis"), frame["diagnosis"]


def odd_penguins(X: pd.DataFrame) -> pd.DataFrame:
    """Rows the training data do not hold: unseen islands, missing text, missing numbers, everything missing."""
    base = X.iloc[[0, 100, 200]].reset_index(drop=True)
    rows = []
    for change in (
        {"island": "Atlantis"},
        {"sex": np.nan},
        {"island": np.nan, "sex": "unknown"},
        {"bill_length_mm": np.nan, "body_mass_g": np.nan},
        dict.fromkeys(X.columns, np.nan),
    ):
        for _, row in base.iterrows():
            rows.append(row.to_dict() | change)
    dtypes = {c: ("float64" if c in NUMERIC else X[c].dtype) for c in X.columns}
    return pd.DataFrame(rows, columns=X.columns).astype(dtypes)


def penguin_pipeline(**encoder) -> Pipeline:
    numbers = make_pipeline(SimpleImputer(strategy="median", add_indicator=True), StandardScaler())
    texts = make_pipeline(SimpleImputer(strategy="most_frequent"), OneHotEncoder(**encoder))
    columns = ColumnTransformer([("num", numbers, NUMERIC), ("cat", texts, TEXT)])
    return Pipeline([("pre", columns), ("lr", LogisticRegression(max_iter=5000))])


def assert_same(pipeline, model: runtime.Model, X: pd.DataFrame, atol: float = ATOL) -> None:
    """The runtime's probabilities within ``atol`` of the pipeline's, and the same labels."""
    expected = pipeline.predict_proba(X)
    got = model.predict_proba(X)
    assert model.classes == [str(c) for c in pipeline.classes_]
    assert np.abs(got - expected).max() <= atol
    assert (model.predict(X) == pipeline.predict(X).astype(str)).all()


def exported(pipeline, X, tmp_path: Path, **options) -> runtime.Model:
    result = export(pipeline, tmp_path / "m.onnx", sample=X, **options)
    assert result.report.passed
    return runtime.load(result.model_path)


def test_penguins_column_transformer(penguins, tmp_path):
    X, y = penguins
    pipeline = penguin_pipeline(handle_unknown="ignore").fit(X, y)
    model = exported(pipeline, X, tmp_path)
    assert model.feature_names == list(X.columns)
    assert model.categorical_names == TEXT
    assert_same(pipeline, model, X)
    assert_same(pipeline, model, odd_penguins(X))
    info = model.metadata
    assert "scikit-learn" in json.dumps(dict(info))


@pytest.mark.parametrize(
    "encoder",
    [
        {"handle_unknown": "ignore", "drop": "first"},
        {"handle_unknown": "ignore", "drop": "if_binary"},
        {"handle_unknown": "ignore", "drop": ["Dream", "female"]},
        {"handle_unknown": "ignore", "min_frequency": 60},
        {"handle_unknown": "infrequent_if_exist", "min_frequency": 60},
        {"handle_unknown": "ignore", "max_categories": 2},
        {"handle_unknown": "infrequent_if_exist", "max_categories": 2},
        {"handle_unknown": "infrequent_if_exist", "max_categories": 2, "drop": "first"},
    ],
    ids=lambda e: ",".join(f"{k}={v}" for k, v in e.items()),
)
def test_one_hot_variants(penguins, tmp_path, encoder):
    X, y = penguins
    pipeline = penguin_pipeline(**encoder).fit(X, y)
    model = exported(pipeline, X, tmp_path)
    assert_same(pipeline, model, X)
    assert_same(pipeline, model, odd_penguins(X))


def test_unimputed_text_and_unknown_error(penguins, tmp_path):
    """No text imputer: NaN is a category of the encoder; handle_unknown="error" refuses unseen levels, which the
    verification leaves out (and says so)."""
    X, y = penguins
    columns = ColumnTransformer(
        [
            ("num", make_pipeline(SimpleImputer(), StandardScaler()), NUMERIC),
            ("cat", OneHotEncoder(handle_unknown="error"), TEXT),
        ]
    )
    pipeline = Pipeline([("pre", columns), ("lr", LogisticRegression(max_iter=5000))]).fit(X, y)
    result = export(pipeline, tmp_path / "m.onnx", sample=X)
    assert result.report.passed
    assert any("handle_unknown='error'" in note for note in result.report.notes)
    model = runtime.load(result.model_path)
    odd = odd_penguins(X)
    known = odd["island"].isin(X["island"]) & (odd["sex"].isin(X["sex"]) | odd["sex"].isna())
    assert known.sum() >= 6
    assert_same(pipeline, model, pd.concat([X, odd[known]]))


def test_remainder_passthrough(penguins, tmp_path):
    X, y = penguins
    numbers = make_pipeline(SimpleImputer(strategy="median"), RobustScaler())
    texts = make_pipeline(SimpleImputer(strategy="constant", fill_value="none"), OneHotEncoder(handle_unknown="ignore"))
    columns = ColumnTransformer(
        [("num", numbers, NUMERIC[:4]), ("cat", texts, TEXT)], remainder="passthrough"
    )  # the remainder: year, as it is
    pipeline = Pipeline([("pre", columns), ("scale", MaxAbsScaler()), ("lr", LogisticRegression(max_iter=5000))])
    pipeline.fit(X, y)
    model = exported(pipeline, X, tmp_path)
    assert_same(pipeline, model, X)
    odd = odd_penguins(X)
    assert_same(pipeline, model, odd[odd["year"].notna()])  # the year passes through unimputed: NaN is refused


@pytest.mark.parametrize(
    "scaler",
    [StandardScaler(), MinMaxScaler(), MinMaxScaler(feature_range=(-1, 2)), RobustScaler(), MaxAbsScaler(), None],
    ids=lambda s: repr(s),
)
def test_breast_cancer_scalers(breast_cancer, tmp_path, scaler):
    X, y = breast_cancer
    pipeline = Pipeline([("scale", scaler), ("lr", LogisticRegression(max_iter=20000))]).fit(X, y)
    model = exported(pipeline, X, tmp_path)
    # unscaled, the logits are float32 sums of terms up to 100 times their value (areas near 1000): float32
    # rounding alone moves them by ~1e-5, and the probabilities by a few 1e-6
    assert_same(pipeline, model, X, atol=ATOL if scaler is not None else 5e-6)


def test_logistic_regression_cv_and_stacked_steps(breast_cancer, tmp_path):
    """Several affine steps on one column compose exactly; an imputer after a scaler fills in scaled units."""
    X, y = breast_cancer
    holes = X.copy()
    holes.iloc[::7, 3] = np.nan
    holes.iloc[::5, 0] = np.nan
    steps = [StandardScaler(), SimpleImputer(strategy="mean", add_indicator=True), MinMaxScaler(), "passthrough"]
    pipeline = make_pipeline(*steps, LogisticRegressionCV(Cs=4, max_iter=5000)).fit(holes, y)
    model = exported(pipeline, holes, tmp_path)
    assert_same(pipeline, model, holes)
    assert_same(pipeline, model, holes.iloc[:40].assign(mean_area=np.nan))


def test_arrays_without_names_and_a_threshold(breast_cancer, tmp_path):
    X, y = breast_cancer
    pipeline = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000)).fit(X.to_numpy(), y)
    result = export(pipeline, tmp_path / "m.onnx", threshold=0.3, sample=X.to_numpy())
    model = runtime.load(result.model_path)
    assert model.feature_names == [f"x{j}" for j in range(X.shape[1])]
    expected = pipeline.predict_proba(X.to_numpy())
    assert np.abs(model.predict_proba(X.to_numpy()) - expected).max() <= ATOL
    labels = np.where(expected[:, 1] > 0.3, pipeline.classes_[1], pipeline.classes_[0])
    assert (model.predict(X.to_numpy()) == labels).all()
    named = export(pipeline, tmp_path / "named.onnx", feature_names=list(X.columns))
    assert runtime.load(named.model_path).feature_names == list(X.columns)


def test_logreg_predict_server_and_c_header(penguins, tmp_path):
    X, y = penguins
    pipeline = penguin_pipeline(handle_unknown="ignore").fit(X, y)
    rows = pd.concat([X, odd_penguins(X)], ignore_index=True)
    rows.to_csv(tmp_path / "rows.csv", index=False)
    expected = pipeline.predict_proba(rows)
    c = c_code.find_compiler() is not None
    result = export(pipeline, tmp_path / "m.onnx", c=c)
    assert result.report.passed
    if c:
        (entry,) = [r for r in result.report.results if r["runtime"].startswith("C99 model.h")]
        assert entry["passed"] and result.c_path.exists()

    answer = CliRunner().invoke(main, ["predict", str(tmp_path / "m.onnx"), str(tmp_path / "rows.csv")])
    assert answer.exit_code == 0, answer.output
    scored = pd.read_csv(pd.io.common.StringIO(answer.stdout))
    classes = [str(c) for c in pipeline.classes_]
    assert np.abs(scored[[f"p_{c}" for c in classes]].to_numpy() - expected).max() <= ATOL
    assert (scored["label"].to_numpy() == pipeline.predict(rows)).all()

    instances = [{k: (None if pd.isna(v) else v) for k, v in row.items()} for row in rows.to_dict("records")]
    with running_server(str(tmp_path / "m.onnx")) as (url, _):
        request = urllib.request.Request(
            f"{url}/predict", json.dumps({"instances": instances}).encode(), {"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            predictions = json.loads(response.read())["predictions"]
    served = np.array([[p["probabilities"][c] for c in classes] for p in predictions])
    assert np.abs(served - expected).max() <= ATOL
    assert [p["label"] for p in predictions] == pipeline.predict(rows).tolist()


def test_a_wrong_weight_fails_and_writes_nothing(penguins, tmp_path, monkeypatch):
    X, y = penguins
    pipeline = penguin_pipeline(handle_unknown="ignore").fit(X, y)
    assemble = from_sklearn.assemble

    def swapped(*args, **kwargs):
        design = assemble(*args, **kwargs)
        design.weight[:, [0, 1]] = design.weight[:, [1, 0]]  # two numeric columns' weights, exchanged
        return design

    monkeypatch.setattr(from_sklearn, "assemble", swapped)
    with pytest.raises(VerificationFailed, match="does not compute what the scikit-learn Pipeline computes"):
        export(pipeline, tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()


def test_a_shifted_level_weight_fails(penguins, tmp_path, monkeypatch):
    X, y = penguins
    pipeline = penguin_pipeline(handle_unknown="ignore").fit(X, y)
    assemble = from_sklearn.assemble

    def shifted(*args, **kwargs):
        design = assemble(*args, **kwargs)
        design.weight[:, -1] *= 1.001  # the last one-hot column's weight, 0.1 % off
        return design

    monkeypatch.setattr(from_sklearn, "assemble", shifted)
    with pytest.raises(VerificationFailed):
        export(pipeline, tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()


def test_refusals_name_the_step(penguins, breast_cancer, tmp_path):
    X, y = breast_cancer
    poly = Pipeline(
        [("scale", StandardScaler()), ("poly", PolynomialFeatures()), ("lr", LogisticRegression(max_iter=5000))]
    )
    poly.fit(X.iloc[:, :3], y)
    with pytest.raises(ExportOptionError, match=r"step 'poly' \(PolynomialFeatures\).*supported: StandardScaler"):
        export(poly, tmp_path / "m.onnx")
    with pytest.raises(ExportOptionError, match=r"the last step 'svc' is a SVC: expected LogisticRegression"):
        export(Pipeline([("scale", StandardScaler()), ("svc", SVC())]).fit(X, y), tmp_path / "m.onnx")
    with pytest.raises(ExportOptionError, match=r"the last step 'lr' \(LogisticRegression\) is not fitted"):
        export(Pipeline([("scale", StandardScaler()), ("lr", LogisticRegression())]), tmp_path / "m.onnx")
    clipped = make_pipeline(MinMaxScaler(clip=True), LogisticRegression(max_iter=5000)).fit(X, y)
    with pytest.raises(ExportOptionError, match=r"clip=True is not affine"):
        export(clipped, tmp_path / "m.onnx")
    P, species = penguins
    numbers = make_pipeline(SimpleImputer(), OneHotEncoder()).fit(P[["year"]], species)
    with pytest.raises(ExportOptionError, match=r"'year' has categories that are neither text nor whole numbers"):
        export(make_pipeline(numbers, LogisticRegression()).fit(P[["year"]], species), tmp_path / "m.onnx")
    with pytest.raises(ExportOptionError, match=r"class_names"):
        export(make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y), tmp_path / "m.onnx", class_names=["a"])
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("fill", [None, "most_frequent"])
def test_integer_codes_one_hot_encoded(penguins, tmp_path, fill):
    """An integer column (the year) one-hot encoded as it is: the runtime takes it as its text ("2008"), as a CSV
    holds it; unseen years add nothing (handle_unknown="ignore"), a missing one is imputed when the pipeline does."""
    X, y = penguins
    X = X.astype({"year": "int64"})
    year = OneHotEncoder(handle_unknown="ignore")
    year = make_pipeline(SimpleImputer(strategy="most_frequent"), year) if fill else year
    numbers = make_pipeline(SimpleImputer(strategy="median"), StandardScaler())
    columns = ColumnTransformer([("num", numbers, NUMERIC[:-1]), ("year", year, ["year"])])
    pipeline = make_pipeline(columns, LogisticRegression(max_iter=5000)).fit(X[NUMERIC], y)
    model = exported(pipeline, X[NUMERIC], tmp_path)
    assert model.categorical_names == ["year"]
    assert_same(pipeline, model, X[NUMERIC])
    odd = X[NUMERIC].iloc[:4].copy()
    odd["year"] = [2031, 1999, 2008, 2009]
    assert_same(pipeline, model, odd)
    if fill:
        missing = X[NUMERIC].iloc[:3].astype({"year": "float64"})
        missing["year"] = np.nan
        assert_same(pipeline, model, missing)


def test_logreg_export_skops(penguins, tmp_path):
    """`logreg export pipeline.skops`: the pipeline saved with skops, exported from the command line."""
    sio = pytest.importorskip("skops.io")
    pytest.importorskip("logreg_onnx.exporter.model_files", reason="logreg export of .skops files is not there yet")
    X, y = penguins
    pipeline = penguin_pipeline(handle_unknown="ignore").fit(X, y)
    sio.dump(pipeline, tmp_path / "pipeline.skops")
    answer = CliRunner().invoke(main, ["export", str(tmp_path / "pipeline.skops"), "--out", str(tmp_path / "p.onnx")])
    assert answer.exit_code == 0, answer.output
    assert_same(pipeline, runtime.load(tmp_path / "p.onnx"), X)
    poly = make_pipeline(StandardScaler(), PolynomialFeatures(), LogisticRegression(max_iter=5000))
    poly.fit(X[NUMERIC[:2]].fillna(0), y)
    sio.dump(poly, tmp_path / "poly.skops")
    answer = CliRunner().invoke(main, ["export", str(tmp_path / "poly.skops")])
    assert answer.exit_code == 2, answer.output
    assert "PolynomialFeatures" in answer.output
