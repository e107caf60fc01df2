"""logreg predict and logreg info: files and stdin, CSV and JSON lines, chunks, bad rows, atomic output; and the
runtime with torch and onnx blocked from import."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from click.testing import CliRunner
from logreg_onnx.runtime.stream import CHUNK_ROWS, has_pyarrow

from logreg_onnx.cli import main

ENGINES = ["python", *(["pyarrow"] if has_pyarrow() else [])]


def _write_csv(path, model, X, *, ids=True, reverse=True):
    names = list(model.feature_names)
    order = names[::-1] if reverse else names
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow((["id"] if ids else []) + order + ["note"])
        for i, row in enumerate(X):
            values = dict(zip(names, row.tolist(), strict=True))
            writer.writerow(([f"r{i}"] if ids else []) + [repr(values[n]) for n in order] + ["x"])
    return path


def _read_csv(text):
    rows = list(csv.DictReader(io.StringIO(text)))
    return rows, np.array([[float(r["p_benign"]), float(r["p_malignant"])] for r in rows])


def _invoke(*args, input=None):
    return CliRunner().invoke(main, [str(a) for a in args], input=input)


@pytest.mark.parametrize("engine", ENGINES)
def test_predict_csv_matches_pytorch(tmp_path, example_path, model, vectors, engine):
    data = _write_csv(tmp_path / "rows.csv", model, vectors["X"])
    out = tmp_path / "scored.csv"
    result = _invoke("predict", example_path, data, "-o", out, "--keep", "id", "--engine", engine)
    assert result.exit_code == 0, result.output
    rows, P = _read_csv(out.read_text())
    assert list(rows[0]) == ["id", "label", "p_benign", "p_malignant"]
    assert [r["id"] for r in rows] == [f"r{i}" for i in range(len(vectors["X"]))]
    np.testing.assert_allclose(P, vectors["P"], atol=vectors["atol"])
    assert [r["label"] for r in rows] == [model.classes[i] for i in vectors["labels"]]
    assert f"wrote {len(rows)} rows" in result.output


def test_predict_jsonl_from_stdin_to_stdout(model, example_path, vectors):
    lines = "\n".join(
        json.dumps({"id": i, **dict(zip(model.feature_names, row.tolist(), strict=True))})
        for i, row in enumerate(vectors["X"])
    )
    result = _invoke("predict", example_path, "-", "--keep", "id", input=lines + "\n")
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.output.strip().splitlines()]
    assert [r["id"] for r in records] == list(range(len(vectors["X"])))
    P = np.array([[r["p_benign"], r["p_malignant"]] for r in records])
    np.testing.assert_allclose(P, vectors["P"], atol=vectors["atol"])
    csv_result = _invoke("predict", example_path, "--format", "csv", input=lines + "\n")
    assert csv_result.output.splitlines()[0] == "label,p_benign,p_malignant"


def test_predict_crosses_chunk_boundaries(tmp_path, example_path, model, vectors):
    n = CHUNK_ROWS + 123
    X = vectors["X"][np.arange(n) % len(vectors["X"])]
    data = _write_csv(tmp_path / "big.csv", model, X)
    for engine in ENGINES:
        result = _invoke("predict", example_path, data, "-o", tmp_path / f"{engine}.csv", "--engine", engine)
        assert result.exit_code == 0, result.output
        _, P = _read_csv((tmp_path / f"{engine}.csv").read_text())
        assert len(P) == n
        np.testing.assert_allclose(P, vectors["P"][np.arange(n) % len(vectors["X"])], atol=vectors["atol"])


@pytest.mark.parametrize("engine", ENGINES)
def test_bad_row_fails_with_its_line_and_writes_nothing(tmp_path, example_path, model, vectors, engine):
    data = _write_csv(tmp_path / "rows.csv", model, vectors["X"][:10])
    lines = data.read_text().splitlines()
    fields = lines[7].split(",")
    fields[3] = "oops"
    lines[7] = ",".join(fields)
    data.write_text("\n".join(lines) + "\n")
    out = tmp_path / "scored.csv"
    result = _invoke("predict", example_path, data, "-o", out, "--engine", engine)
    assert result.exit_code == 2
    column = list(model.feature_names)[::-1][2]
    assert f"rows.csv:8: column '{column}': 'oops' is not a number" in result.output
    assert not out.exists() and not list(tmp_path.glob(".scored.csv.*"))


def test_non_finite_row_fails_with_its_line(tmp_path, example_path, model, vectors):
    X = vectors["X"][:6].copy()
    X[3, 0] = np.nan
    data = _write_csv(tmp_path / "rows.csv", model, X)
    result = _invoke("predict", example_path, data, "-o", tmp_path / "o.csv")
    assert result.exit_code == 2
    assert "rows.csv:5: column 'mean_radius' is nan; features must be finite numbers" in result.output


def test_on_error_skip_reports_on_stderr(tmp_path, example_path, model, vectors):
    X = vectors["X"][:6].copy()
    X[1, 4] = np.inf
    data = _write_csv(tmp_path / "rows.csv", model, X)
    text = data.read_text().replace(",x\n", ",x\n", 1)
    lines = text.splitlines()
    lines[4] = lines[4].replace(",", ",,", 1)  # line 5: one field too many
    data.write_text("\n".join(lines) + "\n")
    runner = CliRunner()
    result = runner.invoke(main, ["predict", str(example_path), str(data), "--keep", "id", "--on-error", "skip"])
    assert result.exit_code == 0, result.output
    kept = [line.split(",")[0] for line in result.stdout.strip().splitlines()[1:]]
    assert kept == ["r0", "r2", "r4", "r5"]
    assert "skipped 2 bad rows" in result.stderr
    assert "line 3: column 'mean_smoothness' is inf" in result.stderr
    assert "line 5: expected 32 fields as in the header, got 33" in result.stderr
    assert result.stderr.index("line 3:") < result.stderr.index("line 5:")


def test_threshold_and_input_errors(tmp_path, example_path, model, vectors):
    data = _write_csv(tmp_path / "rows.csv", model, vectors["X"])
    result = _invoke("predict", example_path, data, "--threshold", "0.999")
    rows, P = _read_csv(result.output)
    assert [r["label"] for r in rows] == ["malignant" if p > 0.999 else "benign" for p in P[:, 1]]
    missing = tmp_path / "missing_feature.csv"
    missing.write_text("mean_radius,mean_texture\n1,2\n")
    result = _invoke("predict", example_path, missing)
    assert result.exit_code == 2 and "missing_feature.csv:1: no feature columns 'mean_perimeter'" in result.output
    result = _invoke("predict", example_path, tmp_path / "nope.csv")
    assert result.exit_code == 2 and "no such file" in result.output
    result = _invoke("predict", tmp_path / "nope.onnx", data)
    assert result.exit_code == 2 and "nope.onnx: no such file" in result.output
    result = _invoke("predict", example_path, data, "--keep", "label")
    assert result.exit_code == 2 and "has the name of an output column" in result.output
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    result = _invoke("predict", example_path, empty)
    assert result.exit_code == 2 and "empty input" in result.output


def test_info(example_path, vectors):
    result = _invoke("info", example_path)
    assert result.exit_code == 0, result.output
    text = result.output
    assert "input        features: float32 [batch, 30]" in text
    assert "outputs      label: int64 [batch]; probabilities: float32 [batch, 2]" in text
    assert "classes      (2) benign, malignant" in text
    assert f"test vectors PASSED: {len(vectors['cases'])}/{len(vectors['cases'])}" in text
    assert "ONNX opset 18" in text
    facts = json.loads(_invoke("info", example_path, "--json").output)
    assert facts["feature_names"] == vectors["feature_names"] and facts["bytes"] == example_path.stat().st_size


def test_info_fails_when_the_vectors_no_longer_pass(tmp_path, example_path):
    model_copy = tmp_path / "model.onnx"
    model_copy.write_bytes(example_path.read_bytes())
    vectors = json.loads(example_path.with_name("model.testvectors.json").read_text())
    vectors["cases"][0]["probabilities"] = [0.5, 0.5]
    (tmp_path / "model.testvectors.json").write_text(json.dumps(vectors))
    result = _invoke("info", model_copy)
    assert result.exit_code == 1
    assert "test vectors FAILED" in result.output


def test_runtime_commands_work_with_torch_and_onnx_blocked(tmp_path, example_path, vectors):
    """The runtime imports neither torch nor onnx, and train says which extra is missing."""
    data = tmp_path / "rows.csv"
    with open(data, "w") as handle:
        handle.write(",".join(vectors["feature_names"]) + "\n")
        for row in vectors["X"][:3]:
            handle.write(",".join(repr(float(v)) for v in row) + "\n")
    script = textwrap.dedent(f"""
        import sys
        for name in ("torch", "onnx", "onnxscript", "matplotlib", "sklearn"):
            sys.modules[name] = None
        from logreg_onnx import runtime
        from logreg_onnx.cli import main
        model = runtime.load({str(example_path)!r})
        print(model.predict_one(dict(zip(model.feature_names, [10.0] * 30))))
        try:
            main(["predict", {str(example_path)!r}, {str(data)!r}], standalone_mode=False)
            main(["info", {str(example_path)!r}], standalone_mode=False)
        finally:
            print("loaded:", sorted(m for m in ("torch", "onnx", "trainer", "exporter") if sys.modules.get(m)))
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "label,p_benign,p_malignant" in result.stdout and "test vectors PASSED" in result.stdout
    assert "loaded: []" in result.stdout
    train = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; sys.modules['torch'] = None\n"
            "from logreg_onnx.cli import main; main(['train', 'x.csv', '--label', 'y'])",
        ],
        capture_output=True,
        text=True,
    )
    assert train.returncode == 2
    assert "pip install '.[train]' in the repository's folder" in train.stderr and "Traceback" not in train.stderr


def test_the_readme_embedding_example_runs(example_path):
    """examples/embed.py is the README's embedding snippet; it must run as shown, from the repository root."""
    repo = example_path.parents[2]
    result = subprocess.run([sys.executable, "examples/embed.py"], capture_output=True, text=True, cwd=repo)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert [line.split()[:2] for line in lines] == [
        ["P001", "malignant"],
        ["P002", "benign"],
        ["P003", "benign"],
        ["P004", "malignant"],
        ["P005", "malignant"],
    ]


def test_serve_without_its_extra_says_what_to_install(example_path):
    import importlib.util

    if importlib.util.find_spec("uvicorn") and importlib.util.find_spec("starlette"):
        pytest.skip("the serve extra is installed here (the base-install environment checks this)")
    result = _invoke("serve", example_path)
    assert result.exit_code == 2
    assert "install the 'serve' extra: pip install '.[serve]' in the repository's folder" in result.output
