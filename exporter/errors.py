"""The exporter's exceptions: bad input (exit 2 on the command line) versus a verification that failed (exit 1).

Messages are made as the trainer's are (:mod:`trainer.errors`): options named by ``Setting`` parts, and an error
about one option's value (:class:`ExportOptionError`) carrying its ``parameter``, which the command line reports as
its flag.
"""

from __future__ import annotations

from logreg_onnx.trainer.errors import AboutParameter, Worded


def first_line(exc: BaseException, limit: int = 300) -> str:
    """The first line of an exception's message (its type's name when it has none), cut at ``limit`` characters:
    how the exporter quotes another library's error in its own one-line messages."""
    text = str(exc).strip()
    return text.splitlines()[0][:limit] if text else type(exc).__name__


def type_name(value: object) -> str:
    """``module.Class`` of ``value``, for a message about an object of the wrong kind."""
    kind = type(value)
    return f"{kind.__module__}.{kind.__qualname__}"


class ExporterError(Worded, Exception):
    """Base class of every error the exporter raises on purpose."""


class RunDirError(ExporterError, ValueError):
    """The run directory is missing, incomplete, or holds a model.pt that is not one of ours."""


class UnsupportedModelError(ExporterError, ValueError):
    """A file given as the model to export that cannot be, or must not be, loaded (a pickle, a foreign file)."""


class ExportOptionError(AboutParameter, ExporterError, ValueError):
    """An export option cannot work: an opset onnxruntime cannot run, an output folder that does not exist...
    ``parameter`` is the option's Python name (``opset``, ``out``), as in :func:`exporter.write.export_run`."""


class SignatureMismatchError(ExporterError, ValueError):
    """An ONNX file whose inputs or outputs do not fit the run it is verified against (other features, classes)."""


class VerificationFailed(ExporterError, RuntimeError):
    """The ONNX file does not compute what the PyTorch model computes. ``report`` holds the evidence."""

    def __init__(self, message: str, report: dict) -> None:
        super().__init__(message)
        self.report = report


class BadModelFileError(ExporterError, ValueError):
    """A file given to verify that is not an ONNX model at all (not protobuf, truncated, not readable)."""
