"""scikit-learn's own estimator checks on LogisticRegressionClassifier, and what they skip or cannot see: infinity
refused where NaN is a missing value, scikit-learn's exception types, the binary threshold in predict."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
from logreg_onnx.trainer.errors import DataError
from logreg_onnx.trainer.estimator import LogisticRegressionClassifier, NotFittedError
from scipy import sparse
from sklearn.exceptions import DataConversionWarning
from sklearn.exceptions import NotFittedError as SklearnNotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.utils.estimator_checks import parametrize_with_checks

from ..conftest import synthetic

with warnings.catch_warnings():
    # the estimator does not derive from sklearn.base.BaseEstimator on purpose: scikit-learn is not a dependency
    warnings.filterwarnings("ignore", "Estimator LogisticRegressionClassifier does not inherit", UserWarning)
    SKLEARN_CHECKS = parametrize_with_checks([LogisticRegressionClassifier()])


@SKLEARN_CHECKS
def test_sklearn_estimator_checks(estimator, check):
    with warnings.catch_warnings():
        # tiny data: "class 0 has fewer than 10 rows" and the like are expected, and not what is checked
        warnings.simplefilter("ignore", UserWarning)
        check(estimator)


@pytest.fixture(scope="module")
def fitted():
    X, y = synthetic(400, 3, 2, seed=3)
    return LogisticRegressionClassifier(l2=0.0).fit(X, y), X, y


@pytest.mark.parametrize(
    "make",
    [
        lambda X: X,
        lambda X: X.astype(object),
        lambda X: pd.DataFrame(X, columns=["x0", "x1", "x2"]),
    ],
    ids=["float", "object", "frame"],
)
def test_infinity_is_refused_in_fit_and_predict_nan_is_missing(fitted, make):
    clf, X, y = fitted
    bad = X[:5].copy()
    bad[2, 1] = np.inf
    with pytest.raises(DataError, match=r"row 2, column 1 is inf; features must be finite"):
        clf.predict(make(bad))
    with pytest.raises(DataError, match=r"row 2, column 1 is inf"):
        LogisticRegressionClassifier().fit(make(np.vstack([bad, X])), np.concatenate([y[:5], y]))
    holes = X[:5].copy()
    holes[2, 1] = np.nan
    assert np.isfinite(clf.predict_proba(make(holes))).all()


def test_not_fitted_is_sklearns_error_and_ours():
    with pytest.raises(SklearnNotFittedError, match="not fitted yet; call fit") as caught:
        LogisticRegressionClassifier().predict_proba(np.zeros((1, 2)))
    assert isinstance(caught.value, NotFittedError) and isinstance(caught.value, AttributeError)
    again = pickle.loads(pickle.dumps(caught.value))  # as joblib's workers send it back
    assert isinstance(again, SklearnNotFittedError) and isinstance(again, NotFittedError)
    assert str(again) == str(caught.value)


@pytest.mark.parametrize(
    "X, y, message",
    [
        (np.zeros((4, 0)), [0, 1, 0, 1], r"^X has 0 feature\(s\) \(shape=\(4, 0\)\) while a minimum of 1"),
        (np.zeros((0, 2)), [], r"^X has 0 sample\(s\)"),
        (np.zeros(4), [0, 1, 0, 1], r"^X must be 2-D, .* got shape \(4,\). Reshape your data"),
        ([[1.0, 2.0], [3.0]], [0, 1], r"^X must be 2-D, .* rows of equal length, got rows of different lengths$"),
        (np.ones((4, 1)) * 1j, [0, 1, 0, 1], r"Complex data not supported"),
        (sparse.csr_matrix(np.eye(4)), [0, 1, 0, 1], r"^X is a scipy.sparse csr_matrix; sparse input is not"),
        (np.eye(4), None, r"requires y to be passed, but the target y is None"),
        (np.eye(4), [0.5, 1.0, 1.5, 2.0], r"^Unknown label type: continuous \(.* such as 0.5\)"),
        (np.eye(4), np.zeros((4, 2)), r"^y should be a 1d array of class labels, got an array of shape \(4, 2\)"),
        (np.eye(4), [1, 1, 1, 1], r"^y: found only '1' as label; .* these rows hold one class$"),
    ],
)
def test_fit_messages(X, y, message):
    with pytest.raises(DataError, match=message):
        LogisticRegressionClassifier().fit(X, y)


def test_predict_checks_the_width(fitted):
    clf, X, _ = fitted
    with pytest.raises(DataError, match=r"^X has 2 features, but LogisticRegressionClassifier is expecting 3"):
        clf.predict(X[:, :2])


def test_column_vector_y_warns_and_fits_as_1d(fitted):
    clf, X, y = fitted
    with pytest.warns(DataConversionWarning, match="^A column-vector y was passed when a 1d array was expected"):
        column = LogisticRegressionClassifier(l2=0.0).fit(X, y[:, None])
    np.testing.assert_array_equal(column.coef_, clf.coef_)


def test_predict_applies_the_threshold_and_matches_sklearn():
    X, y = synthetic(600, 3, 2, seed=5)
    clf = LogisticRegressionClassifier(l2=0.0, threshold="0.3").fit(X, y)
    reference = LogisticRegression(C=np.inf, tol=1e-10, max_iter=1000).fit(X, y)
    p = reference.predict_proba(X)[:, 1]
    np.testing.assert_allclose(clf.predict_proba(X)[:, 1], p, atol=1e-4)
    assert clf.threshold_ == 0.3
    near = np.abs(p - 0.3) > 1e-3  # rows whose side of the threshold float32 cannot change
    np.testing.assert_array_equal(clf.predict(X)[near], (p > 0.3).astype(int)[near])
    assert (clf.predict(X) != reference.predict(X)).any()  # 0.3, not the argmax


def test_text_columns_and_integer_column_names():
    frame = pd.DataFrame({0: np.tile([1.0, 2.0, 3.0, 4.0], 10), 1: np.tile(["a", "b"], 20)})
    y = np.tile([0, 0, 1, 1], 10)
    clf = LogisticRegressionClassifier().fit(frame, y)
    assert clf.n_features_in_ == 2 and list(clf.feature_names_in_) == ["0", "1"]
    assert clf.predict_proba(frame).shape == (40, 2)


def test_without_a_split_sample_weights_are_rows_repeated():
    """What scikit-learn's check_sample_weight_equivalence asks, with val_fraction=0: the default l2 penalty too, as
    the standardization counts a row of weight w as w rows."""
    rng = np.random.default_rng(0)
    X, y, w = rng.normal(size=(60, 3)), rng.integers(0, 3, 60), rng.integers(0, 3, 60)
    repeated = np.repeat(np.arange(60), w)
    weighted = LogisticRegressionClassifier(val_fraction=0).fit(X, y, sample_weight=w).predict_proba(X)
    plain = LogisticRegressionClassifier(val_fraction=0).fit(X[repeated], y[repeated]).predict_proba(X)
    np.testing.assert_allclose(weighted, plain, atol=1e-6)
