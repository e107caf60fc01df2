"""A model's bytes with some graph outputs left out, and the nodes and initializers only they needed: the predict
session of a format 3 file runs ``label`` and ``probabilities`` without paying for the explain outputs.

onnxruntime runs every node of a graph whatever outputs a call asks for (measured: a 30-column model's single-row
run took 20 us with format 3's explain nodes, 10 us without), and the runtime does not depend on the ``onnx``
package, so this edits the protobuf wire format directly. Only these fields are read: ModelProto's ``graph`` (7),
GraphProto's ``node`` (1), ``initializer`` (5) and ``output`` (12), NodeProto's ``input`` (1) and ``output`` (2),
and the ``name`` of a ValueInfoProto (1) and of a TensorProto (8); every other field is copied as it is (the
``value_info`` of a removed tensor too, which onnxruntime ignores). Subgraphs (If, Loop) are not looked into: the
exporter writes none, and a graph whose nodes read outer values from one would fail to open, and not be pruned.
"""

from __future__ import annotations

from collections.abc import Iterable

_LEN = 2  # the wire type of strings, bytes and embedded messages


def without_outputs(model: bytes, keep: Iterable[str]) -> bytes:
    """``model`` (a serialized ModelProto) whose graph has only the outputs named in ``keep``, and only the nodes
    and initializers those need. Raises ValueError for bytes that are not a readable ModelProto."""
    keep = set(keep)
    out = bytearray()
    for number, wire, start, end, value in _fields(model):
        if number == 7 and wire == _LEN:
            graph = _pruned_graph(model[value:end], keep)
            out += _tag(7) + _varint(len(graph)) + graph
        else:
            out += model[start:end]
    return bytes(out)


def _pruned_graph(graph: bytes, keep: set[str]) -> bytes:
    fields = list(_fields(graph))
    nodes = [
        (i, _strings(graph[v:e], 1), _strings(graph[v:e], 2)) for i, (n, w, _, e, v) in enumerate(fields) if n == 1
    ]
    needed = set(keep)
    kept_nodes = set()
    for index, inputs, outputs in reversed(nodes):  # nodes are topologically sorted, as ONNX requires
        if needed.intersection(outputs):
            kept_nodes.add(index)
            needed.update(inputs)
    out = bytearray()
    for i, (number, wire, start, end, value) in enumerate(fields):
        if number == 1 and i not in kept_nodes:
            continue
        if number == 12 and wire == _LEN and _first_string(graph[value:end], 1) not in keep:
            continue
        if number == 5 and wire == _LEN and _first_string(graph[value:end], 8) not in needed:
            continue
        out += graph[start:end]
    return bytes(out)


def _fields(data: bytes):
    """Each field of a message: (number, wire type, start of its tag, end, start of its value)."""
    position, size = 0, len(data)
    while position < size:
        start = position
        key, position = _read_varint(data, position)
        number, wire = key >> 3, key & 7
        if wire == 0:
            _, position = _read_varint(data, position)
            value = start
        elif wire == 1:
            value, position = position, position + 8
        elif wire == _LEN:
            length, value = _read_varint(data, position)
            position = value + length
        elif wire == 5:
            value, position = position, position + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        if position > size:
            raise ValueError("truncated protobuf message")
        yield number, wire, start, position, value


def _strings(message: bytes, number: int) -> list[str]:
    return [message[v:e].decode() for n, w, _, e, v in _fields(message) if n == number and w == _LEN]


def _first_string(message: bytes, number: int) -> str | None:
    found = _strings(message, number)
    return found[0] if found else None


def _read_varint(data: bytes, position: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if position >= len(data):
            raise ValueError("truncated protobuf varint")
        byte = data[position]
        position += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, position
        shift += 7


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _tag(number: int) -> bytes:
    return _varint(number << 3 | _LEN)
