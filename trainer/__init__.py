"""Fit a PyTorch logistic-regression model (binary sigmoid or multinomial softmax) on tabular data.

Needs the ``train`` extra (``pip install '.[train]'`` in the repository's folder). The public names are imported
lazily so that ``logreg train`` can say what to install, in an environment without torch.
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
    "fit": "logreg_onnx.trainer.engine.training",
    "FitResult": "logreg_onnx.trainer.engine.training",
    "LogisticModel": "logreg_onnx.trainer.engine.model",
    "load_model": "logreg_onnx.trainer.engine.model",
    "LogisticRegressionClassifier": "logreg_onnx.trainer.estimator",
    "load_dataset": "logreg_onnx.trainer.data.dataset",
    "FitOptions": "logreg_onnx.trainer.options",
    "ReadOptions": "logreg_onnx.trainer.options",
}

if TYPE_CHECKING:
    from .data.dataset import load_dataset
    from .engine.model import LogisticModel, load_model
    from .engine.training import FitResult, fit
    from .estimator import LogisticRegressionClassifier
    from .options import FitOptions, ReadOptions


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'trainer' has no attribute {name!r}")
