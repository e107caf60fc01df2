"""Verification can fail, and then no model is written: tampered weights, a wrong operator, a wrong output order,
a fixed batch size. And bad input: a clear line, exit code 2, nothing written."""

from __future__ import annotations

import json
import math
import pickle

import logreg_onnx.exporter.write
import numpy as np
import onnx
import pytest
from click.testing import CliRunner
from logreg_onnx.exporter.errors import VerificationFailed
from logreg_onnx.exporter.graph import serialize
from logreg_onnx.exporter.parity import verify_file
from logreg_onnx.trainer.engine.model import load_model
from onnx import numpy_helper

from logreg_onnx.cli import main


def _verify(proto, model, folder, **kwargs):
    """Verify ``proto`` as the exporter would ship it: sealed with a correct digest (an exporter bug would seal its
    wrong graph just as well), written to a file, loaded by the runtime."""
    path = folder / "candidate.onnx"
    path.write_bytes(serialize(proto))
    return verify_file(path, model, **kwargs)


def _weights(proto):
    return next(t for t in proto.graph.initializer if t.name == "linear.weight")


def _with_weight(proto, row, col, value):
    tampered = onnx.ModelProto()
    tampered.CopyFrom(proto)
    initializer = _weights(tampered)
    W = numpy_helper.to_array(initializer).copy()
    W[row, col] = np.float32(value)
    initializer.CopyFrom(numpy_helper.from_array(W, initializer.name))
    return tampered


def _fifth_digit_changed(w: float) -> float:
    return w + 10 ** (math.floor(math.log10(abs(w))) - 4)


def test_every_weight_changed_in_its_fifth_significant_digit_is_caught_binary(binary_run):
    proto = onnx.load(binary_run / "model.onnx")
    model, _ = load_model(binary_run / "model.pt")
    assert _verify(proto, model, binary_run).passed
    W = numpy_helper.to_array(_weights(proto))
    for col in range(W.shape[1]):  # row 0 is the constant zero logit of the binary graph
        tampered = _with_weight(proto, 1, col, _fifth_digit_changed(float(W[1, col])))
        report = _verify(tampered, model, binary_run)
        assert not report.passed, f"weight {col} ({W[1, col]}) changed but not caught"
        assert all(c["passed"] for c in report.contract), "caught by the values, not the digest or contract"


def test_largest_weight_of_each_class_changed_in_fifth_digit_is_caught_multiclass(multiclass_run):
    proto = onnx.load(multiclass_run / "model.onnx")
    model, _ = load_model(multiclass_run / "model.pt")
    W = numpy_helper.to_array(_weights(proto))
    for row in range(W.shape[0]):
        col = int(np.abs(W[row]).argmax())
        tampered = _with_weight(proto, row, col, _fifth_digit_changed(float(W[row, col])))
        assert not _verify(tampered, model, multiclass_run).passed


def _cli_verify(model_path, run):
    return CliRunner().invoke(main, ["verify", str(model_path), str(run)])


def test_wrong_operator_is_caught(binary_run):
    proto = onnx.load(binary_run / "model.onnx")
    node = next(n for n in proto.graph.node if n.op_type == "Div")
    node.op_type = "Mul"  # multiplies by the scale instead of dividing
    (binary_run / "wrong_op.onnx").write_bytes(serialize(proto))
    result = _cli_verify(binary_run / "wrong_op.onnx", binary_run)
    assert result.exit_code == 1, result.output
    assert "FAIL" in result.output and "verification FAILED" in result.output
    assert json.loads((binary_run / "parity.json").read_text())["passed"] is False


def test_wrong_output_order_is_caught(binary_run):
    proto = onnx.load(binary_run / "model.onnx")
    outputs = list(proto.graph.output)
    del proto.graph.output[:]
    proto.graph.output.extend([outputs[1], outputs[0]])
    (binary_run / "swapped.onnx").write_bytes(serialize(proto))
    result = _cli_verify(binary_run / "swapped.onnx", binary_run)
    assert result.exit_code == 1
    assert "FAIL contract: output names and order" in result.output
    assert "runtime.load" in result.output and "(load)" in result.output


def test_a_file_changed_after_export_is_caught_by_its_digest(binary_run):
    data = bytearray((binary_run / "model.onnx").read_bytes())
    proto = onnx.load_model_from_string(bytes(data))
    W = numpy_helper.to_array(_weights(proto))
    needle = W[1].tobytes()[:8]
    at = bytes(data).find(needle)
    data[at] ^= 0x01  # the lowest bit of one weight: a change no float32 comparison could see
    (binary_run / "flipped.onnx").write_bytes(bytes(data))
    result = _cli_verify(binary_run / "flipped.onnx", binary_run)
    assert result.exit_code == 1
    assert "FAIL contract: integrity digest" in result.output and "do not match its integrity digest" in result.output


def test_fixed_batch_size_is_caught(binary_run):
    proto = onnx.load(binary_run / "model.onnx")
    dim = proto.graph.input[0].type.tensor_type.shape.dim[0]
    dim.ClearField("dim_param")
    dim.dim_value = 4
    (binary_run / "fixed.onnx").write_bytes(serialize(proto))
    result = _cli_verify(binary_run / "fixed.onnx", binary_run)
    assert result.exit_code == 1
    assert "FAIL contract: input features dynamic batch" in result.output
    assert "onnx.reference" in result.output


def test_export_fails_closed(binary_run, monkeypatch):
    honest_build = logreg_onnx.exporter.write.build_model

    def tampered_build(run, **kwargs):
        proto = honest_build(run, **kwargs)
        W = numpy_helper.to_array(_weights(proto))
        col = int(np.abs(W[1]).argmax())
        return _with_weight(proto, 1, col, _fifth_digit_changed(float(W[1, col])))

    monkeypatch.setattr(logreg_onnx.exporter.write, "build_model", tampered_build)
    target = binary_run / "new.onnx"
    with pytest.raises(VerificationFailed, match="nothing was written"):
        logreg_onnx.exporter.write.export_run(binary_run, out=target)
    assert not target.exists()
    assert (binary_run / "new.rejected.onnx").is_file()
    assert not (binary_run / "new.testvectors.json").exists()
    assert json.loads((binary_run / "parity.json").read_text())["passed"] is False

    result = CliRunner().invoke(main, ["export", str(binary_run), "--out", str(binary_run / "other.onnx")])
    assert result.exit_code == 1
    assert "verification FAILED" in result.output and "other.rejected.onnx" in result.output
    assert not (binary_run / "other.onnx").exists()


def test_ort_format_is_written_and_verified(binary_run):
    result = CliRunner().invoke(main, ["export", str(binary_run), "--ort"])
    assert result.exit_code == 0, result.output
    assert (binary_run / "model.ort").is_file()
    assert "runtime.load (.ort)" in result.output
    import onnxruntime as ort

    X = np.random.default_rng(2).normal(10, 5, size=(64, 30)).astype(np.float32)
    from_onnx = ort.InferenceSession(str(binary_run / "model.onnx"), providers=["CPUExecutionProvider"])
    from_ort = ort.InferenceSession(str(binary_run / "model.ort"), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(
        from_ort.run(["label", "probabilities"], {"features": X})[1], from_onnx.run(None, {"features": X})[1], atol=1e-7
    )


class _Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _run_files(folder):
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize(
    "case",
    [
        "missing run",
        "no metrics",
        "foreign model.pt",
        "malicious pickle",
        "corrupt",
        "opset too new",
        "opset too old",
        "missing out folder",
    ],
)
def test_bad_export_input(binary_run, tmp_path, case):
    args = [str(binary_run)]
    expected = None
    marker = tmp_path / "pwned"
    if case == "missing run":
        args, expected = [str(tmp_path / "nope")], "no such run directory"
    elif case == "no metrics":
        (binary_run / "metrics.json").unlink()
        expected = "incomplete run directory, metrics.json missing"
    elif case == "foreign model.pt":
        import torch

        torch.save({"weights": torch.zeros(3)}, binary_run / "model.pt")
        expected = "not a model.pt written by logreg-onnx"
    elif case == "malicious pickle":
        (binary_run / "model.pt").write_bytes(pickle.dumps(_Exploit(str(marker))))
        expected = "not a readable model.pt"
    elif case == "corrupt":
        data = (binary_run / "model.pt").read_bytes()
        (binary_run / "model.pt").write_bytes(data[: len(data) // 2])
        expected = "not a readable model.pt"
    elif case == "opset too new":
        args += ["--opset", "99"]
        expected = "--opset 99 is not supported"
    elif case == "opset too old":
        args += ["--opset", "9"]
        expected = "--opset 9 is not supported"
    elif case == "missing out folder":
        args += ["--out", str(tmp_path / "no" / "such" / "m.onnx")]
        expected = "does not exist"
    (binary_run / "model.onnx").unlink()
    before = _run_files(binary_run)
    result = CliRunner().invoke(main, ["export", *args])
    assert result.exit_code == 2, result.output
    assert expected in result.output and "Traceback" not in result.output
    assert _run_files(binary_run) == before
    assert not marker.exists(), "model.pt was unpickled unsafely"


def test_verify_rejects_a_model_for_another_run(binary_run, multiclass_run):
    result = _cli_verify(multiclass_run / "model.onnx", binary_run)
    assert result.exit_code == 2
    assert "the model takes 6 features but the run has 30" in result.output


def test_verify_rejects_a_non_onnx_file(binary_run):
    (binary_run / "junk.onnx").write_bytes(b"not a protobuf at all")
    result = _cli_verify(binary_run / "junk.onnx", binary_run)
    assert result.exit_code == 2 and "not a logreg-onnx model" in result.output


@pytest.mark.parametrize(
    "n_features, n_classes, offset, l2",
    [
        (30, 2, 1000.0, 1e-3),  # features far from zero: standardization matters in float32
        (200, 2, 5.0, 1e-4),  # many features: long float32 dot products
        (60, 3, 100.0, 1e-2),
        (10, 5, 0.0, 0.0),  # unpenalized softmax: over-parameterized, nearly singular weights
    ],
)
def test_a_correct_export_is_never_rejected(n_features, n_classes, offset, l2, tmp_path):
    """The other side of the tight tolerance: honest float32 differences must pass, on every probe seed."""
    from logreg_onnx.exporter.graph import add_metadata, export_graph

    from logreg_onnx import trainer

    from ..conftest import synthetic

    X, y = synthetic(3000, n_features, n_classes, seed=n_features + n_classes)
    result = trainer.fit(X + offset, y, l2=l2, val_fraction=0)
    proto = add_metadata(
        export_graph(result.model),
        feature_names=result.feature_names,
        class_names=result.class_names,
        metrics=result.metrics,
        model_sha256="0" * 64,
    )
    for seed in range(3):
        report = _verify(proto, result.model, tmp_path, data_rows=(X + offset).astype(np.float32)[:2000], seed=seed)
        failures = [r for r in report.results if not r["passed"]] + [c for c in report.contract if not c["passed"]]
        assert report.passed, failures
