"""Fit a PyTorch logistic-regression model (binary sigmoid or multinomial softmax) on tabular data.

Needs the ``train`` extra (``pip install 'logreg-onnx[train]'``). The public names are imported lazily so that
``import trainer.cli`` works, and can say what to install, in an environment without torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__all__ = [
    "FitOptions",
    "FitResult",
    "LogisticModel",
    "LogisticRegressionClassifier",
    "ReadOptions",
    "fit",
    "load_dataset",
    "load_model",
]

_LAZY = {
    "fit": "trainer.training",
    "FitResult": "trainer.training",
    "LogisticModel": "trainer.model",
    "load_model": "trainer.model",
    "LogisticRegressionClassifier": "trainer.estimator",
    "load_dataset": "trainer.data",
    "FitOptions": "trainer.options",
    "ReadOptions": "trainer.options",
}

if TYPE_CHECKING:
    from .data import load_dataset
    from .estimator import LogisticRegressionClassifier
    from .model import LogisticModel, load_model
    from .options import FitOptions, ReadOptions
    from .training import FitResult, fit


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'trainer' has no attribute {name!r}")
