"""Generated requests against the real server: hypothesis builds V2 infer and predict requests, valid ones and broken
ones, and checks every answer (a valid one equals the Python runtime's; a broken one is a JSON 4xx); schemathesis
drives every operation of the served OpenAPI document. Neither may see a 5xx."""

from __future__ import annotations

import http.client
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
hypothesis = pytest.importorskip("hypothesis")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from logreg_onnx import runtime  # noqa: E402

from .serving import EXAMPLE, PENGUINS, format3_model, requests_by_status, running_server, scrape  # noqa: E402

MODELS = {"example": runtime.load(EXAMPLE), "penguins": runtime.load(PENGUINS)}
FLOAT32_MAX = float(np.finfo(np.float32).max)
BINARY_DTYPES = {"FP32": "<f4", "FP64": "<f8", "INT32": "<i4", "INT64": "<i8", "UINT8": "u1"}


@pytest.fixture(scope="module")
def server():
    arguments = ["--model", f"example={EXAMPLE}", "--model", f"penguins={PENGUINS}", "--max-rows", "50"]
    with running_server(*arguments) as (url, process):
        yield url, process
        client = _clients.pop(url, None)
        if client is not None:
            client.connection.close()
        counts = requests_by_status(scrape(url))
        assert not [status for status in counts if status.startswith("5")], (counts, process.log()[-3000:])


class Client:
    """One keep-alive connection, reopened when the server closes it."""

    def __init__(self, url: str) -> None:
        self.host, self.port = url.removeprefix("http://").split(":")
        self.connection = http.client.HTTPConnection(self.host, int(self.port), timeout=10)

    def post(self, path: str, body: bytes, headers: dict) -> tuple[int, dict, bytes, dict]:
        for attempt in (0, 1):
            try:
                self.connection.request("POST", path, body, {"Content-Type": "application/json", **headers})
                answer = self.connection.getresponse()
                raw = answer.read()
                return answer.status, dict(answer.getheaders()), raw, {}
            except (http.client.HTTPException, ConnectionError):
                self.connection.close()
                self.connection = http.client.HTTPConnection(self.host, int(self.port), timeout=10)
                if attempt:
                    raise
        raise AssertionError("unreachable")


def _numbers(datatype: str, missing_ok: bool):
    if datatype.startswith("FP"):
        bound = 6e4 if datatype == "FP16" else 1e6  # FP16 ends at 65504
        values = st.floats(-bound, bound, allow_nan=False, width=32 if datatype == "FP32" else 64)
    elif datatype == "UINT8":
        values = st.integers(0, 255)
    else:
        values = st.integers(-(2**31), 2**31 - 1)
    return st.one_of(values, st.none()) if missing_ok else values


@st.composite
def infer_requests(draw):
    """(model name, body, headers, expected (numeric, categories) or None when the request is broken on purpose)."""
    name = draw(st.sampled_from(sorted(MODELS)))
    model = MODELS[name]
    rows = draw(st.integers(1, 4))
    n_numeric, n_categorical = len(model.numeric_names), len(model.categorical_names)
    binary = draw(st.booleans())
    datatype = draw(st.sampled_from(sorted(BINARY_DTYPES) if binary else ["FP32", "FP64", "FP16", "INT32"]))
    missing_ok = model.imputes and datatype.startswith("FP")
    flat = draw(st.lists(_numbers(datatype, missing_ok), min_size=rows * n_numeric, max_size=rows * n_numeric))
    numeric = np.array([np.nan if v is None else v for v in flat], dtype=np.float64).reshape(rows, n_numeric)
    if datatype == "FP16":
        numeric = numeric.astype(np.float16)
    texts = []
    for spec in model.columns:
        if spec.kind == "categorical":
            texts.append(st.one_of(st.sampled_from([*spec.levels, ""]), st.text(max_size=6)))
    categories = np.array(
        [[draw(strategy) for strategy in texts] for _ in range(rows)] if texts else np.zeros((rows, 0)), dtype=object
    )
    inputs, chunks = [{"name": "features", "shape": [rows, n_numeric], "datatype": datatype}], []
    if binary:
        raw = numeric.astype(BINARY_DTYPES[datatype]).tobytes()
        inputs[0]["parameters"] = {"binary_data_size": len(raw)}
        chunks.append(raw)
    else:
        inputs[0]["data"] = [None if np.isnan(v) else float(v) for v in numeric.ravel().tolist()]
        if datatype == "INT32":
            inputs[0]["data"] = [int(v) for v in numeric.ravel()]
    if n_categorical:
        inputs.append({"name": "categories", "shape": [rows, n_categorical], "datatype": "BYTES"})
        if binary:
            raw = b"".join(len(t.encode()).to_bytes(4, "little") + t.encode() for t in categories.ravel())
            inputs[1]["parameters"] = {"binary_data_size": len(raw)}
            chunks.append(raw)
        else:
            inputs[1]["data"] = categories.ravel().tolist()
    document = {"id": draw(st.text(max_size=8)), "inputs": inputs}
    if draw(st.booleans()):
        document["outputs"] = [{"name": "probabilities", "parameters": {"binary_data": draw(st.booleans())}}]
    mutation = draw(st.sampled_from([None, None, None, "shape", "datatype", "drop", "type", "header", "cut"]))
    headers = {}
    if mutation == "shape":
        inputs[0]["shape"] = [rows + draw(st.integers(1, 3)), n_numeric]
    elif mutation == "datatype":
        inputs[0]["datatype"] = draw(st.sampled_from(["BYTES", "BOOL", "FP8", "", "fp32"]))
    elif mutation == "drop":
        del inputs[0][draw(st.sampled_from(["name", "shape", "datatype"]))]
    elif mutation == "type":
        wrong = {
            "inputs": [1, "x", None, [1], {"a": 1}, []],
            "id": [1, [1], {"a": 1}],
            "outputs": [1, "x", [1], {"a": 1}, [{"name": "p"}]],
            "parameters": [1, "x", [1]],
        }
        key = draw(st.sampled_from(sorted(wrong)))
        document[key] = draw(st.sampled_from(wrong[key]))
    head = json.dumps(document).encode()
    body = head + b"".join(chunks)
    if chunks:
        headers["Inference-Header-Content-Length"] = str(len(head))
    if mutation == "header":
        headers["Inference-Header-Content-Length"] = str(draw(st.sampled_from([0, -1, len(body) + 1, "x"])))
    elif mutation == "cut":
        body = body[: draw(st.integers(0, len(body) - 1))]
    expected = None if mutation else (numeric.astype(np.float32), categories)
    return name, body, headers, expected, document


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(request=infer_requests())
def test_generated_infer_requests(server, request):
    name, body, headers, expected, document = request
    status, answer_headers, raw, _ = _client(server).post(f"/v2/models/{name}/infer", body, headers)
    assert status < 500, (raw[:300], server[1].log()[-3000:])
    if expected is None:
        assert 400 <= status < 500 and json.loads(raw)["error"], raw[:300]
        return
    assert status == 200, raw[:300]
    numeric, categories = expected
    model = MODELS[name]
    labels, probabilities = model.run_inputs(numeric, categories if len(model.categorical_names) else None)
    length = answer_headers.get("inference-header-content-length")
    head = json.loads(raw[: int(length)] if length else raw)
    assert head["id"] == document["id"]
    got = {}
    for output in head["outputs"]:
        if "data" in output:
            got[output["name"]] = np.array(output["data"]).reshape(output["shape"])
        else:
            size = output["parameters"]["binary_data_size"]
            offset = int(length) + sum(o["parameters"]["binary_data_size"] for o in head["outputs"][: len(got)])
            dtype = "<f4" if output["datatype"] == "FP32" else "<i8"
            got[output["name"]] = np.frombuffer(raw[offset : offset + size], dtype).reshape(output["shape"])
    np.testing.assert_array_equal(got["probabilities"], probabilities)
    if "label" in got:
        np.testing.assert_array_equal(got["label"], labels)


_clients: dict = {}


def _client(server) -> Client:
    url, _ = server
    if url not in _clients:
        _clients[url] = Client(url)
    return _clients[url]


cells = st.one_of(
    st.none(), st.floats(allow_nan=False, allow_infinity=False), st.integers(-1000, 1000), st.text(max_size=5)
)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(sorted(MODELS)),
    rows=st.lists(
        st.one_of(st.lists(cells, max_size=32), st.dictionaries(st.text(max_size=12), cells, max_size=8)), max_size=3
    ),
    named=st.booleans(),
)
def test_generated_predict_requests(server, name, rows, named):
    """Arbitrary rows (right or wrong width, names, kinds) answer 200 exactly when the Python runtime accepts them."""
    model = MODELS[name]
    if named and rows:  # half the time, rows that use the model's own feature names
        rows = [
            dict(zip(model.feature_names, row if isinstance(row, list) else row.values(), strict=False)) for row in rows
        ]
    status, _, raw, _ = _client(server).post(f"/v2/models/{name}/predict", json.dumps({"instances": rows}).encode(), {})
    assert status < 500, raw[:300]
    try:
        _, expected = model.run(rows) if rows else (None, None)
    except ValueError:
        expected = None
    if expected is None:
        assert 400 <= status < 500, raw[:300]
        return
    assert status == 200, raw[:300]
    answer = json.loads(raw)["predictions"]
    got = np.array([[p["probabilities"][c] for c in model.classes] for p in answer])
    np.testing.assert_array_equal(got, expected)


def test_schemathesis_finds_no_server_error_and_no_schema_mismatch(tmp_path: Path):
    """Every operation of the served OpenAPI document, with schemathesis's checks: no 5xx, statuses, content types and
    bodies as documented, invalid requests refused. One model served, so that /predict is reachable too."""
    if shutil.which("schemathesis", path=str(Path(sys.executable).parent)) is None:
        pytest.skip("schemathesis is not installed (the dev extra has it)")
    config = tmp_path / "schemathesis.toml"
    config.write_text('[parameters]\n"path.name" = "penguins"\n"path.version" = "1"\n')
    with running_server(str(PENGUINS), "--name", "penguins") as (url, _):
        before = requests_by_status(scrape(url))
        run = subprocess.run(
            [
                str(Path(sys.executable).parent / "schemathesis"),
                "--config-file",
                str(config),
                "run",
                f"{url}/openapi.json",
                "--checks",
                "all",
                # positive_data_acceptance: a schema-valid request may still not fit the model (its column count);
                # the auth checks: the server has no authentication
                "--exclude-checks",
                "positive_data_acceptance,ignored_auth,object_level_authorization",
                # unloading the model would leave every later operation a 404 (test_serve_repository.py tests it)
                "--exclude-operation-id",
                "repositoryUnload",
                "--max-examples",
                "100",
                "--seed",
                "7",
                "--workers",
                "1",
            ],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            timeout=400,
        )
        after = requests_by_status(scrape(url))
    assert run.returncode == 0, run.stdout[-4000:]
    sent = {status: after[status] - before.get(status, 0) for status in after}
    assert not [status for status in sent if status.startswith("5")], sent
    assert sum(sent.values()) > 1000, sent


# -- format 3: generated output selections and explain requests ------------------------------------------------------
@pytest.fixture(scope="module")
def format3_server():
    """A server of two format 3 models exported here (binary with intervals, multinomial without): (URL, process,
    {name: (loaded model, training rows)})."""
    pytest.importorskip("torch")
    models = {kind: format3_model(kind) for kind in ("binary", "multinomial")}
    arguments = [argument for kind, (path, _) in models.items() for argument in ("--model", f"{kind}={path}")]
    with running_server(*arguments, "--max-rows", "50") as (url, process):
        yield url, process, {kind: (runtime.load(path), rows) for kind, (path, rows) in models.items()}
        client = _clients.pop(url, None)
        if client is not None:
            client.connection.close()
        counts = requests_by_status(scrape(url))
        assert not [status for status in counts if status.startswith("5")], (counts, process.log()[-3000:])


@st.composite
def output_selections(draw, names: tuple[str, ...]):
    """An infer request's ``outputs`` (None: left out) and ``binary_data_output``: some of the model's outputs in any
    order, each JSON or binary, now and then a name the model does not have."""
    default_binary = draw(st.booleans())
    if draw(st.integers(0, 4)) == 0:
        return None, default_binary
    chosen = draw(st.lists(st.sampled_from([*names, "logit_se", "probability_upper", "nope"]), min_size=1, max_size=5))
    outputs = []
    for name in chosen:
        flag = draw(st.sampled_from([None, True, False]))
        outputs.append({"name": name} | ({} if flag is None else {"parameters": {"binary_data": flag}}))
    return outputs, default_binary


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_generated_output_selections_of_format3_models(format3_server, data):
    """Any selection of a format 3 model's outputs, JSON or binary: each answered output equals the Python runtime's
    (run_outputs), in the order asked (all of them when none is named); an unknown name is a 400 listing them."""
    url, _, models = format3_server
    client = _client((url, None))
    kind = data.draw(st.sampled_from(sorted(models)))
    model, rows = models[kind]
    names = tuple(o.name for o in model.outputs)
    sample = data.draw(st.lists(st.sampled_from(rows), min_size=1, max_size=5))
    numeric = np.array([[np.nan if r[c] is None else r[c] for c in model.numeric_names] for r in sample], np.float32)
    categories = np.array([[r[c] for c in model.categorical_names] for r in sample], dtype=object)
    inputs = [
        {
            "name": "features",
            "shape": list(numeric.shape),
            "datatype": "FP32",
            "data": [None if v != v else v for v in numeric.ravel().tolist()],
        }
    ]
    if model.categorical_names:
        inputs.append({"name": "categories", "shape": list(categories.shape), "datatype": "BYTES"})
        inputs[1]["data"] = categories.ravel().tolist()
    outputs, default_binary = data.draw(output_selections(names))
    document = {"inputs": inputs, "parameters": {"binary_data_output": default_binary}}
    if outputs is not None:
        document["outputs"] = outputs
    status, answer_headers, raw, _ = client.post(f"/v2/models/{kind}/infer", json.dumps(document).encode(), {})
    unknown = [o["name"] for o in outputs or () if o["name"] not in names]
    if unknown:
        assert status == 400, raw[:300]
        assert json.loads(raw)["error"] == f"unknown output {unknown[0]!r}; this model's outputs are {', '.join(names)}"
        return
    assert status == 200, raw[:300]
    asked = [o["name"] for o in outputs] if outputs is not None else list(names)
    expected = model.run_outputs(numeric, categories if model.categorical_names else None, list(dict.fromkeys(asked)))
    length = answer_headers.get("inference-header-content-length")
    head = json.loads(raw[: int(length)] if length else raw)
    assert [o["name"] for o in head["outputs"]] == asked
    offset = int(length) if length else 0
    for output in head["outputs"]:
        want = expected[output["name"]]
        assert output["datatype"] == ("INT64" if want.dtype == np.int64 else "FP32")
        assert output["shape"] == list(want.shape)
        if "data" in output:
            got = np.array(output["data"], dtype=want.dtype).reshape(output["shape"])
        else:
            size = output["parameters"]["binary_data_size"]
            got = np.frombuffer(raw[offset : offset + size], want.dtype.newbyteorder("<")).reshape(output["shape"])
            offset += size
        np.testing.assert_array_equal(got, want)
    assert offset == (len(raw) if length else 0)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_generated_explain_requests(format3_server, data):
    """/predict with any ``explain`` value: a whole number from 1 to 1000 answers Model.explain's explanations; null
    answers without; anything else is a 400."""
    url, _, models = format3_server
    client = _client((url, None))
    kind = data.draw(st.sampled_from(sorted(models)))
    model, rows = models[kind]
    sample = data.draw(st.lists(st.sampled_from(rows), min_size=1, max_size=4))
    top = data.draw(
        st.one_of(st.integers(1, 6), st.integers(-3, 1200), st.none(), st.booleans(), st.floats(), st.text(max_size=3))
    )
    body = json.dumps({"instances": sample, "explain": top}).encode()
    status, _, raw, _ = client.post(f"/v2/models/{kind}/predict", body, {})
    answer = json.loads(raw)
    valid = top is None or (type(top) is int and 1 <= top <= 1000)
    if not valid:
        assert status == 400 and answer["error"].startswith('"explain" must be a whole number from 1 to 1000'), raw
        return
    assert status == 200, raw[:300]
    if top is None:
        assert all(set(p) == {"label", "probabilities"} for p in answer["predictions"])
        return
    expected = model.explain(sample, top=top)
    assert answer["predictions"] == [
        {
            "label": row["label"],
            "probabilities": row["probabilities"],
            "explain": {k: v for k, v in row.items() if k not in ("label", "probabilities")},
        }
        for row in expected
    ]
