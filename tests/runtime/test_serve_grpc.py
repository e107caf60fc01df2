"""The gRPC service (runtime/serve_grpc.py) on a loopback port, driven by tritonclient.grpc and by stubs of our own
generated code; every answer checked against the Python runtime (``runtime.load(path)``)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time

import numpy as np
import pytest

pytest.importorskip("grpc")
pytest.importorskip("tritonclient.grpc")

import grpc
import tritonclient.grpc as tritongrpc
from logreg_onnx.runtime import serve_grpc
from logreg_onnx.runtime.grpc import inference_pb2 as pb
from logreg_onnx.runtime.grpc import inference_pb2_grpc
from logreg_onnx.runtime.repository import Repository
from logreg_onnx.runtime.serve_grpc import grpc_server
from logreg_onnx.runtime.serve_infer import Admission, Limits

from logreg_onnx import runtime

from .serving import EXAMPLE, PENGUINS, free_port

MAX_ROWS = 50
X = np.random.default_rng(3).normal(10, 5, size=(4, 30)).astype(np.float32)
PENGUIN_NUMBERS = np.array([[46.0, np.nan, 192.0, 3700.0, 2008.0], [39.0, 18.0, 181.0, 3750.0, 2007.0]], np.float32)
PENGUIN_TEXTS = np.array([["Dream", ""], ["Torgersen", "male"]], dtype=object)


@contextlib.contextmanager
def serving(token: bytes | None = None, admission: Admission | None = None, repository=None, **extra):
    """The gRPC server over the two committed models (or ``repository``), on an event loop of its own in a thread:
    (address, repository). ``extra``: grpc_server's metrics and payloads."""
    if repository is None:
        repository = models()
    port = free_port()
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def start():
        server = grpc_server(
            repository,
            Limits(max_rows=MAX_ROWS),
            admission or Admission(0),
            host="127.0.0.1",
            port=port,
            token=token,
            **extra,
        )
        await server.start()
        return server

    server = asyncio.run_coroutine_threadsafe(start(), loop).result(30)
    try:
        yield f"127.0.0.1:{port}", repository
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(None), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(30)
        loop.close()


def models() -> Repository:
    repository = Repository(files={"example": EXAMPLE, "penguins": PENGUINS})
    repository.load_now()
    return repository


@pytest.fixture(scope="module")
def service():
    with serving() as (address, repository):
        yield address, repository


@pytest.fixture
def client(service):
    with tritongrpc.InferenceServerClient(url=service[0]) as client:
        yield client


def numeric_input(values: np.ndarray, datatype: str = "FP32"):
    tensor = tritongrpc.InferInput("features", list(values.shape), datatype)
    tensor.set_data_from_numpy(values)
    return tensor


def text_input(values: np.ndarray):
    tensor = tritongrpc.InferInput("categories", list(values.shape), "BYTES")
    tensor.set_data_from_numpy(values)
    return tensor


def refused(call, code: str, words: str = "") -> str:
    """The message of the error ``call()`` raises, after checking its status code and that it has ``words``."""
    with pytest.raises(tritongrpc.InferenceServerException) as caught:
        call()
    assert caught.value.status() == f"StatusCode.{code}", caught.value.message()
    assert words in caught.value.message()
    assert "\n" not in caught.value.message()
    return caught.value.message()


def still_serving(client) -> None:
    assert client.is_server_live()
    result = client.infer("example", [numeric_input(X[:1])])
    np.testing.assert_array_equal(result.as_numpy("label"), runtime.load(EXAMPLE).run_inputs(X[:1])[0])


def test_health_and_readiness(client):
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready("example") and client.is_model_ready("example", model_version="1")
    assert client.is_model_ready("penguins", "1")
    refused(lambda: client.is_model_ready("example", "7"), "NOT_FOUND", "no version '7'")
    refused(lambda: client.is_model_ready("nope"), "NOT_FOUND", "unknown model 'nope'")


def test_server_and_model_metadata(client):
    server = client.get_server_metadata()
    assert server.name == "logreg-onnx" and "statistics" in server.extensions
    example = client.get_model_metadata("example")
    assert (example.name, list(example.versions), example.platform) == ("example", ["1"], "onnxruntime_onnx")
    assert [(t.name, t.datatype, list(t.shape)) for t in example.inputs] == [("features", "FP32", [-1, 30])]
    assert [(t.name, t.datatype, list(t.shape)) for t in example.outputs] == [
        ("label", "INT64", [-1]),
        ("probabilities", "FP32", [-1, 2]),
    ]
    penguins = client.get_model_metadata("penguins", "1", as_json=True)
    model = runtime.load(PENGUINS)
    columns, logits = len(model.feature_names), len(model.classes) - 1
    assert penguins["inputs"] == [
        {"name": "features", "datatype": "FP32", "shape": ["-1", str(len(model.numeric_names))]},
        {"name": "categories", "datatype": "BYTES", "shape": ["-1", str(len(model.categorical_names))]},
    ]
    assert [(o["name"], o["datatype"], o["shape"]) for o in penguins["outputs"]] == [
        ("label", "INT64", ["-1"]),
        ("probabilities", "FP32", ["-1", str(len(model.classes))]),
        ("logit", "FP32", ["-1", str(logits)]),
        ("contributions", "FP32", ["-1", str(columns), str(logits)]),
    ]
    refused(lambda: client.get_model_metadata("nope"), "NOT_FOUND")


def test_infer_numeric_matches_the_runtime(client):
    labels, probabilities = runtime.load(EXAMPLE).run_inputs(X)
    result = client.infer("example", [numeric_input(X)], request_id="req-1")
    response = result.get_response()
    assert (response.model_name, response.model_version, response.id) == ("example", "1", "req-1")
    assert [(o.name, o.datatype, list(o.shape)) for o in response.outputs] == [
        ("label", "INT64", [4]),
        ("probabilities", "FP32", [4, 2]),
    ]
    np.testing.assert_array_equal(result.as_numpy("label"), labels)
    np.testing.assert_array_equal(result.as_numpy("probabilities"), probabilities)
    # other numeric datatypes are converted to float32, as REST does
    for dtype, datatype in ((np.float64, "FP64"), (np.int32, "INT32"), (np.uint8, "UINT8")):
        whole = np.abs(np.round(X)).astype(dtype)
        expected = runtime.load(EXAMPLE).run_inputs(whole.astype(np.float32))[1]
        answer = client.infer("example", [numeric_input(whole, datatype)], model_version="1")
        np.testing.assert_array_equal(answer.as_numpy("probabilities"), expected)


def test_infer_text_and_missing_values_with_every_format3_output(client):
    model = runtime.load(PENGUINS)
    labels, probabilities = model.run_inputs(PENGUIN_NUMBERS, PENGUIN_TEXTS)
    explained = model.run_outputs(PENGUIN_NUMBERS, PENGUIN_TEXTS, ["logit", "contributions"])
    result = client.infer("penguins", [numeric_input(PENGUIN_NUMBERS), text_input(PENGUIN_TEXTS)])
    assert [o.name for o in result.get_response().outputs] == ["label", "probabilities", "logit", "contributions"]
    np.testing.assert_array_equal(result.as_numpy("label"), labels)
    np.testing.assert_array_equal(result.as_numpy("probabilities"), probabilities)
    for name in ("logit", "contributions"):
        assert result.as_numpy(name).shape == explained[name].shape
        np.testing.assert_array_equal(result.as_numpy(name), explained[name])
    # named outputs only, in the order asked
    asked = [tritongrpc.InferRequestedOutput("contributions"), tritongrpc.InferRequestedOutput("label")]
    result = client.infer("penguins", [numeric_input(PENGUIN_NUMBERS), text_input(PENGUIN_TEXTS)], outputs=asked)
    assert [o.name for o in result.get_response().outputs] == ["contributions", "label"]
    np.testing.assert_array_equal(result.as_numpy("contributions"), explained["contributions"])
    np.testing.assert_array_equal(result.as_numpy("label"), labels)


def test_bad_requests_get_their_status_and_the_server_keeps_serving(client):
    wide = np.zeros((2, 29), np.float32)
    penguins = [numeric_input(PENGUIN_NUMBERS)]
    cases = [
        (lambda: client.infer("example", [numeric_input(wide)]), "INVALID_ARGUMENT", "takes 30 columns"),
        (
            lambda: client.infer("example", [text_input(np.full((1, 30), "a", dtype=object))]),
            "INVALID_ARGUMENT",
            "unknown input 'categories'",
        ),
        (
            lambda: client.infer("example", [numeric_input(np.zeros((1, 30), np.bool_), "BOOL")]),
            "INVALID_ARGUMENT",
            "datatype BOOL does not fit",
        ),
        (lambda: client.infer("nope", [numeric_input(X)]), "NOT_FOUND", "unknown model 'nope'"),
        (lambda: client.infer("example", [numeric_input(X)], model_version="7"), "NOT_FOUND", "no version '7'"),
        (
            lambda: client.infer("example", [numeric_input(X)], outputs=[tritongrpc.InferRequestedOutput("nope")]),
            "INVALID_ARGUMENT",
            "unknown output 'nope'; this model's outputs are label, probabilities",
        ),
        (
            lambda: client.infer("penguins", [*penguins, text_input(np.array([[b"\xff", b""]] * 2, dtype=object))]),
            "INVALID_ARGUMENT",
            "a BYTES element is not UTF-8 text",
        ),
        (lambda: client.infer("penguins", penguins), "INVALID_ARGUMENT", "missing input 'categories'"),
        (
            lambda: client.infer("example", [numeric_input(np.zeros((MAX_ROWS + 1, 30), np.float32))]),
            "RESOURCE_EXHAUSTED",
            f"{MAX_ROWS + 1} rows in one request; this server takes at most {MAX_ROWS}",
        ),
        (
            lambda: client.infer("example", [numeric_input(np.zeros((0, 30), np.float32))]),
            "INVALID_ARGUMENT",
            "the request has no rows",
        ),
    ]
    for call, code, words in cases:
        refused(call, code, words)
        still_serving(client)


def test_the_same_words_as_rest(client):
    """A tensor check's message over gRPC is the ProtocolError REST answers with (runtime/v2.py checks both)."""
    from logreg_onnx.runtime import v2

    with pytest.raises(v2.ProtocolError) as rest:
        v2.decode(
            b'{"inputs": [{"name": "features", "shape": [2, 29], "datatype": "FP32", "data": []}]}',
            None,
            numeric=30,
            categorical=0,
            imputes=False,
        )
    narrow = [numeric_input(np.zeros((2, 29), np.float32))]
    assert refused(lambda: client.infer("example", narrow), "INVALID_ARGUMENT") == str(rest.value)


def test_statistics_count_the_requests(client):
    def counts():
        stats = client.get_inference_statistics("example", as_json=True)["model_stats"][0]
        success = stats["inference_stats"].get("success", {})
        return int(success.get("count", 0)), int(stats.get("inference_count", 0))

    requests, rows = counts()
    client.infer("example", [numeric_input(X)])
    client.infer("example", [numeric_input(X[:2])])
    assert counts() == (requests + 2, rows + 6)
    every = client.get_inference_statistics(as_json=True)["model_stats"]
    assert {(s["name"], s["version"]) for s in every} == {("example", "1"), ("penguins", "1")}
    refused(lambda: client.get_inference_statistics("nope"), "NOT_FOUND")


def test_calls_are_in_the_request_metrics_and_the_payload_log(tmp_path):
    """Every RPC counted in logreg_requests_total as "grpc METHOD" with its code's name, the rows of an answered
    ModelInfer in logreg_rows_predicted_total; each answered ModelInfer a line of the payload log, its tensors as
    decoded (raw_input_contents here: what tritonclient sends)."""
    from logreg_onnx.runtime.serve_guard import PayloadLog
    from logreg_onnx.runtime.serve_metrics import Metrics
    from prometheus_client.parser import text_string_to_metric_families

    admission, log, repository = Admission(0), tmp_path / "payloads.jsonl", models()
    metrics, payloads = Metrics(repository, admission), PayloadLog(log)
    with serving(admission=admission, repository=repository, metrics=metrics, payloads=payloads) as (address, _):
        with tritongrpc.InferenceServerClient(url=address) as client:
            result = client.infer("example", [numeric_input(X)], request_id="r1")
            client.infer("example", [numeric_input(X[:2])])
            refused(lambda: client.infer("example", [numeric_input(X[:, :3])]), "INVALID_ARGUMENT")
            refused(lambda: client.infer("nope", [numeric_input(X)]), "NOT_FOUND")
            assert client.is_server_live()
        samples = {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(metrics.render().decode())
            for s in family.samples
        }
    payloads.close()

    def requests(endpoint, model, status):
        key = (("endpoint", endpoint), ("model", model), ("status", status))
        return samples.get(("logreg_requests_total", key))

    assert requests("grpc ModelInfer", "example", "OK") == 2
    assert requests("grpc ModelInfer", "example", "INVALID_ARGUMENT") == 1
    assert requests("grpc ModelInfer", "unknown", "NOT_FOUND") == 1
    assert requests("grpc ServerLive", "", "OK") == 1
    assert samples[("logreg_rows_predicted_total", (("model", "example"),))] == 6
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(r["request_id"], r["model"], r["version"], r["endpoint"]) for r in lines[:1]] == [
        ("r1", "example", "1", "grpc")
    ]
    assert len(lines) == 2 and len(lines[1]["request_id"]) == 32  # a request without an id gets one
    np.testing.assert_array_equal(np.float32(lines[0]["inputs"]["features"]), X)
    labels, probabilities = runtime.load(EXAMPLE).run_inputs(X)
    np.testing.assert_array_equal(np.float32(lines[0]["outputs"]["probabilities"]), probabilities)
    assert lines[0]["outputs"]["label"] == labels.tolist()
    np.testing.assert_array_equal(result.as_numpy("probabilities"), probabilities)


def test_a_call_cancelled_by_its_deadline_is_counted_cancelled_and_leaves_the_queue():
    """A call waiting for its batch (two seconds) past its 0.3 s deadline: the client gets DEADLINE_EXCEEDED, the
    metrics count it CANCELLED (not OK), and it no longer counts as in progress."""
    from logreg_onnx.runtime.serve_batch import Batcher
    from logreg_onnx.runtime.serve_metrics import Metrics

    admission, repository = Admission(8), models()
    for entry in repository.served():
        entry.batcher = Batcher(entry, Limits(max_batch_size=64, max_batch_delay_us=2_000_000))
    metrics = Metrics(repository, admission)
    with serving(admission=admission, repository=repository, metrics=metrics) as (address, _):
        with tritongrpc.InferenceServerClient(url=address) as client:
            refused(lambda: client.infer("example", [numeric_input(X)], client_timeout=0.3), "DEADLINE_EXCEEDED")
            deadline = time.monotonic() + 10
            while "CANCELLED" not in metrics.render().decode() and time.monotonic() < deadline:
                time.sleep(0.1)
        text = metrics.render().decode()
    assert 'endpoint="grpc ModelInfer",model="example",status="CANCELLED"} 1.0' in text
    assert 'status="OK"' not in text.split("logreg_requests_total", 1)[1].split("# HELP", 1)[0]
    assert admission.active == 0


def test_repository_index_unload_and_load():
    with serving() as (address, repository), tritongrpc.InferenceServerClient(url=address) as client:
        index = client.get_model_repository_index(as_json=True)["models"]
        assert [(m["name"], m["version"], m["state"]) for m in index] == [
            ("example", "1", "READY"),
            ("penguins", "1", "READY"),
        ]
        client.unload_model("penguins")
        assert client.is_server_ready()  # every model not unloaded has a ready version
        assert not repository.slots["penguins"].versions
        inputs = [numeric_input(PENGUIN_NUMBERS), text_input(PENGUIN_TEXTS)]
        message = refused(lambda: client.infer("penguins", inputs), "NOT_FOUND", "not loaded")
        assert "penguins" in message
        state = {m["name"]: m.get("state") for m in client.get_model_repository_index(as_json=True)["models"]}
        assert state == {"example": "READY", "penguins": "UNAVAILABLE"}
        # tritonclient asks for the whole index; our stub asks for the ready models only
        stub = inference_pb2_grpc.GRPCInferenceServiceStub(grpc.insecure_channel(address))
        assert [m.name for m in stub.RepositoryIndex(pb.RepositoryIndexRequest(ready=True)).models] == ["example"]
        client.load_model("penguins")
        result = client.infer("penguins", inputs)
        expected = runtime.load(PENGUINS).run_inputs(PENGUIN_NUMBERS, PENGUIN_TEXTS)[1]
        np.testing.assert_array_equal(result.as_numpy("probabilities"), expected)
        refused(lambda: client.load_model("nope"), "NOT_FOUND", "no model 'nope'")
        refused(lambda: client.unload_model("nope"), "NOT_FOUND", "unknown model 'nope'")
        assert repository.ready()


def test_the_token():
    with serving(token=b"t") as (address, _), tritongrpc.InferenceServerClient(url=address) as client:
        # the health RPCs need none, like REST's health endpoints
        assert client.is_server_live() and client.is_server_ready() and client.is_model_ready("example")
        refused(lambda: client.get_server_metadata(), "UNAUTHENTICATED", "is missing")
        refused(lambda: client.infer("example", [numeric_input(X)]), "UNAUTHENTICATED", "is missing")
        wrong = {"authorization": "Bearer x"}
        refused(lambda: client.infer("example", [numeric_input(X)], headers=wrong), "UNAUTHENTICATED", "is wrong")
        refused(lambda: client.get_model_repository_index(headers=wrong), "UNAUTHENTICATED")
        good = {"authorization": "Bearer t"}
        assert client.get_server_metadata(headers=good).name == "logreg-onnx"
        result = client.infer("example", [numeric_input(X)], headers=good)
        np.testing.assert_array_equal(result.as_numpy("label"), runtime.load(EXAMPLE).run_inputs(X)[0])


def test_busy_is_unavailable():
    admission = Admission(1)
    with serving(admission=admission) as (address, _), tritongrpc.InferenceServerClient(url=address) as client:
        admission.active = 1  # one request in progress, as far as --max-queue 1 knows
        refused(lambda: client.infer("example", [numeric_input(X)]), "UNAVAILABLE", "the server is busy")
        admission.active = 0
        still_serving(client)
        assert admission.shed == 1 and admission.active == 0


def test_a_bug_is_internal_and_logged(client, monkeypatch, caplog):
    async def broken(*args):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(serve_grpc, "run_model", broken)
    with caplog.at_level(logging.ERROR, logger="logreg_onnx.runtime.serve_grpc"):
        refused(lambda: client.infer("example", [numeric_input(X)]), "INTERNAL", "internal error (ZeroDivisionError)")
    assert any(record.exc_info and record.exc_info[0] is ZeroDivisionError for record in caplog.records)
    monkeypatch.undo()
    still_serving(client)


# -- our generated stubs ------------------------------------------------------------------------------------------


@pytest.fixture
def stub(service):
    with grpc.insecure_channel(service[0]) as channel:
        yield inference_pb2_grpc.GRPCInferenceServiceStub(channel)


def test_our_stubs_server_metadata_and_typed_contents(stub):
    metadata = stub.ServerMetadata(pb.ServerMetadataRequest())
    assert metadata.name == "logreg-onnx" and list(metadata.extensions) == ["model_repository", "statistics"]
    assert stub.ServerLive(pb.ServerLiveRequest()).live
    # typed contents (fp32_contents, bytes_contents) instead of raw: the same answers
    request = pb.ModelInferRequest(model_name="penguins", id="typed")
    request.inputs.add(name="features", datatype="FP32", shape=[2, 5]).contents.fp32_contents.extend(
        PENGUIN_NUMBERS.ravel().tolist()
    )
    texts = [t.encode() for t in PENGUIN_TEXTS.ravel()]
    request.inputs.add(name="categories", datatype="BYTES", shape=[2, 2]).contents.bytes_contents.extend(texts)
    request.outputs.add(name="probabilities")
    response = stub.ModelInfer(request)
    assert (response.id, response.model_version, [o.name for o in response.outputs]) == (
        "typed",
        "1",
        ["probabilities"],
    )
    got = np.frombuffer(response.raw_output_contents[0], "<f4").reshape(list(response.outputs[0].shape))
    np.testing.assert_array_equal(got, runtime.load(PENGUINS).run_inputs(PENGUIN_NUMBERS, PENGUIN_TEXTS)[1])
    # int64_contents
    whole = np.round(np.abs(X)).astype(np.int64)
    request = pb.ModelInferRequest(model_name="example")
    request.inputs.add(name="features", datatype="INT64", shape=[4, 30]).contents.int64_contents.extend(whole.ravel())
    response = stub.ModelInfer(request)
    labels, probabilities = runtime.load(EXAMPLE).run_inputs(whole.astype(np.float32))
    np.testing.assert_array_equal(np.frombuffer(response.raw_output_contents[0], "<i8"), labels)
    np.testing.assert_array_equal(np.frombuffer(response.raw_output_contents[1], "<f4").reshape(4, 2), probabilities)


def stub_refuses(stub, request, code, words: str) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        stub.ModelInfer(request)
    assert caught.value.code() == code, caught.value.details()
    assert words in caught.value.details()


def test_our_stubs_bad_contents(stub):
    def request(datatype="FP32", shape=(1, 30)):
        message = pb.ModelInferRequest(model_name="example")
        return message, message.inputs.add(name="features", datatype=datatype, shape=list(shape))

    invalid = grpc.StatusCode.INVALID_ARGUMENT
    message, _ = request()
    message.raw_input_contents.append(b"\0" * 119)
    stub_refuses(stub, message, invalid, "input 'features': 119 binary bytes, but its shape and FP32 need 120")
    message, _ = request()
    message.raw_input_contents.extend([b"\0" * 120, b""])
    stub_refuses(stub, message, invalid, "raw_input_contents has 2 entries for 1 inputs")
    message, tensor = request()
    tensor.contents.fp32_contents.extend([0.0] * 29)
    stub_refuses(stub, message, invalid, "input 'features': 29 values for a shape of 30 elements")
    message, tensor = request()
    tensor.contents.fp64_contents.extend([0.0] * 30)
    stub_refuses(stub, message, invalid, "datatype FP32 takes its values in fp32_contents, got fp64_contents")
    message, tensor = request("INT8")
    tensor.contents.int_contents.extend([300] + [0] * 29)
    stub_refuses(stub, message, invalid, "input 'features': 300 is outside INT8's range [-128, 127]")
    message, tensor = request("FP16")
    stub_refuses(stub, message, invalid, "FP16 has no typed contents; send it in raw_input_contents")
    message, _ = request()
    stub_refuses(stub, message, invalid, "input 'features' has no contents (nor raw_input_contents)")
    message, tensor = request()
    tensor.contents.fp32_contents.extend([float("inf")] * 30)
    stub_refuses(stub, message, invalid, "a value is infinite or beyond float32")
    message = pb.ModelInferRequest(model_name="example")
    stub_refuses(stub, message, invalid, "the request has no inputs")
    # FP16 as raw contents is fine
    message, _ = request("FP16", (4, 30))
    message.raw_input_contents.append(X.astype("<f2").tobytes())
    response = stub.ModelInfer(message)
    expected = runtime.load(EXAMPLE).run_inputs(X.astype(np.float16).astype(np.float32))[1]
    np.testing.assert_array_equal(np.frombuffer(response.raw_output_contents[1], "<f4").reshape(4, 2), expected)


def test_our_proto_is_tritons_on_the_wire():
    """Every message and RPC of runtime/grpc/inference.proto has Triton's name, and each field Triton's number, type
    and cardinality (tritonclient's compiled grpc_service.proto is the reference)."""
    from tritonclient.grpc import service_pb2

    ours, theirs = pb.DESCRIPTOR, service_pb2.DESCRIPTOR

    def same(mine, reference) -> None:
        assert mine.full_name == reference.full_name
        for field in mine.fields:
            other = reference.fields_by_name.get(field.name)
            assert other is not None, f"{mine.full_name}.{field.name} is not Triton's"
            assert (field.number, field.type, field.is_repeated) == (other.number, other.type, other.is_repeated), (
                f"{mine.full_name}.{field.name}"
            )
            if field.message_type is not None:
                same(field.message_type, other.message_type)

    for name, message in ours.message_types_by_name.items():
        same(message, theirs.message_types_by_name[name])
    service, reference = ours.services_by_name["GRPCInferenceService"], theirs.services_by_name["GRPCInferenceService"]
    assert service.full_name == "inference.GRPCInferenceService"
    for method in service.methods:
        other = reference.methods_by_name[method.name]
        assert (method.input_type.full_name, method.output_type.full_name) == (
            other.input_type.full_name,
            other.output_type.full_name,
        )
