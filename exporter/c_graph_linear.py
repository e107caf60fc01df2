"""Reading what surrounds a verified graph's linear layer (for exporter/c_graph.py): the offset added to its logits,
and a sparse model's used design columns (the Gather before the standardization) with the guard that keeps a
non-finite value in a column not read turning the row into NaN, as in a dense graph."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import onnx
from logreg_onnx.runtime import contract

if TYPE_CHECKING:
    from .c_graph import GraphNodes


@dataclass(frozen=True)
class Logits:
    """The tensor the softmax and the explain outputs read, and what exporter/graph.py added to the Gemm's."""

    name: str
    offset: bool  # ``+ Unsqueeze(offset, 1) * [0, 1]``: the offset input, on a binary model's second logit
    guard: str | None  # ``+ ReduceSum(design, 1) * 0``: the design tensor it sums (a sparse model), or None


def read_logits(nodes: GraphNodes, logits: str, gemm: onnx.NodeProto) -> Logits:
    """The softmax's input: the Gemm's output, plus the guard (a sparse model), plus the offset (outermost)."""
    inner, offset = _without(nodes, logits, "Unsqueeze"), False
    if inner is not None:
        _check_offset(nodes, inner[1])
        logits_inner, offset = inner[0], True
    else:
        logits_inner = logits
    guard = None
    if logits_inner != gemm.output[0]:
        found = _without(nodes, logits_inner, "ReduceSum")
        if found is None or found[0] != gemm.output[0]:
            raise ValueError(
                f"the probabilities: expected the softmax of the Gemm's {gemm.output[0]!r}, plus the offset or a "
                f"sparse model's guard, got {[logits]}; re-export the model with this version of logreg-onnx"
            )
        guard = _check_guard(nodes, found[1])
    return Logits(logits, offset, guard)


def _without(nodes: GraphNodes, tensor: str, kind: str) -> tuple[str, str] | None:
    """``(other, term)`` when ``tensor`` is ``Add(other, term)`` with ``term`` a ``Mul`` of a constant and a
    ``kind`` node's output (the offset's Unsqueeze, the guard's ReduceSum); None otherwise."""
    add = nodes.producer.get(tensor)
    if add is None or add.op_type != "Add":
        return None
    for which in (1, 0):
        multiply = nodes.producer.get(add.input[which])
        if multiply is None or multiply.op_type != "Mul":
            continue
        producers = [nodes.producer.get(name) for name in multiply.input[:2]]
        if any(p is not None and p.op_type == kind for p in producers):
            return add.input[1 - which], add.input[which]
    return None


def _check_offset(nodes: GraphNodes, term: str) -> None:
    role = "the offset"
    mask, unsqueezed = nodes.split(nodes.node(term, "Mul", role), role)
    if mask.reshape(-1).tolist() != [0.0, 1.0]:
        raise ValueError(f"{role}: expected it added to the second logit only (a mask [0, 1]), got {mask.tolist()}")
    unsqueeze = nodes.node(unsqueezed, "Unsqueeze", role)
    axes = (
        nodes.constant(unsqueeze.input[1], role).reshape(-1).tolist()
        if len(unsqueeze.input) > 1
        else [a for attribute in unsqueeze.attribute if attribute.name == "axes" for a in attribute.ints]
    )
    if unsqueeze.input[0] != contract.OFFSET_INPUT or axes not in ([1], [-1]):
        raise ValueError(f"{role}: expected the {contract.OFFSET_INPUT!r} input unsqueezed on axis 1, got "
                         f"{list(unsqueeze.input)} on axes {axes}")  # fmt: skip


def _check_guard(nodes: GraphNodes, term: str) -> str:
    """The design tensor of the guard ``ReduceSum(design, axis 1, keepdims) * 0``."""
    role = "the sparse model's guard"
    zero, summed = nodes.split(nodes.node(term, "Mul", role), role)
    total = nodes.node(summed, "ReduceSum", role)
    keep = next((onnx.helper.get_attribute_value(a) for a in total.attribute if a.name == "keepdims"), 1)
    axes = nodes.constant(total.input[1], role).reshape(-1).tolist() if len(total.input) > 1 else None
    if zero.reshape(-1).tolist() != [0.0] or axes not in ([1], [-1]) or keep != 1:
        raise ValueError(f"{role}: expected the design row's sum (axis 1, kept) times 0, got a sum over {axes} "
                         f"times {zero.reshape(-1).tolist()}")  # fmt: skip
    return total.input[0]


def read_offset_column(graph: onnx.GraphProto, metadata: dict, offset: bool) -> str | None:
    """The offset's column (metadata ``offset``) when the logits add the ``offset`` input; ValueError when the graph
    has that input or that metadata but the logits do not add it, or the other way round."""
    column = contract.offset_column(metadata)
    has_input = contract.OFFSET_INPUT in [i.name for i in graph.input]
    if offset != has_input or offset != (column is not None):
        raise ValueError(
            f"the offset: the logits {'add' if offset else 'do not add'} the offset, the graph "
            f"{'has' if has_input else 'has no'} {contract.OFFSET_INPUT!r} input and its metadata "
            f"{'name' if column is not None else 'name no'} an offset column; expected all three or none"
        )
    return column


def read_used(nodes: GraphNodes, standardized: str, guard: str | None) -> tuple[str, np.ndarray | None]:
    """The design tensor the standardization reads and the columns it keeps: exporter/graph.py's Gather of the
    ``used`` columns (axis 1) when some have every weight 0, else the design itself (None). A Gather comes with
    the guard over the same design, and the guard only with a Gather."""
    gather = nodes.producer.get(standardized)
    if gather is None or gather.op_type != "Gather":
        if guard is not None:
            raise ValueError(f"the sparse model's guard: expected a Gather of used columns before the "
                             f"standardization, got {standardized!r} read whole")  # fmt: skip
        return standardized, None
    role = "the used design columns"
    axis = next((onnx.helper.get_attribute_value(a) for a in gather.attribute if a.name == "axis"), 0)
    used = nodes.constant(gather.input[1], role).astype(np.int64).reshape(-1)
    if axis != 1 or not len(used) or (np.diff(used) <= 0).any() or used[0] < 0:
        raise ValueError(f"{role}: expected a Gather of ascending columns on axis 1, got {used.tolist()} on {axis}")
    if guard != gather.input[0]:
        raise ValueError(f"{role}: expected the guard to sum the gathered design {gather.input[0]!r}, got {guard!r}")
    return gather.input[0], used


def design_width(proto: onnx.ModelProto, design: str) -> int:
    """The width of the design tensor, by onnx's shape inference (the inputs and the preprocessing's constants fix
    it)."""
    if design in [i.name for i in proto.graph.input]:
        found = next(i for i in proto.graph.input if i.name == design)
    else:
        inferred = onnx.shape_inference.infer_shapes(proto)
        found = next((v for v in inferred.graph.value_info if v.name == design), None)
    dims = [] if found is None else found.type.tensor_type.shape.dim
    if len(dims) != 2 or not dims[1].HasField("dim_value"):
        raise ValueError(f"the used design columns: the width of {design!r} is not known from the graph's shapes")
    return int(dims[1].dim_value)


def spread(
    used: np.ndarray, n_design: int, weight: np.ndarray, mean: np.ndarray, scale: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The linear layer's constants over every design column: weight 0, mean 0 and scale 1 where one is dropped."""
    if used[-1] >= n_design or len(used) != weight.shape[1]:
        raise ValueError(
            f"the used design columns: expected {weight.shape[1]} ascending indices below the design's width "
            f"{n_design}, got {used.tolist()}; re-export the model"
        )
    full_weight = np.zeros((weight.shape[0], n_design), np.float32)
    full_mean, full_scale = np.zeros(n_design, np.float32), np.ones(n_design, np.float32)
    full_weight[:, used], full_mean[used], full_scale[used] = weight, mean, scale
    return full_weight, full_mean, full_scale
