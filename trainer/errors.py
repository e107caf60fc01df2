"""The trainer's exceptions: one base class, each error also a built-in so existing ``except`` clauses still work."""

from __future__ import annotations


class TrainerError(Exception):
    """Base class of every error the trainer raises on purpose."""


class DataError(TrainerError, ValueError):
    """The training data cannot be used: missing, malformed, non-finite, or with too few classes or rows.

    The message starts with the place: ``file.csv:LINE:COLUMN:`` where they are known.
    """


class OptionError(TrainerError, ValueError):
    """A training option is outside its allowed range. ``parameter`` is the Python name (``val_fraction``); the
    message names it so, and the command line replaces it with its flag (``--val-fraction``)."""

    def __init__(self, parameter: str, problem: str) -> None:
        super().__init__(f"{parameter} {problem}")
        self.parameter = parameter
        self.problem = problem


class TrainingError(TrainerError, FloatingPointError):
    """Training diverged: the loss or the weights stopped being finite numbers (a learning rate too large, most
    often). ``parameter`` names the option to change, as in :class:`OptionError`."""

    def __init__(self, parameter: str, problem: str) -> None:
        super().__init__(f"{parameter} {problem}")
        self.parameter = parameter
        self.problem = problem


class ModelFileError(TrainerError, ValueError):
    """A ``model.pt`` that is missing, corrupt, or not written by this toolkit."""
