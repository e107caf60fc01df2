"""logreg train end to end: files, metrics, history, reproducibility, and the message without torch."""

from __future__ import annotations

import csv
import hashlib
import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from logreg_onnx.trainer.engine.model import load_model
from sklearn.metrics import log_loss, roc_auc_score

from logreg_onnx.cli import main

from ..conftest import synthetic


def test_train_breast_cancer_writes_a_complete_run(tmp_path, breast_cancer_csv):
    out = tmp_path / "bc"
    result = CliRunner().invoke(main, ["train", str(breast_cancer_csv), "--label", "diagnosis", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "log-loss" in result.output and "validation" in result.output
    assert sorted(p.name for p in out.iterdir()) == [
        "coefficients.csv",
        "history.csv",
        "metrics.json",
        "model.pt",
        "roc.png",
        "training.png",
    ]
    metrics = json.loads((out / "metrics.json").read_text())
    for split in ("train", "validation"):
        for key in ("log_loss", "accuracy", "roc_auc", "precision", "recall", "f1", "confusion_matrix", "n_rows"):
            assert key in metrics[split]
    assert metrics["train"]["n_rows"] + metrics["validation"]["n_rows"] == 569
    assert metrics["class_names"] == ["benign", "malignant"]
    assert len(metrics["feature_names"]) == 30 and metrics["feature_names"][0] == "mean_radius"
    assert metrics["data"]["sha256"] == hashlib.sha256(breast_cancer_csv.read_bytes()).hexdigest()
    assert metrics["versions"]["torch"] == torch.__version__
    assert metrics["options"]["optimizer"] == "lbfgs" and metrics["training"]["converged"]
    assert metrics["validation"]["accuracy"] > 0.9
    # the default l2 penalty: estimates and odds ratios, and the reason the classical columns are left out
    table = metrics["coefficients"]
    assert not table["classical"] and "l2 penalty (0.001)" in table["note"]
    assert [row["term"] for row in table["rows"]][:2] == ["Intercept", "mean_radius"] and len(table["rows"]) == 31
    assert (out / "training.png").read_bytes()[:4] == b"\x89PNG"

    # model.pt loads with weights_only=True, and its predictions give the metrics that metrics.json reports
    payload = torch.load(out / "model.pt", weights_only=True)
    assert payload["class_names"] == ["benign", "malignant"]
    model, _ = load_model(out / "model.pt")
    model = model.double()  # float64 probabilities sum to 1 to the precision scikit-learn checks
    rows = list(csv.reader(breast_cancer_csv.read_text().splitlines()))[1:]
    X = np.array([[float(v) for v in r[:30]] for r in rows], dtype=np.float32)
    y = np.array([r[30] == "malignant" for r in rows], dtype=int)
    with torch.no_grad():
        P = model(torch.from_numpy(X).double()).numpy()
    all_rows_loss = log_loss(y, P)
    n_train, n_val = metrics["train"]["n_rows"], metrics["validation"]["n_rows"]
    combined = (metrics["train"]["log_loss"] * n_train + metrics["validation"]["log_loss"] * n_val) / (n_train + n_val)
    assert combined == pytest.approx(all_rows_loss, rel=1e-5)
    assert roc_auc_score(y, P[:, 1]) > 0.98

    history = list(csv.DictReader((out / "history.csv").read_text().splitlines()))
    assert len(history) == metrics["training"]["iterations"] > 5
    assert float(history[-1]["train_loss"]) < float(history[0]["train_loss"])
    assert all(h["val_loss"] for h in history)
    # validation is measured on each iteration's weights, so the last one is the final model's
    assert float(history[-1]["val_loss"]) == pytest.approx(metrics["validation"]["log_loss"], rel=1e-6)
    assert float(history[0]["val_loss"]) > float(history[-1]["val_loss"])


def test_val_fraction_zero_has_no_validation_block(tmp_path, breast_cancer_csv):
    out = tmp_path / "run"
    result = CliRunner().invoke(
        main, ["train", str(breast_cancer_csv), "--label", "diagnosis", "--val-fraction", "0", "--out", str(out), "-q"]
    )
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert "validation" not in metrics and metrics["train"]["n_rows"] == 569
    history = list(csv.DictReader((out / "history.csv").read_text().splitlines()))
    assert all(h["val_loss"] == "" for h in history)


def test_same_seed_same_files_bit_for_bit(tmp_path):
    X, y = synthetic(800, 4, 3, seed=9)
    np.savez(tmp_path / "d.npz", X=X, y=np.array(["a", "b", "c"])[y])
    hashes = []
    for name in ("one", "two"):
        out = tmp_path / name
        result = CliRunner().invoke(
            main,
            [
                "train",
                str(tmp_path / "d.npz"),
                "--optimizer",
                "adam",
                "--epochs",
                "5",
                "--seed",
                "3",
                "--out",
                str(out),
                "-q",
            ],
        )
        assert result.exit_code == 0, result.output
        hashes.append([hashlib.sha256((out / f).read_bytes()).hexdigest() for f in ("model.pt", "history.csv")])
    assert hashes[0] == hashes[1]


def test_string_bool_and_numeric_labels_keep_a_stable_order(tmp_path):
    for labels, expected in (
        (["10", "2", "2", "10"], ["2", "10"]),
        (["true", "false", "true", "false"], ["false", "true"]),
        (["cat", "ant", "bee", "ant"], ["ant", "bee", "cat"]),
    ):
        path = tmp_path / "d.csv"
        path.write_text("x,label\n" + "\n".join(f"{i},{v}" for i, v in enumerate(labels)) + "\n")
        out = tmp_path / "r"
        result = CliRunner().invoke(
            main, ["train", str(path), "--label", "label", "--val-fraction", "0", "--out", str(out), "-q"]
        )
        assert result.exit_code == 0, result.output
        assert json.loads((out / "metrics.json").read_text())["class_names"] == expected


def test_separable_warning_on_the_command_line(tmp_path, breast_cancer_csv):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "logreg_onnx",
            "train",
            str(breast_cancer_csv),
            "--label",
            "diagnosis",
            "--l2",
            "0",
            "--epochs",
            "200",
            "--out",
            str(tmp_path / "r"),
            "-q",
        ],
        capture_output=True,
        text=True,
        timeout=120,  # the plotting helper must not outlive the command and hold its pipes open
    )
    assert result.returncode == 0, result.stderr
    assert "warning: the training data look linearly separable" in result.stderr


def test_train_without_torch_names_the_extra(tmp_path, breast_cancer_csv):
    script = textwrap.dedent(f"""
        import sys
        sys.modules["torch"] = None  # what an install without the 'train' extra looks like to import
        from logreg_onnx.cli import main
        main(["train", {str(breast_cancer_csv)!r}, "--label", "diagnosis", "--out", {str(tmp_path / "r")!r}])
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "Error: this command needs torch, which is not installed; install the 'train' "
        "extra: pip install '.[train]' in the repository's folder"
    )
    assert not (tmp_path / "r").exists()


def test_help_explains_the_options():
    result = CliRunner().invoke(main, ["train", "--help"])
    assert result.exit_code == 0
    for option in (
        "--label",
        "--features",
        "--optimizer",
        "--l2",
        "--val-fraction",
        "--class-weight",
        "--seed",
        "--device",
        "--patience",
        "--quiet",
    ):
        assert option in result.output
