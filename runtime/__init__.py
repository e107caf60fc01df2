"""The lightweight runtime apps embed: numpy + onnxruntime, never torch.

import runtime
model = runtime.load("model.onnx")
model.predict_one({"mean_radius": 14.1, ...})   # {"benign": 0.97, "malignant": 0.03}
model.predict_proba(X)                          # float32 array (n_rows, n_classes)
"""

from __future__ import annotations

from .errors import ContractError, InputError, IntegrityError, ModelError, RuntimeBaseError
from .model import Model, load

__all__ = ["ContractError", "InputError", "IntegrityError", "Model", "ModelError", "RuntimeBaseError", "load"]
