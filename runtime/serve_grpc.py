"""``logreg serve --grpc-port``: the Open Inference Protocol's gRPC service (``inference.GRPCInferenceService``, with
Triton's statistics and model repository extensions) on grpcio's asyncio server, answering what REST answers.

It shares with REST (runtime/server.py) the repository, the admission count, the model runs and statistics
(runtime/serve_infer.py) and the tensor checks (runtime/v2.py), so a bad tensor gets the same words over both. Errors
are gRPC statuses with a one-line message: a bad request INVALID_ARGUMENT, an unknown model or version NOT_FOUND, a
version not ready or a busy server UNAVAILABLE, too many rows RESOURCE_EXHAUSTED, a missing or wrong bearer token
UNAUTHENTICATED; a bug of ours INTERNAL, its traceback logged, and the server keeps serving.
"""

from __future__ import annotations

import asyncio
import functools
import hmac
import logging
import time

import grpc
import numpy as np

from . import contract, v2
from .errors import InputError
from .grpc import inference_pb2 as pb
from .grpc import inference_pb2_grpc
from .repository import Repository, RepositoryError, Served
from .serve_infer import Admission, Busy, Limits, TooManyRows, check_rows, run_model

logger = logging.getLogger(__name__)
SERVER_NAME = "logreg-onnx"
EXTENSIONS = ["model_repository", "statistics"]
PLATFORM = "onnxruntime_onnx"
# the InferTensorContents field of each datatype (FP16 has none: it travels in raw_input_contents)
CONTENTS = {
    "BOOL": "bool_contents",
    "INT8": "int_contents",
    "INT16": "int_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "UINT8": "uint_contents",
    "UINT16": "uint_contents",
    "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
    "BYTES": "bytes_contents",
}
# RepositoryError's HTTP statuses as gRPC codes
CODES = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    404: grpc.StatusCode.NOT_FOUND,
    413: grpc.StatusCode.RESOURCE_EXHAUSTED,
    503: grpc.StatusCode.UNAVAILABLE,
}


class RPCError(Exception):
    """An answer other than OK: its gRPC status code and what to tell the client."""

    def __init__(self, code: grpc.StatusCode, detail: str) -> None:
        super().__init__(detail)
        self.code, self.detail = code, detail


def grpc_server(
    repository: Repository,
    limits: Limits,
    admission: Admission,
    *,
    host: str,
    port: int,
    token: bytes | None = None,
    ssl: tuple[bytes, bytes] | None = None,
    metrics=None,
    payloads=None,
) -> grpc.aio.Server:
    """The gRPC server of ``repository`` on ``host:port``, not started: the caller awaits ``server.start()`` on the
    running event loop (the one REST runs on, as the repository and the admission count are not thread-safe) and
    ``server.stop(grace)`` at shutdown. ``token``: every call but ServerLive, ServerReady and ModelReady needs the
    metadata ``authorization: Bearer <token>``. ``ssl``: (private key, certificate chain), PEM. ``metrics``: the REST
    app's (runtime/serve_metrics.py), which counts every call as ``grpc METHOD`` with its status code's name;
    ``payloads``: the payload log, which gets every answered ModelInfer."""
    options = [
        ("grpc.max_receive_message_length", limits.max_body_bytes),
        ("grpc.max_send_message_length", -1),
        ("grpc.so_reuseport", 0),  # a port in use is an error, not shared with the other server
    ]
    server = grpc.aio.server(options=options)
    inference_pb2_grpc.add_GRPCInferenceServiceServicer_to_server(
        InferenceServicer(repository, limits, admission, token, metrics, payloads), server
    )
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        if ssl is not None:
            server.add_secure_port(address, grpc.ssl_server_credentials([ssl]))
        else:
            server.add_insecure_port(address)
    except RuntimeError as exc:
        raise OSError(f"cannot serve gRPC on {address}: {exc} (is the port in use?)") from None
    return server


def _rpc(*, needs_token: bool = True):
    """A servicer method whose exceptions become gRPC statuses (:func:`_status`), behind the token when it is set."""

    def decorate(method):
        endpoint = f"grpc {method.__name__}"  # its label in the request metrics

        @functools.wraps(method)
        async def handler(self: InferenceServicer, request, context: grpc.aio.ServicerContext):
            started = time.perf_counter()
            code, rows = grpc.StatusCode.OK, 0
            try:
                if needs_token:
                    self.authorize(context)
                response = await method(self, request, context)
                if isinstance(response, pb.ModelInferResponse) and response.outputs:
                    rows = response.outputs[0].shape[0]
                return response
            except grpc.aio.AbortError:  # aborted by the method itself, with its own code
                code = context.code() or grpc.StatusCode.ABORTED
                raise
            except asyncio.CancelledError:  # the client cancelled, or its deadline passed
                code = grpc.StatusCode.CANCELLED
                raise
            except Exception as exc:
                code, message = _status(exc, method.__name__)
                await context.abort(code, message)
            finally:
                if self.metrics is not None:
                    self.observe(endpoint, request, code, time.perf_counter() - started, rows)

        return handler

    return decorate


def _status(exc: Exception, rpc: str) -> tuple[grpc.StatusCode, str]:
    if isinstance(exc, RPCError):
        code, message = exc.code, exc.detail
    elif isinstance(exc, RepositoryError):
        code, message = CODES.get(exc.status, grpc.StatusCode.UNKNOWN), exc.detail
    elif isinstance(exc, Busy):
        code, message = grpc.StatusCode.UNAVAILABLE, str(exc)
    elif isinstance(exc, TooManyRows):
        code, message = grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc)
    elif isinstance(exc, v2.ProtocolError | InputError):
        code, message = grpc.StatusCode.INVALID_ARGUMENT, str(exc)
    else:  # a bug of ours: logged with its traceback, answered like every other error
        logger.error("gRPC %s failed", rpc, exc_info=exc)
        code, message = grpc.StatusCode.INTERNAL, f"internal error ({type(exc).__name__}); the server log has details"
    return code, " ".join(message.splitlines())


class InferenceServicer(inference_pb2_grpc.GRPCInferenceServiceServicer):
    """The RPCs of runtime/grpc/inference.proto over one repository."""

    def __init__(
        self, repository: Repository, limits: Limits, admission: Admission, token: bytes | None, metrics, payloads
    ) -> None:
        self.repository, self.limits, self.admission = repository, limits, admission
        self.expected = b"Bearer " + token if token else None
        self.metrics, self.payloads = metrics, payloads

    def observe(self, endpoint: str, request, code: grpc.StatusCode, seconds: float, rows: int) -> None:
        """One call in the REST app's request metrics: the model a call names (or none), its status code's name."""
        name = getattr(request, "model_name", None) or getattr(request, "name", "")
        model = name if name in self.repository.slots else ("unknown" if name else "")
        self.metrics.observe(endpoint, model, code.name, seconds, rows)

    def authorize(self, context: grpc.aio.ServicerContext) -> None:
        if self.expected is None:
            return
        given = next((v for k, v in context.invocation_metadata() or () if k == "authorization"), "")
        given = given.encode() if isinstance(given, str) else given
        if not hmac.compare_digest(given, self.expected):
            why = "missing" if not given else "wrong"
            raise RPCError(
                grpc.StatusCode.UNAUTHENTICATED,
                f"unauthorized: the authorization metadata is {why}; send authorization: Bearer <token>",
            )

    # -- health and metadata ----------------------------------------------------------------------------------------
    @_rpc(needs_token=False)
    async def ServerLive(self, request, context):
        return pb.ServerLiveResponse(live=True)

    @_rpc(needs_token=False)
    async def ServerReady(self, request, context):
        return pb.ServerReadyResponse(ready=self.repository.ready())

    @_rpc(needs_token=False)
    async def ModelReady(self, request, context):
        try:
            entry = self.repository.find(request.name, request.version or None)
        except RepositoryError as exc:
            if exc.status != 503:
                raise
            return pb.ModelReadyResponse(ready=False)
        return pb.ModelReadyResponse(ready=entry.ready)

    @_rpc()
    async def ServerMetadata(self, request, context):
        from importlib import metadata

        try:
            version = metadata.version("logreg-onnx")
        except metadata.PackageNotFoundError:
            version = "unknown"
        return pb.ServerMetadataResponse(name=SERVER_NAME, version=version, extensions=EXTENSIONS)

    @_rpc()
    async def ModelMetadata(self, request, context):
        entry = self.repository.find(request.name, request.version or None)
        return model_metadata(entry, self.repository.versions(entry.name))

    # -- inference --------------------------------------------------------------------------------------------------
    @_rpc()
    async def ModelInfer(self, request, context):
        started = time.perf_counter_ns()
        entry = self.repository.resolve(request.model_name, request.model_version or None)
        ok = entered = False
        try:
            await self.admission.enter()
            entered = True
            tensors, outputs = decode(entry, request)
            rows = len(next(iter(tensors.values())))
            check_rows(rows, self.limits)
            numeric = tensors.get(contract.INPUT_NAME)
            if numeric is None:  # a model with categorical columns only
                numeric = np.zeros((rows, 0), np.float32)
            decoded = time.perf_counter_ns()
            results, queue_ns, infer_ns = await run_model(
                entry, numeric, tensors.get(contract.CATEGORIES_INPUT), outputs, tensors.get(contract.OFFSET_INPUT)
            )
            computed = time.perf_counter_ns()
            response = encode(entry, request.id, outputs, results)
            done = time.perf_counter_ns()
            phases = (decoded - started, infer_ns, done - computed)
            entry.stats.request(True, done - started, rows=rows, queue_ns=queue_ns, phases=phases)
            if self.payloads is not None:
                answered = {name: results[name] for name in outputs}
                self.payloads.write(entry, "grpc", request.id or None, tensors, answered, done - started)
            ok = True
            return response
        finally:
            if entered:
                self.admission.leave()
            if not ok:
                entry.stats.request(False, time.perf_counter_ns() - started)

    # -- statistics and model repository extensions ----------------------------------------------------------------
    @_rpc()
    async def ModelStatistics(self, request, context):
        documents = self.repository.statistics(request.name or None, request.version or None)
        return pb.ModelStatisticsResponse(model_stats=[_statistics(d) for d in documents])

    @_rpc()
    async def RepositoryIndex(self, request, context):
        models = [pb.RepositoryIndexResponse.ModelIndex(**e) for e in self.repository.index(request.ready)]
        return pb.RepositoryIndexResponse(models=models)

    @_rpc()
    async def RepositoryModelLoad(self, request, context):
        await self.repository.load(_model_name(request.model_name))
        return pb.RepositoryModelLoadResponse()

    @_rpc()
    async def RepositoryModelUnload(self, request, context):
        await self.repository.unload(_model_name(request.model_name))
        return pb.RepositoryModelUnloadResponse()


def _model_name(name: str) -> str:
    if not name:
        raise RPCError(grpc.StatusCode.INVALID_ARGUMENT, "model_name is empty; name the model to load or unload")
    return name


def model_metadata(entry: Served, versions: list[str]) -> pb.ModelMetadataResponse:
    """The V2 model metadata: the graph's inputs and every output of the graph (format 3: the explain outputs too),
    their shapes as the graph contract gives them."""
    model = entry.model
    tensor = pb.ModelMetadataResponse.TensorMetadata
    inputs = []
    if model.numeric_names:
        inputs.append(tensor(name=contract.INPUT_NAME, datatype="FP32", shape=[-1, len(model.numeric_names)]))
    if model.categorical_names:
        inputs.append(
            tensor(name=contract.CATEGORIES_INPUT, datatype="BYTES", shape=[-1, len(model.categorical_names)])
        )
    dims = contract.output_dims(len(model.classes), len(model.feature_names))
    outputs = [tensor(name=n, datatype=v2.OUTPUT_TYPES[n], shape=[-1, *dims[n]]) for n in entry.outputs]
    return pb.ModelMetadataResponse(
        name=entry.name, versions=versions or [entry.version], platform=PLATFORM, inputs=inputs, outputs=outputs
    )


def decode(entry: Served, request: pb.ModelInferRequest) -> tuple[dict[str, np.ndarray], list[str]]:
    """The graph's inputs of an infer request (checked as REST checks them, runtime/v2.py) and the outputs to answer:
    those the request names, or every output of the graph when it names none."""
    model = entry.model
    widths = v2.input_widths(len(model.numeric_names), len(model.categorical_names), model.offset_column is not None)
    if not request.inputs:
        raise v2.ProtocolError(f"the request has no inputs; this model takes {list(widths)}")
    raw = request.raw_input_contents
    if raw and len(raw) != len(request.inputs):
        raise v2.ProtocolError(
            f"raw_input_contents has {len(raw)} entries for {len(request.inputs)} inputs; give one per input, in the "
            "order of inputs"
        )
    tensors: dict[str, np.ndarray] = {}
    for index, tensor in enumerate(request.inputs):
        name, datatype, shape = tensor.name, tensor.datatype, list(tensor.shape)
        count = v2.check_input(name, datatype, shape, widths)
        if "shared_memory_region" in tensor.parameters:
            raise v2.ProtocolError(
                f"input {name!r}: this server has no shared memory; send the tensor in raw_input_contents"
            )
        if raw:
            if tensor.HasField("contents"):
                raise v2.ProtocolError(f"input {name!r} has contents and raw_input_contents; give one of them")
            values = v2.from_raw(name, datatype, raw[index], count)
        else:
            values = v2.from_contents(name, datatype, _typed_contents(name, datatype, tensor), count)
        v2.add_input(tensors, name, v2.as_input(name, datatype, values, shape))
    v2.check_inputs(tensors, widths)
    outputs = []
    for spec in request.outputs:
        v2.check_output(spec.name, entry.outputs)
        if "classification" in spec.parameters:
            raise v2.ProtocolError(
                f"output {spec.name!r}: this server has no classification extension; ask for label and probabilities"
            )
        outputs.append(spec.name)
    return tensors, outputs or list(entry.outputs)


def _typed_contents(name: str, datatype: str, tensor):
    field = CONTENTS.get(datatype)
    if field is None:
        raise v2.ProtocolError(f"input {name!r}: {datatype} has no typed contents; send it in raw_input_contents")
    if not tensor.HasField("contents"):
        raise v2.ProtocolError(f"input {name!r} has no contents (nor raw_input_contents)")
    given = [descriptor.name for descriptor, _ in tensor.contents.ListFields()]
    if given and given != [field]:
        raise v2.ProtocolError(f"input {name!r}: datatype {datatype} takes its values in {field}, got {given[0]}")
    return getattr(tensor.contents, field)


def encode(entry: Served, request_id: str, outputs: list[str], results: dict[str, np.ndarray]):
    """The infer response: each output in ``raw_output_contents`` (what tritonclient reads), the label INT64 and the
    other outputs FP32, shapes as the model run gave them."""
    response = pb.ModelInferResponse(model_name=entry.name, model_version=entry.version, id=request_id)
    for name in outputs:
        datatype = v2.OUTPUT_TYPES[name]
        array = np.asarray(results[name], dtype=v2.DTYPES[datatype])
        response.outputs.add(name=name, datatype=datatype, shape=array.shape)
        response.raw_output_contents.append(v2.to_raw(array))
    return response


def _statistics(document: dict) -> pb.ModelStatistics:
    """One entry of the repository's ``model_stats`` (Triton's JSON shape) as the message."""
    stats = pb.ModelStatistics()
    _fill(stats, document)
    return stats


def _fill(message, document: dict) -> None:
    """``document``'s keys that are fields of ``message``: numbers and strings set, objects and lists of objects filled
    in (a key the proto does not have is left out)."""
    fields = message.DESCRIPTOR.fields_by_name
    for key, value in document.items():
        field = fields.get(key)
        if field is None or (field.message_type is not None and field.message_type.GetOptions().map_entry):
            continue
        if isinstance(value, dict):
            _fill(getattr(message, key), value)
        elif isinstance(value, list) and field.message_type is not None:
            for item in value:
                _fill(getattr(message, key).add(), item)
        elif isinstance(value, list):
            getattr(message, key).extend(value)
        else:
            setattr(message, key, value)
