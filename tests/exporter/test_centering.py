"""The numeric columns are centered before the imputation (exporter/preprocess.py), so that an engine folding the
standardization into the weights (OpenVINO) cannot lose digits: the graph computes the very bits the earlier layout
(impute, then subtract the mean) computed, and exporter/c_graph.py reads both layouts to the same numbers, so a file
written before the change still gets the same C header and scorers."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime
import pytest
from logreg_onnx.exporter import c_code, scorers
from logreg_onnx.exporter.c_graph import read_graph
from logreg_onnx.runtime import contract
from onnx import numpy_helper

from logreg_onnx import runtime


def _uncentered(proto: onnx.ModelProto) -> onnx.ModelProto:
    """``proto`` in the layout exports had before: ``Where(IsNaN(features), medians, features)``, then the
    standardization's ``Sub`` of the full mean."""
    old = onnx.ModelProto()
    old.CopyFrom(proto)
    graph = old.graph
    values = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    center = next(n for n in graph.node if n.op_type == "Sub" and n.input[0] == contract.INPUT_NAME)
    where = next(n for n in graph.node if n.op_type == "Where")
    centers = values[center.input[1]]
    medians = values[where.input[1]] + centers  # exact here: each median and mean within a factor 2 of each other
    assert np.array_equal(medians - centers, values[where.input[1]], equal_nan=True)
    graph.initializer.append(numpy_helper.from_array(medians.astype(np.float32), "old_medians"))
    where.input[1], where.input[2] = "old_medians", contract.INPUT_NAME
    graph.node.remove(center)
    gemm = next(n for n in graph.node if n.op_type == "Gemm")
    divide = next(n for n in graph.node if n.output[0] == gemm.input[0])
    subtract = next(n for n in graph.node if n.output[0] == divide.input[0])
    mean = values[subtract.input[1]].copy()
    assert not mean[: len(centers)].any()  # the numeric columns' mean moved to the centering
    mean[: len(centers)] = centers
    graph.initializer.append(numpy_helper.from_array(mean, "old_mean"))
    subtract.input[1] = "old_mean"
    return old


def test_the_centered_graph_computes_the_bits_of_the_uncentered_one(penguins_run):
    new = onnx.load(penguins_run / "model.onnx")
    ops = [n.op_type for n in new.graph.node]
    assert ops[:3] == ["IsNaN", "Sub", "Where"]  # centered before the imputation
    old = _uncentered(new)
    model = runtime.load(penguins_run / "model.onnx")
    rng = np.random.default_rng(4)
    numeric = rng.normal([44, 17, 200, 4200, 2008], [5, 2, 14, 800, 1], size=(500, 5)).astype(np.float32)
    numeric[rng.random(numeric.shape) < 0.2] = np.nan
    texts = np.array([["Biscoe", "male"], ["Dream", ""], ["Atlantis", "female"], ["", ""]] * 125, dtype=object)
    feed = {contract.INPUT_NAME: numeric, contract.CATEGORIES_INPUT: texts}
    names = [o.name for o in model.outputs]
    got_new = onnxruntime.InferenceSession(new.SerializeToString(), providers=["CPUExecutionProvider"]).run(names, feed)
    got_old = onnxruntime.InferenceSession(old.SerializeToString(), providers=["CPUExecutionProvider"]).run(names, feed)
    for name, a, b in zip(names, got_new, got_old, strict=True):
        np.testing.assert_array_equal(a, b, err_msg=name)


def test_both_layouts_read_to_the_same_header_and_scorers(penguins_run):
    new_bytes = (penguins_run / "model.onnx").read_bytes()
    old_bytes = _uncentered(onnx.load_from_string(new_bytes)).SerializeToString()
    a, b = read_graph(new_bytes), read_graph(old_bytes)
    for field in ("medians", "mean", "scale", "weight", "bias"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field), err_msg=field)
    np.testing.assert_array_equal(a.explain.baseline, b.explain.baseline)
    assert c_code.generate(new_bytes) == c_code.generate(old_bytes)
    assert scorers.scorer_of(new_bytes) == scorers.scorer_of(old_bytes)


def test_centered_medians_that_do_not_match_the_metadata_are_refused(penguins_run):
    proto = onnx.load(penguins_run / "model.onnx")
    tensor = next(t for t in proto.graph.initializer if t.name == "pre_medians_centered")
    tensor.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(tensor) + np.float32(0.5), tensor.name))
    with pytest.raises(ValueError, match="the graph's centered medians are not the metadata's medians minus the"):
        read_graph(proto.SerializeToString())
