"""``--l1 auto``: the L1 strength chosen by cross-validation over a path (trainer/engine/l1_path.py), against glum's
``GeneralizedLinearRegressorCV`` and scikit-learn's ``LogisticRegressionCV(penalty="l1", solver="saga")`` given the
same standardized rows, the same folds (trainer.engine.penalty.stratified_folds) and the same grid: breast cancer
(numbers; the lasso and an elastic net), penguins with two text columns (the one-hot design of a penalized fit); the
CLI's run files and report; the refusals."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from logreg_onnx.trainer.engine.penalty import stratified_folds
from logreg_onnx.trainer.errors import OptionError

from logreg_onnx import trainer
from logreg_onnx.cli import main

from ..conftest import BREAST_CANCER, PENGUINS

glum = pytest.importorskip("glum")


def _standardized(result) -> np.ndarray:
    """The fit's design rows as its model standardizes them (float32 arithmetic, then float64 for the references)."""
    mean, scale = result.model.mean.numpy(), result.model.scale.numpy()
    return ((result.dataset.X - mean) / scale).astype(np.float64)


def _splits(y: np.ndarray, folds: int = 5, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    fold = stratified_folds(y, folds, seed)
    return [(np.flatnonzero(fold != f), np.flatnonzero(fold == f)) for f in range(folds)]


def _path(result) -> tuple[np.ndarray, np.ndarray, float]:
    path = result.metrics["l1_path"]
    grid = np.array([p["l1"] for p in path])
    means = np.array([p["mean"] for p in path])
    return grid, means, float(grid[np.argmin(means)])


def _glum_choice(X, y, grid, l1_ratio: float = 1.0, **fit):
    model = glum.GeneralizedLinearRegressorCV(
        family="binomial", alphas=grid, l1_ratio=l1_ratio, cv=_splits(y), scale_predictors=False, gradient_tol=1e-10,
        max_iter=1000,
    )  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its sigmoid clipping near 0 and 1
        model.fit(X, y, **fit)
    return float(model.alpha_), model.deviance_path_.reshape(len(_splits(y)), -1).mean(axis=0) / 2


def _breast_cancer():
    frame = pd.read_csv(BREAST_CANCER)
    y = (frame.pop("diagnosis") == "malignant").to_numpy(int)
    return frame, y


def test_breast_cancer_chooses_what_glum_and_saga_choose():
    X, y = _breast_cancer()
    result = trainer.fit(X, y, l1="auto", val_fraction=0)
    grid, means, ours = _path(result)
    assert len(grid) == 20 and grid[0] > grid[-1] and np.isclose(grid[-1] / grid[0], 1e-3)
    assert result.metrics["l1_path"][0]["zero_weights"] >= 29  # at alpha_max (nearly) every weight is 0
    Xs = _standardized(result)
    chosen, deviance = _glum_choice(Xs, y, grid)
    assert chosen == ours
    # each value's mean validation log-loss: glum's mean deviance over two, within its solver's tolerance
    np.testing.assert_allclose(means, deviance, rtol=1e-2)
    from sklearn.linear_model import LogisticRegressionCV

    n_train = np.mean([len(train) for train, _ in _splits(y)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # saga's convergence notes
        saga = LogisticRegressionCV(
            Cs=list(1.0 / (grid * n_train)), penalty="l1", solver="saga", tol=1e-4, max_iter=20000, cv=_splits(y),
            scoring="neg_log_loss",
        ).fit(Xs, y)  # fmt: skip
    assert np.isclose(1.0 / (saga.C_[0] * n_train), ours)
    # the refit is the model at the chosen value: the fit's options and table say so
    table = result.coefficients.to_json()
    assert np.isclose(table["fit"]["l1"], ours) and 0 < table["fit"]["zero_weights"] < 30
    refit = trainer.fit(X, y, l1=ours, val_fraction=0).coefficients.to_json()
    np.testing.assert_allclose(
        [r["estimate"] for r in table["rows"]], [r["estimate"] for r in refit["rows"]], rtol=1e-5, atol=1e-7
    )


def test_an_elastic_net_path_chooses_what_glum_chooses():
    X, y = _breast_cancer()
    result = trainer.fit(X, y, l1="auto", elastic_net=0.5, val_fraction=0)
    grid, _, ours = _path(result)
    chosen, _ = _glum_choice(_standardized(result), y, grid, l1_ratio=0.5)
    assert chosen == ours


def test_weights_and_offsets_reach_the_folds_as_glum_takes_them():
    """Frequency weights weigh each fold's training and validation rows; offsets join every fold's logits: glum's
    CV with ``sample_weight`` and ``offset`` on the same folds and grid chooses the same value, for ``--l1 auto`` and
    for ``--l2 auto`` (glum's ridge, ``l1_ratio=0``: its alpha is our l2)."""
    X, y = _breast_cancer()
    rng = np.random.default_rng(4)
    weights = rng.integers(1, 4, len(y)).astype(float)
    offsets = rng.normal(0.0, 1.0, len(y))
    result = trainer.fit(X, y, l1="auto", val_fraction=0, sample_weight=weights, offset=offsets)
    grid, _, ours = _path(result)
    chosen, _ = _glum_choice(_standardized(result), y, grid, sample_weight=weights, offset=offsets)
    assert chosen == ours
    ridge = trainer.fit(X, y, l2="auto", val_fraction=0, sample_weight=weights, offset=offsets)
    path = ridge.metrics["l2_path"]
    l2_grid = np.array([p["l2"] for p in path])
    chosen, _ = _glum_choice(_standardized(ridge), y, l2_grid, l1_ratio=0.0, sample_weight=weights, offset=offsets)
    assert chosen == l2_grid[np.argmin([p["mean"] for p in path])]


def test_penguins_text_columns_choose_what_glum_chooses():
    columns = ["island", "species", "bill_length_mm", "flipper_length_mm", "sex"]
    frame = pd.read_csv(PENGUINS)[columns].dropna().reset_index(drop=True)
    y = (frame.pop("sex") == "male").to_numpy(int)
    result = trainer.fit(frame, y, l1="auto", val_fraction=0)
    assert "island[Dream]" in result.feature_names  # one-hot: a penalized fit keeps every level
    grid, _, ours = _path(result)
    chosen, _ = _glum_choice(_standardized(result), y, grid)
    assert chosen == ours


def test_the_cli_writes_the_path_and_the_report(tmp_path):
    run = tmp_path / "run"
    arguments = ["train", str(BREAST_CANCER), "--label", "diagnosis", "--l1", "auto", "--report", "--out", str(run)]
    result = CliRunner().invoke(main, arguments)
    assert result.exit_code == 0, result.output
    metrics = json.loads((run / "metrics.json").read_text())
    path = metrics["l1_path"]
    assert len(path) == 20 and {"l1", "mean", "std", "folds", "zero_weights"} <= set(path[0])
    chosen = min(path, key=lambda p: p["mean"])["l1"]
    assert np.isclose(metrics["coefficients"]["fit"]["l1"], chosen)
    report = (run / "report.html").read_text()
    assert "--l1 auto" in report and "l1 penalty" in report
    assert "weights exactly 0 (the L1 penalty)" in result.output


def test_refusals():
    X, y = _breast_cancer()
    with pytest.raises(OptionError, match="0 leaves no L1 part for auto"):
        trainer.fit(X, y, l1="auto", elastic_net=0.0)
    with pytest.raises(OptionError, match="is not used with an L1 penalty"):
        trainer.fit(X, y, l1="auto", l2=0.1)
    result = CliRunner().invoke(
        main, ["train", str(BREAST_CANCER), "--label", "diagnosis", "--l1", "auto", "--stream", "--out", "/tmp/x"]
    )
    assert result.exit_code == 2 and "needs the rows in memory" in result.output, result.output
