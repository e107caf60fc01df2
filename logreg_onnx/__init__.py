"""logreg-onnx: train a logistic model, export it to one proven ONNX file, run it anywhere.

The installed package is ``logreg_onnx`` with three subpackages, kept at the repository's top level
(``trainer/``, ``exporter/``, ``runtime/``) and mapped here by ``pyproject.toml``:

- :mod:`logreg_onnx.runtime`: load and run a model (numpy + onnxruntime; what apps embed, never torch);
- :mod:`logreg_onnx.trainer`: fit a PyTorch logistic model (the ``train`` extra);
- :mod:`logreg_onnx.exporter`: export and verify an ONNX file (the ``train`` extra).

Importing this package imports none of them.
"""
