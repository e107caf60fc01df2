"""Calibration (Brier score, expected calibration error, reliability bins) against scikit-learn, the threshold rules
against scikit-learn's metrics, and the chosen threshold baked into the exported graph's label output."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from logreg_onnx.trainer.errors import OptionError
from logreg_onnx.trainer.stats.calibration import GRID, ThresholdRule, calibration, choose_threshold
from sklearn.calibration import calibration_curve
from sklearn.metrics import brier_score_loss, confusion_matrix, f1_score, roc_curve

from logreg_onnx import runtime
from logreg_onnx.cli import main

from ..conftest import BREAST_CANCER


def _scores(seed: int = 0, n: int = 2000):
    rng = np.random.default_rng(seed)
    p = rng.beta(2, 3, n)
    y = (rng.random(n) < p**1.3).astype(int)  # not calibrated on purpose
    return y, np.stack([1 - p, p], axis=1)


def test_binary_calibration_matches_scikit_learn():
    y, probabilities = _scores()
    found = calibration(y, probabilities)
    assert found["brier"] == pytest.approx(brier_score_loss(y, probabilities[:, 1]), rel=1e-12)
    observed, predicted = calibration_curve(y, probabilities[:, 1], n_bins=10, strategy="uniform")
    np.testing.assert_allclose([b["observed"] for b in found["bins"]], observed, rtol=1e-12)
    np.testing.assert_allclose([b["mean_predicted"] for b in found["bins"]], predicted, rtol=1e-12)
    counts = np.array([b["count"] for b in found["bins"]])
    assert counts.sum() == len(y)
    assert found["ece"] == pytest.approx(float((counts / len(y) * np.abs(observed - predicted)).sum()), rel=1e-12)


def test_multiclass_brier_is_the_sum_over_classes():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(500, 4))
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    y = rng.integers(0, 4, 500)
    found = calibration(y, probabilities)
    assert found["brier"] == pytest.approx(float(((probabilities - np.eye(4)[y]) ** 2).sum(axis=1).mean()))
    assert found["of"] == "top class"


def test_threshold_rules_pick_what_scikit_learn_metrics_say():
    y, probabilities = _scores(2)
    p = probabilities[:, 1]
    f1 = [f1_score(y, p > t) for t in GRID]
    chosen, _ = choose_threshold(ThresholdRule.parse("f1"), y, p)
    assert f1[list(GRID).index(chosen)] == pytest.approx(max(f1))
    youden = []
    for t in GRID:
        tn, fp, fn, tp = confusion_matrix(y, p > t, labels=[0, 1]).ravel()
        youden.append(tp / (tp + fn) - fp / (fp + tn))
    chosen, _ = choose_threshold(ThresholdRule.parse("youden"), y, p)
    assert youden[list(GRID).index(chosen)] == pytest.approx(max(youden))
    fpr, tpr, _ = roc_curve(y, p)
    assert max(youden) <= (tpr - fpr).max() + 1e-12  # the grid cannot beat the exact curve
    chosen, _ = choose_threshold(ThresholdRule.parse("cost:FP=1,FN=5"), y, p)
    costs = [(((p > t) & (y == 0)).sum() + 5 * ((p <= t) & (y == 1)).sum()) / len(y) for t in GRID]
    assert costs[list(GRID).index(chosen)] == pytest.approx(min(costs))
    assert chosen < 0.5  # false negatives cost more: a lower threshold
    assert choose_threshold(ThresholdRule.parse("0.3"), y, p)[0] == 0.3


@pytest.mark.parametrize("text", ["1.5", "0", "best", "cost:FP=-1,FN=2", "cost:FP=0,FN=0"])
def test_bad_thresholds_are_refused(text):
    with pytest.raises(OptionError, match="threshold"):
        ThresholdRule.parse(text)


def test_the_chosen_threshold_is_baked_into_the_graph_and_verified(tmp_path):
    run = tmp_path / "run"
    result = CliRunner().invoke(
        main,
        [
            "train",
            str(BREAST_CANCER),
            "--label",
            "diagnosis",
            "--threshold",
            "cost:FP=1,FN=10",
            "--out",
            str(run),
            "-q",
            "--export",
        ],
    )
    assert result.exit_code == 0, result.output
    metrics = json.loads((run / "metrics.json").read_text())
    threshold = metrics["threshold"]["value"]
    assert metrics["threshold"]["rule"] == "cost:FP=1,FN=10" and threshold < 0.5
    assert len(metrics["thresholds"]) == len(GRID) and "calibration" in metrics["validation"]
    model = runtime.load(run / "model.onnx")
    assert model.threshold == threshold
    X = np.loadtxt(BREAST_CANCER, delimiter=",", skiprows=1, usecols=range(30), dtype=np.float32)
    labels, probabilities = model.run(X)
    np.testing.assert_array_equal(labels, (probabilities[:, 1] > np.float32(threshold)).astype(np.int64))
    assert (labels != probabilities.argmax(axis=1)).any()  # the threshold changes some decisions here
    parity = json.loads((run / "parity.json").read_text())
    assert parity["passed"] and any(
        r["runtime"] == "onnx.reference" and r["output"] == "label" for r in parity["results"]
    )


def test_a_threshold_rule_on_a_multiclass_model_is_refused(tmp_path):
    from ..conftest import synthetic

    X, y = synthetic(300, 3, 3, seed=4)
    np.savez(tmp_path / "three.npz", X=X, y=y)
    result = CliRunner().invoke(
        main, ["train", str(tmp_path / "three.npz"), "--threshold", "f1", "-q", "--out", str(tmp_path / "run")]
    )
    assert result.exit_code == 2
    assert "--threshold applies to binary models; this one has 3 classes" in result.output
