"""Reading a verified graph's constants for the C header (exporter/c_code.py): each found through the node that
consumes it (the Gemm's weights, the Sub and Div before it, the Mul of the contributions...), not by its name alone,
since the exporter merges equal constants; a node layout other than exporter/graph.py's is refused."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

import numpy as np
import onnx
from logreg_onnx.runtime import contract
from onnx import numpy_helper

from .c_graph_linear import design_width, read_logits, read_offset_column, read_used, spread


@dataclass(frozen=True)
class ExplainGraph:
    """A format 3 graph's explain constants, read from the initializers its explain nodes consume."""

    baseline: np.ndarray  # float32 (n_design,): the design row contributions are measured from
    coefficients: np.ndarray  # float32 (n_design, n_logits): each logit's weight per raw design column
    groups: np.ndarray  # int (n_design,): the raw column (feature_names order) each design column sums into
    factor_w: np.ndarray | None  # float32 (n_logits, n_design, rank): logit_se's factor on the standardized row
    factor_b: np.ndarray | None  # float32 (n_logits, rank): its constant row
    z: float | None  # the probability interval's z (a binary model with intervals), as the graph holds it
    metadata: dict  # the ``explain`` metadata entry: its notes, for the header's comments only

    @property
    def intervals(self) -> bool:
        return self.factor_w is not None


@dataclass(frozen=True)
class LinearGraph:
    """The numbers of an exported graph, read back from its initializers."""

    numeric_names: list[str]
    categorical_names: list[str]
    column_names: list[str]  # every input column, feature_names order (the rows of contributions)
    class_names: list[str]
    medians: np.ndarray | None  # float32 (n_numeric,), NaN where a column has no median
    indicator_index: list[int]
    levels: list[list[str]]  # per categorical column: the one-hot levels, in design order
    kept: list[list[str] | None]  # per categorical column: the known levels when it has an "(other)" column
    mean: np.ndarray
    scale: np.ndarray
    weight: np.ndarray  # (n_classes, n_design)
    bias: np.ndarray
    threshold: float  # a binary model's decision threshold on the second class's probability
    explain: ExplainGraph | None = None  # format 3's explain outputs; None for a format 1 or 2 graph
    offset_column: str | None = None  # a binary model with the ``offset`` input: the column it is trained from
    # the design columns the linear layer reads (a Gather before the Sub: the others' weights are all 0), ascending;
    # None: all of them. weight, mean and scale still span every column (weight 0 where one is dropped); a sparse
    # graph also adds 0 * the design row's sum to the logits, so that a non-finite value still gives NaN
    used: np.ndarray | None = None

    @property
    def offset(self) -> bool:
        """Whether the model takes an offset: a known term added to its (second class's) logit."""
        return self.offset_column is not None

    def rows(self) -> tuple[np.ndarray, np.ndarray]:
        """The weight rows and biases every generated scorer and header computes with, in float64: a binary model's
        one row, the second class's logit minus the first's (the graph's first row is zeros), every row of a
        multiclass one."""
        weight, bias = self.weight.astype(np.float64), self.bias.astype(np.float64)
        if weight.shape[0] == 2:
            return weight[1:] - weight[:1], bias[1:] - bias[:1]
        return weight, bias


class GraphNodes:
    """A graph's nodes by the tensor they produce, and its constants (initializers and Constant nodes)."""

    def __init__(self, graph: onnx.GraphProto) -> None:
        self.values = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
        for node in graph.node:
            if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
                self.values[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
        self.producer = {out: node for node in graph.node for out in node.output}

    def node(self, tensor: str, op_type: str, role: str) -> onnx.NodeProto:
        found = self.producer.get(tensor)
        if found is None or found.op_type != op_type:
            got = "a graph input or constant" if found is None else f"a {found.op_type} node"
            raise ValueError(f"{role}: expected {tensor!r} to come from a {op_type} node, got {got}")
        return found

    def constant(self, tensor: str, role: str) -> np.ndarray:
        if tensor not in self.values:
            raise ValueError(f"{role}: expected {tensor!r} to be a constant (initializer), it is computed")
        return self.values[tensor]

    def split(self, node: onnx.NodeProto, role: str) -> tuple[np.ndarray, str]:
        """A binary node's one constant input and its other input's name."""
        constant = [name in self.values for name in node.input[:2]]
        if constant.count(True) != 1:
            raise ValueError(f"{role}: expected a {node.op_type} of a tensor and a constant, got {list(node.input)}")
        which = constant.index(True)
        return self.values[node.input[which]], node.input[1 - which]


def read_graph(model_bytes: bytes) -> LinearGraph:
    """The weights of a graph written by this exporter (its node layout is checked, not assumed)."""
    proto = onnx.load_from_string(model_bytes)
    graph = proto.graph
    ops = [node.op_type for node in graph.node]
    label = "ArgMax" in ops or ("Greater" in ops and "Cast" in ops)  # argmax, or a threshold on the 2nd class
    if not ({"Gemm", "Softmax", "Sub", "Div"} <= set(ops) and label) or ops.count("Gemm") != 1:
        raise ValueError(f"not a logreg-onnx linear graph: its operators are {ops}")
    nodes = GraphNodes(graph)
    gemm = next(node for node in graph.node if node.op_type == "Gemm")
    attributes = {a.name: onnx.helper.get_attribute_value(a) for a in gemm.attribute}
    if (
        attributes.get("transB") != 1
        or attributes.get("transA", 0) != 0
        or attributes.get("alpha", 1.0) != 1.0
        or attributes.get("beta", 1.0) != 1.0
    ):
        raise ValueError(f"unexpected Gemm attributes {attributes}")
    softmax = nodes.node(contract.PROBABILITIES_OUTPUT, "Softmax", "the probabilities")
    logits = read_logits(nodes, softmax.input[0], gemm)
    divide = nodes.node(gemm.input[0], "Div", "the standardization")
    subtract = nodes.node(divide.input[0], "Sub", "the standardization")
    design, used = read_used(nodes, subtract.input[0], logits.guard)
    values = nodes.values
    metadata = {p.key: p.value for p in proto.metadata_props}
    columns = contract.columns_of(metadata)
    if columns is None:
        raise ValueError("not a logreg-onnx graph: its metadata describe no readable input columns")
    offset_column = read_offset_column(graph, metadata, logits.offset)
    numeric = [c.name for c in columns if c.kind == "numeric"]
    categorical = [c.name for c in columns if c.kind == "categorical"]
    levels, kept = [], []
    specs = [c for c in columns if c.kind == "categorical"]
    for j in range(len(categorical)):
        # a portable graph compares codes (runtime/contract.py's CATEGORY_CODES): read back as the texts they code
        known = list(contract.code_table(specs[j])) if contract.is_portable(metadata) else None
        found = values.get(f"pre_cat{j}_levels")
        levels.append([] if found is None else _texts(found, known))
        other = values.get(f"pre_cat{j}_kept")
        kept.append(None if other is None else _texts(other, known))
    weight = nodes.constant(gemm.input[1], "the linear layer's weight").astype(np.float32)
    bias = nodes.constant(gemm.input[2], "the linear layer's bias").astype(np.float32)
    mean = nodes.constant(subtract.input[1], "the standardization's mean").astype(np.float32)
    scale = nodes.constant(divide.input[1], "the standardization's scale").astype(np.float32)
    if weight.ndim != 2 or bias.shape != weight.shape[:1] or not mean.shape == scale.shape == weight.shape[1:]:
        raise ValueError(f"inconsistent shapes: weight {weight.shape}, bias {bias.shape}, mean {mean.shape}")
    n_design = weight.shape[1] if used is None else design_width(proto, design)
    if used is not None:
        weight, mean, scale = spread(used, n_design, weight, mean, scale)
    medians, centers = _read_imputation(graph, nodes, [c for c in columns if c.kind == "numeric"])
    if centers is not None:  # centered before the imputation: the numeric columns' means live there
        if mean[: len(centers)].any():
            raise ValueError("the standardization: expected a zero mean for the numeric columns centered before")
        mean = mean.copy()
        mean[: len(centers)] = centers
    outputs = [o.name for o in graph.output]
    explain = None
    if contract.LOGIT_OUTPUT in outputs:
        described = json.loads(metadata.get(contract.KEY_EXPLAIN, "{}"))
        explain = _read_explain(nodes, outputs, gemm, logits.name, design, n_design, len(columns), described)
        if centers is not None:  # the graph's baseline is shifted by the centers too: back to raw values
            baseline = explain.baseline.astype(np.float64)
            baseline[: len(centers)] += centers
            explain = replace(explain, baseline=baseline.astype(np.float32))
    return LinearGraph(
        numeric_names=numeric,
        categorical_names=categorical,
        column_names=[c.name for c in columns],
        class_names=json.loads(metadata[contract.KEY_CLASS_NAMES]),
        medians=None if medians is None else medians.astype(np.float32),
        indicator_index=[int(v) for v in values.get("pre_indicator_index", np.zeros(0, np.int64)).tolist()],
        levels=levels,
        kept=kept,
        mean=mean,
        scale=scale,
        weight=weight,
        bias=bias,
        threshold=float(metadata.get(contract.KEY_THRESHOLD, "0.5")),
        explain=explain,
        offset_column=offset_column,
        used=used,
    )


def _read_imputation(
    graph: onnx.GraphProto, nodes: GraphNodes, numeric: list
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The medians (float32, NaN where a column has none) and the centers, from ``Where(IsNaN(features), medians,
    features)`` or the centered ``Where(IsNaN(features), median - center, features - center)`` (exporter/
    preprocess.py); ``(None, None)`` for a graph that does not impute. The centered graph's medians are the metadata's,
    checked to give its constant's very bits."""
    where = [node for node in graph.node if node.op_type == "Where"]
    if not where:
        return None, None
    (node,) = where
    role = "the imputation"
    if nodes.node(node.input[0], "IsNaN", role).input[0] != contract.INPUT_NAME:
        raise ValueError(f"{role}: expected IsNaN({contract.INPUT_NAME!r}) to choose the imputed values")
    constant = nodes.constant(node.input[1], role).astype(np.float32)
    if node.input[2] == contract.INPUT_NAME:
        return constant, None
    center, features = nodes.split(nodes.node(node.input[2], "Sub", role), role)
    if features != contract.INPUT_NAME:
        raise ValueError(f"{role}: expected {contract.INPUT_NAME!r} minus the centers, got {features!r}")
    centers = center.astype(np.float32)
    medians = np.array([np.nan if c.median is None else c.median for c in numeric], dtype=np.float32)
    if centers.shape != medians.shape or not np.array_equal(medians - centers, constant, equal_nan=True):
        raise ValueError(f"{role}: the graph's centered medians are not the metadata's medians minus the centers")
    return medians, centers


def _read_explain(
    nodes: GraphNodes,
    outputs: list[str],
    gemm: onnx.NodeProto,
    logits: str,
    design: str,
    n_design: int,
    n_columns: int,
    described: dict,
) -> ExplainGraph:
    """Format 3's constants, each from the node exporter/graph.py computes its output with: ``logit`` the logits
    (the Gemm's, plus the offset in a model with one) after the first minus the first; ``contributions``
    (``MatMul(groups, ...)`` when columns group) ``Unsqueeze(design - baseline) * coefficients`` over all
    ``n_design`` columns of the design row; ``logit_se`` ``sqrt(sum_r (standardized @ factor_w +
    factor_b)^2)``, transposed; the interval ``1 / (exp(-(logit -+ z * se)) + 1)``."""
    role = "the logit output"
    difference = nodes.node(contract.LOGIT_OUTPUT, "Sub", role)
    later, first = (nodes.node(name, "Slice", role) for name in difference.input[:2])
    if _slice(nodes, later, gemm, logits) != (1, None) or _slice(nodes, first, gemm, logits) != (0, 1):
        raise ValueError(f"{role}: expected the logits after the first minus the first (Slice 1: minus Slice 0:1)")
    role = "the contributions output"
    terms, groups = contract.CONTRIBUTIONS_OUTPUT, None
    if nodes.producer.get(terms) is not None and nodes.producer[terms].op_type == "MatMul":
        matmul = nodes.producer[terms]
        groups, terms = nodes.constant(matmul.input[0], role), matmul.input[1]
    multiply = nodes.node(terms, "Mul", role)
    coefficients, shifted = nodes.split(multiply, role)
    unsqueeze = nodes.node(shifted, "Unsqueeze", role)
    if nodes.constant(unsqueeze.input[1], role).tolist() not in ([2], [-1]):
        raise ValueError(f"{role}: expected the design row unsqueezed on its last axis")
    subtract = nodes.node(unsqueeze.input[0], "Sub", role)
    if subtract.input[0] != design:
        raise ValueError(f"{role}: expected the design row {design!r} minus the baseline, got {list(subtract.input)}")
    baseline = nodes.constant(subtract.input[1], role).astype(np.float32)
    coefficients = coefficients.astype(np.float32)
    n_logits = nodes.values[gemm.input[1]].shape[0] - 1
    if baseline.shape != (n_design,) or coefficients.shape != (n_design, n_logits):
        raise ValueError(
            f"{role}: baseline {baseline.shape} and coefficients {coefficients.shape}, expected ({n_design},) and "
            f"{(n_design, n_logits)}"
        )
    column_of = _column_of(groups, n_design, n_columns, role)
    factor_w = factor_b = z = None
    if contract.LOGIT_SE_OUTPUT in outputs:
        factor_w, factor_b = _read_factor(nodes, gemm, n_design, n_logits)
    if contract.PROBABILITY_LOWER_OUTPUT in outputs:
        z = _read_z(nodes)
    return ExplainGraph(baseline, coefficients, column_of, factor_w, factor_b, z, described)


def _slice(nodes: GraphNodes, node: onnx.NodeProto, gemm: onnx.NodeProto, logits: str) -> tuple[int, int | None]:
    """``(start, end)`` of a Slice of the ``logits`` along axis 1 with step 1 (end None: to the last one)."""
    if node.input[0] != logits or len(node.input) < 3:
        raise ValueError(f"the logit output: expected a Slice of the logits {logits!r}, got {list(node.input)}")
    start, end = (int(nodes.constant(name, "the logit output").reshape(-1)[0]) for name in node.input[1:3])
    axis = int(nodes.constant(node.input[3], "the logit output").reshape(-1)[0]) if len(node.input) > 3 else 0
    step = int(nodes.constant(node.input[4], "the logit output").reshape(-1)[0]) if len(node.input) > 4 else 1
    if axis not in (1, -1) or step != 1:
        raise ValueError(f"the logit output: expected a Slice along axis 1 with step 1, got axis {axis}, step {step}")
    return start, None if end >= len(nodes.values[gemm.input[2]]) else end  # past the last logit: to the end


def _column_of(groups: np.ndarray | None, n_design: int, n_columns: int, role: str) -> np.ndarray:
    """Per design column, its raw column, from the 0/1 ``groups`` matrix (None: one design column each)."""
    if groups is None:
        if n_design != n_columns:
            raise ValueError(f"{role}: {n_design} design columns without a groups matrix for {n_columns} columns")
        return np.arange(n_design)
    ones = groups == 1
    if groups.shape != (n_columns, n_design) or not (ones | (groups == 0)).all() or (ones.sum(axis=0) != 1).any():
        raise ValueError(f"{role}: expected a 0/1 groups matrix ({n_columns}, {n_design}), one 1 in each column")
    return ones.argmax(axis=0)


def _read_factor(
    nodes: GraphNodes, gemm: onnx.NodeProto, n_design: int, n_logits: int
) -> tuple[np.ndarray, np.ndarray]:
    role = "the logit_se output"
    transpose = nodes.node(contract.LOGIT_SE_OUTPUT, "Transpose", role)
    root = nodes.node(transpose.input[0], "Sqrt", role)
    total = nodes.node(root.input[0], "ReduceSum", role)
    if len(total.input) < 2 or nodes.constant(total.input[1], role).tolist() not in ([2], [-1]):
        raise ValueError(f"{role}: expected a ReduceSum over the factor's last axis")
    square = nodes.node(total.input[0], "Mul", role)
    if square.input[0] != square.input[1]:
        raise ValueError(f"{role}: expected the square of the projected row, got {list(square.input)}")
    factor_b, projected = nodes.split(nodes.node(square.input[0], "Add", role), role)
    matmul = nodes.node(projected, "MatMul", role)
    if matmul.input[0] != gemm.input[0]:
        raise ValueError(f"{role}: expected the standardized row {gemm.input[0]!r} times the factor")
    factor_w = nodes.constant(matmul.input[1], role).astype(np.float32)
    if factor_w.ndim != 3 or factor_w.shape[:2] != (n_logits, n_design):
        raise ValueError(f"{role}: factor of shape {factor_w.shape}, expected ({n_logits}, {n_design}, rank)")
    factor_b = factor_b.astype(np.float32)
    if factor_b.shape != (n_logits, 1, factor_w.shape[2]):
        raise ValueError(f"{role}: constant row of shape {factor_b.shape}, expected ({n_logits}, 1, rank)")
    return factor_w, factor_b[:, 0, :]


def _read_z(nodes: GraphNodes) -> float:
    """The interval's z, from ``probability_lower = 1 / (exp(-(logit - z * se)) + 1)`` (and the same ``z * se``
    added in ``probability_upper``)."""
    reaches = []
    for name, op_type in ((contract.PROBABILITY_LOWER_OUTPUT, "Sub"), (contract.PROBABILITY_UPPER_OUTPUT, "Add")):
        role = f"the {name} output"
        one, exponential = nodes.split(nodes.node(nodes.node(name, "Reciprocal", role).input[0], "Add", role), role)
        if one.reshape(-1).tolist() != [1.0]:
            raise ValueError(f"{role}: expected 1 / (exp(-t) + 1), got a constant {one.tolist()}")
        negated = nodes.node(nodes.node(exponential, "Exp", role).input[0], "Neg", role)
        bound = nodes.node(negated.input[0], op_type, role)
        logit = nodes.node(bound.input[0], "Gather", role)
        if logit.input[0] != contract.LOGIT_OUTPUT:
            raise ValueError(f"{role}: expected the logit {op_type.lower()} z * logit_se, got {list(bound.input)}")
        reaches.append(bound.input[1])
    if reaches[0] != reaches[1]:
        raise ValueError("the probability interval: expected one z * logit_se in both bounds")
    z, se = nodes.split(nodes.node(reaches[0], "Mul", "the probability interval"), "the probability interval")
    if nodes.node(se, "Gather", "the probability interval").input[0] != contract.LOGIT_SE_OUTPUT or z.size != 1:
        raise ValueError("the probability interval: expected z times logit_se")
    return float(np.float32(z.reshape(-1)[0]))


def _texts(values: np.ndarray, known: list[str] | None) -> list[str]:
    """A constant of texts, or of a portable graph's codes into ``known``."""
    if known is None:
        return [_text(v) for v in values.tolist()]
    return [known[int(code)] for code in values.tolist()]


def _text(value) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)
