"""``logreg predict`` reads a file as ``logreg train`` read it: a ``;``-separated file with decimal commas (pandas'
``to_csv(sep=";", decimal=",")``, Excel in much of Europe) is scored as the same rows written with decimal points,
by both CSV engines, from a file and from stdin; ``--decimal`` says the mark when the first rows cannot."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from logreg_onnx.runtime.stream import decimal_mark, has_pyarrow

from logreg_onnx import runtime
from logreg_onnx.cli import main

ENGINES = ["python", *(["pyarrow"] if has_pyarrow() else [])]


def _frame(n: int = 240, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    age = np.round(rng.uniform(18, 90, n), 1)
    income = np.round(rng.normal(40_000, 9_000, n), 2)
    city = rng.choice(["Lyon", "Gent", "Graz"], n)
    logit = (age - 50) / 15 + (income - 40_000) / 9_000 + (city == "Gent")
    bought = np.where(rng.random(n) < 1 / (1 + np.exp(-logit)), "yes", "no")
    return pd.DataFrame(
        {"id": [f"c{i}" for i in range(n)], "age": age, "income": income, "city": city, "bought": bought}
    )


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict:
    """A model trained on the decimal-comma file, that file, and the same rows with decimal points."""
    folder = tmp_path_factory.mktemp("decimal")
    frame = _frame()
    commas, points = folder / "commas.csv", folder / "points.csv"
    frame.to_csv(commas, sep=";", decimal=",", index=False)
    frame.to_csv(points, index=False)
    assert ",5;" in commas.read_text() or ",1;" in commas.read_text()  # the file really holds decimal commas
    run = folder / "run"
    result = CliRunner().invoke(
        main, ["train", str(commas), "--label", "bought", "--drop", "id", "--out", str(run), "--export", "-q"]
    )
    assert result.exit_code == 0, result.output
    return {"model": run / "model.onnx", "commas": commas, "points": points, "frame": frame}


def _predict(*args, input=None):
    result = CliRunner().invoke(main, ["predict", *map(str, args)], input=input)
    return result


@pytest.mark.parametrize("engine", ENGINES)
def test_decimal_commas_score_as_decimal_points(files, engine):
    model = runtime.load(files["model"])
    assert model.numeric_names == ["age", "income"]  # trained as numbers, not as text
    with_points = _predict(files["model"], files["points"], "--keep", "id", "--engine", engine)
    with_commas = _predict(files["model"], files["commas"], "--keep", "id", "--engine", engine)
    assert with_points.exit_code == 0, with_points.output
    assert with_commas.exit_code == 0, with_commas.output
    assert with_commas.stdout == with_points.stdout
    # and both are the runtime's answer on pandas' own reading of the file
    scored = pd.read_csv(io.StringIO(with_commas.stdout))
    reference = pd.read_csv(files["commas"], sep=";", decimal=",")
    expected = model.predict_proba(reference[model.feature_names])
    np.testing.assert_array_equal(scored[["p_no", "p_yes"]].to_numpy(dtype=np.float32), expected)
    assert scored["id"].tolist() == reference["id"].tolist()
    assert scored["label"].tolist() == model.predict(reference[model.feature_names]).tolist()


def test_decimal_commas_from_stdin(files):
    from_file = _predict(files["model"], files["points"], "--keep", "id", "--engine", "python")
    from_stdin = _predict(files["model"], "-", "--keep", "id", input=files["commas"].read_text())
    assert from_stdin.exit_code == 0, from_stdin.output
    assert from_stdin.stdout == from_file.stdout


@pytest.mark.parametrize("engine", ENGINES)
def test_the_decimal_flag_decides(files, engine, tmp_path):
    result = _predict(files["model"], files["commas"], "--decimal", ".", "--engine", engine)
    assert result.exit_code == 2
    first = files["frame"].iloc[0]
    age = f"{first['age']:.1f}".replace(".", ",")
    assert result.stderr.strip() == (
        f"Error: {files['commas']}:2: column 'age': {age!r} is not a number with decimal points; if the file writes "
        "decimal commas, say --decimal ','"
    )
    # a file whose first rows hold no decimal mark at all: auto reads decimal points, the flag says commas
    header, *rows = files["commas"].read_text().splitlines()
    rows = [row.replace(",", "") if i < 1100 else row for i, row in enumerate(rows * 6)]
    late = tmp_path / "late.csv"
    late.write_text("\n".join([header, *rows]) + "\n")
    assert decimal_mark(rows[:1000], ";") == "."
    result = _predict(files["model"], late, "--engine", engine)
    assert result.exit_code == 2 and "is not a number with decimal points" in result.stderr
    assert _predict(files["model"], late, "--decimal", ",", "--engine", engine).exit_code == 0


def test_decimal_mark_rule():
    assert decimal_mark(["29,5;a;3", "1,25;b;4"], ";") == ","
    assert decimal_mark(["29,5;1.5"], ";") == "."  # points in one column: not a decimal-comma file
    assert decimal_mark(["29;a", "30;b"], ";") == "."  # no mark at all
    assert decimal_mark(['"29,5",a'], ",") == "."  # comma-separated: only the flag says commas
    assert decimal_mark(['"29,5",a'], ",", ",") == ","
    assert decimal_mark(["29,5;x", "1,2,3;y"], ";") == "."  # a cell with two commas: text, not a number
