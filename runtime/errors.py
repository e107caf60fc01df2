"""The runtime's exceptions: a base class, and each specific error also the built-in it resembles."""

from __future__ import annotations


class RuntimeBaseError(Exception):
    """Base class of every error the runtime raises on purpose."""


class InputError(RuntimeBaseError, ValueError):
    """Features that cannot be scored: wrong count, missing or unknown names, non-numeric, NaN or infinite values."""


class ModelError(RuntimeBaseError, ValueError):
    """A model file that cannot be used: missing, truncated, not ONNX, not written by logreg-onnx, not following the
    graph contract, not matching the expected checksum, or with external data outside the model's folder."""
