"""logreg-onnx: train a logistic model, export it to one proven ONNX file, run it anywhere.

The installed package is ``logreg_onnx`` with three subpackages, kept at the repository's top level
(``trainer/``, ``exporter/``, ``runtime/``) and mapped here by ``pyproject.toml``:

- :mod:`logreg_onnx.runtime`: load and run a model (numpy + onnxruntime; what apps embed, never torch);
- :mod:`logreg_onnx.trainer`: fit a PyTorch logistic model (the ``train`` extra);
- :mod:`logreg_onnx.exporter`: export and verify an ONNX file (the ``train`` extra).

Importing this package imports none of them.
"""

# Run from a checkout (the repository's root on sys.path, as `python -m pytest` puts it), this folder shadows the
# installed logreg_onnx, which holds the mapped subpackages: extend_path adds the installed one to __path__, so
# `import logreg_onnx.runtime` works from the root of a clone after a plain `pip install .` too.
from pkgutil import extend_path

__path__ = extend_path(__path__, __name__)
