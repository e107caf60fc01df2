"""The Open Inference Protocol (KServe V2) infer request and response, JSON and Triton's binary tensor extension:
decoding checks every field and raises :class:`ProtocolError` (a 400) naming what is wrong. The tensor checks
(:func:`check_input`, :func:`from_raw`, :func:`from_contents`, :func:`as_input`, :func:`check_inputs`,
:func:`check_output`) are shared with gRPC (runtime/serve_grpc.py): both answer a bad tensor in the same words."""

from __future__ import annotations

import json
import struct
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import orjson

from . import contract

# V2 datatype -> numpy dtype (BYTES: length-prefixed strings in binary, JSON strings otherwise)
DTYPES = {
    "BOOL": np.dtype(np.bool_),
    "UINT8": np.dtype(np.uint8),
    "UINT16": np.dtype(np.uint16),
    "UINT32": np.dtype(np.uint32),
    "UINT64": np.dtype(np.uint64),
    "INT8": np.dtype(np.int8),
    "INT16": np.dtype(np.int16),
    "INT32": np.dtype(np.int32),
    "INT64": np.dtype(np.int64),
    "FP16": np.dtype(np.float16),
    "FP32": np.dtype(np.float32),
    "FP64": np.dtype(np.float64),
    "BYTES": np.dtype(object),
}
NUMERIC_INPUT_TYPES = ("FP32", "FP64", "FP16", "INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64")
FLOAT_TYPES = ("FP16", "FP32", "FP64")
FLOAT32_MAX = float(np.finfo(np.float32).max)
# every output the graph contract knows (runtime/contract.py): the label is int64, every other output float32
OUTPUT_TYPES = {
    contract.LABEL_OUTPUT: "INT64",
    contract.PROBABILITIES_OUTPUT: "FP32",
    **dict.fromkeys(contract.EXPLAIN_OUTPUTS + contract.INTERVAL_OUTPUTS + contract.BINARY_INTERVAL_OUTPUTS, "FP32"),
}
HEADER_LENGTH = "inference-header-content-length"


class ProtocolError(ValueError):
    """A request that does not follow the protocol or the model's inputs: answered with 400 and this message."""


@dataclass
class InferRequest:
    id: str | None
    inputs: dict[str, np.ndarray]
    outputs: list[tuple[str, bool]]  # (name, binary), in the order to answer


def decode(
    body: bytes,
    header_length: int | None,
    *,
    numeric: int,
    categorical: int,
    imputes: bool,
    outputs: Sequence[str] = contract.OUTPUT_NAMES,
    offset: bool = False,
) -> InferRequest:
    """An infer request for a model with ``numeric`` and ``categorical`` columns and the graph outputs ``outputs``
    (in the graph's order): the outputs a request names must be among them, and a request that names none gets them
    all, as the protocol says ("if not specified all outputs produced by the model will be returned")."""
    if header_length is not None:
        if not 0 < header_length <= len(body):
            raise ProtocolError(
                f"{HEADER_LENGTH} is {header_length} but the body has {len(body)} bytes; it must give the length of "
                "the JSON header at the start of the body"
            )
        head, binary = body[:header_length], memoryview(body)[header_length:]
    else:
        head, binary = body, memoryview(b"")
    try:
        document = orjson.loads(head)
    except orjson.JSONDecodeError as exc:
        raise ProtocolError(_json_problem(exc, head)) from None
    if not isinstance(document, dict):
        raise ProtocolError(f"the request must be a JSON object, got {type(document).__name__}")
    request_id = document.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise ProtocolError(f"'id' must be a string, got {json.dumps(request_id)[:40]}")
    inputs = document.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise ProtocolError("'inputs' must be a non-empty list of tensors")
    widths = input_widths(numeric, categorical, offset)
    tensors: dict[str, np.ndarray] = {}
    position = 0
    for spec in inputs:
        name, array, position = _input(spec, binary, position, widths, imputes)
        add_input(tensors, name, array)
    if position != len(binary):
        raise ProtocolError(
            f"the binary data has {len(binary)} bytes but the inputs' binary_data_size add up to {position}"
        )
    check_inputs(tensors, widths)
    return InferRequest(request_id, tensors, _outputs(document, outputs))


def input_widths(numeric: int, categorical: int, offset: bool = False) -> dict[str, int]:
    """The graph inputs a model with ``numeric`` and ``categorical`` columns (and an ``offset`` input) takes, in
    order, and their widths (the offset's 1: shape ``[rows]``, or ``[rows, 1]``)."""
    widths = {contract.INPUT_NAME: numeric} if numeric else {}
    if categorical:
        widths[contract.CATEGORIES_INPUT] = categorical
    if offset:
        widths[contract.OFFSET_INPUT] = 1
    return widths


def check_input(name, datatype, shape, widths: dict[str, int]) -> int:
    """The number of elements of input ``name`` of ``datatype`` and ``shape`` (a list of ints), or a ProtocolError
    when the model takes no such input, or not of that datatype, or not of that shape ``[rows, width]``."""
    expected = list(widths)
    if name not in widths:
        raise ProtocolError(f"unknown input {name!r}; this model takes {expected}")
    if datatype not in DTYPES:
        raise ProtocolError(f"input {name!r}: unknown datatype {datatype!r}; V2 datatypes are {', '.join(DTYPES)}")
    want = "BYTES" if name == contract.CATEGORIES_INPUT else None
    if (want and datatype != want) or (not want and datatype not in NUMERIC_INPUT_TYPES):
        allowed = want or "FP32 (or FP64, FP16, an integer type)"
        raise ProtocolError(f"input {name!r}: datatype {datatype} does not fit; use {allowed}")
    if name == contract.OFFSET_INPUT:
        if (
            not (isinstance(shape, list) and len(shape) in (1, 2) and shape[1:] in ([], [1]) and type(shape[0]) is int)
            or shape[0] < 0
        ):
            raise ProtocolError(f"input {name!r}: shape must be [rows] (or [rows, 1]), got {json.dumps(shape)[:60]}")
        return shape[0]
    if not (isinstance(shape, list) and len(shape) == 2 and all(type(d) is int and d >= 0 for d in shape)):
        raise ProtocolError(f"input {name!r}: shape must be [rows, {widths[name]}], got {json.dumps(shape)[:60]}")
    if shape[1] != widths[name]:
        raise ProtocolError(f"input {name!r}: shape {shape} but the model takes {widths[name]} columns")
    return shape[0] * shape[1]


def add_input(tensors: dict[str, np.ndarray], name: str, array: np.ndarray) -> None:
    if name in tensors:
        raise ProtocolError(f"input {name!r} is given twice")
    tensors[name] = array


def check_inputs(tensors: dict[str, np.ndarray], widths: dict[str, int]) -> None:
    """Every input the model takes is there (the ``offset`` may be left out: 0 for every row), each with the same
    number of rows."""
    missing = [name for name in widths if name not in tensors and name != contract.OFFSET_INPUT]
    if missing:
        raise ProtocolError(f"missing input {missing[0]!r}; this model takes {list(widths)}")
    rows = {len(a) for a in tensors.values()}
    if len(rows) != 1:
        raise ProtocolError(f"the inputs have different numbers of rows: {sorted(rows)}")


def _json_problem(exc: orjson.JSONDecodeError, text: bytes) -> str:
    constant = next((c for c in (b"NaN", b"Infinity", b"-Infinity") if text.startswith(c, exc.pos)), None)
    if constant is not None:
        return f"{constant.decode()} is not a JSON number; features must be finite numbers (null: missing)"
    return f"the request is not valid JSON ({exc})"


def _input(spec, binary: memoryview, offset: int, widths: dict[str, int], imputes: bool):
    if not isinstance(spec, dict):
        raise ProtocolError("each input must be an object with name, shape, datatype and data")
    name, shape, datatype = spec.get("name"), spec.get("shape"), spec.get("datatype")
    count = check_input(name, datatype, shape, widths)
    parameters = spec.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise ProtocolError(f"input {name!r}: 'parameters' must be an object")
    size = parameters.get("binary_data_size")
    if size is not None:
        if type(size) is not int or size < 0 or offset + size > len(binary):
            raise ProtocolError(
                f"input {name!r}: binary_data_size {size} does not fit the {len(binary) - offset} binary bytes left"
            )
        array = from_raw(name, datatype, binary[offset : offset + size], count)
        offset += size
    else:
        if "data" not in spec:
            raise ProtocolError(f"input {name!r} has no 'data' (nor binary_data_size)")
        array = _from_json(name, datatype, spec["data"], count, imputes and name != contract.OFFSET_INPUT)
    return name, as_input(name, datatype, array, shape), offset


def as_input(name: str, datatype: str, array: np.ndarray, shape: list[int]) -> np.ndarray:
    """A checked tensor's ``count`` values (flat, as :func:`from_raw` or :func:`from_contents` give them) as the graph
    takes them: float32 or str objects, of ``shape`` (an offset of shape ``[rows]``)."""
    return _convert(name, datatype, array).reshape(shape[:1] if name == contract.OFFSET_INPUT else shape)


def from_raw(name: str, datatype: str, raw: memoryview | bytes, count: int) -> np.ndarray:
    """``count`` values of ``datatype`` in Triton's binary form: little-endian, row-major; each BYTES element prefixed
    with its length (4 bytes, little-endian) and UTF-8 text here."""
    if datatype == "BYTES":
        values, at = [], 0
        while at < len(raw):
            if at + 4 > len(raw):
                raise ProtocolError(f"input {name!r}: truncated BYTES element")
            (length,) = struct.unpack_from("<I", raw, at)
            if at + 4 + length > len(raw):
                raise ProtocolError(f"input {name!r}: BYTES element of {length} bytes runs past the data")
            values.append(_text(name, bytes(raw[at + 4 : at + 4 + length])))
            at += 4 + length
        if len(values) != count:
            raise ProtocolError(f"input {name!r}: {len(values)} BYTES elements for a shape of {count}")
        return np.array(values, dtype=object)
    dtype = DTYPES[datatype]
    if len(raw) != count * dtype.itemsize:
        raise ProtocolError(
            f"input {name!r}: {len(raw)} binary bytes, but its shape and {datatype} need {count * dtype.itemsize}"
        )
    # little-endian on the wire; a native, aligned copy in memory (the tensor may start at any offset of the body)
    return np.frombuffer(raw, dtype=dtype.newbyteorder("<")).astype(dtype)


def _text(name: str, raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolError(f"input {name!r}: a BYTES element is not UTF-8 text") from None


def _from_json(name: str, datatype: str, data, count: int, imputes: bool) -> np.ndarray:
    flat = _flatten(data)
    if len(flat) != count:
        raise ProtocolError(f"input {name!r}: {len(flat)} values for a shape of {count} elements")
    if datatype == "BYTES":
        bad = next((v for v in flat if not isinstance(v, str)), 0)
        if bad != 0:
            raise ProtocolError(f'input {name!r}: {json.dumps(bad)[:40]} is not a string (missing: "")')
        return np.array(flat, dtype=object)
    integral = datatype not in FLOAT_TYPES
    allowed = {int} if integral else {int, float}
    if imputes:
        allowed.add(type(None))
    if not set(map(type, flat)) <= allowed:  # one pass at C speed; the loop below only names the culprit
        bad = next(value for value in flat if type(value) not in allowed)
        kind = "an integer" if integral else "a number"
        raise ProtocolError(f"input {name!r}: {json.dumps(bad)[:40]} is not {kind} ({datatype})")
    if integral:
        info = np.iinfo(DTYPES[datatype])
        bad = next((v for v in flat if v is not None and not info.min <= v <= info.max), None)
        if bad is not None:
            raise _out_of_range(name, datatype, bad)
    values = np.array(flat, dtype=np.float64)  # None (allowed only where the model imputes) becomes NaN
    if datatype == "FP16":
        values = _fits(name, values, np.float16, "FP16")
    return values


def _out_of_range(name: str, datatype: str, value) -> ProtocolError:
    info = np.iinfo(DTYPES[datatype])
    return ProtocolError(f"input {name!r}: {value} is outside {datatype}'s range [{info.min}, {info.max}]")


def from_contents(name: str, datatype: str, values, count: int) -> np.ndarray:
    """``count`` values of ``datatype`` given as a sequence already typed (gRPC's ``InferTensorContents``: one repeated
    field per datatype; the integer fields are wider than INT8, INT16, UINT8, UINT16, so their range is checked
    here), BYTES elements as UTF-8 text."""
    if len(values) != count:
        raise ProtocolError(f"input {name!r}: {len(values)} values for a shape of {count} elements")
    if datatype == "BYTES":
        return np.array([_text(name, bytes(v)) for v in values], dtype=object)
    if datatype in FLOAT_TYPES:
        return np.array(values, dtype=DTYPES[datatype])
    wide = np.array(values, dtype=np.uint64 if datatype == "UINT64" else np.int64)
    info = np.iinfo(DTYPES[datatype])
    if wide.size and (wide.min() < info.min or wide.max() > info.max):
        raise _out_of_range(name, datatype, next(v for v in wide.tolist() if not info.min <= v <= info.max))
    return wide.astype(DTYPES[datatype])


def _flatten(data) -> list:
    """Nested lists, row-major, as one flat list (uneven nesting leaves a list inside, which the type checks refuse)."""
    if type(data) is not list:
        raise ProtocolError("'data' must be a list (flat or nested)")
    if data and type(data[0]) is list:
        out = []
        for item in data:
            out.extend(_flatten(item))
        return out
    return data


def _fits(name: str, values: np.ndarray, dtype, what: str) -> np.ndarray:
    """``values`` in ``dtype``, refused when a value is infinite or beyond its range (NaN is a missing value, kept).
    Checked before converting, so that no overflow warning is raised; a comparison with NaN is False."""
    limit = float(np.finfo(dtype).max) if dtype is not np.float32 else FLOAT32_MAX
    if np.isinf(values).any() if values.dtype == dtype else (np.abs(values) > limit).any():
        raise ProtocolError(f"input {name!r}: a value is infinite or beyond {what}'s range (+-{limit:.4g})")
    return values.astype(dtype, copy=False)


def _convert(name: str, datatype: str, array: np.ndarray) -> np.ndarray:
    """The graph's dtype: float32 for numbers (a range check for FP64 and the integer types), str objects for BYTES."""
    if datatype == "BYTES":
        return array
    # the model's features are float32: FP64 and the integer types are converted, refused beyond float32's range
    values = array if array.dtype == np.float32 else array.astype(np.float64)
    return _fits(name, values, np.float32, "float32 (the model's feature type)")


def _outputs(document: dict, available: Sequence[str]) -> list[tuple[str, bool]]:
    parameters = document.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise ProtocolError("'parameters' must be an object")
    default_binary = bool(parameters.get("binary_data_output", False))
    requested = document.get("outputs")
    if requested is None:
        return [(name, default_binary) for name in available]
    if not isinstance(requested, list):
        raise ProtocolError("'outputs' must be a list of {\"name\": ...} objects")
    out = []
    for spec in requested:
        name = spec.get("name") if isinstance(spec, dict) else None
        check_output(name, available)
        params = spec.get("parameters") or {}
        out.append((name, bool(params.get("binary_data", default_binary)) if isinstance(params, dict) else False))
    return out


def check_output(name, available: Sequence[str]) -> None:
    """A requested output: one of the graph's ``available`` outputs, or a ProtocolError naming them."""
    if name not in available:
        raise ProtocolError(f"unknown output {name!r}; this model's outputs are {', '.join(available)}")


def to_raw(array: np.ndarray) -> bytes:
    """An output tensor in Triton's binary form: its values little-endian, row-major."""
    return np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()


def encode(
    model_name: str, request: InferRequest, results: dict[str, np.ndarray], version: str = "1"
) -> tuple[bytes, int | None]:
    """The response body, and the JSON header's length when some output is binary (else None)."""
    outputs, chunks = [], []
    for name, binary in request.outputs:
        array = results[name]
        entry = {"name": name, "datatype": OUTPUT_TYPES[name], "shape": list(array.shape)}
        if binary:
            raw = to_raw(array)
            entry["parameters"] = {"binary_data_size": len(raw)}
            chunks.append(raw)
        else:
            entry["data"] = array.ravel().tolist()
        outputs.append(entry)
    document = {"model_name": model_name, "model_version": version, "outputs": outputs}
    if request.id is not None:
        document["id"] = request.id
    head = orjson.dumps(document)
    if not chunks:
        return head, None
    return head + b"".join(chunks), len(head)
