"""Our numpy metrics against scikit-learn's, and the estimator's sklearn-style contract."""

from __future__ import annotations

import numpy as np
import pytest
from logreg_onnx.trainer import LogisticRegressionClassifier
from logreg_onnx.trainer.estimator import NotFittedError
from logreg_onnx.trainer.stats.metrics import classification_metrics
from sklearn import metrics as skm

from ..conftest import synthetic


@pytest.mark.parametrize("n_classes", [2, 3, 5])
def test_metrics_match_sklearn(n_classes):
    rng = np.random.default_rng(n_classes)
    y = rng.integers(0, n_classes, size=500)
    logits = rng.normal(size=(500, n_classes)) + 2 * np.eye(n_classes)[y]
    logits[:50] = np.round(logits[:50])  # ties in the scores
    P = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    ours = classification_metrics(y, P)
    predicted = P.argmax(axis=1)
    average = "binary" if n_classes == 2 else "macro"
    assert ours["log_loss"] == pytest.approx(skm.log_loss(y, P), rel=1e-12)
    assert ours["accuracy"] == pytest.approx(skm.accuracy_score(y, predicted))
    assert ours["precision"] == pytest.approx(skm.precision_score(y, predicted, average=average))
    assert ours["recall"] == pytest.approx(skm.recall_score(y, predicted, average=average))
    assert ours["f1"] == pytest.approx(skm.f1_score(y, predicted, average=average))
    expected_auc = skm.roc_auc_score(y, P[:, 1]) if n_classes == 2 else skm.roc_auc_score(y, P, multi_class="ovr")
    assert ours["roc_auc"] == pytest.approx(expected_auc, rel=1e-12)
    assert ours["confusion_matrix"] == skm.confusion_matrix(y, predicted).tolist()


def test_auc_undefined_with_one_class():
    assert classification_metrics(np.zeros(4, dtype=int), np.tile([0.6, 0.4], (4, 1)))["roc_auc"] is None


def test_estimator_contract_and_raw_feature_coefficients():
    X, y = synthetic(1500, 4, 2, seed=11, offset=50.0)
    labels = np.array(["no", "yes"])[y]
    clf = LogisticRegressionClassifier(l2=0.0)
    with pytest.raises(NotFittedError, match="not fitted yet"):
        clf.predict(X)
    assert clf.fit(X, labels) is clf
    assert list(clf.classes_) == ["no", "yes"] and clf.n_features_in_ == 4
    P = clf.predict_proba(X)
    assert P.shape == (1500, 2) and np.allclose(P.sum(axis=1), 1)
    # coef_/intercept_ are on raw features: with no penalty they are statsmodels' maximum-likelihood estimates
    import statsmodels.api as sm

    X_seen = X.astype(np.float32).astype(np.float64)  # the model's input precision
    reference = sm.Logit(y, sm.add_constant(X_seen)).fit(method="newton", tol=1e-12, maxiter=100, disp=0)
    np.testing.assert_allclose(clf.intercept_, reference.params[:1], rtol=1e-4)
    np.testing.assert_allclose(clf.coef_[0], reference.params[1:], rtol=1e-4)
    assert set(clf.predict(X)) <= {"no", "yes"}
    assert clf.score(X, labels) == pytest.approx(np.mean((P[:, 1] > 0.5) == (labels == "yes")))
    with pytest.raises(ValueError, match="X has 3 features, but LogisticRegressionClassifier is expecting 4 features"):
        clf.predict(X[:, :3])


def test_estimator_keeps_integer_classes():
    X, y = synthetic(600, 3, 3, seed=12)
    clf = LogisticRegressionClassifier().fit(X, y + 10)
    assert clf.classes_.tolist() == [10, 11, 12]
    assert set(clf.predict(X).tolist()) <= {10, 11, 12}
