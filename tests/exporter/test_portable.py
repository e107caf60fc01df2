"""``logreg export --portable``: text columns as int64 codes. The graph has no string tensor and only core operators
(opset 18), computes exactly what the string graph computes on the same texts (unseen and missing ones included),
and runs in tract and OpenVINO, whose replays of its test vectors pass; the runtime, the server's request handling
(proven at export) and the Node.js client map the texts for the user."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import onnx
import pytest
from click.testing import CliRunner
from logreg_onnx.runtime import contract

from logreg_onnx import runtime
from logreg_onnx.cli import main

from ..conftest import PENGUINS, REPO
from ..examples.test_engines import _replay


@pytest.fixture(scope="module")
def both(penguins_run_master, tmp_path_factory) -> tuple[Path, Path]:
    """The penguins run exported twice: the string graph (as the run has it) and the portable one."""
    folder = tmp_path_factory.mktemp("portable")
    portable = folder / "model.onnx"
    result = CliRunner().invoke(main, ["export", str(penguins_run_master), "--out", str(portable), "--portable", "-q"])
    assert result.exit_code == 0, result.output
    return penguins_run_master / "model.onnx", portable


def test_the_graph_has_no_string_tensor_and_only_core_operators(both):
    text, portable = both
    proto = onnx.load(portable)
    assert [(i.name, i.type.tensor_type.elem_type) for i in proto.graph.input] == [
        ("features", onnx.TensorProto.FLOAT),
        ("categories", onnx.TensorProto.INT64),
    ]
    assert not [t.name for t in proto.graph.initializer if t.data_type == onnx.TensorProto.STRING]
    inferred = onnx.shape_inference.infer_shapes(proto)
    kinds = {v.type.tensor_type.elem_type for v in [*inferred.graph.value_info, *inferred.graph.output]}
    assert onnx.TensorProto.STRING not in kinds
    assert {op.domain for op in proto.opset_import} == {""} and proto.opset_import[0].version == 18
    assert {n.domain for n in proto.graph.node} == {""}
    metadata = {p.key: p.value for p in proto.metadata_props}
    assert json.loads(metadata[contract.KEY_CATEGORY_CODES]) == contract.CATEGORY_CODES
    assert contract.KEY_CATEGORY_CODES not in {p.key for p in onnx.load(text).metadata_props}


def test_it_computes_what_the_string_graph_computes(both):
    """Every output, through onnxruntime, on the penguins and on rows with unseen, missing and NA-text values."""
    text, portable = both
    a, b = runtime.load(text), runtime.load(portable)
    rows = [{n: None for n in a.feature_names} | {"bill_length_mm": 40.0 + i} for i in range(6)]
    islands = ["Dream", "Atlantis", "", None, "NA", " Biscoe "]
    sexes = ["male", None, "?", "", "female", "x"]
    for row, island, sex in zip(rows, islands, sexes, strict=True):
        row["island"], row["sex"] = island, sex
    for data in ([*rows], PENGUINS):
        if isinstance(data, Path):
            import pandas

            data = pandas.read_csv(data).drop(columns=["species"])
        np.testing.assert_array_equal(a.predict(data), b.predict(data))
        np.testing.assert_allclose(a.predict_proba(data), b.predict_proba(data), rtol=0, atol=1e-7)
    explained = a.explain(rows, top=7), b.explain(rows, top=7)
    assert [e["toward"] for e in explained[0]] == [e["toward"] for e in explained[1]]
    assert b.unseen_counts == a.unseen_counts and sum(b.unseen_counts.values()) > 0


@pytest.mark.parametrize("engine", ["tract", "openvino"])
def test_tract_and_openvino_run_the_text_model(engine, both):
    text, portable = both
    report = _replay(engine, portable)
    assert report["passed"] and report["explain_passed"], report
    assert report["cases"] > 20 and report["max_abs_diff"] < 1e-5
    assert "not run" in _replay(engine, text)["detail"]  # the string graph: no string tensors in these engines


def test_the_node_client_maps_the_texts(both, tmp_path):
    from ..examples.conftest import npm_install

    node = REPO / "examples" / "node"
    npm_install(node)
    _, portable = both
    cases = len(json.loads(portable.with_name("model.testvectors.json").read_text())["cases"])
    out = subprocess.run(["node", str(node / "cli.js"), "check", str(portable)], capture_output=True, text=True)
    assert out.returncode == 0 and f"{cases} cases passed (inputs and rows" in out.stdout, out.stdout + out.stderr


def test_the_c_header_and_the_scorers_read_the_codes_back_as_texts(both):
    from logreg_onnx.exporter import c_code, scorers

    text, portable = both
    assert c_code.generate(portable.read_bytes()) == c_code.generate(text.read_bytes())
    assert scorers.scorer_of(portable.read_bytes()).levels == scorers.scorer_of(text.read_bytes()).levels


def test_a_model_without_text_columns_is_unchanged_by_the_flag(binary_run_master, tmp_path):
    out = tmp_path / "model.onnx"
    result = CliRunner().invoke(main, ["export", str(binary_run_master), "--out", str(out), "--portable", "-q"])
    assert result.exit_code == 0, result.output
    assert contract.KEY_CATEGORY_CODES not in {p.key for p in onnx.load(out).metadata_props}


def test_the_grpc_server_takes_texts_for_a_portable_model(both):
    """A client sends texts (BYTES) as to any model, Triton's own gRPC client here: the server maps them to the
    portable graph's codes and answers what the string graph answers through the runtime."""
    import tritonclient.grpc as tritongrpc
    from logreg_onnx.runtime.repository import Repository

    from ..runtime.test_serve_grpc import PENGUIN_NUMBERS, numeric_input, serving, text_input

    text, portable = both
    texts = np.array([["Dream", ""], ["Atlantis", "male"]], dtype=object)  # a missing and an unseen text
    repository = Repository(files={"portable": portable})
    repository.load_now()
    expected = runtime.load(text).run_inputs(PENGUIN_NUMBERS, texts)
    with serving(repository=repository) as (address, _), tritongrpc.InferenceServerClient(url=address) as client:
        result = client.infer("portable", [numeric_input(PENGUIN_NUMBERS), text_input(texts)])
        metadata = client.get_model_metadata("portable", as_json=True)
    np.testing.assert_array_equal(result.as_numpy("label"), expected[0])
    np.testing.assert_allclose(result.as_numpy("probabilities"), expected[1], rtol=0, atol=1e-7)
    assert {"name": "categories", "datatype": "BYTES", "shape": ["-1", "2"]} in metadata["inputs"]
