"""A scikit-learn-style estimator over trainer.fit, for code that expects fit/predict/predict_proba/score.

Its parameters are the fields of :class:`~trainer.options.FitOptions` (names, defaults; validated by ``fit``), so
``get_params``, ``set_params``, ``sklearn.base.clone`` and grid searches see exactly the options of ``trainer.fit``.
scikit-learn is not needed to use it; scikit-learn's own estimator checks pass on it (tests/trainer/
test_sklearn_checks.py), and the errors it raises are scikit-learn's types too when scikit-learn is loaded.
"""

from __future__ import annotations

import inspect
import math
import sys
import warnings
from dataclasses import fields

import numpy as np

from .data.dataset import DataWarning, check_no_infinity, check_offsets, missing_labels
from .engine.training import FitResult, fit
from .errors import DataError, TrainerError
from .options import FitOptions, defaults

# The estimator learns from all the rows it is given, as scikit-learn's do: no validation split unless asked.
ESTIMATOR_DEFAULTS = {**defaults(FitOptions), "val_fraction": 0.0}
PARAMETERS = tuple(f.name for f in fields(FitOptions))


class NotFittedError(TrainerError, ValueError, AttributeError):
    """predict, predict_proba or score was called before fit (a ValueError and an AttributeError, as in
    scikit-learn; also ``sklearn.exceptions.NotFittedError`` when scikit-learn is loaded)."""


class DataConversionWarning(DataWarning):
    """fit was given y as a column vector (shape (n, 1)) and flattened it (scikit-learn's warning of that name,
    too, when scikit-learn is loaded)."""


class LogisticRegressionClassifier:
    """Logistic regression trained in PyTorch; binary (sigmoid) or multinomial (softmax) by the labels seen.

    Parameters are keyword-only, those of :func:`trainer.fit` (see ``logreg train --help``); ``val_fraction``
    defaults to 0 here.

    Attributes (after ``fit``)
    -------------------------
    classes_ : ndarray of shape (n_classes,), the distinct labels in their stable order
    coef_ : ndarray of shape (1 or n_classes, n_design), weights on the unstandardized design columns (numeric
        features, missing indicators, one column per categorical level), named by ``design_names_``
    intercept_ : ndarray of shape (1 or n_classes,)
    threshold_ : float or None, a binary model's decision threshold on the second class's probability (the
        ``threshold`` option, resolved on the training or validation rows), as the exported graph applies it
    n_features_in_ : int, the number of feature columns given to fit
    feature_names_in_ : ndarray of str, their names (when X had named columns: a DataFrame)
    design_names_ : list of str
    model_ : trainer.LogisticModel
    result_ : trainer.FitResult (metrics, history)
    """

    def __init__(self, **params) -> None:
        unknown = sorted(set(params) - set(PARAMETERS))
        if unknown:
            raise TypeError(f"unknown parameter {unknown[0]!r}; parameters are {', '.join(PARAMETERS)}")
        for name in PARAMETERS:  # store only, as scikit-learn's contract asks; fit validates
            setattr(self, name, params.get(name, ESTIMATOR_DEFAULTS[name]))

    def __sklearn_tags__(self):
        """What scikit-learn (>= 1.6) asks of an estimator it did not define: a classifier that needs y."""
        from sklearn.utils import ClassifierTags, InputTags, Tags, TargetTags

        return Tags(
            estimator_type="classifier",
            target_tags=TargetTags(required=True),
            classifier_tags=ClassifierTags(),
            input_tags=InputTags(
                # NaN is a missing value: imputed (the training median and a missing-indicator feature) under
                # missing="impute", the default. Infinity is refused (tested in test_sklearn_checks.py, since
                # scikit-learn skips its NaN/inf check for estimators that allow NaN).
                allow_nan=True,
                # a column of text is a categorical feature (one-hot encoded), as in a CSV
                string=True,
            ),
        )

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "model_")

    def get_params(self, deep: bool = True) -> dict:
        return {name: getattr(self, name) for name in PARAMETERS}

    def set_params(self, **params) -> LogisticRegressionClassifier:
        for name, value in params.items():
            if name not in PARAMETERS:
                raise ValueError(f"unknown parameter {name!r}; parameters are {', '.join(PARAMETERS)}")
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        changed = {k: v for k, v in self.get_params().items() if v != ESTIMATOR_DEFAULTS[k]}
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in changed.items())})"

    def fit(self, X, y, sample_weight=None, offset=None) -> LogisticRegressionClassifier:
        """Fit to X (array-like or DataFrame of shape (n_samples, n_features): numbers, text columns, NaN or None
        where missing) and y (array-like of shape (n_samples,): class labels of any type); ``sample_weight``
        (array-like of shape (n_samples,)): each row's frequency weight, as the ``weight`` parameter's column;
        ``offset`` (array-like of shape (n_samples,)): each row's known term of the logit, as the ``offset``
        parameter's column."""
        X = _features(X)
        y = _labels(y)
        params = self.get_params()
        if offset is not None:
            if params["offset"] is not None:
                raise DataError(
                    f"offset= values and the offset parameter's column {params['offset']!r} both give offsets; give one"
                )
            params["offset"] = offset
        result: FitResult = fit(X, y, sample_weight=sample_weight, **params)
        labels = np.unique(y[~_missing(y)]) if y.dtype.kind in "fO" else np.unique(y)
        by_name = {
            str(v) if not isinstance(v, (float, np.floating)) or not float(v).is_integer() else str(int(v)): v
            for v in labels.tolist()
        }
        self.classes_ = np.array([by_name.get(name, name) for name in result.class_names])
        model = result.model
        scale, mean = model.scale.double().numpy(), model.mean.double().numpy()
        weight = model.linear.weight.detach().double().numpy()
        self.coef_ = weight / scale
        self.intercept_ = model.linear.bias.detach().double().numpy() - self.coef_ @ mean
        threshold = result.metrics.get("threshold")
        self.threshold_ = None if threshold is None else float(threshold["value"])
        encoding = result.dataset.encoding
        self.n_features_in_ = len(encoding.columns)
        if hasattr(X, "columns"):
            self.feature_names_in_ = np.array(encoding.names, dtype=object)
        elif hasattr(self, "feature_names_in_"):  # refitted on an unnamed array: the old names no longer hold
            del self.feature_names_in_
        self.design_names_ = list(result.feature_names)
        self.model_ = model
        self.result_ = result
        return self

    def predict_proba(self, X, offset=None) -> np.ndarray:
        """Probabilities of shape (n_samples, n_classes), columns in ``classes_`` order, for X of shape
        (n_samples, n_features_in_). A model fitted with an offset takes each row's in ``offset`` (array-like of
        shape (n_samples,)), or from X's column that the ``offset`` parameter names; 0 without either."""
        self._check_fitted()
        X, offset = self._offset_of(X, offset)
        X = _features(X, n_features=self.n_features_in_, name=type(self).__name__)
        return self.model_.probabilities(X, na_values=self.na_values, offset=offset)

    def _offset_of(self, X, offset):
        """X without the offset column the ``offset`` parameter names (when it has it), and the offsets to use."""
        column = self.offset if isinstance(self.offset, str) else None
        if column is not None and hasattr(X, "columns") and column in X.columns:
            if offset is not None:
                raise DataError(f"offset= values and X's column {column!r} both give offsets; give one")
            offset = X[column].to_numpy(dtype=np.float64)
            X = X.drop(columns=[column])
        if offset is not None and self.model_.offset is None:
            raise DataError("offset= given, but this model was fitted without an offset; leave it out")
        if offset is not None:
            offset = check_offsets(offset, len(X), what="offset", role="offset")
        return X, offset

    def predict(self, X, offset=None) -> np.ndarray:
        """Predicted labels of shape (n_samples,), values from ``classes_``: a binary model's second class where
        its probability is above ``threshold_``, else the most probable class."""
        P = self.predict_proba(X, offset)
        if self.threshold_ is not None and P.shape[1] == 2:
            return self.classes_[(P[:, 1] > self.threshold_).astype(np.intp)]
        return self.classes_[P.argmax(axis=1)]

    def score(self, X, y) -> float:
        """Mean accuracy on X (array-like of shape (n_samples, n_features)) and y (shape (n_samples,))."""
        return float(np.mean(self.predict(X) == np.asarray(y).ravel()))

    def export(self, path, **kwargs):
        """Export the fitted model to the ONNX file ``path``, verified against it: :func:`logreg_onnx.exporter.export`
        (keyword arguments ``sample``, ``threshold``, ``opset``, ``ort``, ``c``). Returns its ``ExportResult``."""
        self._check_fitted()
        from logreg_onnx.exporter.api import export

        return export(self, path, **kwargs)

    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            error = _with_sklearn_base(NotFittedError, "sklearn.exceptions", "NotFittedError")
            raise error(f"this {type(self).__name__} is not fitted yet; call fit(X, y) first")


RAGGED = "X must be 2-D, of shape (n_samples, n_features): rows of equal length, got rows of different lengths"


def _features(X: object, *, n_features: int | None = None, name: str = "") -> object:
    """X as fit and predict take it (a DataFrame as given, anything else a numpy array), checked for what
    trainer.fit would not say in scikit-learn's words: sparse or complex input, the shape, and (when predicting;
    fit checks values itself) infinity. ``n_features``: the width fit saw."""
    sparse = sys.modules.get("scipy.sparse")
    if sparse is not None and sparse.issparse(X):
        raise DataError(
            f"X is a scipy.sparse {type(X).__name__}; sparse input is not supported (the model standardizes every "
            "column, which makes it dense): pass X.toarray()"
        )
    pandas = sys.modules.get("pandas")
    frame = pandas is not None and isinstance(X, pandas.DataFrame)
    if frame and not all(isinstance(c, str) for c in X.columns):
        X = X.rename(columns=str)  # fit names a column 0 "0", as a CSV header would; predict looks names up
    if not frame and not isinstance(X, np.ndarray):
        # array-likes with __array__ keep their dtype; nested lists may mix numbers and text
        try:
            X = np.asarray(X) if hasattr(X, "__array__") else np.asarray(X, dtype=object)
        except ValueError:
            raise DataError(RAGGED) from None
    shape = X.shape
    if not frame and X.dtype.kind == "c":
        raise DataError("X holds complex numbers: Complex data not supported; features must be real numbers or text")
    if len(shape) == 1 and X.dtype == object and any(isinstance(v, (list, tuple, np.ndarray)) for v in X.tolist()):
        raise DataError(RAGGED)  # numpy made an array of rows of different lengths
    if len(shape) != 2:
        raise DataError(
            f"X must be 2-D, of shape (n_samples, n_features), got shape {shape}. Reshape your data: "
            "X.reshape(1, -1) if it is one sample, X.reshape(-1, 1) if it is one feature"
        )
    if shape[1] == 0:
        raise DataError(f"X has 0 feature(s) (shape={shape}) while a minimum of 1 is required: give X a column")
    if shape[0] == 0:
        raise DataError(f"X has 0 sample(s) (shape={shape}) while a minimum of 1 is required")
    if n_features is None:
        return X
    if shape[1] != n_features:
        raise DataError(
            f"X has {shape[1]} features, but {name} is expecting {n_features} features as input (as in fit)"
        )
    _check_no_infinity(X, frame)
    return X


def _check_no_infinity(X, frame: bool) -> None:
    if frame:
        numbers = X.select_dtypes(include="number")
        values = numbers.to_numpy(dtype=np.float64, na_value=np.nan) if numbers.shape[1] else None
    elif X.dtype.kind == "f":
        values = X
    elif X.dtype == object:
        values = np.array([[_finite_or_nan(v) for v in row] for row in X.tolist()], dtype=np.float64)
    else:
        values = None
    if values is not None:
        check_no_infinity(values, "X")


def _finite_or_nan(value: object) -> float:
    """inf for a float cell that is infinite, NaN for any other cell (a number, text, None)."""
    return value if isinstance(value, (float, np.floating)) and math.isinf(value) else math.nan


def _labels(y: object) -> np.ndarray:
    """y as a 1-D array, checked in scikit-learn's words: present, not complex, one column, not continuous."""
    if y is None:
        raise DataError(
            "LogisticRegressionClassifier requires y to be passed, but the target y is None; fit(X, y) needs one "
            "class label per row of X"
        )
    y = np.asarray(y)
    if y.dtype.kind == "c":
        raise DataError("y holds complex numbers: Complex data not supported; labels are classes")
    if y.ndim == 2 and y.shape[1] == 1:
        warning = _with_sklearn_base(DataConversionWarning, "sklearn.exceptions", "DataConversionWarning")
        warnings.warn(
            "A column-vector y was passed when a 1d array was expected: flattened to shape "
            f"({y.shape[0]},); pass y.ravel() to say so",
            warning,
            stacklevel=3,
        )
        y = y.ravel()
    if y.ndim != 1:
        raise DataError(f"y should be a 1d array of class labels, got an array of shape {y.shape} instead")
    numbers = y if y.dtype.kind == "f" else None
    if y.dtype == object and len(y) and all(isinstance(v, (float, np.floating)) for v in y.tolist()):
        numbers = y.astype(np.float64)
    if numbers is not None:
        fractional = np.isfinite(numbers) & (numbers != np.round(numbers))
        if fractional.any():
            example = float(numbers[np.argmax(fractional)])
            raise DataError(
                f"Unknown label type: continuous (y holds numbers with fractions, such as {example!r}); a "
                "classifier needs class labels: bin the values, or use a regression model"
            )
    return y


def _with_sklearn_base(cls: type, module: str, name: str) -> type:
    """``cls``, or once scikit-learn is loaded a subclass of ``cls`` and of scikit-learn's class of that name, so
    that code catching scikit-learn's exception (or filtering its warning) sees ours. Only code that has imported
    scikit-learn can name its class, so scikit-learn (0.8 s to import) is never imported here."""
    loaded = sys.modules.get(module)
    theirs = getattr(loaded, name, None) if loaded is not None else None
    if theirs is None:
        return cls
    combined = _COMBINED.get(cls)
    if combined is None:

        def __reduce__(self):  # pickled (joblib's workers) by how to build it again, not by a module attribute
            return _unpickle, (cls, module, name, self.args)

        namespace = {"__module__": cls.__module__, "__qualname__": cls.__qualname__, "__reduce__": __reduce__}
        combined = _COMBINED[cls] = type(cls.__name__, (cls, theirs), namespace)
    return combined


_COMBINED: dict[type, type] = {}


def _unpickle(cls: type, module: str, name: str, args: tuple) -> BaseException:
    import importlib

    importlib.import_module(module)  # the process that pickled it had scikit-learn loaded
    return _with_sklearn_base(cls, module, name)(*args)


def _missing(y: np.ndarray) -> np.ndarray:
    from .options import DEFAULT_NA_VALUES

    return missing_labels(y, set(DEFAULT_NA_VALUES))


# The signature scikit-learn's clone() and inspect see: keyword-only parameters with their defaults.
LogisticRegressionClassifier.__init__.__signature__ = inspect.Signature(
    [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    + [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=ESTIMATOR_DEFAULTS[n]) for n in PARAMETERS]
)
