"""Regenerate the malformed models the runtime's tests load (needs onnx; the tests themselves do not).

.venv/bin/python tests/runtime/data/make_fixtures.py

Each one that is "ours" is re-sealed with a correct integrity digest, so that what the test sees refused is the
problem the fixture is about, not the digest.
"""

from __future__ import annotations

from pathlib import Path

import onnx
from logreg_onnx.runtime import contract, integrity
from onnx import helper, numpy_helper

HERE = Path(__file__).resolve().parent
EXAMPLE = HERE.parents[2] / "artifacts" / "example" / "model.onnx"


def sealed(proto: onnx.ModelProto) -> bytes:
    entry = next(p for p in proto.metadata_props if p.key == contract.KEY_DIGEST)
    entry.value = integrity.PLACEHOLDER
    return integrity.seal(proto.SerializeToString())


def main() -> None:
    # foreign: a valid ONNX model that logreg-onnx did not write (no metadata of ours)
    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "identity",
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["n", 3])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, ["n", 3])],
    )
    foreign = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    foreign.ir_version = 10
    onnx.save(foreign, HERE / "foreign.onnx")

    # our metadata, but the outputs in the wrong order: not the contract
    swapped = onnx.load(EXAMPLE)
    outputs = list(swapped.graph.output)
    del swapped.graph.output[:]
    swapped.graph.output.extend(reversed(outputs))
    (HERE / "swapped_outputs.onnx").write_bytes(sealed(swapped))

    # our model, but one initializer's data "outside the folder"
    escaping = onnx.load(EXAMPLE)
    tensor = next(t for t in escaping.graph.initializer if t.name == "mean")
    values = numpy_helper.to_array(tensor)
    tensor.ClearField("raw_data")
    tensor.data_location = onnx.TensorProto.EXTERNAL
    for key, value in (("location", "../../outside.bin"), ("offset", "0"), ("length", str(values.nbytes))):
        tensor.external_data.add(key=key, value=value)
    (HERE / "escaping_external_data.onnx").write_bytes(sealed(escaping))


if __name__ == "__main__":
    main()
