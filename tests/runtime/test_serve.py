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

from .serving import EXAMPLE, PENGUINS, free_port, infer_requests, running_server, scrape, wait_ready

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
