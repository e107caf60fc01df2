"""A scikit-learn-style estimator over trainer.fit, for code that expects fit/predict/predict_proba/score.

Its parameters are the fields of :class:`~trainer.options.FitOptions` (names, defaults; validated by ``fit``), so
``get_params``, ``set_params``, ``sklearn.base.clone`` and grid searches see exactly the options of ``trainer.fit``.
"""

from __future__ import annotations

import inspect
from dataclasses import fields

import numpy as np

from .engine.training import FitResult, fit
from .options import FitOptions, defaults

# The estimator learns from all the rows it is given, as scikit-learn's do: no validation split unless asked.
ESTIMATOR_DEFAULTS = {**defaults(FitOptions), "val_fraction": 0.0}
PARAMETERS = tuple(f.name for f in fields(FitOptions))


class NotFittedError(RuntimeError, AttributeError):
    """predict or score was called before fit (an AttributeError too, as in scikit-learn)."""


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
            input_tags=InputTags(),
        )

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

    def fit(self, X, y) -> LogisticRegressionClassifier:
        """Fit to X (array-like of shape (n_samples, n_features)) and y (array-like of shape (n_samples,))."""
        y = np.asarray(y)
        result: FitResult = fit(X, y, **self.get_params())
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
        encoding = result.dataset.encoding
        self.n_features_in_ = len(encoding.columns)
        if hasattr(X, "columns"):
            self.feature_names_in_ = np.array(encoding.names, dtype=object)
        self.design_names_ = list(result.feature_names)
        self.model_ = model
        self.result_ = result
        return self

    def predict_proba(self, X) -> np.ndarray:
        """Probabilities of shape (n_samples, n_classes), columns in ``classes_`` order."""
        self._check_fitted()
        shape = np.shape(X)
        if len(shape) == 2 and shape[1] != self.n_features_in_:
            raise ValueError(f"X has {shape[1]} features, but this model was fitted with {self.n_features_in_}")
        return self.model_.probabilities(X, na_values=self.na_values)

    def predict(self, X) -> np.ndarray:
        """Predicted labels of shape (n_samples,), values from ``classes_``."""
        self._check_fitted()
        return self.classes_[self.predict_proba(X).argmax(axis=1)]

    def score(self, X, y) -> float:
        """Mean accuracy on (X, y)."""
        return float(np.mean(self.predict(X) == np.asarray(y)))

    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; call fit(X, y) first")


def _missing(y: np.ndarray) -> np.ndarray:
    from .data.dataset import missing_labels
    from .options import DEFAULT_NA_VALUES

    return missing_labels(y, set(DEFAULT_NA_VALUES))


# The signature scikit-learn's clone() and inspect see: keyword-only parameters with their defaults.
LogisticRegressionClassifier.__init__.__signature__ = inspect.Signature(
    [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    + [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=ESTIMATOR_DEFAULTS[n]) for n in PARAMETERS]
)
