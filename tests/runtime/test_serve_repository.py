"""``logreg serve --repository``: versions, the repository extension (index, load, unload), statistics and hot
reload, against a real server driven by Triton's HTTP and gRPC clients; answers compared with the Python runtime's."""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("starlette")
pytest.importorskip("torch")  # the two versions are fitted here
http = pytest.importorskip("tritonclient.http")
from tritonclient.utils import InferenceServerException  # noqa: E402

from logreg_onnx import runtime  # noqa: E402

from .serving import free_port, running_server, scrape, two_versions  # noqa: E402

ROW_NUMERIC = np.array([[0.3, 4.0]], dtype=np.float32)
ROW_TEXT = np.array([["red"]], dtype=object)


def _place(source: Path, folder: Path) -> None:
    """A version's files into ``folder``, each replaced atomically (test vectors first, then the model)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("model.testvectors.json", "model.onnx"):
        temporary = folder / f".{name}.tmp"
        shutil.copy(source.with_name(name), temporary)
        os.replace(temporary, folder / name)


def _expected(path: Path) -> np.ndarray:
    return runtime.load(path).run_inputs(ROW_NUMERIC, ROW_TEXT)[1]


def _inputs():
    features = http.InferInput("features", [1, 2], "FP32")
    features.set_data_from_numpy(ROW_NUMERIC)
    categories = http.InferInput("categories", [1, 1], "BYTES")
    categories.set_data_from_numpy(ROW_TEXT)
    return [features, categories]


def _probabilities(client, version: str = "") -> np.ndarray:
    outputs = [http.InferRequestedOutput("probabilities")]
    return client.infer("m", _inputs(), model_version=version, outputs=outputs).as_numpy("probabilities")


@pytest.fixture
def repository(tmp_path):
    first, second = two_versions()
    _place(first, tmp_path / "m" / "1")
    _place(second, tmp_path / "m" / "2")
    return tmp_path, first, second


def test_versions_metadata_index_and_statistics_through_tritons_clients(repository):
    root, first, second = repository
    grpc_port = free_port()
    arguments = ("--repository", str(root), "--versions", "all", "--grpc-port", str(grpc_port))
    with running_server(*arguments) as (url, _):
        client = http.InferenceServerClient(url=url.removeprefix("http://"))
        assert client.is_model_ready("m", "1") and client.is_model_ready("m", "2") and client.is_model_ready("m")
        assert client.get_model_metadata("m")["versions"] == ["1", "2"]
        assert client.get_model_metadata("m", "1")["name"] == "m"
        np.testing.assert_array_equal(_probabilities(client, "1"), _expected(first))
        np.testing.assert_array_equal(_probabilities(client, "2"), _expected(second))
        np.testing.assert_array_equal(_probabilities(client), _expected(second))  # unversioned: the latest
        assert not np.array_equal(_expected(first), _expected(second))
        answer = client.infer("m", _inputs(), model_version="1").get_response()
        assert answer["model_version"] == "1"
        with pytest.raises(InferenceServerException, match="no version '7'"):
            _probabilities(client, "7")
        index = client.get_model_repository_index()
        assert [(e["name"], e["version"], e["state"]) for e in index] == [("m", "1", "READY"), ("m", "2", "READY")]
        stats = client.get_inference_statistics("m", "1")["model_stats"][0]
        assert stats["version"] == "1" and stats["inference_count"] == 2  # the two infers of version 1
        assert stats["inference_stats"]["success"]["count"] == 2 and stats["inference_stats"]["success"]["ns"] > 0
        assert client.get_inference_statistics("m", "2")["model_stats"][0]["inference_stats"]["fail"]["count"] == 0
        samples = scrape(url)
        key = ("logreg_inference_requests_total", (("model", "m"), ("outcome", "success"), ("version", "2")))
        assert samples[key] == 2  # versioned 2, and unversioned (the latest)

        grpc = pytest.importorskip("tritonclient.grpc")
        remote = grpc.InferenceServerClient(url=f"127.0.0.1:{grpc_port}")
        assert remote.is_model_ready("m", "1")
        features = grpc.InferInput("features", [1, 2], "FP32")
        features.set_data_from_numpy(ROW_NUMERIC)
        categories = grpc.InferInput("categories", [1, 1], "BYTES")
        categories.set_data_from_numpy(ROW_TEXT)
        result = remote.infer("m", [features, categories], model_version="1")
        np.testing.assert_array_equal(result.as_numpy("probabilities"), _expected(first))
        assert len(remote.get_model_repository_index().models) == 2
        assert remote.get_inference_statistics("m", "1").model_stats[0].inference_count == 3


def test_the_latest_policy_serves_the_highest_version_and_a_list_serves_those(repository):
    root, first, _ = repository
    with running_server("--repository", str(root)) as (url, _):
        client = http.InferenceServerClient(url=url.removeprefix("http://"))
        assert client.get_model_metadata("m")["versions"] == ["2"]
        assert not client.is_model_ready("m", "1")
    with running_server("--repository", str(root), "--versions", "1") as (url, _):
        client = http.InferenceServerClient(url=url.removeprefix("http://"))
        np.testing.assert_array_equal(_probabilities(client), _expected(first))


def test_unload_and_load_through_tritons_client(repository):
    root, _, second = repository
    with running_server("--repository", str(root)) as (url, _):
        client = http.InferenceServerClient(url=url.removeprefix("http://"))
        client.unload_model("m")
        assert not client.is_model_ready("m")
        with pytest.raises(InferenceServerException, match="is not loaded"):
            _probabilities(client)
        assert client.get_model_repository_index()[0]["reason"] == "unloaded"
        client.load_model("m")
        np.testing.assert_array_equal(_probabilities(client), _expected(second))
        with pytest.raises(InferenceServerException, match="no model 'nope'"):
            client.load_model("nope")


def test_an_unload_lets_a_request_in_flight_finish(repository):
    """A request waiting for its batch (two seconds) when the model is unloaded is answered by its version."""
    root, _, second = repository
    arguments = ("--repository", str(root), "--max-batch-size", "64", "--max-batch-delay-us", "2000000")
    with running_server(*arguments) as (url, _):

        def client():  # one per thread: a tritonclient HTTP client (gevent) belongs to the thread that made it
            return http.InferenceServerClient(url=url.removeprefix("http://"))

        answers = []
        flight = threading.Thread(target=lambda: answers.append(_probabilities(client())))
        flight.start()
        time.sleep(0.6)  # the first request is in: it waits two seconds for its batch
        here = client()
        here.unload_model("m")
        flight.join(10)
        np.testing.assert_array_equal(answers[0], _expected(second))
        with pytest.raises(InferenceServerException, match="is not loaded"):
            _probabilities(here)


def test_hot_reload_replaces_the_model_20_times_under_load_with_no_failed_request(tmp_path):
    """A client sends requests without pause while version 1's files are replaced 20 times (alternating two models):
    no request fails, every answer is exactly one of the two models' answers, and each swap is seen."""
    first, second = two_versions()
    _place(first, tmp_path / "m" / "1")
    expected = [_expected(first), _expected(second)]
    with running_server("--repository", str(tmp_path), "--poll", "0.05") as (url, process):
        client = http.InferenceServerClient(url=url.removeprefix("http://"))
        answers, failures, stop = [], [], threading.Event()

        def loop():
            own = http.InferenceServerClient(url=url.removeprefix("http://"))
            while not stop.is_set():
                try:
                    answers.append(_probabilities(own))
                except Exception as exc:  # a failure of any kind is what the test counts
                    failures.append(repr(exc))

        thread = threading.Thread(target=loop)
        thread.start()
        try:
            for swap in range(20):
                source = second if swap % 2 == 0 else first
                _place(source, tmp_path / "m" / "1")
                deadline = time.monotonic() + 10
                while not np.array_equal(_probabilities(client), expected[(swap + 1) % 2]):
                    assert time.monotonic() < deadline, f"swap {swap} not served after 10 s: {process.log()[-2000:]}"
                    time.sleep(0.01)
        finally:
            stop.set()
            thread.join(10)
    assert failures == []
    assert len(answers) > 100
    assert all(np.array_equal(a, expected[0]) or np.array_equal(a, expected[1]) for a in answers)


def test_a_corrupt_or_failing_replacement_is_refused_and_the_old_version_keeps_serving(repository):
    root, first, second = repository
    shutil.rmtree(root / "m" / "2")
    with running_server("--repository", str(root), "--poll", "0.05") as (url, process):
        client = http.InferenceServerClient(url=url.removeprefix("http://"))
        (root / "m" / "1" / "model.onnx").write_bytes(b"not an onnx file")
        deadline = time.monotonic() + 10
        while "refused" not in client.get_model_repository_index()[0]["reason"]:
            assert time.monotonic() < deadline, process.log()[-2000:]
            time.sleep(0.05)
        np.testing.assert_array_equal(_probabilities(client), _expected(first))
        assert "model m version 1: refused" in process.log()
        # a new version whose test vectors fail: not ready, and the unversioned calls stay on version 1
        (root / "m" / "2").mkdir()
        shutil.copy(second, root / "m" / "2" / "model.onnx")
        vectors = json.loads(second.with_name("model.testvectors.json").read_text())
        vectors["cases"][0]["probabilities"][0] += 0.01
        (root / "m" / "2" / "model.testvectors.json").write_text(json.dumps(vectors))
        while not any(e["version"] == "2" for e in client.get_model_repository_index()):
            assert time.monotonic() < deadline + 10, process.log()[-2000:]
            time.sleep(0.05)
        index = {e["version"]: e for e in client.get_model_repository_index()}
        assert index["2"]["state"] == "UNAVAILABLE" and "test vectors failed" in index["2"]["reason"]
        assert not client.is_model_ready("m", "2")
        np.testing.assert_array_equal(_probabilities(client), _expected(first))
        assert scrape(url)[("logreg_model_load_failures_total", ())] == 2


def test_a_repository_that_is_not_one_is_refused_in_one_line(tmp_path):
    from click.testing import CliRunner

    from logreg_onnx.cli import main as cli

    result = CliRunner().invoke(cli, ["serve", "--repository", str(tmp_path)])
    assert result.exit_code == 2
    assert "no model found; expected ROOT/NAME/VERSION/model.onnx" in result.output
    result = CliRunner().invoke(cli, ["serve", "--repository", str(tmp_path), "--versions", "0"])
    assert result.exit_code == 2 and "version policy" in result.output
    (tmp_path / "m" / "1").mkdir(parents=True)
    shutil.copy(two_versions()[0], tmp_path / "m" / "1" / "model.onnx")
    result = CliRunner().invoke(cli, ["serve", "--repository", str(tmp_path), "--grpc-port", "9", "--workers", "2"])
    assert result.exit_code == 2 and "the gRPC service runs in one process" in result.output


def test_a_token_is_needed_and_a_public_address_without_one_is_refused(repository, tmp_path):
    from click.testing import CliRunner

    from logreg_onnx.cli import main as cli

    root, _, second = repository
    result = CliRunner().invoke(cli, ["serve", "--repository", str(root), "--host", "0.0.0.0"])
    assert result.exit_code == 2 and "--allow-unauthenticated" in result.output
    token = tmp_path / "token"
    token.write_text("s3cret-token-of-enough-length\n")
    with running_server("--repository", str(root), "--token-file", str(token)) as (url, _):
        with urllib.request.urlopen(f"{url}/v2/health/ready", timeout=5) as answer:  # health: no token
            assert answer.status == 200
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(f"{url}/v2/models/m", timeout=5)
        assert caught.value.code == 401 and "Bearer" in json.loads(caught.value.read())["error"]
        client = http.InferenceServerClient(url=url.removeprefix("http://"))
        headers = {"Authorization": "Bearer s3cret-token-of-enough-length"}
        outputs = [http.InferRequestedOutput("probabilities")]
        result = client.infer("m", _inputs(), outputs=outputs, headers=headers)
        np.testing.assert_array_equal(result.as_numpy("probabilities"), _expected(second))


def _post_infer(url: str, headers: dict | None = None) -> tuple[int, dict, dict]:
    body = json.dumps(
        {
            "id": "q1",
            "inputs": [
                {"name": "features", "shape": [1, 2], "datatype": "FP32", "data": [0.3, 4.0]},
                {"name": "categories", "shape": [1, 1], "datatype": "BYTES", "data": ["red"]},
            ],
            "outputs": [{"name": "probabilities"}],  # label and probabilities only: the batched session
        }
    ).encode()
    request = urllib.request.Request(
        f"{url}/v2/models/m/infer", data=body, headers={"Content-Type": "application/json", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, dict(answer.headers), json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read())


def test_past_max_queue_a_request_gets_503_at_once_with_retry_after(repository):
    """One request waits for its batch (two seconds) and holds the only place: the next is refused at once."""
    root, _, _ = repository
    arguments = ("--repository", str(root), "--max-batch-size", "64", "--max-batch-delay-us", "2000000")
    with running_server(*arguments, "--max-queue", "1") as (url, _):
        answers = []
        first = threading.Thread(target=lambda: answers.append(_post_infer(url)))
        first.start()
        time.sleep(0.6)  # the first request is in: it waits two seconds for its batch
        started = time.monotonic()
        status, headers, document = _post_infer(url)
        refused_in = time.monotonic() - started
        first.join(10)
        assert status == 503 and headers["retry-after"] == "1" and "busy" in document["error"]
        assert refused_in < 1.0  # at once, not after the batch
        assert answers[0][0] == 200
        assert scrape(url)[("logreg_requests_shed_total", ())] == 1


def test_max_queue_sheds_requests_that_arrive_together_without_batching(repository):
    """64 infer requests begun in one turn of the event loop (the app in process, no batching): a one-row run awaits
    nothing, so only the admission's yield lets them be counted together. Past --max-queue 2 they get 503 with
    Retry-After at once, the others their answer, the shed count equals the 503s, and none stays counted in
    progress. (Over sockets the same depends on how many requests one loop turn reads: not a test that can be
    made deterministic.)"""
    import asyncio

    from logreg_onnx.runtime.repository import Repository
    from logreg_onnx.runtime.server import Limits, create_app

    from .asgi import request

    root, _, second = repository
    app = create_app(Repository(root=root), Limits(max_queue=2))
    body = json.dumps(
        {
            "inputs": [
                {"name": "features", "shape": [1, 2], "datatype": "FP32", "data": [0.3, 4.0]},
                {"name": "categories", "shape": [1, 1], "datatype": "BYTES", "data": ["red"]},
            ],
            "outputs": [{"name": "probabilities"}],
        }
    ).encode()

    async def together():
        headers = [[] for _ in range(64)]
        calls = [request(app, "POST", "/v2/models/m/infer", body, headers[k]) for k in range(64)]
        return await asyncio.gather(*calls), headers

    answers, headers = asyncio.run(together())
    statuses = [status for status, _ in answers]
    assert statuses.count(200) == 2 and statuses.count(503) == 62, statuses
    for (status, document), answer_headers in zip(answers, headers, strict=True):
        if status == 200:
            np.testing.assert_array_equal(np.float32(document["outputs"][0]["data"]), _expected(second).ravel())
        else:
            assert (b"retry-after", b"1") in answer_headers and "busy" in document["error"]
    admission = app.admission
    assert admission.shed == 62 and admission.active == 0


def test_a_body_trickled_slower_than_the_timeout_gets_408_and_others_are_served(repository):
    import socket

    root, _, _ = repository
    with running_server("--repository", str(root), "--request-timeout", "0.5") as (url, _):
        port = int(url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port)) as slow:
            slow.sendall(b"POST /v2/models/m/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n")
            slow.sendall(b"Content-Length: 500\r\n\r\n{")
            assert _post_infer(url)[0] == 200  # the slow client holds nothing
            slow.settimeout(5)
            answer = _whole_answer(slow)
        assert answer.startswith(b"HTTP/1.1 408") and b"--request-timeout" in answer


def _whole_answer(connection) -> bytes:
    """An HTTP answer's head and its Content-Length of body: the two may come in separate reads."""
    answer = b""
    while b"\r\n\r\n" not in answer or len(answer.partition(b"\r\n\r\n")[2]) < _content_length(answer):
        chunk = connection.recv(4096)
        if not chunk:
            break
        answer += chunk
    return answer


def _content_length(answer: bytes) -> int:
    for line in answer.partition(b"\r\n\r\n")[0].split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


def test_tls_and_the_payload_log(repository, tmp_path):
    """A throwaway self-signed certificate (the cryptography package, which the dev tools pull in) serves REST over
    TLS; --log-payloads writes one JSON line per answered request."""
    x509 = pytest.importorskip("cryptography.x509")
    import datetime
    import ssl

    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(__import__("ipaddress").ip_address("127.0.0.1"))]), False
        )
        .sign(key, hashes.SHA256())
    )
    cert, keyfile = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    keyfile.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    root, _, second = repository
    log = tmp_path / "payloads.jsonl"
    port = free_port()
    import subprocess
    import sys

    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "logreg_onnx",
            "serve",
            "--repository",
            str(root),
            "--port",
            str(port),
            "--ssl-certfile",
            str(cert),
            "--ssl-keyfile",
            str(keyfile),
            "--log-payloads",
            str(log),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    context = ssl.create_default_context(cafile=str(cert))
    url = f"https://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{url}/v2/health/ready", timeout=1, context=context) as answer:
                    assert answer.status == 200
                    break
            except OSError:
                assert time.monotonic() < deadline and process.poll() is None
                time.sleep(0.2)
        body = json.dumps(
            {
                "id": "t1",
                "inputs": [
                    {"name": "features", "shape": [1, 2], "datatype": "FP32", "data": [0.3, 4.0]},
                    {"name": "categories", "shape": [1, 1], "datatype": "BYTES", "data": ["red"]},
                ],
            }
        ).encode()
        request = urllib.request.Request(
            f"{url}/v2/models/m/infer", data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=5, context=context) as answer:
            document = json.loads(answer.read())
        probabilities = next(o for o in document["outputs"] if o["name"] == "probabilities")["data"]
        np.testing.assert_array_equal(np.float32(probabilities), _expected(second).ravel())
        # the same row in Triton's binary tensors (a missing value this time): logged as decoded, like JSON
        binary = http.InferenceServerClient(url=f"127.0.0.1:{port}", ssl=True, ssl_context_factory=lambda: context)
        features = http.InferInput("features", [1, 2], "FP32")
        features.set_data_from_numpy(np.array([[np.nan, 4.0]], np.float32), binary_data=True)
        categories = http.InferInput("categories", [1, 1], "BYTES")
        categories.set_data_from_numpy(ROW_TEXT, binary_data=True)
        binary.infer("m", [features, categories], request_id="t2")
    finally:
        process.terminate()
        process.wait(15)
    first, second_line = (json.loads(line) for line in log.read_text().splitlines())
    assert (first["request_id"], first["model"], first["version"], first["endpoint"]) == ("t1", "m", "2", "infer")
    np.testing.assert_array_equal(np.float32(first["inputs"]["features"]), np.float32([[0.3, 4.0]]))
    assert first["inputs"]["categories"] == [["red"]] and first["latency_ms"] > 0
    assert first["outputs"]["probabilities"] == [probabilities]
    assert second_line["request_id"] == "t2" and second_line["inputs"]["features"] == [[None, 4.0]]
    assert second_line["inputs"]["categories"] == ROW_TEXT.astype(str).tolist()
