"""Text categories and missing values in training: column kinds, imputation, one-hot and treatment coding, checked
against statsmodels' formula fits (an independent implementation of the same design matrices)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf
from logreg_onnx.trainer.data.dataset import load_dataset
from logreg_onnx.trainer.data.table import MISSING_LEVEL
from logreg_onnx.trainer.engine.model import load_model
from logreg_onnx.trainer.engine.training import fit_dataset
from logreg_onnx.trainer.errors import DataError
from logreg_onnx.trainer.options import ReadOptions

from logreg_onnx import trainer

PENGUINS = Path(__file__).resolve().parents[2] / "examples" / "penguins" / "penguins.csv"


def _relative(a: float, b: float) -> float:
    return abs(a - b) / abs(b)


def _sm_fit(formula: str, data: pd.DataFrame, multinomial: bool = False):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = (smf.mnlogit if multinomial else smf.logit)(formula, data=data)
        return model.fit(method="newton", maxiter=200, disp=0)


def test_penguins_binary_matches_statsmodels_formula():
    frame = pd.read_csv(PENGUINS).dropna(subset=["sex"])
    X = frame[["island", "species", "bill_length_mm", "flipper_length_mm"]]
    result = trainer.fit(X, frame["sex"], l2=0, val_fraction=0)
    reference = _sm_fit(
        "y ~ C(island) + C(species) + bill_length_mm + flipper_length_mm",
        X.assign(y=(frame["sex"] == "male").astype(int)),
    )
    assert _relative(result.metrics["train"]["log_loss"], -reference.llf / len(X)) < 1e-6
    # treatment coding named and ordered as patsy does: the first level in sorted order is the reference
    assert result.dataset.feature_names == [
        "bill_length_mm",
        "flipper_length_mm",
        "island[T.Dream]",
        "island[T.Torgersen]",
        "species[T.Chinstrap]",
        "species[T.Gentoo]",
    ]


def test_coded_columns_made_categorical_match_statsmodels():
    """statsmodels' `fair` data: occupation and religiousness are coded as numbers; --categorical makes them levels."""
    data = sm.datasets.fair.load_pandas().data
    y = (data["affairs"] > 0).map({True: "yes", False: "no"})
    X = data[["occupation", "religious", "rate_marriage", "age", "yrs_married", "children", "educ"]]
    X = X.astype({"occupation": int, "religious": int})  # codes stored as floats (1.0) would be levels "1.0"
    result = trainer.fit(X, y, l2=0, val_fraction=0, categorical=["occupation", "religious"])
    reference = _sm_fit(
        "y ~ C(occupation) + C(religious) + rate_marriage + age + yrs_married + children + educ",
        X.assign(y=(y == "yes").astype(int)),
    )
    assert _relative(result.metrics["train"]["log_loss"], -reference.llf / len(X)) < 1e-6
    encoding = result.model.encoding
    assert [c.name for c in encoding.categorical] == ["occupation", "religious"]
    assert encoding.categorical[0].levels == ("1", "2", "3", "4", "5", "6")  # numeric order, as patsy's
    assert encoding.categorical[0].reference == "1"


def test_multinomial_with_a_categorical_column_matches_mnlogit():
    """statsmodels' `anes96` data: party identification (7 classes) against education (7 levels) and two numbers."""
    data = sm.datasets.anes96.load_pandas().data
    X = data[["educ", "age", "income"]].assign(educ=data["educ"].astype(int))
    y = data["PID"].astype(int)
    result = trainer.fit(X, y, l2=0, val_fraction=0, categorical=["educ"])
    reference = _sm_fit("y ~ C(educ) + age + income", X.assign(y=y), multinomial=True)
    assert _relative(result.metrics["train"]["log_loss"], -reference.llf / len(X)) < 1e-6


def test_imputation_matches_mnlogit_on_the_same_imputed_design():
    """Missing numbers take the training median plus an indicator; a missing category is a level of its own. The
    reference rebuilds that design with pandas and fits it with statsmodels' MNLogit."""
    rng = np.random.default_rng(7)
    n = 600
    frame = pd.DataFrame(
        {
            "size": rng.normal(10, 3, n),
            "weight": rng.gamma(2.0, 2.0, n),
            "colour": rng.choice(["red", "green", "blue"], n),
            "shape": rng.choice(["round", "square"], n),
        }
    )
    logits = np.stack(
        [
            np.zeros(n),
            0.3 * (frame["size"] - 10) + (frame["colour"] == "red") - 0.5,
            -0.2 * frame["weight"] + (frame["shape"] == "round") + 0.5,
        ],
        axis=1,
    )
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    y = np.array(["a", "b", "c"])[[rng.choice(3, p=p) for p in probabilities]]
    frame.loc[rng.choice(n, 60, replace=False), "size"] = np.nan
    frame.loc[rng.choice(n, 40, replace=False), "colour"] = None
    result = trainer.fit(frame, y, l2=0, val_fraction=0)

    median = frame["size"].median()
    design = pd.DataFrame(
        {
            "size": frame["size"].fillna(median),
            "size_missing": frame["size"].isna().astype(float),
            "weight": frame["weight"],
            "colour": frame["colour"].fillna("(missing)"),
            "shape": frame["shape"],
            "y": pd.Series(y).map({"a": 0, "b": 1, "c": 2}),
        }
    )
    reference = _sm_fit("y ~ size + size_missing + weight + C(colour) + C(shape)", design, multinomial=True)
    assert _relative(result.metrics["train"]["log_loss"], -reference.llf / n) < 1e-6
    size, weight = result.model.encoding.numeric
    assert size.median == pytest.approx(median, rel=1e-7) and size.indicator
    assert not weight.indicator  # no missing weight in training: no indicator column
    colour = result.model.encoding.categorical[0]
    assert colour.levels == ("blue", "green", "red", MISSING_LEVEL)


def test_a_dataframe_of_mixed_dtypes_trains_exactly_as_the_same_data_in_a_csv(tmp_path):
    rng = np.random.default_rng(3)
    n = 120
    frame = pd.DataFrame(
        {
            "text": pd.Series(rng.choice(["x", "y", "z"], n), dtype=object),
            "category": pd.Categorical(rng.choice(["low", "mid", "high"], n)),
            "flag": rng.random(n) < 0.4,
            "count": pd.array(rng.integers(0, 9, n), dtype="Int64"),
            "ratio": pd.array(rng.normal(size=n), dtype="Float64"),
            "plain": rng.normal(size=n),
        }
    )
    frame.loc[[3, 17], "count"] = pd.NA
    frame.loc[[5], "ratio"] = pd.NA
    frame.loc[[8, 9], "plain"] = np.nan
    frame.loc[[11], "text"] = None
    frame.loc[[12], "text"] = np.nan
    y = np.where(rng.random(n) < 0.5, "yes", "no")
    y[[20, 21]] = "yes", "no"
    options = {"l2": 0.01, "val_fraction": 0}
    from_frame = trainer.fit(frame, y, **options)
    path = tmp_path / "mixed.csv"
    frame.assign(label=y).to_csv(path, index=False)
    dataset = load_dataset(path, ReadOptions(label="label"))
    from_csv = fit_dataset(dataset, **options)
    assert from_frame.model.encoding == from_csv.model.encoding
    kinds = {c.name: c.kind for c in from_frame.model.encoding.columns}
    assert kinds == {
        "text": "categorical",
        "category": "categorical",
        "flag": "categorical",
        "count": "numeric",
        "ratio": "numeric",
        "plain": "numeric",
    }
    flag = next(c for c in from_frame.model.encoding.columns if c.name == "flag")
    assert flag.levels == ("False", "True")  # booleans: a category with two levels, named as pandas writes them
    assert np.array_equal(from_frame.dataset.X, from_csv.dataset.X)
    assert from_frame.metrics["train"]["log_loss"] == from_csv.metrics["train"]["log_loss"]
    # and through the scikit-learn-style estimator
    estimator = trainer.LogisticRegressionClassifier(**options).fit(frame, y)
    np.testing.assert_allclose(
        estimator.predict_proba(frame), from_frame.model.probabilities(frame), rtol=1e-6, atol=1e-7
    )


def test_column_kinds_whitespace_and_booleans(tmp_path):
    path = tmp_path / "d.csv"
    lines = ["zip,answer,size,label"]
    rng = np.random.default_rng(0)
    for i in range(60):
        lines.append(f"0{2134 + i % 3}, {['yes', 'no'][i % 2]} ,{rng.normal():.4f},{'ab'[int(rng.random() < 0.5)]}")
    path.write_text("\n".join(lines) + "\n")
    dataset = load_dataset(path, ReadOptions(label="label"), categorical=["zip"])
    assert dataset.table.categorical_names == ["zip", "answer"] and dataset.table.numeric_names == ["size"]
    result = fit_dataset(dataset, val_fraction=0)
    zip_code, answer = result.model.encoding.categorical
    assert zip_code.levels == ("02134", "02135", "02136")  # the text as written, leading zero kept
    assert answer.levels == ("no", "yes")  # surrounding spaces trimmed
    assert zip_code.reference is None  # penalized: every level has its column
    assert any("one-hot encoded with every level" in note for note in result.dataset.notes)


def test_min_frequency_folds_rare_levels_into_other():
    rng = np.random.default_rng(1)
    n = 300
    city = rng.choice(["paris", "rome", "oslo"], n).astype(object)
    city[:3] = ["bern", "bern", "riga"]  # 2 and 1 rows: rare
    X = pd.DataFrame({"city": city, "x": rng.normal(size=n)})
    y = rng.integers(0, 2, n)
    result = trainer.fit(X, y, val_fraction=0, min_frequency=5)
    (column,) = result.model.encoding.categorical
    assert column.levels == ("oslo", "paris", "rome") and column.other == ("bern", "riga")
    assert result.dataset.feature_names[-1] == "city[(other)]"
    codes = result.model.encoding.codes(np.array([["bern"], ["riga"], ["tokyo"], ["rome"]], dtype=object))
    assert codes.ravel().tolist() == [3, 3, 3, 2]  # folded and unseen levels share the "other" code


def test_missing_policies():
    X = pd.DataFrame({"a": [1.0, np.nan, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0], "b": ["u", "v", None, "u", "v", "u", "v", "u"]})
    y = [0, 1, 0, 1, 0, 1, 0, 1]
    with pytest.raises(DataError, match="missing='impute'"):
        trainer.fit(X, y, missing="error")
    dropped = trainer.fit(X, y, missing="drop", val_fraction=0)
    assert dropped.metrics["train"]["n_rows"] == 6
    assert dropped.model.encoding.numeric[0].median is None  # no imputation: NaN stays an error in use
    imputed = trainer.fit(X, y, val_fraction=0)
    assert imputed.metrics["train"]["n_rows"] == 8
    assert imputed.model.encoding.numeric[0].median == 5.0 and imputed.model.encoding.numeric[0].indicator
    assert imputed.model.encoding.categorical[0].levels == ("u", "v", MISSING_LEVEL)


def test_model_pt_keeps_the_encoding_with_weights_only_loading(tmp_path):
    frame = pd.read_csv(PENGUINS)
    result = trainer.fit(frame.drop(columns=["species"]), frame["species"], val_fraction=0)
    from logreg_onnx.trainer.engine.model import save_model

    path = tmp_path / "model.pt"
    save_model(path, result.model, feature_names=result.feature_names, class_names=result.class_names)
    loaded, payload = load_model(path)  # torch.load(weights_only=True) inside
    assert loaded.encoding == result.model.encoding
    assert json.loads(json.dumps(payload["encoding"])) == result.model.encoding.to_json()
    assert "preprocess.median" in payload["state_dict"]  # the medians are a buffer of the module
    probabilities = loaded.probabilities(frame.drop(columns=["species"]))
    np.testing.assert_array_equal(probabilities, result.model.probabilities(frame.drop(columns=["species"])))


def test_a_text_column_like_an_id_is_warned_about(tmp_path):
    path = tmp_path / "names.csv"
    rng = np.random.default_rng(4)
    lines = ["name,x,y"] + [f"person{i},{rng.normal():.3f},{i % 2}" for i in range(60)]
    path.write_text("\n".join(lines) + "\n")
    with pytest.warns(UserWarning, match=r"categorical feature 'name' has 60 distinct values in 60 rows, like an ID"):
        load_dataset(path, ReadOptions(label="y"))
