"""A model trained with ``--offset`` exported with its ``offset`` input, and every way it is scored equal to
statsmodels' ``predict(exog, offset=...)``: the runtime (a DataFrame or dict rows carrying the offset column,
``offset=`` values, rows without one as offset 0), ``logreg predict`` on a CSV, the server started the real way (REST
/predict with the column, V2 infer with the ``offset`` tensor through tritonclient's HTTP client, gRPC through its
gRPC client), the Node.js client, tract and OpenVINO on the portable file; the contract, the test vectors and the
explain outputs (baseline + contributions + offset = logit). ``--c --c-fixed --code`` write the float and
integer-only C headers and the JavaScript, Java, Go, Rust and C# scorers, each taking the offset after the inputs and
proven on the vectors' offsets; the compiled headers equal statsmodels on rows with their offsets (the integer one
within the bound it states)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import jsonschema
import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from click.testing import CliRunner
from logreg_onnx.exporter import c_code
from logreg_onnx.exporter.scorers import LANGUAGES
from logreg_onnx.runtime import contract

from logreg_onnx import runtime
from logreg_onnx.cli import main

from ..conftest import BREAST_CANCER
from ..examples.conftest import npm_install
from ..examples.test_engines import _replay
from ..runtime.serving import running_server
from ..trainer.references import treatment_design

NODE_DIR = BREAST_CANCER.parents[1] / "node"
COLUMNS = ["mean_radius", "mean_texture", "mean_smoothness", "mean_symmetry", "mean_fractal_dimension"]
ATOL = 2e-6  # float32 graph against statsmodels' float64 predictions


@pytest.fixture(scope="module")
def offset_run(tmp_path_factory):
    """Breast cancer's five well-conditioned columns and a text column, with a known offset column ``prior``:
    trained with ``--offset prior --l2 0`` and exported (string and portable files); (run, frame, statsmodels
    results, its design's columns)."""
    folder = tmp_path_factory.mktemp("offset")
    frame = pd.read_csv(BREAST_CANCER)[[*COLUMNS, "diagnosis"]]
    rng = np.random.default_rng(5)
    frame["site"] = rng.choice(["left", "right", "both"], len(frame))
    frame["prior"] = np.round(rng.normal(0.0, 1.0, len(frame)), 4)
    data = folder / "data.csv"
    frame.to_csv(data, index=False)
    run = folder / "run"
    arguments = ["train", str(data), "--label", "diagnosis", "--offset", "prior", "--l2", "0", "--val-fraction", "0"]
    result = CliRunner().invoke(main, [*arguments, "--out", str(run), "-q", "--export"])
    assert result.exit_code == 0, result.output
    portable = CliRunner().invoke(main, ["export", str(run), "--portable", "--out", str(run / "portable.onnx")])
    assert portable.exit_code == 0, portable.output
    table = json.loads((run / "metrics.json").read_text())["coefficients"]
    terms = [row["term"] for row in table["rows"]]
    y = (frame["diagnosis"] == sorted(frame["diagnosis"].unique())[1]).to_numpy(int)
    reference = sm.Logit(y, treatment_design(frame, terms), offset=frame["prior"].to_numpy(np.float32).astype(float))
    return run, frame, reference.fit(disp=0, tol=1e-12, maxiter=100), terms


def _expected(offset_run, frame: pd.DataFrame, offset: np.ndarray) -> np.ndarray:
    _, _, fitted, terms = offset_run
    return fitted.predict(treatment_design(frame, terms), offset=np.asarray(offset, dtype=np.float32).astype(float))


@pytest.fixture(scope="module")
def rows(offset_run):
    """Forty rows of the data with new offsets, 0 in every fourth (a row without one)."""
    _, frame, _, _ = offset_run
    rows = frame.iloc[::14].drop(columns=["diagnosis"]).reset_index(drop=True)
    rows["prior"] = np.round(np.linspace(-5.0, 5.0, len(rows)), 3)
    rows.loc[::4, "prior"] = 0.0
    return rows


def test_the_file_follows_the_contract(offset_run):
    run, _, _, _ = offset_run
    model = runtime.load(run / "model.onnx")
    assert [(i.name, i.element_type, len(i.shape)) for i in model.inputs] == [
        ("features", "float32", 2),
        ("categories", "string", 2),
        ("offset", "float32", 1),
    ]
    assert model.offset_column == "prior" and "prior" not in model.feature_names
    assert model.metadata[contract.KEY_OFFSET] == {"column": "prior"}
    vectors = json.loads((run / "model.testvectors.json").read_text())
    jsonschema.validate(vectors, contract.TESTVECTORS_SCHEMA)
    assert vectors["inputs"] == ["features", "categories", "offset"]
    offsets = [case["offset"] for case in vectors["cases"]]
    assert all(case["row"]["prior"] == case["offset"] for case in vectors["cases"])
    assert 0.0 in offsets and max(map(abs, offsets)) > 1.0  # rows with and without an offset
    info = CliRunner().invoke(main, ["info", str(run / "model.onnx")])
    assert info.exit_code == 0, info.output
    assert "offset: float32 [batch]" in info.output and "test vectors PASSED" in info.output


def test_runtime_predictions_equal_statsmodels(offset_run, rows):
    run, _, _, _ = offset_run
    model = runtime.load(run / "model.onnx")
    expected = _expected(offset_run, rows, rows["prior"])
    np.testing.assert_allclose(model.predict_proba(rows)[:, 1], expected, atol=ATOL)
    np.testing.assert_allclose(model.predict_proba(rows.to_dict("records"))[:, 1], expected, atol=ATOL)
    features = rows.drop(columns=["prior"])
    np.testing.assert_allclose(model.predict_proba(features, offset=rows["prior"])[:, 1], expected, atol=ATOL)
    np.testing.assert_allclose(model.predict_one(rows.iloc[1].to_dict())[model.classes[1]], expected[1], atol=ATOL)
    # a row without the column: offset 0
    np.testing.assert_allclose(model.predict_proba(features)[:, 1], _expected(offset_run, rows, 0 * rows["prior"]),
                               atol=ATOL)  # fmt: skip
    # the explanation: the offset is in the logit, no column's contribution
    outputs = model.run_outputs(*model.graph_inputs(rows), offsets=rows["prior"].to_numpy(np.float32))
    baseline = np.array(model.metadata[contract.KEY_EXPLAIN]["baseline_logit"])
    total = baseline + outputs["contributions"].astype(float).sum(axis=1)[:, 0] + rows["prior"].to_numpy()
    np.testing.assert_allclose(total, outputs["logit"][:, 0], atol=1e-4)
    np.testing.assert_allclose(outputs["logit"][:, 0], np.log(expected / (1 - expected)), rtol=1e-5, atol=1e-4)
    with pytest.raises(runtime.InputError, match="offset must be a finite number"):
        model.predict_proba(features, offset=np.full(len(rows), np.nan))
    with pytest.raises(runtime.InputError, match="column 'prior' is the model's offset and takes a number"):
        model.predict_proba([{**rows.iloc[0].to_dict(), "prior": "high"}])


def test_logreg_predict_reads_the_offset_column(offset_run, rows, tmp_path):
    run, _, _, _ = offset_run
    model = runtime.load(run / "model.onnx")
    path = tmp_path / "rows.csv"
    rows.to_csv(path, index=False)
    for engine in ("auto", "python"):
        result = CliRunner().invoke(main, ["predict", str(run / "model.onnx"), str(path), "--engine", engine])
        assert result.exit_code == 0, result.output
        scored = pd.read_csv(pd.io.common.StringIO(result.stdout))
        expected = _expected(offset_run, rows, rows["prior"])
        np.testing.assert_allclose(scored[f"p_{model.classes[1]}"], expected, atol=ATOL)
    rows.drop(columns=["prior"]).to_csv(path, index=False)
    result = CliRunner().invoke(main, ["predict", str(run / "model.onnx"), str(path)])
    scored = pd.read_csv(pd.io.common.StringIO(result.stdout))
    expected = _expected(offset_run, rows, 0 * rows["prior"])
    np.testing.assert_allclose(scored[f"p_{model.classes[1]}"], expected, atol=ATOL)


def test_the_server_takes_the_offset_by_rest_and_grpc(offset_run, rows):
    http = pytest.importorskip("tritonclient.http")
    grpcclient = pytest.importorskip("tritonclient.grpc")
    from ..runtime.serving import free_port

    run, _, _, _ = offset_run
    model = runtime.load(run / "model.onnx")
    expected = _expected(offset_run, rows, rows["prior"])
    numeric, categories = model.graph_inputs(rows)
    offsets = rows["prior"].to_numpy(np.float32)
    grpc_port = free_port()
    with running_server(str(run / "model.onnx"), "--name", "risk", "--grpc-port", str(grpc_port)) as (url, _):
        body = json.dumps({"instances": rows.to_dict("records")}).encode()
        curl = ["curl", "-sf", "-H", "Content-Type: application/json", "--data-binary", "@-"]
        answer = subprocess.run(
            [*curl, f"{url}/v2/models/risk/predict"], input=body, capture_output=True, check=True, timeout=30
        ).stdout
        got = [p["probabilities"][model.classes[1]] for p in json.loads(answer)["predictions"]]
        np.testing.assert_allclose(got, expected, atol=ATOL)
        tensors = []
        with http.InferenceServerClient(url.removeprefix("http://")) as client:
            for name, values, datatype in (
                ("features", numeric, "FP32"),
                ("categories", categories.astype(object), "BYTES"),
                ("offset", offsets, "FP32"),
            ):
                tensor = http.InferInput(name, list(values.shape), datatype)
                tensor.set_data_from_numpy(values, binary_data=name != "categories")
                tensors.append(tensor)
            result = client.infer("risk", tensors)
            np.testing.assert_allclose(result.as_numpy("probabilities")[:, 1], expected, atol=ATOL)
            without = client.infer("risk", tensors[:2])  # no offset tensor: 0 for every row
            np.testing.assert_allclose(without.as_numpy("probabilities")[:, 1],
                                       _expected(offset_run, rows, 0 * offsets), atol=ATOL)  # fmt: skip
        with grpcclient.InferenceServerClient(f"127.0.0.1:{grpc_port}") as client:
            tensors = []
            for name, values, datatype in (
                ("features", numeric, "FP32"),
                ("categories", categories.astype(object), "BYTES"),
                ("offset", offsets, "FP32"),
            ):
                tensor = grpcclient.InferInput(name, list(values.shape), datatype)
                tensor.set_data_from_numpy(values)
                tensors.append(tensor)
            result = client.infer("risk", tensors)
            np.testing.assert_allclose(result.as_numpy("probabilities")[:, 1], expected, atol=ATOL)
            bad = grpcclient.InferInput("offset", [len(rows), 2], "FP32")
            bad.set_data_from_numpy(np.zeros((len(rows), 2), np.float32))
            with pytest.raises(grpcclient.InferenceServerException, match=r"shape must be \[rows\]"):
                client.infer("risk", [*tensors[:2], bad])


def test_node_client_replays_and_predicts_with_the_offset(offset_run, rows, tmp_path):
    npm_install(NODE_DIR)
    run, _, _, _ = offset_run
    cli = NODE_DIR / "cli.js"
    check = subprocess.run(["node", str(cli), "check", str(run / "model.onnx")], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    assert "cases passed" in check.stdout
    path = tmp_path / "rows.jsonl"
    path.write_text("\n".join(json.dumps(row) for row in rows.to_dict("records")) + "\n")
    scored = subprocess.run(["node", str(cli), "predict", str(run / "model.onnx"), str(path)], capture_output=True,
                            text=True, check=True).stdout  # fmt: skip
    second = runtime.load(run / "model.onnx").classes[1]
    got = [json.loads(line)["probabilities"][second] for line in scored.splitlines()]
    np.testing.assert_allclose(got, _expected(offset_run, rows, rows["prior"]), atol=ATOL)


@pytest.mark.parametrize("engine", ["tract", "openvino"])
def test_edge_engines_replay_the_portable_file(offset_run, engine):
    run, _, _, _ = offset_run
    report = _replay(engine, run / "portable.onnx")
    assert report["passed"] and report["explain_passed"], report


def test_source_outputs_take_the_offset(offset_run, rows, tmp_path):
    """Every proof runs and passes on the vectors' offsets; then both headers, compiled, score rows with their
    offsets (through the headers' own conversion macros for the integer one) as statsmodels does."""
    missing = [key for key in LANGUAGES if LANGUAGES[key].missing_tools()]
    if missing or c_code.find_compiler() is None:
        pytest.skip(f"toolchains not installed for {missing or 'C'} (make test-deps installs them)")
    run, _, _, _ = offset_run
    out = tmp_path / "model.onnx"
    arguments = ["export", str(run), "--c", "--c-fixed", "--code", "js,java,go,rust,csharp", "--out", str(out)]
    result = CliRunner().invoke(main, arguments)
    assert result.exit_code == 0, result.output
    proofs = [line for line in result.output.splitlines() if line.startswith("C99 ") or " scorer (" in line]
    assert len(proofs) == 2 + len(LANGUAGES) and all(" pass " in line for line in proofs), proofs
    vectors = json.loads((tmp_path / "model.testvectors.json").read_text())
    assert all(f"{len(vectors['cases'])} test vectors" in line for line in proofs if "fixed" not in line), proofs
    assert "float offset, float *probabilities" in (tmp_path / "model.h").read_text()
    assert "int32_t offset, int32_t *probabilities" in (tmp_path / "model_fixed.h").read_text()

    model = runtime.load(out)
    numeric, categories = model.graph_inputs(rows)
    offsets = rows["prior"].to_numpy(np.float32)
    expected = _expected(offset_run, rows, offsets)
    got = _run_header(tmp_path, "model.h", numeric, categories, offsets, fixed=False)
    np.testing.assert_allclose(got, expected, atol=ATOL, rtol=0)
    fixed = (tmp_path / "model_fixed.h").read_text()
    bound = int(fixed.split("#define LOGREG_MAX_PROBABILITY_ERROR ")[1].split()[0]) / 65536
    got = _run_header(tmp_path, "model_fixed.h", numeric, categories, offsets, fixed=True)
    np.testing.assert_allclose(got, expected, atol=bound + ATOL, rtol=0)
    # the offset moves them: without it they would be off by far more than that
    assert np.abs(_expected(offset_run, rows, 0 * offsets) - expected).max() > 100 * bound
    # the JavaScript module through examples/node/scorer.js (the browser page's ?scorer=module): rows by name
    npm_install(NODE_DIR)
    script = tmp_path / "score.mjs"
    script.write_text(
        f"import {{ createScorerModel }} from {json.dumps((NODE_DIR / 'scorer.js').as_uri())};\n"
        f"const scorer = await import({json.dumps((tmp_path / 'model.mjs').as_uri())});\n"
        f"const rows = {rows.to_json(orient='records')};\n"
        "const model = createScorerModel(scorer);\n"
        "const second = model.classNames[1];\n"
        "console.log(JSON.stringify((await model.predict(rows)).map((r) => r.probabilities[second])));\n"
    )
    printed = subprocess.run(["node", str(script)], capture_output=True, text=True, check=True).stdout
    np.testing.assert_allclose(json.loads(printed), expected, atol=ATOL, rtol=0)


def _run_header(folder: Path, header: str, numeric, categories, offsets, *, fixed: bool) -> np.ndarray:
    """The second class's probability ``header`` gives each row, from a program holding the rows as literals: the
    float header's floats, or the integer one's ``LOGREG_TO_FIXED`` and ``LOGREG_OFFSET_TO_FIXED`` of them."""
    width = numeric.shape[1]
    if fixed:
        cell, offset, kind, one = "LOGREG_TO_FIXED({!r}, {})", "LOGREG_OFFSET_TO_FIXED({!r})", "int32_t", "65536.0"
    else:
        cell, offset, kind, one = "{!r}f", "{!r}f", "float", "1.0"
    values = [[cell.format(float(v), j) for j, v in enumerate(row)] for row in numeric]
    texts = ", ".join("{" + ", ".join(json.dumps(str(v)) for v in row) + "}" for row in categories)
    lines = [
        "#define LOGREG_IMPLEMENTATION",
        f'#include "{header}"',
        "#include <stdio.h>",
        "",
        "int main(void)",
        "{",
        f"    const {kind} features[{len(numeric)}][{width}] = {{"
        + ", ".join("{" + ", ".join(row) + "}" for row in values)
        + "};",
        f"    const char *const texts[{len(numeric)}][{categories.shape[1]}] = {{{texts}}};",
        f"    const {kind} offsets[{len(numeric)}] = {{" + ", ".join(offset.format(float(v)) for v in offsets) + "};",
        f"    {'int32_t' if fixed else 'float'} p[LOGREG_N_CLASSES];",
        "    int i;",
        f"    for (i = 0; i < {len(numeric)}; i++) {{",
        "        logreg_predict(features[i], texts[i], offsets[i], p);",
        f'        printf("%.9g\\n", p[1] / {one});',
        "    }",
        "    return 0;",
        "}",
    ]
    (folder / "rows.c").write_text("\n".join(lines) + "\n")
    build = [c_code.find_compiler(), *c_code.COMPILE_FLAGS, "-O2", "rows.c", "-o", "rows", "-lm"]
    subprocess.run(build, cwd=folder, check=True)
    printed = subprocess.run([str(folder / "rows")], capture_output=True, text=True, check=True).stdout
    return np.array([float(line) for line in printed.split()])
