"""The graph's first nodes: raw columns (float32 ``features`` with NaN for missing, string ``categories``) to the design
matrix the exported linear model takes, as :class:`trainer.columns.Encoding` defines it.

Built with ``onnx.helper`` rather than traced: torch has no string tensors. The operators are the ones every engine
we test runs (see runtime/contract.py): ``IsNaN``, ``Where``, ``Gather`` and ``Cast`` for imputation and the missing
indicators (opset 18, all five engines), and string ``Equal`` against a constant vector of levels for one-hot
encoding (opset 19, the onnxruntime family). ``OneHot`` is avoided on purpose: an index of -1 for an unseen level
would silently select the last level.

The numeric columns are centered here, before the imputation's ``Where`` (``Where(IsNaN(x), median - mean, x -
mean)``), not by the standardization's ``Sub`` after it: an engine that folds a ``Sub, Div`` ahead of the linear
layer into its weights and bias (OpenVINO does) computes ``b - sum(w * mean / scale)`` in float32, which loses
digits when a column's mean is large against its spread; a ``Sub`` behind a ``Where`` cannot be folded. The values are
the same bits as centering after the ``Where`` (``median - mean`` is that float32 difference).

The portable profile (``logreg export --portable``) takes the categorical columns as int64 codes instead of text
(runtime/contract.py's ``CATEGORY_CODES``: each column's levels then its other levels, numbered from 0; -1 missing,
-2 unseen), compared with constant int64 vectors by the same ``Equal``: no string tensor, core operators at opset
18, so tract, OpenVINO and onnxruntime's web builds run it. The clients map the texts (runtime/categorical.py).
"""

from __future__ import annotations

import numpy as np
import onnx
from logreg_onnx.runtime import contract
from logreg_onnx.trainer.data.columns import Encoding
from onnx import TensorProto, helper, numpy_helper

DESIGN = "design"  # the exported linear model's input, produced by these nodes
CENTERS = "pre_centers"  # the numeric columns' means, subtracted before the imputation
CENTERED_MEDIANS = "pre_medians_centered"  # each numeric column's median minus its center (NaN: no median)


def splice(
    proto: onnx.ModelProto, encoding: Encoding, centers: np.ndarray, *, portable: bool = False
) -> onnx.ModelProto:
    """Replace ``proto``'s first input (named :data:`DESIGN`) by the contract's raw inputs and the nodes that make
    the design matrix from them, its numeric columns minus ``centers`` (float32, one per numeric column: the
    standardization's means, which the traced graph then leaves out). Any other input (``offset``) stays, after
    them."""
    graph = proto.graph
    design_input, *others = list(graph.input)
    inputs, nodes, initializers = _preprocess(encoding, np.asarray(centers, dtype=np.float32), portable)
    graph.ClearField("input")
    graph.input.extend([*inputs, *others])
    old_nodes = list(graph.node)
    graph.ClearField("node")
    graph.node.extend([*nodes, *old_nodes])
    graph.initializer.extend(initializers)
    if design_input.name != DESIGN:
        raise ValueError(f"expected the linear model's input to be named {DESIGN!r}, got {design_input.name!r}")
    return proto


def _preprocess(encoding: Encoding, centers: np.ndarray, portable: bool):
    nodes: list[onnx.NodeProto] = []
    initializers: list[onnx.TensorProto] = []
    inputs = []
    parts: list[str] = []

    def constant(name: str, array: np.ndarray) -> str:
        initializers.append(numpy_helper.from_array(array, name=name))
        return name

    numeric = encoding.numeric
    if numeric:
        inputs.append(helper.make_tensor_value_info(contract.INPUT_NAME, TensorProto.FLOAT, ["batch", len(numeric)]))
        if centers.shape != (len(numeric),):
            raise ValueError(f"expected {len(numeric)} centers, one per numeric column, got shape {centers.shape}")
        medians = np.array([np.nan if c.median is None else c.median for c in numeric], dtype=np.float32)
        nodes.append(helper.make_node("IsNaN", [contract.INPUT_NAME], ["pre_missing"]))
        nodes.append(helper.make_node("Sub", [contract.INPUT_NAME, constant(CENTERS, centers)], ["pre_centered"]))
        centered_medians = constant(CENTERED_MEDIANS, medians - centers)  # float32 arithmetic, NaN kept
        nodes.append(helper.make_node("Where", ["pre_missing", centered_medians, "pre_centered"], ["pre_imputed"]))
        parts.append("pre_imputed")
        indicators = [j for j, c in enumerate(numeric) if c.indicator]
        if indicators:
            index = constant("pre_indicator_index", np.array(indicators, dtype=np.int64))
            nodes.append(helper.make_node("Gather", ["pre_missing", index], ["pre_indicator_bool"], axis=1))
            nodes.append(helper.make_node("Cast", ["pre_indicator_bool"], ["pre_indicators"], to=TensorProto.FLOAT))
            parts.append("pre_indicators")
    categorical = encoding.categorical
    if categorical:
        kind = TensorProto.INT64 if portable else TensorProto.STRING
        inputs.append(helper.make_tensor_value_info(contract.CATEGORIES_INPUT, kind, ["batch", len(categorical)]))

        def texts(column, values: list[str]) -> np.ndarray:
            """``values`` as the graph compares them: text, or (portable) their codes."""
            if not portable:
                return np.array(values, dtype=object)
            codes = contract.code_table(column)
            return np.array([codes[v] for v in values], dtype=np.int64)

        for j, column in enumerate(categorical):
            if not column.design_levels and not column.other:
                continue  # a single level under treatment coding: no design column
            values = f"pre_cat{j}"
            nodes.append(
                helper.make_node(
                    "Gather",
                    [contract.CATEGORIES_INPUT, constant(f"pre_cat{j}_index", np.array([j], dtype=np.int64))],
                    [values],
                    axis=1,
                )
            )
            levels = column.design_levels
            if levels:
                constant(f"pre_cat{j}_levels", texts(column, list(levels)))
                nodes.append(helper.make_node("Equal", [values, f"pre_cat{j}_levels"], [f"pre_cat{j}_equal"]))
                nodes.append(
                    helper.make_node("Cast", [f"pre_cat{j}_equal"], [f"pre_cat{j}_onehot"], to=TensorProto.FLOAT)
                )
                parts.append(f"pre_cat{j}_onehot")
            if column.other:
                # "other" is every value that is none of the kept levels: the folded ones and any unseen one
                constant(f"pre_cat{j}_kept", texts(column, list(column.levels)))
                nodes.append(helper.make_node("Equal", [values, f"pre_cat{j}_kept"], [f"pre_cat{j}_known_bool"]))
                nodes.append(
                    helper.make_node("Cast", [f"pre_cat{j}_known_bool"], [f"pre_cat{j}_known"], to=TensorProto.FLOAT)
                )
                axes = constant(f"pre_cat{j}_axes", np.array([1], dtype=np.int64))
                nodes.append(
                    helper.make_node("ReduceSum", [f"pre_cat{j}_known", axes], [f"pre_cat{j}_seen"], keepdims=1)
                )
                one = constant(f"pre_cat{j}_one", np.array([1.0], dtype=np.float32))
                nodes.append(helper.make_node("Sub", [one, f"pre_cat{j}_seen"], [f"pre_cat{j}_other"]))
                parts.append(f"pre_cat{j}_other")
    if len(parts) == 1:  # imputation alone: its output is the design matrix
        producer = next(node for node in nodes if node.output[0] == parts[0])
        producer.output[0] = DESIGN
    else:
        nodes.append(helper.make_node("Concat", parts, [DESIGN], axis=1))
    return inputs, nodes, initializers
