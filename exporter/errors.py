"""The exporter's exceptions: bad input (exit 2 on the command line) versus a verification that failed (exit 1)."""

from __future__ import annotations


class ExporterError(Exception):
    """Base class of every error the exporter raises on purpose."""


class RunDirError(ExporterError, ValueError):
    """The run directory is missing, incomplete, or holds a model.pt that is not one of ours."""


class ExportOptionError(ExporterError, ValueError):
    """An export option cannot work: an opset onnxruntime cannot run, an output folder that does not exist..."""


class SignatureMismatchError(ExporterError, ValueError):
    """An ONNX file whose inputs or outputs do not fit the run it is verified against (other features, classes)."""


class VerificationFailed(ExporterError, RuntimeError):
    """The ONNX file does not compute what the PyTorch model computes. ``report`` holds the evidence."""

    def __init__(self, message: str, report: dict) -> None:
        super().__init__(message)
        self.report = report


class BadModelFileError(ExporterError, ValueError):
    """A file given to verify that is not an ONNX model at all (not protobuf, truncated, not readable)."""
