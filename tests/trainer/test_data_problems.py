"""What a new user's real files bring: missing labels, case-variant classes, tiny classes, an ID column, other
separators and encodings, partial separation. Each ends in one clear line or a warning, never silently."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from click.testing import CliRunner
from logreg_onnx.trainer.errors import DataError

from logreg_onnx import trainer
from logreg_onnx.cli import main

from ..conftest import BREAST_CANCER, synthetic


def _csv(path, header, rows, *, delimiter=",", encoding="utf-8"):
    lines = [delimiter.join(header)] + [delimiter.join(str(v) for v in row) for row in rows]
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    return path


def _train(tmp_path, data, *args):
    out = tmp_path / "run"
    result = CliRunner().invoke(main, ["train", str(data), "--out", str(out), *args])
    return result, out


def _rows(n, seed=0, labels=("no", "yes")):
    X, y = synthetic(n, 2, 2, seed=seed)
    return [[f"{a:.4f}", f"{b:.4f}", labels[k]] for (a, b), k in zip(X, y, strict=True)]


def test_a_label_that_looks_missing_is_refused_or_dropped_with_a_count(tmp_path):
    rows = _rows(60)
    rows[6][2] = "NA"
    rows[9][2] = ""
    data = _csv(tmp_path / "d.csv", ["a", "b", "y"], rows)
    result, out = _train(tmp_path, data, "--label", "y", "-q", "--missing", "error")
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        f"Error: {data}:8:3: column 'y': label 'NA' looks like a missing value, not a class; leave such rows out "
        "with --missing drop (or change --na-values if it is a real class)"
    )
    assert not out.exists()
    for policy in ("drop", "impute"):  # a missing label is never imputed: both drop the row and say so
        result, out = _train(tmp_path, data, "--label", "y", "--missing", policy)
        assert result.exit_code == 0, result.output
        assert "58 rows, 2 features; classes: no " in result.stderr
        assert "dropped 2 rows with a missing label" in result.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["class_names"] == ["no", "yes"] and metrics["data"]["n_rows"] == 58
    # and in the Python API, with the parameter's own name
    X = np.array([[float(r[0]), float(r[1])] for r in rows])
    y = np.array([r[2] or None for r in rows], dtype=object)
    with pytest.raises(DataError, match="missing='drop'"):
        trainer.fit(X, y, missing="error")
    assert trainer.fit(X, y, missing="drop").metrics["train"]["n_rows"] == 46  # 58 rows, 20% validation
    assert trainer.fit(X, y).metrics["train"]["n_rows"] == 46


def test_class_counts_are_printed_and_odd_classes_warned_about(tmp_path):
    rows = _rows(80)
    rows[3][2], rows[5][2], rows[7][2] = "Yes", "Yes", "maybe"
    data = _csv(tmp_path / "d.csv", ["a", "b", "y"], rows)
    result, _ = _train(tmp_path, data, "--label", "y", "--val-fraction", "0")
    assert result.exit_code == 0, result.output
    assert "classes: Yes 2, maybe 1, no " in result.stderr
    assert "warning: classes 'Yes' (2), 'maybe' (1) have fewer than 10 rows" in result.stderr
    assert "warning: labels 'Yes' and 'yes' differ only in case and are separate classes" in result.stderr


def test_an_id_column_is_warned_about_and_can_be_dropped(tmp_path):
    rows = [[i + 1, *row] for i, row in enumerate(_rows(100))]
    data = _csv(tmp_path / "d.csv", ["rownames", "a", "b", "y"], rows)
    result, out = _train(tmp_path, data, "--label", "y", "-q")
    assert result.exit_code == 0
    assert "warning: feature 'rownames' has a different value on every row and grows with the row number" in (
        result.stderr
    )
    assert "Leave it out with --drop rownames" in result.stderr
    result, out = _train(tmp_path, data, "--label", "y", "-q", "--drop", "rownames")
    assert result.exit_code == 0 and "rownames" not in result.stderr
    assert json.loads((out / "metrics.json").read_text())["feature_names"] == ["a", "b"]
    result, _ = _train(tmp_path, data, "--label", "y", "-q", "--drop", "nope")
    assert result.exit_code == 2 and "no column named 'nope' for --drop" in result.stderr


@pytest.mark.parametrize("delimiter", [";", "\t"])
def test_semicolon_and_tab_files_are_detected(tmp_path, delimiter):
    data = _csv(tmp_path / "d.csv", ["a", "b", "y"], _rows(60), delimiter=delimiter)
    comma = _csv(tmp_path / "c.csv", ["a", "b", "y"], _rows(60))
    result, out = _train(tmp_path, data, "--label", "y", "-q")
    assert result.exit_code == 0, result.output
    _expected, _ = _train(tmp_path / "x", comma, "--label", "y", "-q")
    assert (
        json.loads((out / "metrics.json").read_text())["train"]
        == json.loads((tmp_path / "x" / "run" / "metrics.json").read_text())["train"]
    )


def test_glued_columns_suggest_the_delimiter(tmp_path):
    data = _csv(tmp_path / "d.csv", ["a", "b,c", "y"], _rows(10), delimiter=";")  # a comma in the header: ambiguous
    result, _ = _train(tmp_path, data, "--label", "y", "-q")
    assert result.exit_code == 2
    assert "the columns look glued together: the separator may be ';' (--delimiter ';')" in result.stderr


def test_a_latin1_file_says_which_line_and_how_to_read_it(tmp_path):
    rows = _rows(60)
    rows[4][2] = "sí"
    rows = [[a, b, "sí" if y == "yes" else "no"] for a, b, y in rows]
    data = _csv(tmp_path / "d.csv", ["a", "b", "y"], rows, encoding="latin-1")
    result, out = _train(tmp_path, data, "--label", "y", "-q")
    line = 2 + next(i for i, r in enumerate(rows) if r[2] == "sí")
    assert result.exit_code == 2
    assert f"d.csv:{line}: not utf-8 text (byte 0xed); give its encoding, e.g. --encoding latin-1" in result.stderr
    result, out = _train(tmp_path, data, "--label", "y", "-q", "--encoding", "latin-1")
    assert result.exit_code == 0, result.output
    assert json.loads((out / "metrics.json").read_text())["class_names"] == ["no", "sí"]


def test_partial_separation_on_the_command_line_names_the_class(tmp_path):
    from sklearn.datasets import load_iris

    iris = load_iris()
    rows = [[*map(str, x), iris.target_names[k]] for x, k in zip(iris.data, iris.target, strict=True)]
    data = _csv(tmp_path / "iris.csv", ["sl", "sw", "pl", "pw", "species"], rows)
    result, out = _train(tmp_path, data, "--label", "species", "--l2", "0", "--val-fraction", "0", "-q")
    assert result.exit_code == 0, result.output
    assert "warning: class 'setosa' is perfectly separated from the others on the training rows" in result.stderr
    assert "versicolor" not in result.stderr  # overlaps virginica: not separated
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["training"]["separated_classes"] == ["setosa"] and not metrics["training"]["converged"]
    assert "iteration cap" not in metrics["training"]["stop_reason"]


def test_the_separable_warning_says_one_thing():
    from sklearn.datasets import load_breast_cancer

    X, y = load_breast_cancer(return_X_y=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = trainer.fit(X, y, l2=0.0, val_fraction=0, epochs=300)
    text = " ".join(str(w.message) for w in caught)
    assert "linearly separable" in text and "iteration cap" not in text
    assert "where floating-point precision ends" in result.stop_reason and "cap" not in result.stop_reason


def test_training_plot_legends_and_integer_iterations():
    from logreg_onnx.trainer.rundir.plots import history_figure

    history = [
        {"epoch": i, "train_loss": 1.0 / i, "train_accuracy": 0.9, "val_loss": 1.1 / i, "val_accuracy": 0.8}
        for i in range(1, 6)
    ]
    fig = history_figure(history, unit="iteration")
    loss_ax, accuracy_ax = fig.axes
    assert [t.get_text() for t in accuracy_ax.get_legend().get_texts()] == ["training", "validation"]
    assert "objective" in loss_ax.get_legend().get_texts()[0].get_text()
    fig.canvas.draw()
    ticks = [t for t in accuracy_ax.get_xticks() if 1 <= t <= 5]
    assert ticks and all(float(t).is_integer() for t in ticks)


def test_breast_cancer_cli_prints_the_classes(tmp_path):
    result, _ = _train(tmp_path, BREAST_CANCER, "--label", "diagnosis")
    assert "569 rows, 30 features; classes: benign 357, malignant 212" in result.stderr


def test_block_reader_gives_the_careful_readers_values(tmp_path):
    """Large files are parsed a block at a time by numpy's C parser; a block with a problem goes through the careful
    path. Both must give exactly the values Python's float() gives, and name a bad line wherever it is."""
    from logreg_onnx.trainer.data.dataset import BLOCK_LINES, load_dataset
    from logreg_onnx.trainer.options import ReadOptions

    rng = np.random.default_rng(3)
    n = BLOCK_LINES + 500
    X = rng.normal(size=(n, 3)) * [1e-3, 1.0, 1e4]
    y = rng.integers(0, 2, n)
    cells = [[f"{v:.9g}" for v in row] + [str(k)] for row, k in zip(X, y, strict=True)]
    cells[BLOCK_LINES + 10][1] = "NA"  # the second block needs the careful path
    cells[7][0] = f" {cells[7][0]} "  # spaces around a number in the first
    data = _csv(tmp_path / "big.csv", ["a", "b", "c", "y"], cells)
    dataset = load_dataset(data, ReadOptions(label="y"), missing="drop")
    keep = [i for i in range(n) if i != BLOCK_LINES + 10]
    expected = np.array([[float(c) for c in cells[i][:3]] for i in keep], dtype=np.float32)
    assert np.array_equal(dataset.X, expected) and dataset.notes == ["dropped 1 row with a missing value"]
    cells[BLOCK_LINES + 200][2] = "-inf"
    data = _csv(tmp_path / "bad.csv", ["a", "b", "c", "y"], cells)
    with pytest.raises(DataError, match=rf"bad.csv:{BLOCK_LINES + 202}:3: column 'c': '-inf' is not a finite number"):
        load_dataset(data, ReadOptions(label="y"), missing="drop")
    # text in the second block makes the column categorical in both: the first block is re-read as text
    cells[BLOCK_LINES + 200][2] = "x"
    data = _csv(tmp_path / "text.csv", ["a", "b", "c", "y"], cells)
    dataset = load_dataset(data, ReadOptions(label="y"), missing="drop")
    assert dataset.table.categorical_names == ["c"] and dataset.table.numeric_names == ["a", "b"]
    assert dataset.table.categories[0, 0] == cells[0][2] and dataset.table.categories[BLOCK_LINES + 199, 0] == "x"
