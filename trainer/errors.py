"""The trainer's exceptions and warnings: one base class, each error also a built-in so existing ``except`` clauses
still work.

A message that names an option is built from parts: text, and a :class:`Setting` for each option it names. Python
reads ``str(error)``, where a setting is spelt as a keyword argument (``missing='drop'``); the command line renders
the same parts with its flags (``--missing drop``, in :mod:`logreg_onnx.cli.options`). An error about one option's
value (:class:`AboutParameter`) also carries that option's name, ``parameter``, which the command line reports as
its flag.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass


class Placeholder(str):
    """A value for the reader to choose, shown as it is: ``min_frequency=N`` (not ``min_frequency='N'``)."""

    def __repr__(self) -> str:
        return str(self)


@dataclass(frozen=True)
class Setting:
    """An option named in a message: alone (``features``), or with the value a fix gives it (``missing='drop'``)."""

    name: str
    value: object = None

    def python(self) -> str:
        """The setting as a Python keyword argument: ``missing='drop'``, ``l2=0.001``, ``features``."""
        return self.name if self.value is None else f"{self.name}={self.value!r}"


def render(parts: Iterable[object], spell: Callable[[Setting], str] = Setting.python) -> str:
    """The message made of ``parts``, each :class:`Setting` spelt by ``spell``."""
    return "".join(spell(part) if isinstance(part, Setting) else str(part) for part in parts)


class Worded:
    """A message whose ``args`` are its parts: text and :class:`Setting` values, spelt for Python by ``str``."""

    args: tuple

    def render(self, spell: Callable[[Setting], str] = Setting.python) -> str:
        return render(self.args, spell)

    def __str__(self) -> str:
        return self.render()


class TrainerError(Worded, Exception):
    """Base class of every error the trainer raises on purpose."""


class DataError(TrainerError, ValueError):
    """The training data cannot be used: missing, malformed, non-finite, or with too few classes or rows.

    The message starts with the place: ``file.csv:LINE:COLUMN:`` where they are known.
    """


class AboutParameter(Worded):
    """The shape of an error about one option (the trainer's and the exporter's): ``parameter`` (its Python name,
    ``val_fraction``), then ``problem``, the parts of the rest of the message. Python reads ``val_fraction must be in
    [0, 1), got 1.0``; the command line reports ``problem`` under the flag (``--val-fraction``)."""

    def __init__(self, parameter: str, *problem: str | Setting) -> None:
        super().__init__(Setting(parameter), " ", *problem)
        self.parameter = parameter
        self.problem = problem

    def __reduce__(self):  # pickled (multiprocessing, torch.distributed) by its own arguments, not by its parts
        return type(self), (self.parameter, *self.problem)


class ParameterError(AboutParameter, TrainerError):
    """A trainer error about one option (see :class:`AboutParameter`)."""


class OptionError(ParameterError, ValueError):
    """A training option is outside its allowed range, or cannot work with this data."""


class TrainingError(ParameterError, FloatingPointError):
    """Training diverged: the loss or the weights stopped being finite numbers (a learning rate too large, most
    often). ``parameter`` names the option to change."""


class ModelFileError(TrainerError, ValueError):
    """A ``model.pt`` that is missing, corrupt, or not written by this toolkit."""


class TrainerWarning(Worded, UserWarning):
    """Base class of the trainer's warnings; their messages are parts, as the errors' are."""
