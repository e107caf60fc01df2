"""The trainer's exceptions: one base class, each error also a built-in so existing ``except`` clauses still work."""

from __future__ import annotations


class TrainerError(Exception):
    """Base class of every error the trainer raises on purpose."""


class DataError(TrainerError, ValueError):
    """The training data cannot be used: missing, malformed, non-finite, or with too few classes or rows.

    The message starts with the place: ``file.csv:LINE:COLUMN:`` where they are known.
    """


class OptionError(TrainerError, ValueError):
    """A training option is outside its allowed range."""


class ModelFileError(TrainerError, ValueError):
    """A ``model.pt`` that is missing, corrupt, or not written by this toolkit."""
