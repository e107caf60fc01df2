"""The CLI is a shell: library errors carry the parameter they are about and the CLI reports them under its flag
(``click.BadParameter``); library messages name options as :class:`Setting` parts, spelt as keyword arguments in
Python and as flags on the command line, with no rewriting of text; a command whose module needs a missing extra is
still listed by ``--help``."""

from __future__ import annotations

import ast
import pickle
import sys

import click
import numpy as np
import pytest
from click.testing import CliRunner
from logreg_onnx.trainer.errors import DataError, OptionError, Placeholder, Setting, TrainingError

from logreg_onnx import trainer
from logreg_onnx.cli import LazyGroup, main
from logreg_onnx.cli.options import cli_error, cli_text, flag, spell

from ..conftest import REPO, write_csv


def test_a_setting_is_a_keyword_argument_in_python_and_a_flag_on_the_command_line():
    error = DataError(
        "d.csv:3:2: empty cell; with ",
        Setting("missing", "error"),
        " rows need values, or use ",
        Setting("missing", "drop"),
        " (or change ",
        Setting("na_values"),
        ")",
    )
    assert (
        str(error)
        == "d.csv:3:2: empty cell; with missing='error' rows need values, or use missing='drop' (or change na_values)"
    )
    assert (
        cli_text(error)
        == "d.csv:3:2: empty cell; with --missing error rows need values, or use --missing drop (or change --na-values)"
    )
    assert spell(Setting("drop", "row names")) == "--drop 'row names'"  # quoted as a shell needs it
    assert (
        spell(Setting("l2", Placeholder("1e-3"))) == "--l2 1e-3"
        and Setting("l2", Placeholder("1e-3")).python() == "l2=1e-3"
    )
    assert (
        Setting("val_fraction", 0.1).python() == "val_fraction=0.1"
        and spell(Setting("val_fraction", 0.1)) == "--val-fraction 0.1"
    )


def test_an_option_error_becomes_the_flags_bad_parameter():
    with pytest.raises(OptionError) as caught:
        trainer.fit(np.eye(4), [0, 1, 0, 1], val_fraction=1.0)
    error = caught.value
    assert (error.parameter, str(error)) == ("val_fraction", "val_fraction must be in [0, 1), got 1.0")
    converted = cli_error(error)
    assert isinstance(converted, click.BadParameter) and converted.exit_code == 2
    assert converted.param_hint == "--val-fraction"
    assert converted.format_message() == "--val-fraction must be in [0, 1), got 1.0"
    # a setting inside the problem is spelt as a flag too
    device = OptionError("device", "cuda, but this torch sees no CUDA GPU; use ", Setting("device", "cpu"))
    assert str(device) == "device cuda, but this torch sees no CUDA GPU; use device='cpu'"
    assert cli_error(device).format_message() == "--device cuda, but this torch sees no CUDA GPU; use --device cpu"
    # any other library error is bad input (exit 2), in flags
    data = cli_error(DataError("d.csv:1: no column named 'c' for ", Setting("features")))
    assert not isinstance(data, click.BadParameter) and data.exit_code == 2
    assert data.format_message() == "d.csv:1: no column named 'c' for --features"


def test_errors_survive_pickling_with_their_parameter():
    """Errors cross process boundaries (multiprocessing, a distributed job): they keep their parameter and words."""
    for error in (
        OptionError("lr", "must be positive, got -1.0"),
        TrainingError("lr", "is too large: training diverged in epoch 1; lower it (now 1e+30)"),
        DataError("d.csv: ", Setting("val_fraction", 0.5), " leaves no training rows"),
    ):
        copy = pickle.loads(pickle.dumps(error))
        assert type(copy) is type(error) and str(copy) == str(error) and cli_text(copy) == cli_text(error)
        assert getattr(copy, "parameter", None) == getattr(error, "parameter", None)


def _settings_named_in(package: str) -> set[str]:
    """The option names the package's messages name: ``Setting("missing", ...)``, ``OptionError("lr", ...)``."""
    calls = ("Setting", "OptionError", "TrainingError", "ExportOptionError")
    names = set()
    for path in (REPO / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and getattr(node.func, "id", None) in calls and node.args):
                continue
            if isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                names.add(node.args[0].value)
    return names


def _flags_of(command: str) -> set[str]:
    return {opt for param in main.get_command(click.Context(main), command).params for opt in param.opts}


def test_every_option_a_library_message_names_is_a_flag_of_its_command():
    trainer_names = _settings_named_in("trainer")
    assert {"missing", "features", "drop", "val_fraction", "l2", "lr", "device", "threshold"} <= trainer_names
    assert not {name for name in trainer_names if flag(name) not in _flags_of("train")}
    exporter_names = _settings_named_in("exporter")
    assert {"opset", "out", "atol", "rtol"} <= exporter_names
    from logreg_onnx.cli.export import API_ONLY, HINTS

    export_flags = _flags_of("export") | {"MODEL"}
    assert not {n for n in exporter_names if HINTS.get(n, flag(n)) not in export_flags and n not in API_ONLY}


def test_the_cli_rewrites_no_messages_with_regular_expressions():
    for path in (REPO / "logreg_onnx" / "cli").glob("*.py"):
        tree = ast.parse(path.read_text())
        imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
        assert "re" not in imported, path


def test_a_library_warning_is_one_line_in_flags(tmp_path):
    rows = [[i + 1, round(0.37 * i % 5, 3), i % 2] for i in range(60)]
    data = write_csv(tmp_path / "d.csv", ["rownames", "a", "y"], rows)
    result = CliRunner().invoke(main, ["train", str(data), "--label", "y", "--out", str(tmp_path / "run"), "-q"])
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert warnings == [
        "warning: feature 'rownames' has a different value on every row and grows with the row number, like a row "
        "ID: the model would learn the file's order, which will not hold for new rows. Leave it out with --drop "
        "rownames unless it is a real feature"
    ]


def test_a_command_whose_extra_is_missing_is_listed_and_names_the_extra(tmp_path, monkeypatch):
    (tmp_path / "needs_uvicorn.py").write_text(
        "import click\nimport uvicorn\n\n@click.command()\ndef serve_it():\n    'Serve.'\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # as if not installed
    group = LazyGroup("logreg", lazy_commands={"serve-it": "needs_uvicorn:serve_it"})
    listing = CliRunner().invoke(group, ["--help"])
    assert listing.exit_code == 0, listing.output
    assert "serve-it  (Needs the 'serve' extra: pip install '.[serve]'.)" in listing.output
    run = CliRunner().invoke(group, ["serve-it", "--port", "1"])
    assert run.exit_code == 2
    assert run.output == (
        "Error: this command needs uvicorn, which is not installed; install the 'serve' extra: "
        "pip install '.[serve]' in the repository's folder\n"
    )


def test_a_missing_module_that_no_extra_installs_is_a_bug_not_a_missing_extra(tmp_path, monkeypatch):
    (tmp_path / "broken_command.py").write_text("import click\nimport no_such_module_anywhere\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    group = LazyGroup("logreg", lazy_commands={"broken": "broken_command:broken"})
    result = CliRunner().invoke(group, ["broken"])
    assert result.exit_code == 70, result.output
    assert "internal error, a bug in logreg-onnx (ModuleNotFoundError: No module named 'no_such_module_anywhere')" in (
        result.output
    )
