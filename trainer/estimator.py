"""A scikit-learn-style estimator over trainer.fit, for code that expects fit/predict/predict_proba/score."""

from __future__ import annotations

import numpy as np
import torch

from .data import check_features
from .training import DEFAULT_L2, FitResult, fit


class NotFittedError(RuntimeError, AttributeError):
    """predict or score was called before fit (an AttributeError too, as in scikit-learn)."""


class LogisticRegressionClassifier:
    """Logistic regression trained in PyTorch; binary (sigmoid) or multinomial (softmax) by the labels seen.

    Parameters are those of :func:`trainer.fit` (see ``logreg train --help``). ``val_fraction`` defaults to 0 here:
    the estimator learns from all the rows it is given, as scikit-learn's do.

    Attributes (after ``fit``)
    -------------------------
    classes_ : ndarray of shape (n_classes,), the distinct labels in their stable order
    coef_ : ndarray of shape (1 or n_classes, n_features), weights on the raw (unstandardized) features
    intercept_ : ndarray of shape (1 or n_classes,)
    n_features_in_ : int
    model_ : trainer.LogisticModel
    result_ : trainer.FitResult (metrics, history)
    """

    def __init__(
        self,
        *,
        optimizer: str = "auto",
        epochs: int | None = None,
        batch_size: int = 256,
        lr: float | None = None,
        l2: float = DEFAULT_L2,
        val_fraction: float = 0.0,
        class_weight: str = "none",
        seed: int = 0,
        device: str = "auto",
        patience: int = 10,
    ) -> None:
        self.optimizer = optimizer
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.l2 = l2
        self.val_fraction = val_fraction
        self.class_weight = class_weight
        self.seed = seed
        self.device = device
        self.patience = patience

    def get_params(self, deep: bool = True) -> dict:
        return {
            name: getattr(self, name)
            for name in (
                "optimizer",
                "epochs",
                "batch_size",
                "lr",
                "l2",
                "val_fraction",
                "class_weight",
                "seed",
                "device",
                "patience",
            )
        }

    def set_params(self, **params) -> LogisticRegressionClassifier:
        for name, value in params.items():
            if name not in self.get_params():
                raise ValueError(f"unknown parameter {name!r}; parameters are {', '.join(self.get_params())}")
            setattr(self, name, value)
        return self

    def fit(self, X, y) -> LogisticRegressionClassifier:
        """Fit to X (array-like of shape (n_samples, n_features)) and y (array-like of shape (n_samples,))."""
        y = np.asarray(y)
        result: FitResult = fit(X, y, **self.get_params())
        labels = np.unique(y)
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
        self.n_features_in_ = int(model.n_features)
        self.model_ = model
        self.result_ = result
        return self

    def predict_proba(self, X) -> np.ndarray:
        """Probabilities of shape (n_samples, n_classes), columns in ``classes_`` order."""
        self._check_fitted()
        X = check_features(X)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {X.shape[1]} features, but this model was fitted with {self.n_features_in_}")
        with torch.no_grad():
            return self.model_(torch.from_numpy(X)).numpy()

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
