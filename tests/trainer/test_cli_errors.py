"""Every kind of bad input: one clear line naming file, line and column; exit code 2; nothing written."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from logreg_onnx.cli import main


def _train(tmp_path: Path, *args: str):
    out = tmp_path / "run"
    result = CliRunner().invoke(main, ["train", *args, "--out", str(out), "--quiet"])
    return result, out


CASES = {
    "missing file": (None, ["--label", "y"], r"missing\.csv: no such file"),
    "empty file": ("", ["--label", "y"], r"data\.csv: the file is empty"),
    "header only": ("a,b,y\n", ["--label", "y"], r"data\.csv: only a header, no data rows"),
    "unknown label": ("a,b,y\n1,2,0\n3,4,1\n", ["--label", "target"], r"data\.csv:1: no column named 'target'"),
    "unknown feature": (
        "a,b,y\n1,2,0\n3,4,1\n",
        ["--label", "y", "--features", "a,c"],
        r"data\.csv:1: no column named 'c' for --features",
    ),
    "empty cell, --missing error": (
        "a,b,y\n1,2,0\n3,,1\n",
        ["--label", "y", "--missing", "error"],
        r"data\.csv:3:2: column 'b': empty cell; with --missing error every feature needs a value",
    ),
    "nan, --missing error": (
        "a,b,y\n1,2,0\nnan,4,1\n",
        ["--label", "y", "--missing", "error"],
        r"data\.csv:3:1: column 'a': 'nan' is a missing value; .* with --missing drop\)",
    ),
    "infinity": ("a,b,y\n1,2,0\n3,-inf,1\n", ["--label", "y"], r"data\.csv:3:2: column 'b': '-inf' is not a finite"),
    "one class": ("a,b,y\n1,2,0\n3,4,0\n", ["--label", "y"], r"found only '0' as label; .*at least two classes"),
    "duplicate column": (
        "a,b,a,y\n1,2,3,0\n",
        ["--label", "y"],
        r"data\.csv:1:3: duplicate column name 'a' \(also column 1\)",
    ),
    "ragged row": ("a,b,y\n1,2,0\n3,4\n", ["--label", "y"], r"data\.csv:3: expected 3 fields as in the header, got 2"),
    "empty label, --missing error": (
        "a,b,y\n1,2,0\n3,4,\n5,6,1\n",
        ["--label", "y", "--missing", "error"],
        r"data\.csv:3:3: column 'y': empty label",
    ),
    "unknown categorical": (
        "a,b,y\n1,2,0\n3,4,1\n",
        ["--label", "y", "--categorical", "c"],
        r"data\.csv:1: no column named 'c' for --categorical",
    ),
    "val fraction 1": (
        "a,y\n1,0\n2,1\n",
        ["--label", "y", "--val-fraction", "1"],
        r"--val-fraction must be in \[0, 1\)",
    ),
    "val fraction negative": (
        "a,y\n1,0\n2,1\n",
        ["--label", "y", "--val-fraction", "-0.1"],
        r"--val-fraction must be in",
    ),
    "no label option": ("a,y\n1,0\n2,1\n", [], r"a CSV needs --label"),
    "val fraction leaves nothing": (
        "a,y\n1,0\n2,1\n3,0\n4,1\n",
        ["--label", "y", "--val-fraction", "0.1"],
        r"leaves no validation rows",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_csv_input_fails_cleanly(tmp_path, case):
    content, args, pattern = CASES[case]
    data = tmp_path / ("missing.csv" if content is None else "data.csv")
    if content is not None:
        data.write_text(content)
    result, out = _train(tmp_path, str(data), *args)
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)  # no traceback
    message = result.output.strip().splitlines()[-1]
    import re

    assert re.search(pattern, message), message
    assert not out.exists()


def test_bad_npz_inputs(tmp_path):
    cases = {
        "no_y.npz": ({"X": np.ones((3, 2))}, r"missing array 'y'"),
        "nan.npz": (
            {"X": np.array([[1.0, np.nan], [2.0, 3.0]]), "y": np.array([0, 1])},
            r"array 'X'.*row 0, column 1 is nan",
        ),
        "short_y.npz": ({"X": np.ones((3, 2)), "y": np.array([0, 1])}, r"array 'y' must be 1-D with one label per row"),
        "objects.npz": ({"X": np.array([[1, "a"]], dtype=object), "y": np.array([0])}, r"without unpickling"),
    }
    for name, (arrays, pattern) in cases.items():
        path = tmp_path / name
        np.savez(path, **arrays)
        result, out = _train(tmp_path, str(path))
        assert result.exit_code == 2, (name, result.output)
        import re

        assert re.search(pattern, result.output), (name, result.output)
        assert not out.exists()


def test_unsupported_suffix(tmp_path):
    path = tmp_path / "data.parquet"
    path.write_bytes(b"PAR1")
    result, _ = _train(tmp_path, str(path), "--label", "y")
    assert result.exit_code == 2 and "unsupported file type '.parquet'" in result.output


def test_cuda_requested_without_gpu_is_a_clear_error(tmp_path, breast_cancer_csv):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    result, out = _train(tmp_path, str(breast_cancer_csv), "--label", "diagnosis", "--device", "cuda")
    assert result.exit_code == 2 and "sees no CUDA GPU" in result.output
    assert not out.exists()
