"""The command line's side of the options: flags derived from the library's declarations (:mod:`trainer.options`),
and library errors and warnings said in flags.

The library declares each option once (a dataclass field with its help, kind, choices and default) and writes its
messages in Python's words, an option named by a :class:`~trainer.errors.Setting` (``missing='drop'``). Here the same
fields become click options, and the same messages are rendered with flags (``--missing drop``); an error about one
option's value is reported as that flag's :class:`click.BadParameter`.
"""

from __future__ import annotations

import shlex
from dataclasses import MISSING, fields
from typing import Any

import click

from logreg_onnx.trainer.errors import AboutParameter, Setting, Worded, render

from . import BadInput


def flag(name: str) -> str:
    """The command-line flag of an option: ``val_fraction`` -> ``--val-fraction``."""
    return "--" + name.replace("_", "-")


def spell(setting: Setting) -> str:
    """A setting as the command line takes it: ``--missing drop``, ``--features``."""
    if setting.value is None:
        return flag(setting.name)
    return f"{flag(setting.name)} {shlex.quote(str(setting.value))}"


def cli_text(message: object) -> str:
    """A library message (an error, a warning) in the command line's words; any other text as it is."""
    return message.render(spell) if isinstance(message, Worded) else str(message)


class BadOption(click.BadParameter):
    """A flag's value the library refused: ``--val-fraction must be in [0, 1), got 1.0``. A usage error (exit 2),
    as click's own for a value of the wrong type; its message starts with the flag, which says what to change."""

    def format_message(self) -> str:
        return f"{self.param_hint} {self.message}"


def cli_error(exc: Exception, hints: dict[str, str] | None = None) -> click.ClickException:
    """The click error to raise for a library error (the trainer's, the exporter's): its flag's :class:`BadOption`
    when it is about one option's value, else :class:`BadInput` with the message in flags. ``hints``: the flag or
    argument of a parameter whose name is not its flag's (``feature_names``: ``--features``)."""
    if isinstance(exc, AboutParameter):
        hint = (hints or {}).get(exc.parameter, flag(exc.parameter))
        return BadOption(render(exc.problem, spell), param_hint=hint)
    return BadInput(cli_text(exc))


def echo_warnings(caught) -> None:
    """Recorded warnings (``warnings.catch_warnings(record=True)``), one ``warning:`` line each in the command line's
    words, without the Python source line; deprecations are left out (they are for developers). A line already said
    in this invocation is not said again (``train --export`` reads the data twice, and would warn twice)."""
    context = click.get_current_context(silent=True)
    said = context.find_root().meta.setdefault("logreg_onnx.warnings_said", set()) if context is not None else set()
    for warning in caught:
        if issubclass(warning.category, (DeprecationWarning, FutureWarning)):
            continue
        line = f"warning: {cli_text(warning.message)}"
        if line not in said:
            said.add(line)
            click.echo(line, err=True)


def click_options(cls, *, skip: tuple[str, ...] = ()):
    """A decorator adding one click option per field of the options dataclass ``cls``: its flag, help and default.
    Values are not validated by click but by ``cls`` itself, so the rules and messages are the library's."""

    def decorate(function):
        for f in reversed([f for f in fields(cls) if f.name not in skip]):
            spec = f.metadata
            default = f.default_factory() if f.default is MISSING else f.default
            kwargs: dict[str, Any] = {"help": spec["help"], "metavar": spec["metavar"]}
            if spec["auto"]:
                kwargs["type"] = click.STRING  # a number or "auto": checked by the options class
            elif spec["choices"] is not None:
                kwargs["type"] = click.Choice(spec["choices"])
            elif spec["kind"] is int:
                kwargs["type"] = click.INT
            elif spec["kind"] is float:
                kwargs["type"] = click.FLOAT
            if default is not None and spec["kind"] is not tuple:
                kwargs["default"] = default
                kwargs["show_default"] = True
            elif spec["kind"] is tuple and default is not None:
                kwargs["default"] = ",".join(default)
                kwargs["show_default"] = bool(default)
            function = click.option(flag(f.name), f.name, **kwargs)(function)
        return function

    return decorate
