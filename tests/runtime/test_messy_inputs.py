"""Files and frames as users have them: other encodings, padded headers and cells, blank lines of spaces, quoting,
other separators. Both CSV engines accept the same files, write the same bytes and fail with the same line."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from logreg_onnx.runtime import InputError
from logreg_onnx.runtime.stream import has_pyarrow

from logreg_onnx.cli import main

needs_pyarrow = pytest.mark.skipif(not has_pyarrow(), reason="the pyarrow engine needs the 'fast' extra")


def _file(tmp_path, model, vectors, *, name="rows.csv", delimiter=",", pad=False, note="x", encoding="utf-8", rows=8):
    names = model.feature_names
    header = ["id", *names, "note"]
    if pad:
        header = [f"  {h} " for h in header]
    lines = [delimiter.join(header)]
    for i, row in enumerate(vectors["X"][:rows]):
        cells = [f"r{i}", *(repr(float(v)) for v in row), note]
        if pad:
            cells = [f" {c}  " if j else c for j, c in enumerate(cells)]
        lines.append(delimiter.join(cells))
    path = tmp_path / name
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    return path


def _predict(*args):
    return CliRunner().invoke(main, ["predict", *map(str, args)])


def _both(tmp_path, example_path, data, *extra):
    outputs = {}
    for engine in ("python", "pyarrow"):
        out = tmp_path / f"{engine}.csv"
        result = _predict(example_path, data, "-o", out, "--keep", "id,note", "--engine", engine, *extra)
        assert result.exit_code == 0, (engine, result.output)
        outputs[engine] = out.read_bytes()
    return outputs


@needs_pyarrow
@pytest.mark.parametrize(
    "case",
    ["plain", "padded header and cells", "blank line of spaces", "quoted commas", "semicolons", "latin-1", "tiny p"],
)
def test_both_engines_write_the_same_bytes(tmp_path, example_path, model, vectors, case):
    extra = []
    if case == "padded header and cells":
        data = _file(tmp_path, model, vectors, pad=True)
    elif case == "blank line of spaces":
        data = _file(tmp_path, model, vectors)
        lines = data.read_text().splitlines()
        data.write_text("\n".join([*lines[:3], "        ", *lines[3:], "   "]) + "\n")
    elif case == "quoted commas":
        data = _file(tmp_path, model, vectors, note='"a, b ""c"""')
    elif case == "semicolons":
        data = _file(tmp_path, model, vectors, delimiter=";")
    elif case == "latin-1":
        data = _file(tmp_path, model, vectors, note="señal", encoding="latin-1")
        extra = ["--encoding", "latin-1"]
    elif case == "tiny p":  # probabilities printed in exponent notation by numpy, positionally by pyarrow's writer
        data = _file(tmp_path, model, vectors, rows=40)
    else:
        data = _file(tmp_path, model, vectors)
    outputs = _both(tmp_path, example_path, data, *extra)
    assert outputs["python"] == outputs["pyarrow"]
    text = outputs["python"].decode()
    assert text.splitlines()[0] == "id,note,label,p_benign,p_malignant"
    if case == "quoted commas":
        assert text.splitlines()[1].startswith('r0,"a, b ""c""",')
    if case == "latin-1":
        assert ",señal," in text


@needs_pyarrow
@pytest.mark.parametrize(
    "case, message",
    [
        ("latin-1 without --encoding", r"rows.csv:4: not utf-8 text \(byte 0xf1\); give the file's encoding"),
        ("bad cell", r"rows.csv:6: column 'mean_area': 'oops' is not a number"),
        ("underscore number", r"rows.csv:6: column 'mean_area': '1_000' is not a number"),
        ("ragged line", r"rows.csv:6: expected 32 fields as in the header, got 31"),
        ("wrong header", r"rows.csv:1: no feature column 'mean_area'"),
    ],
)
def test_both_engines_fail_the_same_way_with_file_and_line(tmp_path, example_path, model, vectors, case, message):
    data = _file(tmp_path, model, vectors)
    lines = data.read_text().splitlines()
    column = 1 + model.feature_names.index("mean_area")
    if case == "latin-1 without --encoding":
        data = _file(tmp_path, model, vectors)
        lines[3] = lines[3].replace(",x", ",señal")
        data.write_bytes(("\n".join(lines) + "\n").encode("latin-1"))
    else:
        if case in ("bad cell", "underscore number"):
            cells = lines[5].split(",")
            cells[column] = "oops" if case == "bad cell" else "1_000"
            lines[5] = ",".join(cells)
        elif case == "ragged line":
            lines[5] = lines[5].rsplit(",", 1)[0]
        elif case == "wrong header":
            lines[0] = lines[0].replace("mean_area", "mean_areaa")
        data.write_text("\n".join(lines) + "\n")
    import re

    errors = {}
    for engine in ("python", "pyarrow"):
        result = _predict(example_path, data, "--engine", engine)  # to stdout
        assert result.exit_code == 2, (engine, result.output)
        assert result.stdout == "", "nothing is written before the input is known to be good"
        errors[engine] = result.stderr.strip()
        assert len(errors[engine].splitlines()) == 1 and re.search(message, errors[engine]), errors[engine]
    assert errors["python"] == errors["pyarrow"]


def test_stdout_gets_nothing_when_the_keep_column_is_missing(example_path, model, vectors, tmp_path):
    data = _file(tmp_path, model, vectors)
    result = _predict(example_path, data, "--keep", "patient")
    assert result.exit_code == 2 and result.stdout == ""
    assert "no --keep column 'patient'" in result.stderr


def test_json_null_is_called_null(example_path, model, vectors):
    row = dict(zip(model.feature_names, vectors["X"][0].tolist(), strict=True))
    row["mean_area"] = None
    result = CliRunner().invoke(main, ["predict", str(example_path), "-"], input=json.dumps(row) + "\n")
    assert result.exit_code == 2
    assert "<stdin>:1: key 'mean_area': null is not a number" in result.stderr


def test_dataframe_selection_by_feature_names_and_bad_cells_by_index(model, vectors):
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(vectors["X"][:6], columns=model.feature_names, index=[f"p{i}" for i in range(6)])
    frame["id"] = range(6)
    expected = model.predict_proba(vectors["X"][:6])
    np.testing.assert_allclose(model.predict_proba(frame[model.feature_names]), expected, atol=1e-7)
    np.testing.assert_allclose(model.predict_proba(frame), expected, atol=1e-7)  # extra columns ignored
    assert list(model.predict(frame[model.feature_names])) == list(model.predict(vectors["X"][:6]))
    bad = frame.astype({"mean_area": object})
    bad.loc["p1", "mean_area"] = "86"
    bad.loc["p4", "mean_area"] = "abc"
    column = model.feature_names.index("mean_area")
    with pytest.raises(InputError, match=rf"^row 1 \(index 'p1'\), column {column} \('mean_area'\): '86' is a str"):
        model.predict_proba(bad)
    with pytest.raises(InputError, match=r"row 0, column 3 \('mean_area'\): '86' is a str, not a number"):
        model.predict_one({**dict(zip(model.feature_names, vectors["X"][0].tolist(), strict=True)), "mean_area": "86"})
    nullable = frame.astype({"mean_area": "Float64"})
    nullable.loc["p2", "mean_area"] = pd.NA
    with pytest.raises(InputError, match=r"row 2, column 3 \('mean_area'\) is nan"):
        model.predict_proba(nullable)
