"""The runtime's exceptions: a base class, and each specific error also the built-in it resembles."""

from __future__ import annotations


class RuntimeBaseError(Exception):
    """Base class of every error the runtime raises on purpose."""


class InputError(RuntimeBaseError, ValueError):
    """Features that cannot be scored: wrong count, missing or unknown names, non-numeric, NaN or infinite values."""


class UnseenLevelError(InputError):
    """A categorical value never seen in training, under ``unseen="error"``; ``row`` is its row in the batch."""

    def __init__(self, message: str, row: int) -> None:
        super().__init__(message)
        self.row = row


class ModelError(RuntimeBaseError, ValueError):
    """A model file that cannot be used: missing, truncated, not ONNX, not written by logreg-onnx, changed since it
    was written, or not matching the expected checksum."""


class IntegrityError(ModelError):
    """A model file whose bytes are not the ones the exporter wrote: its digest is missing or does not match."""


class ContractError(ModelError):
    """A model file that does not follow the graph contract; ``checks`` lists every check and whether it passed."""

    def __init__(self, message: str, checks: list) -> None:
        super().__init__(message)
        self.checks = checks
