"""L-BFGS reaches the optimum of independent solvers: statsmodels (maximum likelihood) and scikit-learn (penalized)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import statsmodels.api as sm
from logreg_onnx.trainer.engine.training import SeparableDataWarning
from sklearn.datasets import load_breast_cancer, load_iris
from sklearn.linear_model import LogisticRegression

from logreg_onnx import trainer

from ..conftest import synthetic

REL = 1e-6


def as_model_sees_it(X: np.ndarray) -> np.ndarray:
    """Features are float32 in the model contract; the references get the same rounded values in float64."""
    return X.astype(np.float32).astype(np.float64)


def _datasets():
    iris_X, iris_y = load_iris(return_X_y=True)
    yield "iris-multiclass", iris_X, iris_y
    # breast cancer with a few features is not separable, so its ML optimum is finite
    bc_X, bc_y = load_breast_cancer(return_X_y=True)
    yield "breast-cancer-5-features", bc_X[:, [0, 1, 4, 8, 9]], bc_y
    yield "synthetic-binary", *synthetic(3000, 6, 2, seed=1)
    yield "synthetic-4-class-offset", *synthetic(2000, 5, 4, seed=2, offset=1000.0)


def _statsmodels_ml_loss(X, y) -> float:
    # The maximum likelihood is invariant to an affine change of each feature; standardizing keeps statsmodels'
    # Newton iterations well conditioned on the offset, mixed-scale synthetic data.
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    model = sm.Logit if len(np.unique(y)) == 2 else sm.MNLogit
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = model(y, sm.add_constant(X)).fit(method="newton", maxiter=200, tol=1e-12, disp=0)
    return -result.llf / len(y)


@pytest.mark.parametrize("name,X,y", list(_datasets()), ids=lambda v: v if isinstance(v, str) else "")
def test_lbfgs_without_penalty_reaches_statsmodels_maximum_likelihood(name, X, y):
    if name.startswith("iris"):  # setosa is linearly separable from the other two: partial separation
        with pytest.warns(SeparableDataWarning, match="class '0' is perfectly separated from the others"):
            result = trainer.fit(X, y, optimizer="lbfgs", l2=0.0, val_fraction=0)
        assert result.separated_classes == ["0"] and not result.converged
        assert "where floating-point precision ends" in result.stop_reason
    else:
        result = trainer.fit(X, y, optimizer="lbfgs", l2=0.0, val_fraction=0)
        assert result.converged and not result.separated_classes
    reference = _statsmodels_ml_loss(as_model_sees_it(X), y)
    ours = result.metrics["train"]["log_loss"]
    assert ours == pytest.approx(reference, rel=REL), (name, ours, reference)


@pytest.mark.parametrize("name,X,y", list(_datasets()), ids=lambda v: v if isinstance(v, str) else "")
@pytest.mark.parametrize("l2", [1e-3, 0.1])
def test_lbfgs_with_penalty_reaches_sklearn_penalized_optimum(name, X, y, l2):
    result = trainer.fit(X, y, optimizer="lbfgs", l2=l2, val_fraction=0)
    # scikit-learn minimizes C * sum(loss) + ||w||^2 / 2, i.e. mean(loss) + ||w||^2 / (2 C n): C = 1 / (l2 n)
    X = as_model_sees_it(X)
    Xs = (X - X.mean(axis=0)) / X.std(axis=0)
    reference = LogisticRegression(C=1 / (l2 * len(y)), tol=1e-12, max_iter=100_000).fit(Xs, y)
    P = reference.predict_proba(Xs)
    reference_objective = -np.mean(np.log(P[np.arange(len(y)), np.searchsorted(reference.classes_, y)]))
    reference_objective += 0.5 * l2 * float((reference.coef_**2).sum())
    assert result.metrics["train"]["objective"] == pytest.approx(reference_objective, rel=REL)


def test_balanced_class_weight_matches_sklearn():
    X, y = synthetic(2000, 4, 2, seed=5)
    keep = (y == 1) | (np.arange(len(y)) % 4 == 0)  # make class 0 rare
    X, y = X[keep], y[keep]
    l2 = 1e-2
    result = trainer.fit(X, y, l2=l2, val_fraction=0, class_weight="balanced")
    Xs = (X - X.mean(axis=0)) / X.std(axis=0)
    # with balanced weights summing to n, scikit-learn's objective is the weighted mean loss + ||w||^2 / (2 C n)
    reference = LogisticRegression(C=1 / (l2 * len(y)), class_weight="balanced", tol=1e-12, max_iter=100_000)
    reference.fit(Xs, y)
    ours_w = result.model.linear.weight.detach().double().numpy()
    np.testing.assert_allclose(ours_w, reference.coef_, rtol=1e-4, atol=1e-6)


def test_separable_data_without_penalty_stops_and_warns():
    X, y = load_breast_cancer(return_X_y=True)  # all 30 features separate the classes
    with pytest.warns(SeparableDataWarning, match="linearly separable"):
        result = trainer.fit(X, y, l2=0.0, val_fraction=0, epochs=300)
    assert not result.converged
    assert np.isfinite(result.model.linear.weight.detach().numpy()).all()
    assert result.metrics["train"]["accuracy"] == 1.0


@pytest.mark.parametrize("algorithm", ["sgd", "adam"])
def test_minibatch_gets_close_to_the_optimum(algorithm):
    X, y = synthetic(4000, 5, 3, seed=3)
    exact = trainer.fit(X, y, optimizer="lbfgs", l2=1e-3, val_fraction=0)
    approx = trainer.fit(X, y, optimizer=algorithm, l2=1e-3, val_fraction=0.2, epochs=60, batch_size=64)
    assert approx.metrics["train"]["log_loss"] == pytest.approx(exact.metrics["train"]["log_loss"], rel=0.05)
    assert len(approx.history) <= 60


def test_early_stopping_stops_and_restores_best_epoch():
    X, y = synthetic(600, 3, 2, seed=4)
    result = trainer.fit(X, y, optimizer="adam", lr=0.5, l2=0.0, epochs=200, patience=3)
    val_losses = [r["val_loss"] for r in result.history]
    assert len(result.history) < 200 and "early stopping" in result.stop_reason
    assert result.metrics["validation"]["log_loss"] == pytest.approx(min(val_losses), rel=1e-5)


def test_same_seed_is_bit_for_bit_repeatable_and_another_seed_differs():
    X, y = synthetic(1000, 4, 2, seed=6)
    runs = [trainer.fit(X, y, optimizer="adam", epochs=5, seed=seed) for seed in (7, 7, 8)]
    weights = [r.model.linear.weight.detach().numpy() for r in runs]
    assert np.array_equal(weights[0], weights[1])
    assert not np.array_equal(weights[0], weights[2])
    assert [r["train_loss"] for r in runs[0].history] == [r["train_loss"] for r in runs[1].history]


def test_ctrl_c_ends_training_cleanly_and_final_hooks_run():
    from logreg_onnx.trainer.engine.callbacks import Callback

    class InterruptAtThree(Callback):
        ended = False

        def on_epoch_end(self, state, record):
            if record["epoch"] == 3:
                raise KeyboardInterrupt

        def on_train_end(self, state):
            InterruptAtThree.ended = True

    X, y = synthetic(500, 3, 2, seed=13)
    result = trainer.fit(X, y, optimizer="adam", epochs=50, callbacks=[InterruptAtThree()])
    assert result.interrupted and "interrupted (Ctrl-C) after 3 epochs" in result.stop_reason
    assert [r["epoch"] for r in result.history] == [1, 2, 3]  # History, a hook before ours, kept the third epoch
    assert InterruptAtThree.ended
    assert np.isfinite(result.model.linear.weight.detach().numpy()).all()
    assert result.metrics["train"]["n_rows"] == 400


def test_constant_column_gets_scale_one_and_changes_nothing():
    X, y = synthetic(800, 3, 2, seed=14)
    with_constant = np.column_stack([X, np.full(len(X), 7.5)])
    result = trainer.fit(with_constant, y, l2=1e-2, val_fraction=0)
    assert result.model.scale[3].item() == 1.0 and result.model.mean[3].item() == pytest.approx(7.5)
    assert np.isfinite(result.model.linear.weight.detach().numpy()).all()
    baseline = trainer.fit(X, y, l2=1e-2, val_fraction=0)
    assert result.metrics["train"]["objective"] == pytest.approx(baseline.metrics["train"]["objective"], rel=1e-9)
