"""Bring your own PyTorch model: the tutorials' modules, a bare nn.Linear, a state_dict, and the toolkit's own FitResult
and estimator, exported through logreg_onnx.exporter.export and `logreg export`, each compared with the user's own
module (not with the toolkit's copy of it)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from logreg_onnx.exporter import VerificationFailed, export  # noqa: E402
from logreg_onnx.exporter.errors import ExportOptionError  # noqa: E402
from torch import nn  # noqa: E402

from logreg_onnx import runtime  # noqa: E402

from ..conftest import BREAST_CANCER, PENGUINS, synthetic, train_tutorial, tutorial_module_class  # noqa: E402


def _module_probabilities(module, X, mean=None, scale=None) -> np.ndarray:
    x = X if mean is None else (X - mean) / scale
    with torch.no_grad():
        out = module(torch.from_numpy(np.asarray(x, dtype=np.float32))).double().numpy()
    return np.concatenate([1 - out, out], axis=1) if out.shape[1] == 1 else out


@pytest.mark.parametrize("name", ["tutorial binary", "tutorial softmax"])
def test_a_tutorial_module_exported_predicts_what_the_module_predicts(tutorial_models_master, name):
    path, _, module, (mean, scale) = tutorial_models_master[name]
    model = runtime.load(path)
    rng = np.random.default_rng(11)
    width = len(model.feature_names)
    X = rng.normal(size=(10_000, width)) * 3
    if mean is not None:
        X = X * scale + mean  # raw units: the standardization is inside the graph
    X = X.astype(np.float32)
    expected = _module_probabilities(module, X.astype(np.float64), mean, scale)
    np.testing.assert_allclose(model.predict_proba(X), expected, atol=1e-6, rtol=0)
    labels = np.array(model.classes)[expected.argmax(axis=1)]
    agree = model.predict(X) == labels
    margin = np.abs(np.sort(expected, axis=1)[:, -1] - np.sort(expected, axis=1)[:, -2])
    assert agree[margin > 1e-5].all()
    assert model.metadata["source"].startswith("PyTorch ")


def test_nn_sequential_with_sigmoid_and_custom_modules_are_recognised_by_tracing(tmp_path):
    X, y = synthetic(400, 3, 2, seed=2)
    X = (X - X.mean(axis=0)) / X.std(axis=0)

    class Renamed(nn.Module):  # nothing called "linear": recognised by what forward computes
        def __init__(self) -> None:
            super().__init__()
            self.w = nn.Linear(3, 1)
            self.drop = nn.Dropout(0.2)

        def forward(self, x):
            return torch.sigmoid(self.w(self.drop(x))).squeeze(-1).unsqueeze(1)

    for module in (nn.Sequential(nn.Linear(3, 1), nn.Sigmoid()), Renamed()):
        train_tutorial(module, X, y, epochs=100)
        result = export(module, tmp_path / "m.onnx")
        assert result.report.passed
        model = runtime.load(result.model_path)
        assert model.feature_names == ["x0", "x1", "x2"] and model.classes == ["0", "1"]
        fresh = np.random.default_rng(3).normal(size=(2000, 3)).astype(np.float32)
        np.testing.assert_allclose(model.predict_proba(fresh), _module_probabilities(module, fresh), atol=1e-6)


def test_a_float64_module_and_a_log_softmax_module(tmp_path):
    X, _ = synthetic(500, 4, 3, seed=8)
    module = nn.Sequential(nn.Linear(4, 3), nn.LogSoftmax(dim=1)).double()
    with torch.no_grad():
        module[0].weight.copy_(torch.randn(3, 4, dtype=torch.float64))
    export(module, tmp_path / "m.onnx", class_names=["p", "q", "r"])
    model = runtime.load(tmp_path / "m.onnx")
    with torch.no_grad():
        expected = module(torch.from_numpy(X)).exp().numpy()
    np.testing.assert_allclose(model.predict_proba(X.astype(np.float32)), expected, atol=1e-5)


def test_a_bare_linear_says_its_outputs_are_logits(tmp_path):
    linear = nn.Linear(3, 1)
    with pytest.raises(ExportOptionError, match="output='logits'"):
        export(linear, tmp_path / "m.onnx")
    export(linear, tmp_path / "m.onnx", output="logits", feature_names=["a", "b", "c"], class_names=["no", "yes"])
    X = np.random.default_rng(0).normal(size=(1000, 3)).astype(np.float32)
    with torch.no_grad():
        expected = torch.sigmoid(linear(torch.from_numpy(X))).numpy()[:, 0]
    np.testing.assert_allclose(runtime.load(tmp_path / "m.onnx").predict_proba(X)[:, 1], expected, atol=1e-6)
    assert not (tmp_path / "m.rejected.onnx").exists()


@pytest.mark.parametrize(
    ("module", "words"),
    [
        (nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1), nn.Sigmoid()), "aten.relu after its linear map"),
        (nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 1), nn.Sigmoid()), "a hidden layer"),
        (nn.Sequential(nn.Linear(3, 2), nn.Sigmoid()), "multi-label"),
        (nn.Sequential(nn.Linear(3, 3), nn.Softmax(dim=0)), "dim=0"),
        (nn.Sequential(nn.Linear(3, 1), nn.Tanh()), "aten.tanh"),
    ],
)
def test_a_module_that_is_not_a_logistic_model_is_refused_naming_what_it_computes(module, words, tmp_path):
    with pytest.raises(ExportOptionError, match=words):
        export(module, tmp_path / "m.onnx")
    assert list(tmp_path.iterdir()) == []


def test_a_wrong_weight_mapping_is_caught_by_the_comparison_with_the_users_module(monkeypatch, tmp_path):
    """The graph is built from the converted weights and compared with the module itself: a converter that swaps two
    weights must fail the export and write nothing."""
    import logreg_onnx.exporter.from_pytorch as from_pytorch

    honest = from_pytorch.canonical_model

    def swapped(encoding, weight, bias, **kwargs):
        weight = np.array(weight, dtype=np.float64)
        weight[:, [0, 1]] = weight[:, [1, 0]]
        return honest(encoding, weight, bias, **kwargs)

    monkeypatch.setattr(from_pytorch, "canonical_model", swapped)
    module = nn.Sequential(nn.Linear(3, 1), nn.Sigmoid())
    with torch.no_grad():
        module[0].weight.copy_(torch.tensor([[1.0, 2.0, -1.0]]))
    with pytest.raises(VerificationFailed, match="PyTorch module Sequential"):
        export(module, tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()
    assert (tmp_path / "m.rejected.onnx").exists()


def test_a_state_dict_through_the_command_line(tmp_path):
    from click.testing import CliRunner

    from logreg_onnx.cli import main

    cli_runner = CliRunner()

    module = tutorial_module_class()(3)
    with torch.no_grad():
        module.linear.weight.copy_(torch.tensor([[0.5, -1.25, 2.0]]))
        module.linear.bias.fill_(0.1)
    weights = tmp_path / "weights.pt"
    torch.save(module.state_dict(), weights)
    result = cli_runner.invoke(main, ["export", str(weights), "--features", "age,income,debt", "--classes", "no,yes"])
    assert result.exit_code == 0, result.output
    assert "verification PASSED" in result.output
    rows = tmp_path / "rows.csv"
    X = np.random.default_rng(1).normal(size=(50, 3))
    rows.write_text("age,income,debt\n" + "\n".join(",".join(map(repr, r)) for r in X.tolist()) + "\n")
    predicted = subprocess.run(
        [
            sys.executable,
            "-m",
            "logreg_onnx",
            "predict",
            str(tmp_path / "weights.onnx"),
            str(rows),
            "--format",
            "jsonl",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    got = np.array([json.loads(line)["p_yes"] for line in predicted.stdout.splitlines()])
    with torch.no_grad():
        expected = module(torch.from_numpy(X.astype(np.float32))).numpy()[:, 0]
    np.testing.assert_allclose(got, expected, atol=1e-6)


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda p: p.with_suffix(".pkl").write_bytes(b"\x80\x04N."), "never loads"),
        (lambda p: torch.save(nn.Sequential(nn.Linear(3, 1)), p), "not a state_dict of tensors"),
        (lambda p: torch.save({"0.weight": torch.ones(4, 3), "1.weight": torch.ones(1, 4)}, p), "one weight matrix"),
        (lambda p: p.write_text("hello"), "a file, not a run directory"),
    ],
)
def test_files_that_are_not_a_supported_model_are_refused_in_one_line(make, words, tmp_path):
    from click.testing import CliRunner

    from logreg_onnx.cli import main

    cli_runner = CliRunner()

    path = tmp_path / "model.pt"
    make(path)
    given = path.with_suffix(".pkl") if path.with_suffix(".pkl").exists() else path
    result = cli_runner.invoke(main, ["export", str(given)])
    assert result.exit_code == 2, result.output
    assert words in result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert not list(tmp_path.glob("*.onnx"))


def test_the_toolkits_own_fit_result_and_estimator_export_themselves(tmp_path):
    import pandas as pd

    from logreg_onnx import trainer

    frame = pd.read_csv(PENGUINS)
    species = frame.pop("species").to_numpy()
    result = trainer.fit(frame, species)
    exported = result.export(tmp_path / "fit.onnx")
    assert exported.report.passed and exported.report.probes["training data"] == len(frame)
    model = runtime.load(tmp_path / "fit.onnx")
    np.testing.assert_allclose(model.predict_proba(frame), result.model.probabilities(frame), atol=1e-6)
    assert "coefficients" not in model.metadata or model.metadata["coefficients"]["rows"]

    data = pd.read_csv(BREAST_CANCER)
    y = data.pop("diagnosis")
    estimator = trainer.LogisticRegressionClassifier(threshold="0.3").fit(data, y)
    estimator.export(tmp_path / "estimator.onnx", c=True)
    model = runtime.load(tmp_path / "estimator.onnx")
    np.testing.assert_allclose(model.predict_proba(data), estimator.predict_proba(data), atol=1e-6)
    assert (model.predict(data) == estimator.predict(data)).all()
    assert model.threshold == pytest.approx(estimator.threshold_)
    assert (tmp_path / "estimator.h").exists()


def test_a_run_exported_with_another_threshold_labels_by_it(binary_run_master, tmp_path):
    """The reference is the run's PyTorch model at the threshold asked for, as the graph is: the export passes and
    the labels follow the new threshold."""
    from logreg_onnx.exporter.rundir import load_run

    result = export(binary_run_master, tmp_path / "m.onnx", threshold=0.3)
    assert result.report.passed
    model = runtime.load(result.model_path)
    assert model.threshold == 0.3
    run = load_run(binary_run_master)
    import pandas as pd

    frame = pd.read_csv(BREAST_CANCER).drop(columns=["diagnosis"])
    p = run.model.probabilities(frame)[:, 1]
    assert ((p > 0.3) != (p > run.threshold)).any()  # rows whose label the threshold changes
    assert (model.predict(frame) == np.array(model.classes)[(p > 0.3).astype(int)]).all()


def test_arguments_that_do_not_fit_the_model_are_refused(tmp_path, binary_run_master):
    module = nn.Sequential(nn.Linear(3, 1), nn.Sigmoid())
    with pytest.raises(ExportOptionError, match="expected 2 distinct names"):
        export(module, tmp_path / "m.onnx", class_names=["a", "b", "c"])
    with pytest.raises(ExportOptionError, match="3 finite numbers"):
        export(module, tmp_path / "m.onnx", mean=[1.0, 2.0])
    with pytest.raises(ExportOptionError, match="names its own columns"):
        export(binary_run_master, tmp_path / "m.onnx", feature_names=["a"])
    with pytest.raises(ExportOptionError, match="PyTorch modules only"):
        export(binary_run_master, tmp_path / "m.onnx", output="logits")
    with pytest.raises(ExportOptionError, match="expected a run directory of logreg train"):
        export(object(), tmp_path / "m.onnx")
    assert list(tmp_path.iterdir()) == []
