"""`logreg serve`, started the real way on a loopback port, driven by Triton's HTTP client, plain HTTP and curl;
answers compared with the Python runtime's."""

from __future__ import annotations

import json
import shutil
import signal
import socket
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

import runtime

from .test_categorical import PENGUINS_MODEL

EXAMPLE = Path(__file__).resolve().parents[2] / "artifacts" / "example" / "model.onnx"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    port = _free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "runtime.cli",
            "serve",
            "--model",
            f"example={EXAMPLE}",
            "--model",
            f"penguins={PENGUINS_MODEL}",
            "--port",
            str(port),
            "--max-body-bytes",
            "200000",
            "--max-rows",
            "1000",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            with urllib.request.urlopen(f"{url}/v2/health/ready", timeout=1) as answer:
                if answer.status == 200:
                    break
        except OSError:
            time.sleep(0.1)
    else:
        process.kill()
        pytest.fail(f"the server did not start: {process.stderr.read().decode()}")
    yield url, process
    if process.poll() is None:
        process.kill()


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
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "runtime.cli", "serve", str(EXAMPLE), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    for _ in range(100):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/health/live", timeout=1)
            break
        except OSError:
            time.sleep(0.1)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=15) == 0


def test_metrics_in_prometheus_text_format(server):
    parser = pytest.importorskip("prometheus_client.parser")
    url, _ = server
    good = {"inputs": [{"name": "features", "shape": [3, 30], "datatype": "FP32", "data": [14.0] * 90}]}
    before = _scrape(url, parser)
    assert _post(f"{url}/v2/models/example/infer", json.dumps(good).encode())[0] == 200
    assert _post(f"{url}/v2/models/example/infer", b"{")[0] == 400
    after = _scrape(url, parser)
    key = ("logreg_requests_total", (("endpoint", "/v2/models/{name}/infer"), ("model", "example"), ("status", "200")))
    bad = ("logreg_requests_total", (("endpoint", "/v2/models/{name}/infer"), ("model", "example"), ("status", "400")))
    rows = ("logreg_rows_predicted_total", (("model", "example"),))
    assert after.get(key, 0) - before.get(key, 0) == 1
    assert after.get(bad, 0) - before.get(bad, 0) == 1
    assert after.get(rows, 0) - before.get(rows, 0) == 3
    assert any(name == "logreg_request_seconds_bucket" for name, _ in after)


def _scrape(url: str, parser) -> dict:
    with urllib.request.urlopen(f"{url}/metrics", timeout=5) as answer:
        text = answer.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in parser.text_string_to_metric_families(text)
        for sample in family.samples
    }
