"""The Node.js client (examples/node/), really run with node and onnxruntime-node: it checks itself against each
model's test vectors (every output they list) and predicts what the Python runtime predicts, on the committed models
and on freshly exported binary, multiclass and categorical ones; and it explains format 3 rows as the Python runtime
does (model.explain, model.run_outputs), intervals included."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from logreg_onnx.runtime import testvectors

from logreg_onnx import runtime

from ..conftest import BREAST_CANCER, PENGUIN, PENGUINS, REPO
from .conftest import assert_same_explanations, csv_rows, npm_install

NODE_DIR = REPO / "examples" / "node"

# Model.explain at each top asked, and every output of the file (runOutputs) for the same rows, as JSON.
EXPLAIN_SCRIPT = """
import { readFile } from 'node:fs/promises';
import { loadModel } from %(index)s;
const [modelPath, rowsPath, tops] = process.argv.slice(2);
const model = await loadModel(modelPath);
const rows = JSON.parse(await readFile(rowsPath, 'utf8'));
const explain = {};
for (const top of JSON.parse(tops)) explain[top] = await model.explain(rows, { top });
const { numeric, categories } = model.encode(rows);
const raw = await model.runOutputs(numeric, categories, rows.length);
const outputs = Object.fromEntries(Object.entries(raw).map(([name, data]) => [name, Array.from(data)]));
console.log(JSON.stringify({ explain, outputs }));
"""


@pytest.fixture(scope="module")
def node_client() -> Path:
    npm_install(NODE_DIR)
    return NODE_DIR / "cli.js"


def _node(cli: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["node", str(cli), *map(str, args)], capture_output=True, text=True, input=stdin, timeout=120)


@pytest.fixture(scope="module")
def node_explain(node_client, tmp_path_factory):
    """(model path, rows, tops) -> what the Node client's explain and runOutputs give for those rows."""
    folder = tmp_path_factory.mktemp("node-explain")
    script = folder / "explain.mjs"
    script.write_text(EXPLAIN_SCRIPT % {"index": json.dumps((NODE_DIR / "index.js").as_uri())})

    def run(model_path: Path, rows: list[dict], tops: list[int]) -> dict:
        (folder / "rows.json").write_text(json.dumps(rows))
        result = subprocess.run(
            ["node", str(script), str(model_path), str(folder / "rows.json"), json.dumps(tops)],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        return json.loads(result.stdout)

    return run


def _explained_models(binary_run_master, multiclass_run_master, penguins_run_master, interval_runs_master) -> dict:
    """name -> (a format 3 model, a CSV of rows for it, its label column)"""
    binary, multiclass = interval_runs_master["binary"], interval_runs_master["multiclass"]
    return {
        "fresh binary": (binary_run_master / "model.onnx", BREAST_CANCER, "diagnosis"),
        "fresh multiclass": (multiclass_run_master / "model.onnx", multiclass_run_master.parent / "four.csv", "y"),
        "fresh categorical": (penguins_run_master / "model.onnx", PENGUINS, "species"),
        "binary with intervals": (binary / "model.onnx", binary.parent / "data.csv", "y"),
        "multiclass with intervals": (multiclass / "model.onnx", multiclass.parent / "data.csv", "y"),
    }


def _models(binary_run_master, multiclass_run_master, penguins_run_master) -> dict[str, tuple[Path, Path]]:
    """name -> (model, a CSV of rows for it)"""
    return {
        "committed example (format 1)": (REPO / "artifacts" / "example" / "model.onnx", BREAST_CANCER),
        "frozen penguins (format 2)": (REPO / "tests" / "runtime" / "data" / "penguins-format2.onnx", PENGUINS),
        "committed penguins (format 3)": (REPO / "artifacts" / "example-penguins" / "model.onnx", PENGUINS),
        "fresh binary": (binary_run_master / "model.onnx", BREAST_CANCER),
        "fresh multiclass": (multiclass_run_master / "model.onnx", multiclass_run_master.parent / "four.csv"),
        "fresh categorical": (penguins_run_master / "model.onnx", PENGUINS),
    }


@pytest.mark.parametrize(
    "which",
    [
        "committed example (format 1)",
        "frozen penguins (format 2)",
        "committed penguins (format 3)",
        "fresh binary",
        "fresh multiclass",
        "fresh categorical",
    ],
)
def test_node_checks_the_test_vectors_and_predicts_as_python(
    which, node_client, binary_run_master, multiclass_run_master, penguins_run_master
):
    model_path, rows = _models(binary_run_master, multiclass_run_master, penguins_run_master)[which]
    check = _node(node_client, "check", model_path)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "cases passed (inputs and rows;" in check.stdout
    listed = json.loads(model_path.with_suffix(".testvectors.json").read_text())["outputs"]
    assert f"outputs {', '.join(listed)})" in check.stdout  # every output the document lists was compared
    assert len(listed) == (2 if "format 1" in which or "format 2" in which else 4)
    predicted = _node(node_client, "predict", model_path, rows)
    assert predicted.returncode == 0, predicted.stderr
    got = [json.loads(line) for line in predicted.stdout.splitlines()]
    reference = subprocess.run(
        [sys.executable, "-m", "logreg_onnx", "predict", str(model_path), str(rows), "--format", "jsonl"],
        capture_output=True,
        text=True,
        check=True,
    )
    expected = [json.loads(line) for line in reference.stdout.splitlines()]
    model = runtime.load(model_path)
    assert len(got) == len(expected) > 100
    for node_row, python_row in zip(got, expected, strict=True):
        assert node_row["label"] == python_row["label"]
        node_p = np.array([node_row["probabilities"][c] for c in model.classes], dtype=np.float32)
        python_p = np.array([python_row[f"p_{c}"] for c in model.classes], dtype=np.float32)
        np.testing.assert_array_equal(node_p, python_p)


def test_node_check_fails_on_a_vector_that_disagrees(node_client, tmp_path):
    vectors = json.loads((REPO / "artifacts" / "example-penguins" / "model.testvectors.json").read_text())
    vectors["cases"][3]["probabilities"][0] += 2e-5  # twice the tolerance
    changed = tmp_path / "changed.json"
    changed.write_text(json.dumps(vectors))
    check = _node(node_client, "check", REPO / "artifacts" / "example-penguins" / "model.onnx", changed)
    assert check.returncode == 1
    assert "FAIL case 3" in check.stderr and "cases FAILED" in check.stdout


def test_node_names_a_bad_row(node_client):
    row = {"island": "Dream", "bill_length_mm": "heavy", "bill_depth_mm": None, "flipper_length_mm": 192}
    row |= {"body_mass_g": 3700, "sex": None, "year": 2008}
    result = _node(
        node_client,
        "predict",
        REPO / "artifacts" / "example-penguins" / "model.onnx",
        "-",
        stdin=json.dumps(row) + "\n",
    )
    assert result.returncode == 2
    assert result.stderr.strip() == 'Error: row 0, column 1 ("bill_length_mm"): "heavy" is not a finite number'


@pytest.mark.parametrize(
    "which",
    ["fresh binary", "fresh multiclass", "fresh categorical", "binary with intervals", "multiclass with intervals"],
)
def test_node_explains_as_python(
    which, node_explain, binary_run_master, multiclass_run_master, penguins_run_master, interval_runs_master
):
    model_path, csv, label = _explained_models(
        binary_run_master, multiclass_run_master, penguins_run_master, interval_runs_master
    )[which]
    model = runtime.load(model_path)
    rows = csv_rows(csv, label)
    every = len(model.feature_names)
    got = node_explain(model_path, rows, [3, every])
    # the graph's outputs themselves, through the Python runtime's full session: the same float32 values
    expected_outputs = model.run_outputs(*model.graph_inputs(rows))
    assert list(got["outputs"]) == [o.name for o in model.outputs] == list(expected_outputs)
    assert ("logit_se" in expected_outputs) == which.endswith("with intervals")
    for name, values in expected_outputs.items():
        np.testing.assert_array_equal(np.array(got["outputs"][name], dtype=values.dtype), values.reshape(-1), name)
    for top in (3, every):
        assert_same_explanations(got["explain"][str(top)], model.explain(rows, top=top))
    # every column is named once at top = every column, toward or away (none contributes exactly 0 here)
    first = got["explain"][str(every)][0]
    assert sorted(c["column"] for c in first["toward"] + first["away"]) == sorted(model.feature_names)


def test_node_cli_explains_a_csv_as_python(node_client, penguins_run_master):
    model_path = penguins_run_master / "model.onnx"
    result = _node(node_client, "predict", model_path, PENGUINS, "--explain", "2")
    assert result.returncode == 0, result.stderr
    got = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(got) == 344
    assert_same_explanations(got, runtime.load(model_path).explain(csv_rows(PENGUINS, "species"), top=2))
    assert all(len(row["toward"]) <= 2 and len(row["away"]) <= 2 for row in got)
    assert "interval" not in got[0]  # penalized: no standard errors, as the Python runtime says


@pytest.mark.parametrize("model_dir", ["example", "penguins-format2"])
def test_node_explain_refuses_a_model_without_explain_outputs(node_client, model_dir):
    if model_dir == "example":
        model_path = REPO / "artifacts" / "example" / "model.onnx"
    else:
        model_path = REPO / "tests" / "runtime" / "data" / "penguins-format2.onnx"
    model = runtime.load(model_path)
    assert not any(o.name == "contributions" for o in model.outputs)
    rows = BREAST_CANCER if model_dir == "example" else PENGUINS
    result = _node(node_client, "predict", model_path, rows, "--explain=3")
    assert result.returncode == 2
    fmt = model.metadata["logreg_onnx_format"]
    assert result.stderr.strip() == (
        f"Error: logreg-onnx format {fmt} has no explanations (its outputs are label and probabilities); export the "
        "model again to get format 3"
    )
    row = PENGUIN if model_dir == "penguins-format2" else dict.fromkeys(model.feature_names, 1.0)
    with pytest.raises(runtime.ModelError, match=f"format {fmt} has no explanations"):
        model.explain([row])


@pytest.mark.parametrize("value", ["0", "1001", "two", ""])
def test_node_cli_names_a_bad_explain_count(node_client, penguins_run_master, value):
    result = _node(node_client, "predict", penguins_run_master / "model.onnx", PENGUINS, "--explain", value)
    assert result.returncode == 2
    assert result.stderr.strip() == f'Error: --explain takes a whole number of columns from 1 to 1000, got "{value}"'


@pytest.mark.parametrize(
    ("output", "case"), [("contributions", 3), ("logit", 5), ("logit_se", 2), ("probability_upper", 7)]
)
def test_node_check_fails_on_an_explain_output_that_disagrees(
    node_client, interval_runs_master, tmp_path, output, case
):
    model_path = interval_runs_master["binary"] / "model.onnx"
    vectors = json.loads(model_path.with_suffix(".testvectors.json").read_text())
    assert output in vectors["outputs"]
    values = vectors["cases"][case]
    if output == "contributions":
        values[output][1][0] += 3 * vectors["atol"] * max(1.0, abs(values[output][1][0]))
    elif isinstance(values[output], list):
        values[output][0] += 3 * vectors["atol"] * max(1.0, abs(values[output][0]))
    else:
        values[output] += 3 * vectors["atol"] * max(1.0, abs(values[output]))
    changed = tmp_path / "changed.json"
    changed.write_text(json.dumps(vectors))
    check = _node(node_client, "check", model_path, changed)
    assert check.returncode == 1, check.stdout + check.stderr
    assert f"FAIL case {case} " in check.stderr and f"{output} off by" in check.stderr
    assert "cases FAILED" in check.stdout
    assert testvectors.replay(runtime.load(model_path), changed)["failing_cases"] == [case]


def test_node_check_refuses_vectors_that_list_an_output_the_model_lacks(node_client, binary_run_master, tmp_path):
    model_path = binary_run_master / "model.onnx"
    vectors = json.loads(model_path.with_suffix(".testvectors.json").read_text())
    vectors["outputs"].append("logit_se")
    changed = tmp_path / "changed.json"
    changed.write_text(json.dumps(vectors))
    check = _node(node_client, "check", model_path, changed)
    assert check.returncode == 2
    assert check.stderr.strip() == (
        'Error: the test vectors list the output "logit_se", which this model does not have (its outputs: label, '
        "probabilities, logit, contributions): pass the vectors written beside this model file"
    )


PRUNE_SCRIPT = """
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { withoutOutputs } from %(prune)s;
import { loadModel } from %(index)s;
const path = process.argv[2];
const pruned = withoutOutputs(await readFile(path), ['label', 'probabilities']);
const model = await loadModel(path);
console.log(JSON.stringify({
  sha256: createHash('sha256').update(pruned).digest('hex'),
  predict: model.session.outputNames,
  full: model.fullSession.outputNames,
}));
"""


def test_node_predicts_on_the_graph_without_its_explain_nodes(node_client, interval_runs_master, tmp_path):
    """The Node client's predict session is the file pruned as the Python runtime prunes it (runtime/prune.py),
    byte for byte; explain runs the whole graph."""
    import hashlib

    from logreg_onnx.runtime.prune import without_outputs

    model_path = interval_runs_master["binary"] / "model.onnx"
    script = tmp_path / "prune.mjs"
    uri = {name: json.dumps((NODE_DIR / f"{name}.js").as_uri()) for name in ("prune", "index")}
    script.write_text(PRUNE_SCRIPT % uri)
    result = subprocess.run(["node", str(script), str(model_path)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    got = json.loads(result.stdout)
    data = model_path.read_bytes()
    pruned = without_outputs(data, ["label", "probabilities"])
    assert len(pruned) < len(data) and got["sha256"] == hashlib.sha256(pruned).hexdigest()
    assert got["predict"] == ["label", "probabilities"]
    assert got["full"] == [o.name for o in runtime.load(model_path).outputs] and len(got["full"]) == 7
