"""Export any supported logistic model to a self-describing ONNX file and prove it computes what the model computes.

Needs the ``train`` extra. :func:`export` takes the toolkit's own models and those brought from PyTorch,
scikit-learn and statsmodels (see ``docs/export.md`` and the "Coming from ..." pages). The public names are imported
lazily, so that ``logreg export --help`` works in an install without torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__all__ = ["ExportResult", "VerificationFailed", "export", "export_run"]

_LAZY = {
    "export": "logreg_onnx.exporter.api",
    "ExportResult": "logreg_onnx.exporter.write",
    "export_run": "logreg_onnx.exporter.write",
    "VerificationFailed": "logreg_onnx.exporter.errors",
}

if TYPE_CHECKING:
    from .api import export
    from .errors import VerificationFailed
    from .write import ExportResult, export_run


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'exporter' has no attribute {name!r}")
