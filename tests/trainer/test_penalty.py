"""``--l2 auto`` against scikit-learn's LogisticRegressionCV given the same standardized data, folds and grid
(``C = 1 / (l2 * training rows of a fold)``): the same validation log-loss along the path and the same choice."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from click.testing import CliRunner
from logreg_onnx.trainer.engine.penalty import GRID, stratified_folds
from sklearn.linear_model import LogisticRegressionCV

from logreg_onnx import trainer
from logreg_onnx.cli import main

from ..conftest import BREAST_CANCER, synthetic


def _balanced(n_per_class: int, n_features: int, n_classes: int, seed: int):
    """Seeded data with exactly ``n_per_class`` rows of each class, so that every fold has the same size."""
    X, y = synthetic(n_per_class * n_classes * 3, n_features, n_classes, seed=seed, noise=0.7)
    keep = np.concatenate([np.flatnonzero(y == k)[:n_per_class] for k in range(n_classes)])
    assert len(keep) == n_per_class * n_classes
    keep.sort()
    return X[keep], y[keep]


@pytest.mark.parametrize(("n_classes", "n_features"), [(2, 6), (3, 4)])
def test_the_path_and_the_choice_match_logistic_regression_cv(n_classes, n_features):
    folds = 5
    X, y = _balanced(200, n_features, n_classes, seed=n_classes)
    result = trainer.fit(X, y, l2="auto", val_fraction=0, folds=folds, seed=3)
    path = result.metrics["l2_path"]
    assert [p["l2"] for p in path] == list(GRID)
    fold = stratified_folds(y, folds, seed=3)
    splits = [(np.flatnonzero(fold != f), np.flatnonzero(fold == f)) for f in range(folds)]
    n_fold_train = len(splits[0][0])
    assert all(len(train) == n_fold_train for train, _ in splits)
    standardized = (X.astype(np.float32) - result.model.mean.numpy()) / result.model.scale.numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = LogisticRegressionCV(
            Cs=[1.0 / (l2 * n_fold_train) for l2 in GRID],
            cv=splits,
            scoring="neg_log_loss",
            tol=1e-10,
            max_iter=10_000,
        ).fit(standardized.astype(np.float64), y)
    scores = -next(iter(reference.scores_.values())).mean(axis=0)
    np.testing.assert_allclose([p["mean"] for p in path], scores, rtol=1e-4)
    best = int(np.argmin(scores))
    assert result.options["l2"] == GRID[best]
    assert reference.C_[0] == pytest.approx(1.0 / (GRID[best] * n_fold_train))
    assert 0 < best < len(GRID) - 1  # an interior optimum: the comparison means something


def test_train_l2_auto_records_the_path_and_refits(tmp_path):
    run = tmp_path / "run"
    result = CliRunner().invoke(
        main, ["train", str(BREAST_CANCER), "--label", "diagnosis", "--l2", "auto", "--out", str(run), "-q", "--report"]
    )
    assert result.exit_code == 0, result.output
    import json

    metrics = json.loads((run / "metrics.json").read_text())
    chosen = metrics["options"]["l2"]
    means = {p["l2"]: p["mean"] for p in metrics["l2_path"]}
    assert chosen == min(means, key=means.get) and len(means) == 13
    assert "Penalty path" in (run / "report.html").read_text()


def test_l2_must_be_a_number_or_auto():
    result = CliRunner().invoke(main, ["train", str(BREAST_CANCER), "--label", "diagnosis", "--l2", "strong"])
    assert result.exit_code == 2
    assert "--l2 must be a number or auto, got 'strong'" in result.output
