"""The ``logreg`` command line: one click group; each command is a thin shell over an importable function.

The runtime must not import the trainer or exporter (they need torch), so their commands are named here as
``module:attribute`` strings and imported only when invoked. ``logreg predict`` therefore never loads torch, and
``logreg train`` in a runtime-only install can say which extra is missing.
"""

from __future__ import annotations

import importlib

import click

EXTRAS_HINT = {"train": "pip install 'logreg-onnx[train]'"}

LAZY_COMMANDS = {
    "train": "trainer.cli:train",
    "export": "exporter.cli:export",
    "verify": "exporter.cli:verify",
    "predict": "runtime.commands:predict",
    "info": "runtime.commands:info",
}


class BadInput(click.ClickException):
    """Bad input (a file, a column, an option value): one line on stderr, exit code 2, nothing written."""

    exit_code = 2


class Failed(click.ClickException):
    """The work was tried and did not succeed (e.g. an export that failed verification): exit code 1."""

    exit_code = 1


def require_extra(extra: str, *modules: str) -> None:
    """Raise :class:`BadInput` naming the extra to install if any of ``modules`` cannot be imported."""
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError:
            raise BadInput(
                f"this command needs {name}, which is not installed; install the {extra!r} extra: {EXTRAS_HINT[extra]}"
            ) from None


class LazyGroup(click.Group):
    """A group whose commands are imported on first use (click's documented lazy-loading pattern)."""

    def __init__(self, *args, lazy_commands: dict[str, str], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_commands = lazy_commands

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy_commands})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.lazy_commands:
            module_name, attribute = self.lazy_commands[name].split(":")
            try:
                module = importlib.import_module(module_name)
            except ModuleNotFoundError as exc:
                if exc.name != module_name:  # the module exists but a dependency of it is missing
                    raise
                return None  # not built yet in this version
            return getattr(module, attribute)
        return super().get_command(ctx, name)


@click.group(cls=LazyGroup, lazy_commands=LAZY_COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="logreg-onnx")
def main() -> None:
    """Train a logistic-regression classifier in PyTorch, export it to a verified ONNX file, and run it anywhere.

    \b
    Typical use:
      logreg train data.csv --label target --export   # needs the 'train' extra
      logreg predict artifacts/data/model.onnx new_rows.csv
    """


if __name__ == "__main__":
    main()
