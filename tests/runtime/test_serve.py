"""`logreg serve`, started the real way on a loopback port, driven by Triton's HTTP client, plain HTTP and curl;
answers compared with the Python runtime's."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

from logreg_onnx import runtime

from .serving import (
    EXAMPLE,
    PENGUINS,
    PENGUINS_FORMAT2,
    format3_model,
    free_port,
    infer_requests,
    running_server,
    scrape,
    wait_ready,
)

PENGUINS_MODEL = PENGUINS


@pytest.fixture(scope="module")
def server():
    arguments = ["--model", f"example={EXAMPLE}", "--model", f"penguins={PENGUINS}"]
    with running_server(*arguments, "--max-body-bytes", "200000", "--max-rows", "1000") as running:
        yield running


def _post(url: str, body: bytes, headers: dict | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_triton_client_json_and_binary(server):
    client_module = pytest.importorskip("tritonclient.http")
    url, _ = server
    client = client_module.InferenceServerClient(url=url.removeprefix("http://"))
    assert client.is_server_live() and client.is_server_ready() and client.is_model_ready("example")
    metadata = client.get_model_metadata("example")
    assert metadata["inputs"][0] == {"name": "features", "datatype": "FP32", "shape": [-1, 30]}
    model = runtime.load(EXAMPLE)
    X = np.random.default_rng(0).normal(14, 3, size=(7, 30)).astype(np.float32)
    expected_labels, expected = model.run(X)
    for binary in (False, True):
        features = client_module.InferInput("features", list(X.shape), "FP32")
        features.set_data_from_numpy(X, binary_data=binary)
        outputs = [client_module.InferRequestedOutput(n, binary_data=binary) for n in ("label", "probabilities")]
        result = client.infer("example", [features], outputs=outputs, request_id="r7")
        np.testing.assert_array_equal(result.as_numpy("probabilities"), expected)
        np.testing.assert_array_equal(result.as_numpy("label"), expected_labels)
        assert result.get_response()["id"] == "r7"


def test_triton_client_with_a_string_input(server):
    client_module = pytest.importorskip("tritonclient.http")
    url, _ = server
    client = client_module.InferenceServerClient(url=url.removeprefix("http://"))
    numeric = np.array([[46.0, np.nan, 192.0, 3700.0, 2008.0], [39.0, 18.0, 181.0, 3750.0, 2007.0]], np.float32)
    categories = np.array([["Dream", ""], ["Torgersen", "male"]], dtype=object)
    features = client_module.InferInput("features", [2, 5], "FP32")
    features.set_data_from_numpy(numeric, binary_data=True)
    texts = client_module.InferInput("categories", [2, 2], "BYTES")
    texts.set_data_from_numpy(categories, binary_data=True)
    result = client.infer("penguins", [features, texts])
    _, expected = runtime.load(PENGUINS_MODEL).run_inputs(numeric, categories)
    np.testing.assert_array_equal(result.as_numpy("probabilities"), expected)


def test_predict_with_named_rows(server):
    url, _ = server
    row = {"island": "Dream", "bill_length_mm": 46.0, "bill_depth_mm": None, "flipper_length_mm": 192.0}
    row |= {"body_mass_g": 3700.0, "sex": None, "year": 2008}
    status, answer = _post(f"{url}/v2/models/penguins/predict", json.dumps({"instances": [row, row]}).encode())
    assert status == 200
    expected = runtime.load(PENGUINS_MODEL).predict_one(row)
    assert answer["predictions"][0]["probabilities"] == pytest.approx(expected, abs=1e-7)
    assert answer["predictions"][1]["label"] == max(expected, key=expected.get)


BAD = {
    "malformed JSON": (b'{"inputs": [', {}, 400),
    "wrong content type": (b"{}", {"Content-Type": "text/plain"}, 415),
    "missing inputs": (b'{"id": "x"}', {}, 400),
    "unknown datatype": (b'{"inputs":[{"name":"features","shape":[1,30],"datatype":"FP99","data":[]}]}', {}, 400),
    "datatype mismatch": (b'{"inputs":[{"name":"features","shape":[1,30],"datatype":"BYTES","data":[]}]}', {}, 400),
    "shape vs data": (b'{"inputs":[{"name":"features","shape":[2,30],"datatype":"FP32","data":[1,2]}]}', {}, 400),
    "wrong width": (b'{"inputs":[{"name":"features","shape":[1,3],"datatype":"FP32","data":[1,2,3]}]}', {}, 400),
    "NaN": (
        b'{"inputs":[{"name":"features","shape":[1,30],"datatype":"FP32","data":[NaN' + b",1" * 29 + b"]}]}",
        {},
        400,
    ),
    "string for a number": (
        b'{"inputs":[{"name":"features","shape":[1,30],"datatype":"FP32","data":["a"' + b",1" * 29 + b"]}]}",
        {},
        400,
    ),
    "null for a number": (
        b'{"inputs":[{"name":"features","shape":[1,30],"datatype":"FP32","data":[null' + b",1" * 29 + b"]}]}",
        {},
        400,
    ),
    "binary header that lies": (
        b'{"inputs":[{"name":"features","shape":[1,30],"datatype":"FP32","parameters":{"binary_data_size":120}}]}',
        {"Inference-Header-Content-Length": "5000"},
        400,
    ),
    "body over the limit": (b"[" + b"1," * 150_000 + b"1]", {}, 413),
    "too many rows": (
        json.dumps(
            {"inputs": [{"name": "features", "shape": [1001, 30], "datatype": "FP32", "data": [1.0] * 30030}]}
        ).encode(),
        {},
        413,
    ),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_requests_get_a_json_4xx_and_the_server_keeps_serving(server, case):
    url, _ = server
    body, headers, status = BAD[case]
    got, answer = _post(f"{url}/v2/models/example/infer", body, headers)
    assert got == status, answer
    assert isinstance(answer["error"], str) and answer["error"]
    good = {"inputs": [{"name": "features", "shape": [1, 30], "datatype": "FP32", "data": [14.0] * 30}]}
    assert _post(f"{url}/v2/models/example/infer", json.dumps(good).encode())[0] == 200


def test_unknown_model_route_and_method(server):
    url, _ = server
    assert _post(f"{url}/v2/models/nope/infer", b"{}")[0] == 404
    assert _post(f"{url}/v2/nowhere", b"{}")[0] == 404
    request = urllib.request.Request(f"{url}/v2", method="DELETE")
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=5)
    assert caught.value.code == 405


def test_curl_as_the_readme_shows(server):
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    url, _ = server
    body = json.dumps({"inputs": [{"name": "features", "shape": [1, 30], "datatype": "FP32", "data": [14.0] * 30}]})
    answer = subprocess.run(
        [
            "curl",
            "-s",
            "-X",
            "POST",
            f"{url}/v2/models/example/infer",
            "-H",
            "Content-Type: application/json",
            "-d",
            body,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    outputs = {o["name"]: o for o in json.loads(answer.stdout)["outputs"]}
    expected = runtime.load(EXAMPLE).predict_proba(np.full(30, 14.0, dtype=np.float32))
    np.testing.assert_allclose(outputs["probabilities"]["data"], expected.ravel(), rtol=1e-7)


def test_sigterm_stops_the_server_cleanly():
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "logreg_onnx", "serve", str(EXAMPLE), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    wait_ready(f"http://127.0.0.1:{port}", process)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=15) == 0


def test_metrics_in_prometheus_text_format(server):
    url, _ = server
    good = {"inputs": [{"name": "features", "shape": [3, 30], "datatype": "FP32", "data": [14.0] * 90}]}
    before = scrape(url)
    assert _post(f"{url}/v2/models/example/infer", json.dumps(good).encode())[0] == 200
    assert _post(f"{url}/v2/models/example/infer", b"{")[0] == 400
    after = scrape(url)
    key = ("logreg_requests_total", (("endpoint", "/v2/models/{name}/infer"), ("model", "example"), ("status", "200")))
    bad = ("logreg_requests_total", (("endpoint", "/v2/models/{name}/infer"), ("model", "example"), ("status", "400")))
    rows = ("logreg_rows_predicted_total", (("model", "example"),))
    assert after.get(key, 0) - before.get(key, 0) == 1
    assert after.get(bad, 0) - before.get(bad, 0) == 1
    assert after.get(rows, 0) - before.get(rows, 0) == 3
    assert any(name == "logreg_request_seconds_bucket" for name, _ in after)


def test_the_served_openapi_document_is_the_committed_one_and_lists_every_route(server):
    url, _ = server
    with urllib.request.urlopen(f"{url}/openapi.json", timeout=5) as answer:
        served = json.loads(answer.read())
    committed = json.loads((Path(runtime.__file__).parent / "openapi.json").read_text())
    assert served == committed
    from logreg_onnx.runtime.server import create_app
    from starlette.routing import Route

    app = create_app({"example": runtime.load(EXAMPLE)})
    routes = {
        (route.path, method.lower())
        for route in app.routes
        if isinstance(route, Route)
        for method in route.methods - {"HEAD"}
    }
    documented = {(path, method) for path, item in committed["paths"].items() for method in item}
    assert routes == documented


def _infer(url: str, model: str, features: dict, categories: dict | None = None) -> tuple[int, dict]:
    inputs = [{"name": "features", **features}] + ([{"name": "categories", **categories}] if categories else [])
    return _post(f"{url}/v2/models/{model}/infer", json.dumps({"inputs": inputs}).encode())


def test_fp64_and_integer_inputs_are_converted_with_a_range_check(server):
    url, _ = server
    row = [14, 20, 90, 600, 0, 0, 0, 0, 0, 0, 0, 1, 2, 40, 0, 0, 0, 0, 0, 0, 16, 25, 100, 800, 0, 0, 0, 0, 0, 0]
    expected = runtime.load(EXAMPLE).predict_proba(np.array(row, dtype=np.float32)).ravel()
    for datatype in ("FP32", "FP64", "FP16", "INT16", "INT32", "INT64", "UINT16", "UINT32", "UINT64"):
        status, answer = _infer(url, "example", {"shape": [1, 30], "datatype": datatype, "data": row})
        assert status == 200, (datatype, answer)
        np.testing.assert_array_equal(answer["outputs"][1]["data"], expected)
    # FP64 with more precision than float32 rounds as numpy's float64 -> float32 does
    fine = [14.000000123456789, *row[1:]]
    status, answer = _infer(url, "example", {"shape": [1, 30], "datatype": "FP64", "data": fine})
    assert status == 200
    reference = runtime.load(EXAMPLE).predict_proba(np.array(fine, dtype=np.float64).astype(np.float32)).ravel()
    np.testing.assert_array_equal(answer["outputs"][1]["data"], reference)
    refused = {
        ("FP64", 1e39): "beyond float32 (the model's feature type)'s range",
        ("FP16", 70000.0): "beyond FP16's range",
        ("INT8", 300): "300 is outside INT8's range [-128, 127]",
        ("UINT8", -1): "-1 is outside UINT8's range [0, 255]",
        ("INT32", 1.5): "1.5 is not an integer (INT32)",
        ("FP32", True): "true is not a number (FP32)",
    }
    for (datatype, value), message in refused.items():
        status, answer = _infer(url, "example", {"shape": [1, 30], "datatype": datatype, "data": [value, *row[1:]]})
        assert status == 400 and message in answer["error"], (datatype, value, answer)


def test_binary_fp64_and_int_inputs_through_tritons_client(server):
    client_module = pytest.importorskip("tritonclient.http")
    url, _ = server
    client = client_module.InferenceServerClient(url=url.removeprefix("http://"))
    X = np.random.default_rng(1).integers(0, 200, size=(5, 30))
    _, expected = runtime.load(EXAMPLE).run(X.astype(np.float32))
    for dtype, datatype in ((np.float64, "FP64"), (np.int32, "INT32"), (np.uint8, "UINT8")):
        features = client_module.InferInput("features", list(X.shape), datatype)
        features.set_data_from_numpy(X.astype(dtype), binary_data=True)
        result = client.infer("example", [features])
        np.testing.assert_array_equal(result.as_numpy("probabilities"), expected)
    huge = np.full((1, 30), 1e300)
    features = client_module.InferInput("features", [1, 30], "FP64")
    features.set_data_from_numpy(huge, binary_data=True)
    with pytest.raises(client_module.InferenceServerException, match="beyond float32"):
        client.infer("example", [features])


def test_two_workers_serve_and_count_their_requests_together():
    with running_server(str(EXAMPLE), "--workers", "2") as (url, process):
        children = Path(f"/proc/{process.pid}/task/{process.pid}/children")
        if children.exists():
            workers = children.read_text().split()
            # uvicorn's supervisor starts each worker (multiprocessing may add a resource tracker beside them)
            assert len(workers) >= 2
        assert infer_requests(scrape(url)) == 0
        good = {"inputs": [{"name": "features", "shape": [1, 30], "datatype": "FP32", "data": [14.0] * 30}]}
        expected = runtime.load(EXAMPLE).predict_proba(np.full(30, 14.0, dtype=np.float32)).ravel()
        for _ in range(40):  # a new connection each: the kernel spreads them over both workers' accept queues
            status, answer = _post(f"{url}/v2/models/example/infer", json.dumps(good).encode())
            assert status == 200
            np.testing.assert_array_equal(answer["outputs"][1]["data"], expected)
        # a request is counted once its answer is sent, so the last ones may land a moment after the client has read
        # them: wait for the sum over both workers to reach 40, then check it is exactly 40
        deadline = time.monotonic() + 10
        while (counted := infer_requests(scrape(url))) < 40 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert counted == 40
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0


def test_serve_imports_neither_torch_nor_onnx():
    blocked = "for name in ('torch', 'onnx', 'onnxscript', 'trainer', 'exporter'):\n    sys.modules[name] = None"
    with running_server(str(EXAMPLE), prelude=blocked) as (url, _):
        good = {"inputs": [{"name": "features", "shape": [1, 30], "datatype": "FP32", "data": [14.0] * 30}]}
        status, answer = _post(f"{url}/v2/models/example/infer", json.dumps(good).encode())
    expected = runtime.load(EXAMPLE).predict_proba(np.full(30, 14.0, dtype=np.float32)).ravel()
    assert status == 200
    np.testing.assert_array_equal(np.array(answer["outputs"][1]["data"], dtype=np.float32), expected)


def test_a_model_that_fails_its_test_vectors_is_not_ready(tmp_path):
    model = tmp_path / "model.onnx"
    shutil.copy(EXAMPLE, model)
    vectors = json.loads(EXAMPLE.with_name("model.testvectors.json").read_text())
    vectors["cases"][0]["probabilities"][0] += 0.01  # a thousand times the tolerance
    model.with_name("model.testvectors.json").write_text(json.dumps(vectors))
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "logreg_onnx", "serve", str(model), "--name", "bad", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{url}/v2/health/live", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        for path, key in (("/v2/health/ready", "ready"), ("/v2/models/bad/ready", "ready")):
            with pytest.raises(urllib.error.HTTPError) as caught:
                urllib.request.urlopen(f"{url}{path}", timeout=5)
            assert caught.value.code == 503
            assert json.loads(caught.value.read())[key] is False
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=15)


# -- format 3: the explain outputs through infer, explanations through /predict ---------------------------------------
@pytest.fixture(scope="module")
def format3():
    """A server of two format 3 models exported here (binary with intervals, and multinomial without) beside the
    committed format 1 and format 2 ones; yields (URL, {name: (path, training rows)})."""
    pytest.importorskip("torch")
    models = {kind: format3_model(kind) for kind in ("binary", "multinomial")}
    arguments = [argument for kind, (path, _) in models.items() for argument in ("--model", f"{kind}={path}")]
    older = ("--model", f"example={EXAMPLE}", "--model", f"penguins={PENGUINS_FORMAT2}")
    with running_server(*arguments, *older) as (url, _):
        yield url, models


def _post_json(url: str, document: dict) -> tuple[int, dict]:
    return _post(url, json.dumps(document).encode())


def _graph_inputs(model, rows: list[dict]) -> tuple[np.ndarray, np.ndarray | None]:
    """The rows as the graph's inputs, built here from the columns' names (None and "" where missing)."""
    numeric = np.array(
        [[np.nan if row[c] is None else row[c] for c in model.numeric_names] for row in rows], np.float32
    )
    texts = [[row[c] or "" for c in model.categorical_names] for row in rows]
    return numeric, np.array(texts, dtype=object) if model.categorical_names else None


def _v2_inputs(numeric: np.ndarray, categories: np.ndarray | None) -> list[dict]:
    data = [None if np.isnan(v) else v for v in numeric.ravel().tolist()]
    inputs = [{"name": "features", "shape": list(numeric.shape), "datatype": "FP32", "data": data}]
    if categories is not None:
        inputs.append({"name": "categories", "shape": list(categories.shape), "datatype": "BYTES"})
        inputs[-1]["data"] = categories.ravel().tolist()
    return inputs


def _onnxruntime(path: Path, numeric: np.ndarray, categories: np.ndarray | None) -> dict[str, np.ndarray]:
    """Every output of the file by onnxruntime itself, the whole graph (no runtime code in between)."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feed = {"features": numeric} | ({"categories": categories} if categories is not None else {})
    return dict(zip([o.name for o in session.get_outputs()], session.run(None, feed), strict=True))


def test_format3_metadata_lists_every_output_with_its_datatype_and_shape(format3):
    import onnxruntime as ort

    client_module = pytest.importorskip("tritonclient.http")
    url, models = format3
    client = client_module.InferenceServerClient(url=url.removeprefix("http://"))
    for kind, (path, _) in models.items():
        metadata = client.get_model_metadata(kind)
        graph = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).get_outputs()
        types = {"tensor(int64)": "INT64", "tensor(float)": "FP32"}
        expected = [
            {"name": o.name, "datatype": types[o.type], "shape": [d if isinstance(d, int) else -1 for d in o.shape]}
            for o in graph
        ]
        assert metadata["outputs"] == expected
        model = runtime.load(path)
        n_columns, n_logits = len(model.feature_names), len(model.classes) - 1
        shapes = {o["name"]: o["shape"] for o in metadata["outputs"]}
        assert shapes["logit"] == [-1, n_logits] and shapes["contributions"] == [-1, n_columns, n_logits]
        explain = metadata["parameters"]["explain"]
        assert explain["reference_class"] == model.classes[0] and explain["logits"] == model.classes[1:]
        assert explain["intervals"] == (kind == "binary")
    assert [o["name"] for o in client.get_model_metadata("binary")["outputs"]] == [
        "label",
        "probabilities",
        "logit",
        "contributions",
        "logit_se",
        "probability_lower",
        "probability_upper",
    ]
    # formats 1 and 2: the answer of before, to the byte
    for name, classes in (("example", 2), ("penguins", 3)):
        metadata = client.get_model_metadata(name)
        assert metadata["outputs"] == [
            {"name": "label", "datatype": "INT64", "shape": [-1]},
            {"name": "probabilities", "datatype": "FP32", "shape": [-1, classes]},
        ]
        assert "explain" not in metadata["parameters"]


def test_format3_infer_outputs_through_tritons_client_json_and_binary(format3):
    client_module = pytest.importorskip("tritonclient.http")
    url, models = format3
    client = client_module.InferenceServerClient(url=url.removeprefix("http://"))
    for kind, (path, rows) in models.items():
        model = runtime.load(path)
        complete = [row for row in rows if None not in row.values()][:9]
        for binary, sample in ((False, complete), (True, rows[:9])):  # Triton's JSON writes NaN, which JSON has not
            numeric, categories = _graph_inputs(model, sample)
            expected = model.run_outputs(numeric, categories)
            reference = _onnxruntime(path, numeric, categories)
            assert list(expected) == list(reference)
            for name, values in reference.items():  # the runtime's reference is onnxruntime's on the file
                np.testing.assert_array_equal(expected[name], values)
            assert expected["contributions"].shape == (9, len(model.feature_names), len(model.classes) - 1)
            names = list(expected)
            for selection in [[name] for name in names[2:]] + [names[::-1], ["probabilities"], None]:
                inputs = [client_module.InferInput("features", list(numeric.shape), "FP32")]
                inputs[0].set_data_from_numpy(numeric, binary_data=binary)
                if categories is not None:
                    inputs.append(client_module.InferInput("categories", list(categories.shape), "BYTES"))
                    inputs[1].set_data_from_numpy(categories, binary_data=binary)
                outputs = None
                if selection is not None:
                    outputs = [client_module.InferRequestedOutput(n, binary_data=binary) for n in selection]
                result = client.infer(kind, inputs, outputs=outputs)
                answered = [output["name"] for output in result.get_response()["outputs"]]
                assert answered == (names if selection is None else selection)  # no list: every output, in order
                for name in answered:
                    output = result.get_output(name)
                    assert output["datatype"] == ("INT64" if name == "label" else "FP32")
                    assert output["shape"] == list(expected[name].shape)
                    got = result.as_numpy(name)
                    assert got.dtype == expected[name].dtype
                    np.testing.assert_array_equal(got, expected[name])


def test_format3_infer_meets_the_exporters_test_vectors(format3):
    """The float64 reference the exporter wrote beside each model, by the test vectors' own rule."""
    url, models = format3
    for kind, (path, _) in models.items():
        vectors = json.loads(path.with_name(path.stem + ".testvectors.json").read_text())
        cases, atol = vectors["cases"], vectors["atol"]
        model = runtime.load(path)
        numeric = np.array([[np.nan if v is None else v for v in c["features"]] for c in cases], np.float32)
        categories = np.array([c.get("categories", []) for c in cases], dtype=object)
        inputs = _v2_inputs(numeric, categories if model.categorical_names else None)
        status, answer = _post_json(f"{url}/v2/models/{kind}/infer", {"inputs": inputs})
        assert status == 200, answer
        got = {o["name"]: np.array(o["data"], np.float64).reshape(o["shape"]) for o in answer["outputs"]}
        assert list(got) == vectors["outputs"] == [o.name for o in model.outputs]
        for name in vectors["outputs"][2:]:
            expected = np.array([case[name] for case in cases], np.float64)
            assert got[name].shape == expected.shape, name
            assert np.all(np.abs(got[name] - expected) <= atol * np.maximum(1, np.abs(expected))), name
        np.testing.assert_allclose(got["probabilities"], [c["probabilities"] for c in cases], rtol=0, atol=atol)


def test_unknown_outputs_are_refused_with_the_models_outputs(format3):
    url, models = format3
    _, rows = models["binary"]
    model = runtime.load(models["binary"][0])
    inputs = _v2_inputs(*_graph_inputs(model, rows[:2]))
    status, answer = _post_json(f"{url}/v2/models/binary/infer", {"inputs": inputs, "outputs": [{"name": "nope"}]})
    assert (status, answer["error"]) == (
        400,
        "unknown output 'nope'; this model's outputs are label, probabilities, logit, contributions, logit_se, "
        "probability_lower, probability_upper",
    )
    inputs = _v2_inputs(*_graph_inputs(runtime.load(models["multinomial"][0]), rows[:2]))
    status, answer = _post_json(
        f"{url}/v2/models/multinomial/infer", {"inputs": inputs, "outputs": [{"name": "logit_se"}]}
    )
    assert (status, answer["error"]) == (
        400,
        "unknown output 'logit_se'; this model's outputs are label, probabilities, logit, contributions",
    )
    features = {"name": "features", "shape": [1, 30], "datatype": "FP32", "data": [14.0] * 30}
    status, answer = _post_json(
        f"{url}/v2/models/example/infer", {"inputs": [features], "outputs": [{"name": "logit"}]}
    )
    assert (status, answer["error"]) == (400, "unknown output 'logit'; this model's outputs are label, probabilities")
    # and without a selection, formats 1 and 2 answer with their two outputs, as before
    status, answer = _post_json(f"{url}/v2/models/example/infer", {"inputs": [features]})
    assert status == 200 and [o["name"] for o in answer["outputs"]] == ["label", "probabilities"]


def test_predict_with_explain_equals_the_runtimes_explanations(format3):
    url, models = format3
    for kind, (path, rows) in models.items():
        model = runtime.load(path)
        sample = rows[:12]
        assert any(None in row.values() for row in sample)  # missing values among them
        for top in (1, 2, 1000):
            status, answer = _post_json(f"{url}/v2/models/{kind}/predict", {"instances": sample, "explain": top})
            assert status == 200, answer
            expected = model.explain(sample, top=top)
            for got, want in zip(answer["predictions"], expected, strict=True):
                assert got["label"] == want["label"] and got["probabilities"] == want["probabilities"]
                assert got["explain"] == {k: v for k, v in want.items() if k not in ("label", "probabilities")}
                assert set(got["explain"]) == {"logit", "toward", "away"} | (
                    {"interval"} if kind == "binary" else set()
                )
        # rows as lists in the model's feature order explain alike
        lists = [[row[c] for c in model.feature_names] for row in sample[:3]]
        status, answer = _post_json(f"{url}/v2/models/{kind}/predict", {"instances": lists, "explain": 2})
        assert [p["explain"] for p in answer["predictions"]] == [
            {k: v for k, v in row.items() if k not in ("label", "probabilities")}
            for row in model.explain(sample[:3], top=2)
        ]
        # without explain (or with null): the predictions of before, and nothing more
        for document in ({"instances": sample}, {"instances": sample, "explain": None}):
            status, answer = _post_json(f"{url}/v2/models/{kind}/predict", document)
            assert status == 200 and all(set(p) == {"label", "probabilities"} for p in answer["predictions"])
            got = np.array([[p["probabilities"][c] for c in model.classes] for p in answer["predictions"]])
            np.testing.assert_array_equal(got, model.predict_proba(sample))


def test_explain_errors(format3):
    url, models = format3
    row = {"island": "Dream", "bill_length_mm": 46.0, "bill_depth_mm": None, "flipper_length_mm": 192.0}
    row |= {"body_mass_g": 3700.0, "sex": None, "year": 2008}
    for name, version, instance in (("example", 1, [14.0] * 30), ("penguins", 2, row)):
        status, answer = _post_json(f"{url}/v2/models/{name}/predict", {"instances": [instance], "explain": 3})
        assert (status, answer["error"]) == (
            400,
            f"model {name!r} has no explanations: its file is logreg-onnx format {version}, whose outputs are label "
            'and probabilities; export the model again (format 3) to explain, or leave out "explain"',
        )
    _, rows = models["binary"]
    for bad in (0, 1001, -1, 2.5, "3", True, [3], {"k": 3}):
        status, answer = _post_json(f"{url}/v2/models/binary/predict", {"instances": rows[:1], "explain": bad})
        assert (status, answer["error"]) == (
            400,
            '"explain" must be a whole number from 1 to 1000 (the columns to name toward and away from each '
            f"prediction), got {json.dumps(bad)}",
        )
    wrong = {**rows[0], "b": "heavy"}
    with pytest.raises(ValueError) as caught:
        runtime.load(models["binary"][0]).explain([wrong], top=3)
    status, answer = _post_json(f"{url}/v2/models/binary/predict", {"instances": [wrong], "explain": 3})
    assert (status, answer["error"]) == (400, str(caught.value))


def test_the_drift_window_keeps_the_rows_of_explain_requests():
    """/predict with explain and infer of an explain output feed the window as the other requests do: the gauges
    equal runtime.load(path).drift of the rows sent."""
    pytest.importorskip("torch")
    path, rows = format3_model("binary")
    model = runtime.load(path)
    window = 60
    sample = rows[:window]
    with running_server(str(path), "--name", "binary", "--drift-window", str(window)) as (url, _):
        status, _ = _post_json(f"{url}/v2/models/binary/predict", {"instances": sample[:30], "explain": 2})
        assert status == 200
        inputs = _v2_inputs(*_graph_inputs(model, sample[30:]))
        status, _ = _post_json(
            f"{url}/v2/models/binary/infer", {"inputs": inputs, "outputs": [{"name": "contributions"}]}
        )
        assert status == 200
        samples = scrape(url)
    columns = {
        dict(labels)["column"]: value
        for (name, labels), value in samples.items()
        if name == "logreg_drift_psi" and dict(labels)["model"] == "binary"
    }
    expected = model.drift(sample)
    assert sorted(columns) == sorted(model.feature_names)
    for entry in expected["columns"]:
        assert columns[entry["column"]] == pytest.approx(entry["psi"], abs=1e-9)
    score = samples[("logreg_score_psi", (("model", "binary"), ("version", "1")))]
    assert score == pytest.approx(expected["score"]["psi"], abs=1e-6)


def test_the_payload_log_takes_a_missing_value_and_never_fails_a_request(tmp_path):
    """/predict with NaN for a missing value (the JSON literal, which the runtime imputes): answered 200 and logged
    with null, the client's id kept; a log that cannot be written is logged, and the request is still answered."""
    from logreg_onnx.runtime.serve_guard import PayloadLog
    from logreg_onnx.runtime.server import create_app

    from .asgi import asgi

    log = PayloadLog(tmp_path / "payloads.jsonl")
    model = runtime.load(PENGUINS)
    app = create_app({"penguins": model}, payloads=log)
    row = {"island": "Dream", "bill_length_mm": float("nan"), "bill_depth_mm": 18.0, "flipper_length_mm": 190.0}
    row |= {"body_mass_g": 3700.0, "sex": "female", "year": 2008}
    body = json.dumps({"id": "p1", "instances": [row]}).encode()
    status, answer = asgi(app, "POST", "/v2/models/penguins/predict", body)
    assert status == 200, answer
    expected = model.predict_proba([row])[0]
    got = answer["predictions"][0]["probabilities"]
    np.testing.assert_allclose([got[c] for c in model.classes], expected, rtol=1e-6)
    log.close()
    (line,) = (tmp_path / "payloads.jsonl").read_text().splitlines()
    record = json.loads(line)
    assert record["request_id"] == "p1" and record["endpoint"] == "predict"
    assert record["inputs"]["instances"][0]["bill_length_mm"] is None
    assert record["outputs"]["predictions"] == answer["predictions"]
    (tmp_path / "payloads.jsonl").unlink()
    (tmp_path / "payloads.jsonl").mkdir()  # the file cannot be opened any more
    status, _ = asgi(app, "POST", "/v2/models/penguins/predict", body)
    assert status == 200
