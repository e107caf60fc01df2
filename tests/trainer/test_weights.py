"""Frequency weights (``--weight COL``, ``sample_weight=``): the fit and its coefficient table against statsmodels'
``GLM(family=Binomial(), freq_weights=w)``, an integer-weight fit against the fit on rows repeated that many times
(and statsmodels there: robust and multinomial), the metrics against scikit-learn's weighted ones, and the refusals."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf
from click.testing import CliRunner
from logreg_onnx.trainer.engine.training import predict_proba_float64
from logreg_onnx.trainer.errors import DataError
from sklearn import metrics as skm

from logreg_onnx import trainer
from logreg_onnx.cli import main

from .references import quiet, spector

PENGUINS = Path(__file__).resolve().parents[2] / "examples" / "penguins" / "penguins.csv"


def _column(result, name: str) -> np.ndarray:
    return np.array([row[name] for row in result.coefficients.rows])


def _weights(n: int, seed: int = 0) -> np.ndarray:
    weights = np.random.default_rng(seed).integers(0, 5, n).astype(np.float64)
    weights[:3] = [2.5, 0.25, 7.0]  # not only integers
    return weights


def test_spector_matches_glm_freq_weights():
    X, y = spector()
    w = _weights(len(y))
    result = trainer.fit(X, y, l2=0, val_fraction=0, sample_weight=w)
    glm = quiet(
        lambda: sm.GLM(y.to_numpy(float), sm.add_constant(X), family=sm.families.Binomial(), freq_weights=w).fit(
            tol=1e-14
        )
    )
    np.testing.assert_allclose(_column(result, "estimate"), glm.params.to_numpy(), rtol=1e-6)
    np.testing.assert_allclose(_column(result, "std_error"), glm.bse.to_numpy(), rtol=1e-5)
    fit = result.coefficients.fit
    assert math.isclose(fit["log_likelihood"], glm.llf, rel_tol=1e-6)
    assert math.isclose(fit["aic"], glm.aic, rel_tol=1e-6)
    assert math.isclose(fit["bic"], glm.bic_llf, rel_tol=1e-6)
    assert fit["n_observations"] == w.sum() and fit["n_rows"] == len(y)


def test_text_columns_match_glm_freq_weights_through_the_cli(tmp_path):
    frame = pd.read_csv(PENGUINS).dropna(subset=["sex"]).reset_index(drop=True)
    frame["w"] = _weights(len(frame), seed=3)
    data = tmp_path / "penguins.csv"
    frame[["island", "species", "bill_length_mm", "flipper_length_mm", "w", "sex"]].to_csv(data, index=False)
    run = tmp_path / "run"
    args = ["train", str(data), "--label", "sex", "--weight", "w", "--l2", "0", "--val-fraction", "0", "-q"]
    result = CliRunner().invoke(main, [*args, "--out", str(run)])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(run / "coefficients.csv").set_index("term")
    assert "w" not in table.index  # the weights are read, not fitted
    for column in ("bill_length_mm", "flipper_length_mm"):  # the model's input precision, as the fit reads them
        frame[column] = frame[column].astype(np.float32).astype(np.float64)
    glm = quiet(
        lambda: smf.glm(
            "y ~ C(island) + C(species) + bill_length_mm + flipper_length_mm",
            frame.assign(y=(frame["sex"] == "male").astype(int)),
            family=sm.families.Binomial(),
            freq_weights=frame["w"].to_numpy(),
        ).fit(tol=1e-14)
    )
    for term, value in glm.params.items():
        name = term.replace("C(island)", "island").replace("C(species)", "species")
        # 1e-5: the table is that of the model's float32 weights (the intercept, about -55 here, is off by 1.5e-6)
        assert math.isclose(table.loc[name, "estimate"], value, rel_tol=1e-5, abs_tol=1e-9), term
        assert math.isclose(table.loc[name, "std_error"], glm.bse[term], rel_tol=1e-5), term


@pytest.mark.parametrize("se", ["classical", "hc0", "cluster:school"])
def test_integer_weights_are_rows_repeated(se):
    """The same estimates, standard errors (classical, robust, clustered), log-likelihood and metrics as the fit on
    each row repeated its weight's times; the robust ones equal statsmodels' on the repeated rows too."""
    X, y = spector()
    if se.startswith("cluster"):
        X = X.assign(school=np.arange(len(y)) % 6)  # six clusters, each with rows of positive weight
    w = np.random.default_rng(1).integers(0, 4, len(y))
    w[:6] = 1
    repeated = np.repeat(np.arange(len(y)), w)
    weighted = trainer.fit(X, y, l2=0, val_fraction=0, sample_weight=w, se=se)
    plain = trainer.fit(X.iloc[repeated], y.iloc[repeated], l2=0, val_fraction=0, se=se)
    for name in ("estimate", "std_error", "p_value"):
        np.testing.assert_allclose(_column(weighted, name), _column(plain, name), rtol=2e-5, err_msg=name)
    assert math.isclose(
        weighted.coefficients.fit["log_likelihood"], plain.coefficients.fit["log_likelihood"], rel_tol=1e-7
    )
    for metric in ("log_loss", "accuracy", "roc_auc", "precision", "recall"):
        assert math.isclose(weighted.metrics["train"][metric], plain.metrics["train"][metric], rel_tol=1e-6), metric
    if se == "hc0":
        features = X.iloc[repeated]
        reference = quiet(lambda: sm.Logit(y.iloc[repeated].to_numpy(float), sm.add_constant(features)).fit(
            disp=0, cov_type="HC0"))  # fmt: skip
        np.testing.assert_allclose(_column(weighted, "std_error"), reference.bse.to_numpy(), rtol=1e-5)


def test_a_multinomial_integer_weighted_fit_is_mnlogit_on_the_rows_repeated():
    data = sm.datasets.anes96.load_pandas().data
    columns = ["logpopul", "selfLR", "age", "educ"]
    classes = np.array([f"p{int(v)}" for v in data["PID"]])
    w = np.random.default_rng(4).integers(1, 4, len(data))
    result = trainer.fit(data[columns], classes, l2=0, val_fraction=0, sample_weight=w)
    repeated = np.repeat(np.arange(len(data)), w)
    codes = pd.Series(classes).map({name: i for i, name in enumerate(result.class_names)}).to_numpy()
    reference = quiet(lambda: sm.MNLogit(codes[repeated], sm.add_constant(data[columns].iloc[repeated])).fit(
        method="newton", maxiter=100, disp=0))  # fmt: skip
    ours = {(row["class"], row["term"]): row for row in result.coefficients.rows}
    for j, column in enumerate(reference.params.columns):
        for term in reference.params.index:
            row = ours[(result.class_names[j + 1], "Intercept" if term == "const" else term)]
            assert math.isclose(row["estimate"], reference.params.loc[term, column], rel_tol=1e-5, abs_tol=1e-8)
            assert math.isclose(row["std_error"], reference.bse.loc[term, column], rel_tol=1e-5)


def test_validation_rows_are_weighted_in_the_metrics():
    X, y = spector()
    w = _weights(len(y), seed=6) + 0.5
    result = trainer.fit(X, y, l2=1e-3, val_fraction=0.3, sample_weight=w)
    rows = result.val_indices
    p = predict_proba_float64(result.model, result.dataset.X, rows)
    truth, weights = result.dataset.y[rows], w[rows]
    block = result.metrics["validation"]
    assert math.isclose(block["log_loss"], skm.log_loss(truth, p, sample_weight=weights, labels=[0, 1]), rel_tol=1e-9)
    assert math.isclose(block["accuracy"], skm.accuracy_score(truth, p.argmax(1), sample_weight=weights))
    assert math.isclose(block["roc_auc"], skm.roc_auc_score(truth, p[:, 1], sample_weight=weights))
    assert block["sum_weight"] == pytest.approx(weights.sum())


@pytest.mark.parametrize(
    ("weights", "said"),
    [
        ([-1.0], "row 0's weight is -1.0; sample_weight takes finite, non-negative numbers"),
        ([np.nan], "row 0's weight is nan"),
        ("zeros", "every weight is zero"),
        ("short", "expected one weight per row (32) for sample_weight"),
    ],
)
def test_bad_weights_are_refused_in_one_line(weights, said):
    X, y = spector()
    w = np.ones(len(y))
    if weights == "zeros":
        w[:] = 0
    elif weights == "short":
        w = w[:5]
    else:
        w[0] = weights[0]
    with pytest.raises(DataError, match=__import__("re").escape(said)):
        trainer.fit(X, y, l2=0, sample_weight=w)


def test_an_unknown_or_bad_weight_column_is_refused(tmp_path):
    X, y = spector()
    with pytest.raises(DataError, match="no column named 'count' for weight='count'"):
        trainer.fit(X, y, l2=0, weight="count")
    data = tmp_path / "spector.csv"
    X.assign(GRADE=y, count=-1).to_csv(data, index=False)
    result = CliRunner().invoke(main, ["train", str(data), "--label", "GRADE", "--weight", "count", "--out",
                                       str(tmp_path / "run"), "-q"])  # fmt: skip
    assert result.exit_code == 2 and "--weight count takes finite, non-negative numbers" in result.output
    assert "Traceback" not in result.output


def test_a_streamed_fit_refuses_weights_and_robust_errors_in_one_line(tmp_path):
    data = tmp_path / "spector.csv"
    X, y = spector()
    X.assign(GRADE=y, count=1).to_csv(data, index=False)
    for extra, said in ((["--weight", "count"], "--weight is not read by a streamed fit yet"),
                        (["--se", "hc0"], "--se applies to the coefficient table")):  # fmt: skip
        result = CliRunner().invoke(main, ["train", str(data), "--label", "GRADE", "--stream", *extra, "--out",
                                           str(tmp_path / "run"), "-q"])  # fmt: skip
        assert result.exit_code == 2 and said in result.output, result.output
