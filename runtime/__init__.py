"""The lightweight runtime apps embed: numpy + onnxruntime, never torch.

from logreg_onnx import runtime
model = runtime.load("model.onnx")
model.predict_one({"mean_radius": 14.1, ...})   # {"benign": 0.97, "malignant": 0.03}
model.predict_proba(X)                          # float32 array (n_rows, n_classes)

The names below are imported on first use, so that ``logreg train`` (whose command line lives in this package) does not
pay for importing onnxruntime.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .errors import ContractError, InputError, IntegrityError, ModelError, RuntimeBaseError, UnseenLevelError

__all__ = [
    "ContractError",
    "InputError",
    "IntegrityError",
    "Model",
    "ModelError",
    "RuntimeBaseError",
    "UnseenLevelError",
    "load",
]

if TYPE_CHECKING:
    from .model import Model, load


def __getattr__(name: str):
    if name in ("Model", "load"):
        from . import model

        return getattr(model, name)
    raise AttributeError(f"module 'runtime' has no attribute {name!r}")
