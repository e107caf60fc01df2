"""``--offset COL`` / ``fit(offset=o)``: a known term of a binary model's logit, against statsmodels' ``Logit`` and
``GLM(family=Binomial())`` with ``offset=`` (params, standard errors, log-likelihoods and the null model with the
offset), on breast cancer (numbers, the Python API and the estimator) and penguins (two text columns, the CLI); with
frequency weights too; and the refusals."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from click.testing import CliRunner
from logreg_onnx.trainer.engine.training import dataset_from_arrays
from logreg_onnx.trainer.errors import DataError, OptionError
from logreg_onnx.trainer.estimator import LogisticRegressionClassifier
from logreg_onnx.trainer.options import FitOptions

from logreg_onnx import trainer
from logreg_onnx.cli import main

from ..conftest import BREAST_CANCER, PENGUINS
from .references import treatment_design

# well-conditioned columns of the breast cancer data (radius, texture, smoothness, symmetry, fractal dimension):
# the others are near-collinear with radius, which puts the float32 weights' rounding at 1e-6 of the estimates
COLUMNS = ["mean_radius", "mean_texture", "mean_smoothness", "mean_symmetry", "mean_fractal_dimension"]


def _breast_cancer():
    frame = pd.read_csv(BREAST_CANCER)
    X = frame[COLUMNS].to_numpy(np.float32).astype(np.float64)  # what the model sees: float32 values
    y = (frame["diagnosis"] == sorted(frame["diagnosis"].unique())[1]).to_numpy(int)
    offset = np.random.default_rng(0).normal(0.0, 1.0, len(y))
    return X, y, offset


def _column(table: dict, name: str) -> np.ndarray:
    return np.array([row[name] for row in table["rows"]], dtype=float)


def _check(table: dict, reference, *, rtol: float = 1e-6) -> None:
    np.testing.assert_allclose(_column(table, "estimate"), np.asarray(reference.params), rtol=rtol)
    np.testing.assert_allclose(_column(table, "std_error"), np.asarray(reference.bse), rtol=1e-5)
    np.testing.assert_allclose(table["fit"]["log_likelihood"], reference.llf, rtol=1e-7)
    np.testing.assert_allclose(table["fit"]["null_log_likelihood"], reference.llnull, rtol=1e-7)


def test_python_api_matches_statsmodels_logit_with_an_offset():
    X, y, offset = _breast_cancer()
    result = trainer.fit(X, y, offset=offset, l2=0, val_fraction=0)
    reference = sm.Logit(y, sm.add_constant(X), offset=offset).fit(disp=0, tol=1e-12, maxiter=100)
    table = result.coefficients.to_json()
    _check(table, reference)
    assert table["fit"]["offset"] == "offset"
    # the offset is not a coefficient: without it the estimates move
    plain = trainer.fit(X, y, l2=0, val_fraction=0).coefficients.to_json()
    assert np.abs(_column(plain, "estimate") - _column(table, "estimate")).max() > 0.01
    # the metrics are those of the logits with the offset: statsmodels' predictions
    expected = reference.predict(sm.add_constant(X), offset=offset)
    log_loss = -np.mean(y * np.log(expected) + (1 - y) * np.log(1 - expected))
    np.testing.assert_allclose(result.metrics["train"]["log_loss"], log_loss, rtol=1e-6)


def test_frequency_weights_with_an_offset_match_statsmodels_glm():
    X, y, offset = _breast_cancer()
    weights = np.random.default_rng(1).integers(1, 4, len(y)).astype(float)
    result = trainer.fit(X, y, offset=offset, sample_weight=weights, l2=0, val_fraction=0)
    reference = sm.GLM(y, sm.add_constant(X), family=sm.families.Binomial(), offset=offset, freq_weights=weights)
    fitted = reference.fit(tol=1e-13, maxiter=200)
    table = result.coefficients.to_json()
    np.testing.assert_allclose(_column(table, "estimate"), fitted.params, rtol=1e-6)
    np.testing.assert_allclose(_column(table, "std_error"), fitted.bse, rtol=1e-5)
    np.testing.assert_allclose(table["fit"]["log_likelihood"], fitted.llf, rtol=1e-7)
    # robust standard errors follow the offset too (HC0, as statsmodels' GLM)
    robust = trainer.fit(X, y, offset=offset, l2=0, val_fraction=0, se="hc0").coefficients.to_json()
    hc0 = sm.GLM(y, sm.add_constant(X), family=sm.families.Binomial(), offset=offset).fit(cov_type="HC0", tol=1e-13)
    np.testing.assert_allclose(_column(robust, "std_error"), hc0.bse, rtol=1e-5)


def test_estimator_takes_the_offset_in_fit_and_predict():
    X, y, offset = _breast_cancer()
    estimator = LogisticRegressionClassifier(l2=0).fit(X, y, offset=offset)
    reference = sm.Logit(y, sm.add_constant(X), offset=offset).fit(disp=0, tol=1e-12, maxiter=100)
    new_offset = np.linspace(-3, 3, len(y))
    np.testing.assert_allclose(
        estimator.predict_proba(X, offset=new_offset)[:, 1],
        reference.predict(sm.add_constant(X), offset=new_offset),
        rtol=1e-5,
        atol=1e-6,
    )
    # without one, 0: statsmodels' prediction with a zero offset
    np.testing.assert_allclose(
        estimator.predict_proba(X)[:, 1], reference.predict(sm.add_constant(X), offset=np.zeros(len(y))), atol=1e-6
    )
    with pytest.raises(DataError, match="one offset per row"):
        estimator.predict_proba(X, offset=new_offset[:5])
    plain = LogisticRegressionClassifier().fit(X, y)
    with pytest.raises(DataError, match="fitted without an offset"):
        plain.predict_proba(X, offset=new_offset)


def _penguins(tmp_path):
    """Penguins' sex from the measurements, island and species (two text columns), rows with a gap left out, and a
    known offset column; the CSV and the frame. The columns of test_weights.py's penguins fit: with the body mass,
    bill depth and year too the design is ill-conditioned enough (Gentoo all on Biscoe, the year's spread tiny next
    to its size) that the float32 rows move the standard errors by 1e-5."""
    columns = ["island", "species", "bill_length_mm", "flipper_length_mm", "sex"]
    frame = pd.read_csv(PENGUINS)[columns].dropna().reset_index(drop=True)
    frame["prior"] = np.round(np.random.default_rng(2).normal(0.0, 0.8, len(frame)), 4)
    path = tmp_path / "penguins.csv"
    frame.to_csv(path, index=False)
    return path, frame


def test_cli_with_text_columns_matches_statsmodels(tmp_path):
    path, frame = _penguins(tmp_path)
    run = tmp_path / "run"
    arguments = ["train", str(path), "--label", "sex", "--offset", "prior", "--l2", "0", "--val-fraction", "0"]
    result = CliRunner().invoke(main, [*arguments, "--out", str(run), "--report"])
    assert result.exit_code == 0, result.output
    assert (
        "the logit includes the offset &#x27;prior&#x27; (coefficient 1, not fitted)"
        in (run / "report.html").read_text()
    )
    assert "4 features (2 numeric, 2 categorical: island, species)" in result.output  # prior is not a feature
    assert "the logit includes the offset 'prior' (coefficient 1, not fitted)" in result.output
    table = json.loads((run / "metrics.json").read_text())["coefficients"]
    terms = [row["term"] for row in table["rows"]]
    assert "prior" not in terms and any(t.startswith("island[T.") for t in terms)
    y = (frame["sex"] == "male").to_numpy(int)
    offset = frame["prior"].to_numpy(np.float32).astype(float)  # read as float32, as every numeric column
    reference = sm.Logit(y, treatment_design(frame, terms), offset=offset).fit(disp=0, tol=1e-12, maxiter=100)
    # 1e-5 on the estimates, as test_weights.py's fit of these columns: the table is that of the model's float32
    # weights, and the intercept (-63, the flipper length's mean is 200) is off by 1.4e-6
    _check(table, reference, rtol=1e-5)
    info = CliRunner().invoke(main, ["export", str(run)])
    assert info.exit_code == 0, info.output


def test_refusals(tmp_path):
    X, y, offset = _breast_cancer()
    with pytest.raises(OptionError, match="sgd does not take an offset"):
        trainer.fit(X, y, offset=offset, optimizer="sgd")
    with pytest.raises(OptionError, match="firth does not take an offset"):
        trainer.fit(X, y, offset=offset, penalty="firth")
    three = np.arange(len(y)) % 3
    with pytest.raises(OptionError, match="these labels have 3 classes"):
        trainer.fit(X, three, offset=offset)
    bad = offset.copy()
    bad[7] = np.nan
    with pytest.raises(DataError, match="row 7's offset is nan"):
        trainer.fit(X, y, offset=bad)
    with pytest.raises(DataError, match=r"one offset per row \(569\)"):
        trainer.fit(X, y, offset=offset[:10])
    frame = pd.DataFrame(X, columns=COLUMNS).assign(prior=offset)
    column = trainer.fit(frame, y, offset="prior", l2=0, val_fraction=0).coefficients.to_json()
    values = trainer.fit(X, y, offset=offset, l2=0, val_fraction=0).coefficients.to_json()
    np.testing.assert_allclose(_column(column, "estimate"), _column(values, "estimate"), rtol=1e-5)
    with pytest.raises(DataError, match="both give offsets"):
        dataset_from_arrays(frame, y, None, FitOptions(offset="prior"), offset=offset)
    path, _ = _penguins(tmp_path)
    runner = CliRunner()
    for arguments, words in (
        (["--offset", "nope"], "no column named 'nope' for --offset nope"),
        (["--offset", "island"], "expected numbers for --offset island"),
        (["--offset", "prior", "--stream"], "--offset is not read by a streamed fit yet"),
    ):
        result = runner.invoke(main, ["train", str(path), "--label", "sex", *arguments, "--out", str(tmp_path / "r")])
        assert result.exit_code == 2, result.output
        assert words in result.output, result.output
        assert "Traceback" not in result.output
