"""Shared fixtures: the bundled dataset, seeded synthetic data, and a CLI runner."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
BREAST_CANCER = REPO / "examples" / "breast_cancer" / "breast_cancer.csv"
EXAMPLE_MODEL_DIR = REPO / "artifacts" / "example"
PENGUINS = REPO / "examples" / "penguins" / "penguins.csv"
PENGUINS_MODEL = REPO / "artifacts" / "example-penguins" / "model.onnx"
# a penguin without a missing value, for the committed penguins model: tests vary one field at a time
PENGUIN = {
    "island": "Dream",
    "bill_length_mm": 46.0,
    "bill_depth_mm": 17.5,
    "flipper_length_mm": 192.0,
    "body_mass_g": 3700.0,
    "sex": "female",
    "year": 2008,
}


def synthetic(n: int, n_features: int, n_classes: int, *, seed: int, noise: float = 1.0, offset: float = 0.0):
    """Seeded, non-separable data from a known logistic model: features with mixed scales and one offset."""
    rng = np.random.default_rng(seed)
    scales = np.geomspace(0.01, 100, n_features)
    X = rng.normal(size=(n, n_features)) * scales + offset
    W = rng.normal(size=(n_classes, n_features)) / scales
    logits = (X - offset) @ W.T * noise
    logits -= logits.max(axis=1, keepdims=True)
    P = np.exp(logits)
    P /= P.sum(axis=1, keepdims=True)
    y = np.array([rng.choice(n_classes, p=p) for p in P])
    return X, y


def write_csv(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    lines = [",".join(header)] + [",".join(str(v) for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def _train_and_export(folder: Path, data: Path, *args: str) -> Path:
    from click.testing import CliRunner

    from logreg_onnx.cli import main

    run = folder / "run"
    result = CliRunner().invoke(main, ["train", str(data), *args, "--out", str(run), "-q", "--export"])
    assert result.exit_code == 0, result.output
    return run


# Runs trained and exported once per session, shared (read-only) by the exporter's and the clients' tests:
# the bundled binary data, a synthetic 4-class problem (its data beside it as four.csv too) and the raw penguins.
@pytest.fixture(scope="session")
def binary_run_master(tmp_path_factory) -> Path:
    return _train_and_export(tmp_path_factory.mktemp("binary"), BREAST_CANCER, "--label", "diagnosis")


@pytest.fixture(scope="session")
def multiclass_run_master(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("multiclass")
    X, y = synthetic(1500, 6, 4, seed=21, offset=20.0)
    labels = np.array(["w", "x", "y", "z"])[y]
    np.savez(folder / "four.npz", X=X, y=labels)
    header = [f"x{j}" for j in range(X.shape[1])] + ["y"]
    write_csv(
        folder / "four.csv", header, [[*map(repr, row), label] for row, label in zip(X.tolist(), labels, strict=True)]
    )
    return _train_and_export(folder, folder / "four.npz")


@pytest.fixture(scope="session")
def penguins_run_master(tmp_path_factory) -> Path:
    return _train_and_export(tmp_path_factory.mktemp("penguins"), PENGUINS, "--label", "species")


@pytest.fixture
def breast_cancer_csv() -> Path:
    return BREAST_CANCER


def tutorial_module_class():
    """The classic tutorials' model: a custom module whose forward is ``torch.sigmoid(self.linear(x))``."""
    import torch
    from torch import nn

    class LogisticRegression(nn.Module):
        def __init__(self, n_features: int) -> None:
            super().__init__()
            self.linear = nn.Linear(n_features, 1)

        def forward(self, x):
            return torch.sigmoid(self.linear(x))

    return LogisticRegression


def train_tutorial(module, X: np.ndarray, y: np.ndarray, *, epochs: int = 300, lr: float = 0.1, softmax=False):
    """Train ``module`` as the tutorials do: BCELoss (or NLLLoss on the log of a softmax) and optim.SGD, full batch."""
    import torch
    from torch import nn

    torch.manual_seed(0)
    optimizer = torch.optim.SGD(module.parameters(), lr=lr)
    features = torch.from_numpy(X.astype(np.float32))
    if softmax:
        target, loss_of = torch.from_numpy(y.astype(np.int64)), nn.NLLLoss()
    else:
        target, loss_of = torch.from_numpy(y.astype(np.float32)).reshape(-1, 1), nn.BCELoss()
    for _ in range(epochs):
        optimizer.zero_grad()
        output = module(features)
        loss = loss_of(torch.log(output), target) if softmax else loss_of(output, target)
        loss.backward()
        optimizer.step()
    return module.eval()


@pytest.fixture(scope="session")
def tutorial_models_master(tmp_path_factory) -> dict:
    """PyTorch tutorial models exported with logreg_onnx.exporter.export, once per session: name -> (model path,
    a CSV of fresh rows for it, the module, the standardization (mean, scale) applied before it)."""
    import torch
    from logreg_onnx.exporter import export
    from torch import nn

    folder = tmp_path_factory.mktemp("tutorial")
    torch.manual_seed(0)
    models = {}
    X, y = synthetic(600, 4, 2, seed=5)
    mean, scale = X.mean(axis=0), X.std(axis=0)
    binary = train_tutorial(tutorial_module_class()(4), (X - mean) / scale, y)
    X3, y3 = synthetic(900, 5, 3, seed=6)
    X3 = (X3 - X3.mean(axis=0)) / X3.std(axis=0)  # the softmax module takes its features as they are
    softmax = train_tutorial(nn.Sequential(nn.Linear(5, 3), nn.Softmax(dim=1)), X3, y3, softmax=True, lr=0.5)
    for name, module, data, standardization, classes in (
        ("tutorial binary", binary, X, (mean, scale), ["benign", "malignant"]),
        ("tutorial softmax", softmax, X3, (None, None), ["a", "b", "c"]),
    ):
        names = [f"f{j}" for j in range(data.shape[1])]
        path = folder / f"{name.replace(' ', '_')}.onnx"
        export(
            module, path, feature_names=names, class_names=classes, mean=standardization[0], scale=standardization[1]
        )
        fresh = np.random.default_rng(7).normal(size=(300, data.shape[1])) * data.std(axis=0) + data.mean(axis=0)
        rows = write_csv(path.with_suffix(".csv"), names, [list(map(repr, row)) for row in fresh.tolist()])
        models[name] = (path, rows, module, standardization)
    return models
