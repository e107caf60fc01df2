"""class_weight as a weight per class ({label: weight}, ``--class-weight LABEL=W,...``): the optimum of
scikit-learn's LogisticRegression(class_weight={...}) in memory, streamed and through the estimator; its errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from logreg_onnx.trainer.data.dataset import load_dataset
from logreg_onnx.trainer.engine.training import fit_dataset, predict_proba_float64
from logreg_onnx.trainer.errors import OptionError
from logreg_onnx.trainer.estimator import LogisticRegressionClassifier
from logreg_onnx.trainer.options import FitOptions, ReadOptions, StreamOptions
from logreg_onnx.trainer.scale.streaming import fit_stream
from sklearn.linear_model import LogisticRegression

from logreg_onnx import trainer
from logreg_onnx.cli import main

from ..conftest import PENGUINS, synthetic


def _reference(X, y, class_weight):
    """scikit-learn's unpenalized optimum with those class weights, on the float32 values the model sees."""
    X64 = X.astype(np.float32).astype(np.float64)
    return LogisticRegression(C=np.inf, class_weight=class_weight, tol=1e-12, max_iter=100_000).fit(X64, y)


def test_binary_weights_give_sklearns_coefficients():
    X, y = synthetic(1500, 3, 2, seed=11)
    weights = {0: 4.0, 1: 0.25}
    clf = LogisticRegressionClassifier(l2=0.0, class_weight=weights).fit(X, y)
    reference = _reference(X, y, weights)
    np.testing.assert_allclose(clf.coef_, reference.coef_, rtol=1e-4)
    np.testing.assert_allclose(clf.intercept_, reference.intercept_, rtol=1e-4, atol=1e-6)
    unweighted = LogisticRegressionClassifier(l2=0.0).fit(X, y)
    assert not np.allclose(unweighted.coef_, reference.coef_, rtol=1e-2)  # the weights matter here


def test_multiclass_weights_give_sklearns_probabilities_and_string_labels_match():
    X, y_index = synthetic(1200, 3, 3, seed=12)
    labels = np.array(["ant", "bee", "cow"])[y_index]
    weights = {"ant": 2.0, "cow": 0.5}  # bee not named: weight 1, as in scikit-learn
    result = trainer.fit(X, labels, l2=0.0, val_fraction=0, class_weight=weights)
    reference = _reference(X, labels, weights)
    probabilities = predict_proba_float64(result.model, X.astype(np.float32), np.arange(len(X)))
    np.testing.assert_allclose(probabilities, reference.predict_proba(X.astype(np.float32)), atol=2e-5)
    assert result.options["class_weight"] == {"ant": 2.0, "cow": 0.5}


def test_the_balanced_weights_as_a_mapping_give_the_balanced_fit():
    X, y = synthetic(800, 3, 2, seed=13)
    counts = np.bincount(y)
    mapping = {k: len(y) / (2 * counts[k]) for k in (0, 1)}
    balanced = trainer.fit(X, y, val_fraction=0, class_weight="balanced")
    mapped = trainer.fit(X, y, val_fraction=0, class_weight=mapping)
    np.testing.assert_allclose(
        mapped.model.linear.weight.detach().numpy(), balanced.model.linear.weight.detach().numpy(), rtol=1e-5
    )


def test_a_streamed_fit_weighs_as_in_memory():
    read = ReadOptions(label="species")
    opts = FitOptions(val_fraction=0.0, class_weight={"Adelie": 0.5, "Gentoo": 3.0})
    streamed = fit_stream(PENGUINS, read, opts, StreamOptions(chunk_rows=60))
    in_memory = fit_dataset(load_dataset(PENGUINS, read), opts)
    assert streamed.metrics["train"]["objective"] == pytest.approx(in_memory.metrics["train"]["objective"], rel=1e-6)
    np.testing.assert_allclose(
        streamed.model.linear.weight.detach().numpy(), in_memory.model.linear.weight.detach().numpy(), atol=1e-4
    )
    with pytest.raises(OptionError, match=r"^class_weight names 'Emperor', not a class of the labels; the classes"):
        fit_stream(PENGUINS, read, FitOptions(class_weight={"Emperor": 2.0}), StreamOptions(chunk_rows=60))


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            {0: 1.0, 7: 2.0, "x": 1.0},
            r"^class_weight names 7, 'x', not a class of the labels; the classes are '0', '1'$",
        ),
        ({0: -1.0}, r"^class_weight gives class 0 the weight -1.0; weights must be positive numbers$"),
        ({1: float("nan")}, r"^class_weight gives class 1 the weight nan; weights must be positive numbers$"),
        ({1: "2"}, r"^class_weight gives class 1 the weight '2'; weights must be positive numbers$"),
        ("heavy", r"^class_weight must be balanced, none or LABEL=W,LABEL=W \(a weight per class\); got 'heavy'$"),
        ([1.0, 2.0], r"^class_weight must be balanced, none or a dict \{label: weight\}; got list \[1.0, 2.0\]$"),
    ],
)
def test_bad_weights_are_named_in_one_line(value, message):
    X, y = synthetic(50, 2, 2, seed=1)
    with pytest.raises(OptionError, match=message):
        trainer.fit(X, y, class_weight=value)


def test_the_command_line_takes_label_weight_pairs(tmp_path):
    out = tmp_path / "run"
    args = ["train", str(PENGUINS), "--label", "species", "--val-fraction", "0", "-q", "--out", str(out)]
    result = CliRunner().invoke(main, [*args, "--class-weight", "Adelie=0.5,Gentoo=3"])
    assert result.exit_code == 0, result.output
    options = json.loads((out / "metrics.json").read_text())["options"]
    assert options["class_weight"] == {"Adelie": 0.5, "Gentoo": 3.0}
    in_memory = fit_dataset(
        load_dataset(PENGUINS, ReadOptions(label="species")),
        FitOptions(val_fraction=0.0, class_weight={"Adelie": 0.5, "Gentoo": 3.0}),
    )
    written = json.loads((out / "metrics.json").read_text())["train"]["objective"]
    assert written == pytest.approx(in_memory.metrics["train"]["objective"], rel=1e-9)
    for value, said in (
        ("Adelie=0.5,Emperor=2", "--class-weight names 'Emperor', not a class of the labels; the classes are"),
        ("Adelie=heavy", "--class-weight gives class 'Adelie' the weight 'heavy'; weights must be positive numbers"),
        ("Adelie", "--class-weight must be balanced, none or LABEL=W,LABEL=W"),
    ):
        bad = CliRunner().invoke(main, [*args, "--class-weight", value])
        assert bad.exit_code == 2, bad.output
        assert said in bad.output and "Traceback" not in bad.output
