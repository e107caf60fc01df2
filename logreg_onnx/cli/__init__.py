"""The ``logreg`` command line: one click group; each command is a thin shell over an importable function.

This module is also the home of the CLI's two outcomes of failure (:class:`BadInput`, exit 2; :class:`Failed`, exit 1),
:func:`require_extra` and :func:`run_command`. The runtime must not import the trainer or exporter (they need torch),
so their commands are named here as ``module:attribute`` strings and imported only when invoked. ``logreg predict``
therefore never loads torch, and ``logreg train`` in a runtime-only install can say which extra is missing. A command
module must import without its extra (``logreg export --help`` works in the base install); should one not, ``--help``
still lists it, as a stand-in naming the extra (:func:`needs_extra`). A flag's bad value is reported by
:class:`logreg_onnx.cli.options.BadOption`, the flags themselves are derived in :mod:`logreg_onnx.cli.options`.

Every failure ends in one line on stderr: bad input and usage errors exit 2, a failed verification 1, Ctrl-C 130. An
exception nobody anticipated is a bug: it is reported in one line too, with exit code 70, and ``LOGREG_DEBUG=1`` shows
its traceback.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import sys

import click

EXTRAS_HINT = {  # run in the repository's folder: the package is installed from there (not from PyPI)
    "train": "pip install '.[train]'",
    "fast": "pip install '.[fast]'",
    "serve": "pip install '.[serve]'",
    "sklearn": "pip install '.[sklearn]'",
    "mlflow": "pip install '.[mlflow]'",
    "spark": "pip install '.[spark]'",
}
EXTRA_OF_MODULE = {  # the extra that installs each optional dependency (pyproject.toml's optional-dependencies)
    **dict.fromkeys(("torch", "onnx", "onnxscript", "matplotlib"), "train"),
    "pyarrow": "fast",
    **dict.fromkeys(("sklearn", "skops"), "sklearn"),
    "mlflow": "mlflow",
    "pyspark": "spark",
    **dict.fromkeys(("uvicorn", "uvloop", "httptools", "starlette", "prometheus_client", "orjson"), "serve"),
}

LAZY_COMMANDS = {
    "train": "logreg_onnx.cli.train:train",
    "export": "logreg_onnx.cli.export:export",
    "verify": "logreg_onnx.cli.export:verify",
    "predict": "logreg_onnx.cli.predict:predict",
    "info": "logreg_onnx.cli.predict:info",
    "drift": "logreg_onnx.cli.predict:drift",
    "serve": "logreg_onnx.cli.serve:serve",
    "report": "logreg_onnx.cli.train:report",
    "test": "logreg_onnx.cli.train:test",
}

INTERNAL_ERROR_EXIT = 70  # EX_SOFTWARE


class BadInput(click.ClickException):
    """Bad input (a file, a column, an option value): one line on stderr, exit code 2, nothing written."""

    exit_code = 2


class Failed(click.ClickException):
    """The work was tried and did not succeed (e.g. an export that failed verification): exit code 1."""

    exit_code = 1


def require_extra(extra: str, *modules: str) -> None:
    """Raise :class:`BadInput` naming the extra to install if any of ``modules`` is not installed.

    Only looks the modules up (``find_spec``): importing torch takes seconds, which the command pays when it needs it.
    """
    for name in modules:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            raise BadInput(
                f"this command needs {name}, which is not installed; install the {extra!r} extra: "
                f"{EXTRAS_HINT[extra]} in the repository's folder"
            )


def needs_extra(name: str, module: str, extra: str) -> click.Command:
    """A stand-in for the command ``name``, whose module cannot be imported without ``module``: listed by
    ``--help`` with the extra to install, and ending in one line, exit 2, when run."""

    def callback() -> None:
        require_extra(extra, module)
        raise BadInput(f"this command needs the {extra!r} extra: {EXTRAS_HINT[extra]}")  # found, yet not importable

    return click.Command(
        name,
        callback=callback,
        help=f"(Needs the {extra!r} extra: {EXTRAS_HINT[extra]}.)",
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    )


def run_command(ctx: click.Context, name: str, **params) -> object:
    """Invoke another ``logreg`` command by name (e.g. ``train --export`` runs ``export``), without importing it
    here: the group imports it lazily, as it would for the user."""
    root = ctx.find_root()
    command = root.command.get_command(root, name)
    if command is None:
        raise BadInput(f"the {name!r} command is not available in this install")
    return ctx.invoke(command, **params)


class LazyGroup(click.Group):
    """A group whose commands are imported on first use (click's documented lazy-loading pattern), and whose
    failures all end in one line (see the module docstring)."""

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
                if exc.name == module_name:
                    return None  # not built yet in this version
                missing = (exc.name or "").partition(".")[0]
                if missing not in EXTRA_OF_MODULE:
                    raise  # a module of ours, or a base dependency: a bug, reported as one
                return needs_extra(name, missing, EXTRA_OF_MODULE[missing])  # --help still lists every command
            return getattr(module, attribute)
        return super().get_command(ctx, name)

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            result = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.UsageError as exc:
            hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
            click.echo(f"Error: {exc.format_message()}{hint}", err=True)
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except (click.Abort, KeyboardInterrupt):
            click.echo("Aborted.", err=True)
            sys.exit(130)
        except BrokenPipeError:  # the reader went away (e.g. `| head`): nothing more to say to it
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so the exit's flush cannot fail again
            sys.exit(141)
        except Exception as exc:
            if os.environ.get("LOGREG_DEBUG"):
                raise
            text = " ".join(str(exc).split())[:300]
            click.echo(
                f"Error: internal error, a bug in logreg-onnx ({type(exc).__name__}: {text}); please report it. "
                "LOGREG_DEBUG=1 shows the traceback",
                err=True,
            )
            sys.exit(INTERNAL_ERROR_EXIT)
        sys.exit(result if isinstance(result, int) else 0)


@click.group(
    name="logreg", cls=LazyGroup, lazy_commands=LAZY_COMMANDS, context_settings={"help_option_names": ["-h", "--help"]}
)
@click.version_option(package_name="logreg-onnx")
def main() -> None:
    """Train a logistic-regression classifier in PyTorch, export it to a verified ONNX file, and run it anywhere.

    \b
    Typical use:
      logreg train data.csv --label target --export   # needs the 'train' extra
      logreg predict artifacts/data/model.onnx new_rows.csv
    """


def run() -> None:
    """The ``logreg`` console script: :func:`main`, then, once everything is written and flushed, an immediate exit
    when torch was imported: its interpreter teardown costs about half a second here and does nothing for the user
    (every file is already complete: written, fsync'd and renamed by then)."""
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code
    if code is None:
        code = 0
    elif not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    if "torch" not in sys.modules:
        sys.exit(code)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe: nothing left to say to it
            stream.flush()
    os._exit(code)


if __name__ == "__main__":
    run()
