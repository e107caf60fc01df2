"""CSV files as pandas writes them: decimal commas (``to_csv(sep=";", decimal=",")``) and the default index (an
unnamed first column), read in memory and streamed by the same rules, with values checked against pandas' reading."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from logreg_onnx.trainer.data.csvfile import decimal_mark
from logreg_onnx.trainer.data.dataset import DataWarning, load_dataset
from logreg_onnx.trainer.engine.training import fit_dataset
from logreg_onnx.trainer.errors import DataError
from logreg_onnx.trainer.options import FitOptions, ReadOptions, StreamOptions
from logreg_onnx.trainer.scale.sources import Source
from logreg_onnx.trainer.scale.streaming import fit_stream

from logreg_onnx.cli import main


def _frame(n: int = 300, *, text: bool = True, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "age": np.round(rng.uniform(18, 90, n), 1),
            "income": np.round(rng.normal(40_000, 9_000, n), 2),
            "visits": rng.integers(0, 12, n),  # integers read the same in either notation
        }
    )
    if text:
        frame["city"] = rng.choice(["Lyon", "Gent", "Graz"], n)
    frame["bought"] = rng.choice(["no", "yes"], n)
    return frame


def _load(path, **read) -> tuple:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dataset = load_dataset(path, ReadOptions(label="bought", **read))
    return dataset, [w for w in caught if issubclass(w.category, DataWarning)]


def _numbers(dataset, frame: pd.DataFrame, names: list[str]) -> None:
    """The dataset's numeric columns equal pandas' reading of the same file, in float32."""
    assert dataset.table.numeric_names == names
    np.testing.assert_array_equal(dataset.table.numeric, frame[names].to_numpy(dtype=np.float32))


@pytest.mark.parametrize("text", [True, False], ids=["careful-path", "fast-path"])  # a text column or none
def test_decimal_commas_are_detected_and_read_as_numbers(tmp_path, text):
    frame = _frame(text=text)
    path = tmp_path / "semicolons.csv"
    frame.to_csv(path, sep=";", decimal=",", index=False)
    assert "29," in path.read_text() or ",5;" in path.read_text()  # the file really holds decimal commas
    dataset, doubts = _load(path)
    _numbers(dataset, pd.read_csv(path, sep=";", decimal=","), ["age", "income", "visits"])
    assert dataset.table.categorical_names == (["city"] if text else [])
    assert "numbers read with decimal commas" in dataset.notes and not doubts


def test_decimal_points_with_semicolons_stay_decimal_points(tmp_path):
    frame = _frame()
    path = tmp_path / "points.csv"
    frame.to_csv(path, sep=";", index=False)
    dataset, doubts = _load(path)
    _numbers(dataset, pd.read_csv(path, sep=";"), ["age", "income", "visits"])
    assert not dataset.notes and not doubts


def test_text_read_as_numbers_in_the_other_notation_is_warned_of(tmp_path):
    frame = _frame()
    path = tmp_path / "semicolons.csv"
    frame.to_csv(path, sep=";", decimal=",", index=False)
    dataset, doubts = _load(path, decimal=".")  # told the wrong mark: every number column is text
    assert dataset.table.categorical_names == ["age", "income", "city"]
    messages = [str(w.message) for w in doubts]
    age_levels = frame["age"].nunique()
    assert messages[0] == (
        f"{path}: column 'age' is read as text ({age_levels} levels), yet 100% of its cells are numbers written "
        f"with decimal commas, such as {frame['age'].map(lambda v: f'{v:.1f}'.replace('.', ',')).iloc[0]!r}: if "
        "they are numbers, read the file with decimal=','"
    )
    assert messages[1].startswith(f"{path}: column 'income' is read as text")
    # the other way round: decimal points in 95% of the rows of a column, told decimal=','
    lines = path.read_text().splitlines()
    lines[1:] = [line.replace(",", ".", 1) if i % 20 else line for i, line in enumerate(lines[1:])]
    path.write_text("\n".join(lines) + "\n")
    dataset, doubts = _load(path, decimal=",")
    assert "age" in dataset.table.categorical_names
    assert any("column 'age' is read as text" in str(w.message) and "decimal points" in str(w.message) for w in doubts)


def test_decimal_option_on_the_command_line(tmp_path):
    frame = _frame()
    path = tmp_path / "commas.csv"
    frame.to_csv(path, decimal=",", index=False)  # comma-separated: pandas quotes each "29,5"
    runner = CliRunner()
    result = runner.invoke(main, ["train", str(path), "--label", "bought", "--out", str(tmp_path / "a"), "-q"])
    assert result.exit_code == 0, result.output
    assert "read the file with --decimal ," in result.stderr  # the warning names the flag
    result = runner.invoke(
        main, ["train", str(path), "--label", "bought", "--decimal", ",", "--out", str(tmp_path / "b"), "-q"]
    )
    assert result.exit_code == 0, result.output
    assert "read as text" not in result.stderr
    columns = json.loads((tmp_path / "b" / "metrics.json").read_text())["data"]["columns"]
    assert [c["kind"] for c in columns] == ["numeric", "numeric", "numeric", "categorical"]
    result = runner.invoke(main, ["train", str(path), "--label", "bought", "--decimal", ";"])
    assert result.exit_code == 2 and "'auto', '.', ','" in result.stderr


def test_the_streamed_reader_reads_decimal_commas_as_in_memory(tmp_path):
    frame = _frame()
    path = tmp_path / "semicolons.csv"
    frame.to_csv(path, sep=";", decimal=",", index=False)
    read, opts = ReadOptions(label="bought"), FitOptions(val_fraction=0.0)
    source = Source(path, read, missing="impute", na_values=set(), chunk_rows=64)
    assert source.decimal == ","
    chunk = next(source.chunks(text=frozenset({3})))
    np.testing.assert_array_equal(chunk.columns[0], frame["age"].to_numpy()[:64])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        streamed = fit_stream(path, read, opts, StreamOptions(chunk_rows=64))
        in_memory = fit_dataset(load_dataset(path, read), opts)
    assert [c.kind for c in streamed.model.encoding.columns] == ["numeric", "numeric", "numeric", "categorical"]
    assert streamed.model.encoding == in_memory.model.encoding
    assert streamed.model.encoding.columns[0].median == pytest.approx(np.median(frame["age"].astype(np.float32)))


def test_decimal_mark_rule():
    assert decimal_mark(["1,5;2;a,b"], ";", "auto") == ","  # 'a,b' is text, not a number
    assert decimal_mark(["1,5;2,5"], ",", "auto") == "."  # a comma separator: never guessed
    assert decimal_mark(["1,5;2.5"], ";", "auto") == "."  # both notations: the usual one
    assert decimal_mark(["1;2;NA"], ";", "auto") == "."  # no evidence
    assert decimal_mark(["1.5;2"], ";", ",") == ","  # told


def test_pandas_default_index_is_read_as_row_labels(tmp_path):
    frame = _frame()
    path = tmp_path / "indexed.csv"
    frame.to_csv(path)  # index=True: the header starts with an empty cell
    assert path.read_text().startswith(",age,")
    dataset, doubts = _load(path)
    _numbers(dataset, pd.read_csv(path, index_col=0), ["age", "income", "visits"])
    assert dataset.table.names == ["age", "income", "visits", "city"]
    assert [str(w.message) for w in doubts] == [
        f"{path}:1:1: the first column has no name in the header, as pandas' to_csv writes its index: read as row "
        "labels, not a feature. Name it in the header to use it as a feature, or write the file with "
        "to_csv(index=False)"
    ]
    dataset, doubts = _load(path, features=("age", "city"))  # features named: nothing to say
    assert dataset.table.names == ["age", "city"] and not doubts


def test_only_the_first_column_may_be_unnamed(tmp_path):
    path = tmp_path / "gap.csv"
    path.write_text("a,,y\n1,2,0\n3,4,1\n")
    with pytest.raises(DataError, match=r"gap.csv:1:2: empty column name in the header; name every column but an"):
        load_dataset(path, ReadOptions(label="y"))


def test_the_streamed_reader_reads_the_index_as_in_memory(tmp_path):
    frame = _frame()
    path = tmp_path / "indexed.csv"
    frame.to_csv(path)
    with pytest.warns(DataWarning, match="the first column has no name in the header"):
        source = Source(path, ReadOptions(label="bought"), missing="impute", na_values=set(), chunk_rows=100)
    assert source.names == ["age", "income", "visits", "city"]
    result = CliRunner().invoke(
        main, ["train", str(path), "--label", "bought", "--stream", "--out", str(tmp_path / "run")]
    )
    assert result.exit_code == 0, result.output
    assert "the first column has no name in the header" in result.stderr
    columns = json.loads((tmp_path / "run" / "metrics.json").read_text())["data"]["columns"]
    assert [c["name"] for c in columns] == ["age", "income", "visits", "city"]


def test_the_streamed_reader_names_the_encoding_of_an_undecodable_start(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes("a;b;y\n1;2;0\nMünchen;3;1\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"latin.csv: not utf-8 text \(.*\); give its encoding, e.g. encoding='latin"):
        Source(path, ReadOptions(label="y"), missing="impute", na_values=set(), chunk_rows=10)
    source = Source(path, ReadOptions(label="y", encoding="latin-1"), missing="impute", na_values=set(), chunk_rows=10)
    assert source.names == ["a", "b"]
