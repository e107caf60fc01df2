"""Just enough of the protobuf wire format to list an ONNX file's external-data locations without the onnx package.

The runtime must refuse a model whose external data point outside its folder *before* onnxruntime opens those files,
and it must not depend on onnx (a large install) to do so. ONNX keeps external tensors in TensorProto.external_data
(field 13, key/value pairs with key "location"); tensors live in graph initializers, sparse initializers and node
attributes, and graphs nest inside attributes.
"""

from __future__ import annotations

from collections.abc import Iterator

# field numbers from onnx/onnx.proto3
MODEL_GRAPH = 7
MODEL_FUNCTIONS = 25
FUNCTION_NODE = 7
GRAPH_NODE, GRAPH_INITIALIZER, GRAPH_SPARSE_INITIALIZER = 1, 5, 15
NODE_ATTRIBUTE = 5
ATTRIBUTE_TENSOR, ATTRIBUTE_GRAPH, ATTRIBUTE_TENSORS, ATTRIBUTE_GRAPHS = 5, 6, 10, 11
ATTRIBUTE_SPARSE_TENSOR, ATTRIBUTE_SPARSE_TENSORS = 22, 23
SPARSE_VALUES, SPARSE_INDICES = 1, 2
TENSOR_EXTERNAL_DATA = 13
ENTRY_KEY, ENTRY_VALUE = 1, 2
_MAX_DEPTH = 64


class WireFormatError(ValueError):
    """The bytes are not a well-formed protobuf message (truncated, or not protobuf at all)."""


def _varint(data: memoryview, i: int, end: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if i >= end or shift > 63:
            raise WireFormatError("truncated varint")
        byte = data[i]
        i += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, i
        shift += 7


def fields(data: memoryview, start: int, end: int) -> Iterator[tuple[int, tuple[int, int] | None]]:
    """(field number, (start, end) of a length-delimited payload or None) for each field of a message."""
    i = start
    while i < end:
        tag, i = _varint(data, i, end)
        number, wire_type = tag >> 3, tag & 7
        if number == 0:
            raise WireFormatError("field number 0")
        if wire_type == 0:
            _, i = _varint(data, i, end)
            yield number, None
        elif wire_type == 1:
            i += 8
            yield number, None
        elif wire_type == 5:
            i += 4
            yield number, None
        elif wire_type == 2:
            length, i = _varint(data, i, end)
            if i + length > end:
                raise WireFormatError("a field runs past the end of its message")
            yield number, (i, i + length)
            i += length
        else:
            raise WireFormatError(f"unsupported wire type {wire_type}")
        if i > end:
            raise WireFormatError("a field runs past the end of its message")


MODEL_OPSET_IMPORT = 8
OPSET_DOMAIN, OPSET_VERSION = 1, 2


def opset_imports(model_bytes: bytes) -> dict[str, int]:
    """{domain: version} of a serialized ModelProto's opset_import ("" is the default ONNX domain)."""
    data = memoryview(model_bytes)
    found: dict[str, int] = {}
    for number, span in fields(data, 0, len(data)):
        if number != MODEL_OPSET_IMPORT or span is None:
            continue
        domain, version, i = "", 0, span[0]
        while i < span[1]:
            tag, i = _varint(data, i, span[1])
            if tag >> 3 == OPSET_DOMAIN and tag & 7 == 2:
                length, i = _varint(data, i, span[1])
                domain = bytes(data[i : i + length]).decode("utf-8", "replace")
                i += length
            elif tag >> 3 == OPSET_VERSION and tag & 7 == 0:
                version, i = _varint(data, i, span[1])
            else:
                raise WireFormatError("unexpected field in OperatorSetIdProto")
        found[domain] = version
    return found


def external_data_locations(model_bytes: bytes) -> list[str]:
    """Every external-data ``location`` named anywhere in a serialized ModelProto. Raises :class:`WireFormatError`."""
    data = memoryview(model_bytes)
    found: list[str] = []
    for number, span in fields(data, 0, len(data)):
        if number == MODEL_GRAPH and span:
            _graph(data, span, found, 0)
        elif number == MODEL_FUNCTIONS and span:
            for inner, node in fields(data, *span):
                if inner == FUNCTION_NODE and node:
                    _node(data, node, found, 0)
    return found


def _graph(data, span, found, depth):
    if depth > _MAX_DEPTH:
        raise WireFormatError("graphs nested too deep")
    for number, inner in fields(data, *span):
        if inner is None:
            continue
        if number == GRAPH_INITIALIZER:
            _tensor(data, inner, found)
        elif number == GRAPH_SPARSE_INITIALIZER:
            _sparse(data, inner, found)
        elif number == GRAPH_NODE:
            _node(data, inner, found, depth)


def _node(data, span, found, depth):
    for number, attribute in fields(data, *span):
        if number != NODE_ATTRIBUTE or attribute is None:
            continue
        for kind, inner in fields(data, *attribute):
            if inner is None:
                continue
            if kind in (ATTRIBUTE_TENSOR, ATTRIBUTE_TENSORS):
                _tensor(data, inner, found)
            elif kind in (ATTRIBUTE_SPARSE_TENSOR, ATTRIBUTE_SPARSE_TENSORS):
                _sparse(data, inner, found)
            elif kind in (ATTRIBUTE_GRAPH, ATTRIBUTE_GRAPHS):
                _graph(data, inner, found, depth + 1)


def _sparse(data, span, found):
    for number, inner in fields(data, *span):
        if number in (SPARSE_VALUES, SPARSE_INDICES) and inner:
            _tensor(data, inner, found)


def _tensor(data, span, found):
    for number, entry in fields(data, *span):
        if number != TENSOR_EXTERNAL_DATA or entry is None:
            continue
        key = value = None
        for part, inner in fields(data, *entry):
            if inner is None:
                continue
            text = bytes(data[inner[0] : inner[1]]).decode("utf-8", "replace")
            if part == ENTRY_KEY:
                key = text
            elif part == ENTRY_VALUE:
                value = text
        if key == "location" and value is not None:
            found.append(value)
