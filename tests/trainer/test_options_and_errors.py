"""Options declared once (FitOptions): the CLI's flags, the library's validation and the estimator's parameters agree;
library messages name parameters, the CLI names flags; a diverging run ends in one line, never a traceback."""

from __future__ import annotations

import inspect
from dataclasses import fields

import numpy as np
import pytest
from click.testing import CliRunner
from logreg_onnx.trainer.errors import OptionError
from logreg_onnx.trainer.estimator import LogisticRegressionClassifier
from logreg_onnx.trainer.options import FitOptions, ReadOptions

from logreg_onnx import trainer
from logreg_onnx.cli import main
from logreg_onnx.cli.options import flag

from ..conftest import BREAST_CANCER, synthetic


def test_every_option_is_a_flag_with_its_help_and_default():
    text = CliRunner().invoke(main, ["train", "--help"], terminal_width=200).output
    for cls in (FitOptions, ReadOptions):
        for f in fields(cls):
            assert flag(f.name) in text, f.name
    assert "[default: 0.2]" in text and "[default: lbfgs]" not in text  # auto is the default optimizer


def test_estimator_parameters_are_the_fit_options():
    estimator = LogisticRegressionClassifier()
    assert list(estimator.get_params()) == [f.name for f in fields(FitOptions)]
    assert estimator.get_params()["val_fraction"] == 0.0 and estimator.get_params()["l2"] == FitOptions().l2
    signature = inspect.signature(LogisticRegressionClassifier)
    assert list(signature.parameters) == [f.name for f in fields(FitOptions)]
    from sklearn.base import clone
    from sklearn.model_selection import GridSearchCV

    X, y = synthetic(300, 3, 2, seed=1)
    search = GridSearchCV(LogisticRegressionClassifier(), {"l2": [1e-3, 1.0]}, cv=2).fit(X, y)
    assert search.best_params_["l2"] in (1e-3, 1.0)
    assert clone(LogisticRegressionClassifier(l2=0.5)).l2 == 0.5
    with pytest.raises(TypeError, match="unknown parameter 'alpha'"):
        LogisticRegressionClassifier(alpha=1)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"val_fraction": 1.0}, r"^val_fraction must be in \[0, 1\), got 1.0$"),
        ({"lr": -1.0}, r"^lr must be positive, got -1.0$"),
        ({"epochs": 0}, r"^epochs must be at least 1, got 0$"),
        ({"optimizer": "newton"}, r"^optimizer must be one of auto, lbfgs, sgd, adam; got 'newton'$"),
        ({"l2": float("nan")}, r"^l2 must be at least 0, got nan$"),
        ({"batch_size": 2.5}, r"^batch_size must be an integer, got 2.5$"),
    ],
)
def test_library_messages_name_python_parameters(options, message):
    with pytest.raises(OptionError, match=message):
        trainer.fit(np.eye(4), [0, 1, 0, 1], **options)


SEE_HELP = r" \(see 'logreg train --help'\)$"  # a bad value is a usage error, as click's own (--epochs x) are


@pytest.mark.parametrize(
    "args, message",
    [
        (["--val-fraction", "1"], r"^Error: --val-fraction must be in \[0, 1\), got 1.0" + SEE_HELP),
        (["--epochs", "0"], r"^Error: --epochs must be at least 1, got 0" + SEE_HELP),
        (["--optimizer", "sgd", "--lr", "1e30"], r"^Error: --lr is too large: training diverged in epoch 1 "),
        (["--optimizer", "adam", "--lr", "1e30"], r"^Error: --lr is too large: training diverged in epoch 1 "),
        (["--optimizer", "adam", "--lr", "1e39"], r"^Error: --lr is too large: training diverged in epoch 1 "),
        (["--delimiter", "ab"], r"^Error: --delimiter must be one character or auto"),
        (["--encoding", "klingon"], r"^Error: --encoding must be a text encoding Python knows"),
        (["--epochs", "x"], r"^Error: Invalid value for '--epochs': 'x' is not a valid integer. \(see 'logreg train"),
    ],
)
def test_the_command_line_says_its_flags_in_one_line(tmp_path, args, message):
    result = CliRunner().invoke(
        main, ["train", str(BREAST_CANCER), "--label", "diagnosis", "--out", str(tmp_path / "r"), "-q", *args]
    )
    assert result.exit_code == 2, result.output
    import re

    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert re.search(message, result.stderr.strip()), result.stderr
    assert not (tmp_path / "r").exists()
