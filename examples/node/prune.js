// A model's bytes with some graph outputs left out, and the nodes and initializers only they needed: the client's
// predict session of a format 3 file runs label and probabilities without paying for the explain outputs (as the
// Python runtime's does: runtime/prune.py, whose wire-format walk this mirrors). onnxruntime runs every node of a
// graph whatever outputs a call fetches, so fetching two outputs of the whole graph would not be enough.
//
// Only these fields are read: ModelProto's graph (7), GraphProto's node (1), initializer (5) and output (12),
// NodeProto's input (1) and output (2), the name of a ValueInfoProto (1) and of a TensorProto (8); every other field
// is copied as it is.

const LEN = 2; // the wire type of strings, bytes and embedded messages
const text = new TextDecoder();

/**
 * ``model`` (a serialized ModelProto, Uint8Array) whose graph has only the outputs named in ``keep``, and only the
 * nodes and initializers those need. Throws an Error for bytes that are not a readable ModelProto.
 */
export function withoutOutputs(model, keep) {
  const wanted = new Set(keep);
  const parts = [];
  for (const field of fields(model)) {
    if (field.number === 7 && field.wire === LEN) {
      const graph = prunedGraph(model.subarray(field.value, field.end), wanted);
      parts.push(varint((7 << 3) | LEN), varint(graph.length), graph);
    } else {
      parts.push(model.subarray(field.start, field.end));
    }
  }
  return concat(parts);
}

function prunedGraph(graph, keep) {
  const all = [...fields(graph)];
  const needed = new Set(keep);
  const keptNodes = new Set();
  // nodes are topologically sorted, as ONNX requires: walk back from the outputs kept
  for (let i = all.length - 1; i >= 0; i--) {
    if (all[i].number !== 1) continue;
    const node = graph.subarray(all[i].value, all[i].end);
    if (strings(node, 2).some((name) => needed.has(name))) {
      keptNodes.add(i);
      for (const name of strings(node, 1)) needed.add(name);
    }
  }
  const parts = [];
  all.forEach((field, i) => {
    const body = graph.subarray(field.value, field.end);
    if (field.number === 1 && !keptNodes.has(i)) return;
    if (field.number === 12 && field.wire === LEN && !keep.has(strings(body, 1)[0])) return;
    if (field.number === 5 && field.wire === LEN && !needed.has(strings(body, 8)[0])) return;
    parts.push(graph.subarray(field.start, field.end));
  });
  return concat(parts);
}

/** Each field of a message: {number, wire, start (of its tag), end, value (where its value starts)}. */
function* fields(data) {
  let position = 0;
  while (position < data.length) {
    const start = position;
    let key;
    [key, position] = readVarint(data, position);
    const number = Math.floor(key / 8);
    const wire = key % 8;
    let value = start;
    if (wire === 0) {
      [, position] = readVarint(data, position);
    } else if (wire === 1) {
      value = position;
      position += 8;
    } else if (wire === LEN) {
      let length;
      [length, value] = readVarint(data, position);
      position = value + length;
    } else if (wire === 5) {
      value = position;
      position += 4;
    } else {
      throw new Error(`unsupported protobuf wire type ${wire}`);
    }
    if (position > data.length) throw new Error('truncated protobuf message');
    yield { number, wire, start, end: position, value };
  }
}

function strings(message, number) {
  const out = [];
  for (const field of fields(message)) {
    if (field.number === number && field.wire === LEN) out.push(text.decode(message.subarray(field.value, field.end)));
  }
  return out;
}

function readVarint(data, position) {
  let result = 0;
  let scale = 1; // arithmetic, not bit shifts: JavaScript's shifts are 32-bit
  for (;;) {
    if (position >= data.length) throw new Error('truncated protobuf varint');
    const byte = data[position++];
    result += (byte & 0x7f) * scale;
    if (!(byte & 0x80)) return [result, position];
    scale *= 128;
  }
}

function varint(value) {
  const out = [];
  do {
    const byte = value % 128;
    value = Math.floor(value / 128);
    out.push(value ? byte | 0x80 : byte);
  } while (value);
  return Uint8Array.from(out);
}

function concat(parts) {
  const out = new Uint8Array(parts.reduce((n, part) => n + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
