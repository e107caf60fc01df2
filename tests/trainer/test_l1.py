"""``--l1`` and ``--elastic-net``: the penalized objective at our optimum against glum's (``alpha = l1``,
``l1_ratio = elastic_net``) and scikit-learn's saga (``C = 1 / (l1 * rows)``, the same ``l1_ratio``) on the same
standardized design, to 1e-6 relative, with the same coefficients exactly 0: breast cancer (30 correlated numeric
features), penguins with text columns (through the CLI), and a multinomial fit (saga only: glum has no softmax)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import glum
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from logreg_onnx.trainer.errors import OptionError
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression

from logreg_onnx import trainer
from logreg_onnx.cli import main

PENGUINS = Path(__file__).resolve().parents[2] / "examples" / "penguins" / "penguins.csv"


def _standardized(result):
    """The design the fit penalizes (its rows standardized as the model does) and the model's [W | b] there."""
    model = result.model
    mean, scale = model.mean.double().numpy(), model.scale.double().numpy()
    Xs = (result.dataset.X.astype(np.float64) - mean) / scale
    W = model.linear.weight.detach().double().numpy()
    b = model.linear.bias.detach().double().numpy()
    return Xs, W, b


def _objective(Xs, y, W, b, l1, share):
    Z = Xs @ W.T + b
    if Z.shape[1] == 1:
        loss = np.mean(np.logaddexp(0, Z[:, 0]) - y * Z[:, 0])
    else:
        loss = np.mean(np.logaddexp.reduce(Z, axis=1) - Z[np.arange(len(y)), y])
    return loss + l1 * (share * np.abs(W).sum() + (1 - share) / 2 * (W**2).sum())


def _glum(Xs, y, l1, share):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its line search's chatter at the last digits
        model = glum.GeneralizedLinearRegressor(
            family="binomial", alpha=l1, l1_ratio=share, gradient_tol=1e-12, max_iter=1000, scale_predictors=False
        ).fit(Xs, y)
    return model.coef_[None, :], np.array([model.intercept_])


def _saga(Xs, y, l1, share):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = LogisticRegression(C=1 / (l1 * len(y)), l1_ratio=share, solver="saga", tol=1e-13, max_iter=200_000)
        model.fit(Xs, y)
    if len(model.classes_) == 2:
        return model.coef_, model.intercept_
    return model.coef_, model.intercept_


def _check(result, y, l1, share, references=("glum", "saga")):
    Xs, W, b = _standardized(result)
    ours = _objective(Xs, y, W, b, l1, share)
    assert (W == 0).sum() > 0, "a penalty this strong zeroes some weights"
    for name in references:
        coef, intercept = (_glum if name == "glum" else _saga)(Xs, y, l1, share)
        theirs = _objective(Xs, y, coef, intercept, l1, share)
        assert ours <= theirs * (1 + 1e-6) and theirs <= ours * (1 + 1e-6), (name, ours, theirs)
        if name == "glum":  # its coordinate descent ends on exact zeros; saga's stochastic steps leave ~1e-9 dust
            np.testing.assert_array_equal(W == 0, coef == 0, err_msg=name)
        else:
            np.testing.assert_array_equal(W == 0, np.abs(coef) < 1e-6 * np.abs(coef).max(), err_msg=name)


@pytest.mark.parametrize(("l1", "share"), [(0.01, 1.0), (0.003, 1.0), (0.02, 0.5)])
def test_breast_cancer_matches_glum_and_saga(l1, share):
    X, y = load_breast_cancer(return_X_y=True)
    result = trainer.fit(X, y, l1=l1, elastic_net=None if share == 1 else share, val_fraction=0)
    assert result.converged
    _check(result, y, l1, share)
    fit = result.coefficients.fit
    assert fit["zero_weights"] == int((result.model.linear.weight == 0).sum()) and fit["weights"] == 30
    assert not result.coefficients.classical and "penalty (l1" in result.coefficients.note


def test_text_columns_through_the_cli(tmp_path):
    frame = pd.read_csv(PENGUINS).dropna().reset_index(drop=True)
    data = tmp_path / "penguins.csv"
    frame.drop(columns="year").to_csv(data, index=False)
    run = tmp_path / "run"
    args = ["train", str(data), "--label", "sex", "--l1", "0.02", "--elastic-net", "0.8", "--val-fraction", "0"]
    result = CliRunner().invoke(main, [*args, "--out", str(run)])
    assert result.exit_code == 0, result.output
    assert "elastic-net penalty (l1 0.016, l2 0.004)" in result.output
    assert "\nproximal-newton: converged" in result.output
    assert " weights exactly 0 (the L1 penalty)" in result.output
    y = (frame["sex"] == "male").to_numpy(int)
    fitted = trainer.fit(frame.drop(columns=["year", "sex"]), frame["sex"], l1=0.02, elastic_net=0.8, val_fraction=0)
    assert any(name.startswith("species[") for name in fitted.dataset.feature_names)
    _check(fitted, y, 0.02, 0.8)
    table = json.loads((run / "metrics.json").read_text())["coefficients"]
    np.testing.assert_allclose([r["estimate"] for r in table["rows"]],
                               [r["estimate"] for r in fitted.coefficients.rows])  # fmt: skip
    options = json.loads((run / "metrics.json").read_text())["options"]
    assert options["l1"] == 0.02 and options["elastic_net"] == 0.8 and options["solver"] == "proximal-newton"


def test_multinomial_matches_saga():
    frame = pd.read_csv(PENGUINS).dropna().reset_index(drop=True)
    X = frame[["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"]]
    result = trainer.fit(X, frame["species"], l1=0.05, val_fraction=0)
    y = pd.Categorical(frame["species"], categories=result.class_names).codes.astype(int)
    _check(result, y, 0.05, 1.0, references=("saga",))


@pytest.mark.parametrize(
    ("options", "parameter", "words"),
    [
        ({"elastic_net": 0.5}, "elastic_net", "give its strength with"),
        ({"l1": 0.1, "l2": 0.5}, "l2", "is not used with an L1 penalty"),
        ({"l1": 0.1, "optimizer": "sgd"}, "l1", "solved exactly by proximal Newton"),
        ({"l1": 0.1, "penalty": "firth"}, "l1", "does not combine with penalty=firth"),
        ({"l1": -1.0}, "l1", "must be at least 0"),
        ({"l1": 0.1, "elastic_net": 1.5}, "elastic_net", r"must be in \[0, 1\]"),
    ],
)
def test_refusals(options, parameter, words):
    X, y = load_breast_cancer(return_X_y=True)
    with pytest.raises(OptionError, match=words) as caught:
        trainer.fit(X, y, **options)
    assert caught.value.parameter == parameter


def test_a_streamed_fit_refuses_l1_in_one_line(tmp_path):
    X, y = load_breast_cancer(return_X_y=True)
    data = tmp_path / "cancer.csv"
    pd.DataFrame(X[:, :3], columns=["a", "b", "c"]).assign(y=y).to_csv(data, index=False)
    result = CliRunner().invoke(main, ["train", str(data), "--label", "y", "--stream", "--l1", "0.1",
                                       "--out", str(tmp_path / "run"), "-q"])  # fmt: skip
    assert result.exit_code == 2 and "--l1 needs the rows in memory" in result.output, result.output
