"""The export's defaults (opsets, tolerances), in a module that imports neither torch nor onnx: ``logreg export
--help`` shows them in an install without the 'train' extra."""

from __future__ import annotations

# Pinned so that a toolkit upgrade never changes the files it writes by accident. 18 is the lowest opset the
# torch.export-based exporter targets, and what onnxruntime-node and onnxruntime-web of the last two years run.
DEFAULT_OPSET = 18
MIN_OPSET = 18
CATEGORICAL_MIN_OPSET = 19  # string Equal, which one-hot encoding of text columns needs

DEFAULT_ATOL = 1e-6  # 16 float32 ulps of 0.5: the rounding of exp and of the softmax division
DEFAULT_RTOL = 1e-6  # 16 float32 ulps of a probability in [0.5, 1)
