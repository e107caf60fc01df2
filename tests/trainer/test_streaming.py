"""Streamed fits (data read in chunks, never whole) against the in-memory fit, scikit-learn and numpy."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner
from logreg_onnx.trainer.data.dataset import load_dataset
from logreg_onnx.trainer.engine.training import fit_dataset
from logreg_onnx.trainer.errors import DataError, OptionError
from logreg_onnx.trainer.options import FitOptions, ReadOptions, StreamOptions
from logreg_onnx.trainer.scale.scan import from_keys, sort_keys, validation_rows
from logreg_onnx.trainer.scale.sources import Source
from logreg_onnx.trainer.scale.streaming import fit_stream

from logreg_onnx.cli import main
from tests.conftest import BREAST_CANCER, PENGUINS, synthetic, write_csv


def _weights(model) -> np.ndarray:
    """[W | b], the biases of a softmax model centred (adding a constant to every class's bias changes nothing, and
    the penalty leaves biases alone, so only their differences are determined)."""
    bias = model.linear.bias.detach().numpy().astype(np.float64)
    if len(bias) > 1:
        bias = bias - bias.mean()
    return np.concatenate([model.linear.weight.detach().numpy(), bias[:, None]], axis=1)


@pytest.mark.parametrize(("path", "label"), [(BREAST_CANCER, "diagnosis"), (PENGUINS, "species")])
def test_streamed_fit_equals_the_in_memory_fit(path, label):
    """Chunks of 50 rows: the same medians, levels and standardization as in memory, and the same optimum."""
    read, opts = ReadOptions(label=label), FitOptions(l2=1e-3, val_fraction=0.0)
    streamed = fit_stream(path, read, opts, StreamOptions(chunk_rows=50))
    in_memory = fit_dataset(load_dataset(path, read), opts)
    assert streamed.model.encoding == in_memory.model.encoding  # medians exact, levels, indicators
    np.testing.assert_array_equal(streamed.model.mean.numpy(), in_memory.model.mean.numpy())
    np.testing.assert_array_equal(streamed.model.scale.numpy(), in_memory.model.scale.numpy())
    objective = (streamed.metrics["train"]["objective"], in_memory.metrics["train"]["objective"])
    assert objective[0] == pytest.approx(objective[1], rel=1e-6)
    np.testing.assert_allclose(_weights(streamed.model), _weights(in_memory.model), atol=1e-4)
    assert streamed.metrics["train"]["confusion_matrix"] == in_memory.metrics["train"]["confusion_matrix"]
    assert streamed.metrics["train"]["n_rows"] == len(in_memory.dataset.y)


def test_streamed_fit_matches_scikit_learn():
    """The same penalized problem as scikit-learn's LogisticRegression on standardized features (C = 1/(n * l2))."""
    from sklearn.linear_model import LogisticRegression

    dataset = load_dataset(BREAST_CANCER, ReadOptions(label="diagnosis"))
    l2 = 1e-2
    streamed = fit_stream(
        BREAST_CANCER, ReadOptions(label="diagnosis"), FitOptions(l2=l2, val_fraction=0.0), StreamOptions(chunk_rows=64)
    )
    X = dataset.X.astype(np.float64)
    standardized = (X - X.mean(axis=0)) / X.std(axis=0)
    reference = LogisticRegression(C=1 / (len(X) * l2), tol=1e-12, max_iter=10_000).fit(standardized, dataset.y)
    np.testing.assert_allclose(streamed.model.linear.weight.detach().numpy()[0], reference.coef_[0], atol=2e-4)
    assert streamed.model.linear.bias.item() == pytest.approx(reference.intercept_[0], abs=2e-4)


@pytest.mark.parametrize("n", [1, 2, 7, 1000, 1001])
def test_medians_are_exact_whatever_the_chunks(tmp_path, n):
    """The two histogram passes give np.median's value: negatives, zeros, duplicates, tiny and huge values."""
    rng = np.random.default_rng(n)
    values = np.concatenate([rng.normal(size=n // 2) * 1e-30, rng.choice([-2.5, 0.0, 3.0, 1e20], size=n - n // 2)])
    rng.shuffle(values)
    rows = [[f"{v!r}" if i % 3 else "", i % 2] for i, v in enumerate(values.astype(np.float32).tolist())]
    rows += [["1.0", 0], ["2.0", 1]]
    csv = write_csv(tmp_path / "m.csv", ["x", "y"], rows)
    fitted = fit_stream(csv, ReadOptions(label="y"), FitOptions(val_fraction=0.0), StreamOptions(chunk_rows=3))
    present = np.array([float(r[0]) for r in rows if r[0]], dtype=np.float32)
    assert fitted.model.encoding.numeric[0].median == float(np.median(present.astype(np.float64)))
    assert fitted.model.encoding.numeric[0].indicator


def test_sort_keys_order_floats_and_round_trip():
    values = np.array([-np.inf, -1e30, -1.5, -1e-45, -0.0, 0.0, 1e-45, 2.0, 3e38, np.inf], dtype=np.float32)
    keys = sort_keys(values)
    assert (np.diff(keys.astype(np.int64)) >= 0).all()
    np.testing.assert_array_equal(from_keys(keys), values)


def test_validation_split_depends_on_the_row_not_the_chunking():
    ids = np.arange(100_000, dtype=np.uint64)
    held_out = validation_rows(ids, 0, 0.2)
    assert held_out.mean() == pytest.approx(0.2, abs=0.005)
    np.testing.assert_array_equal(
        np.concatenate([validation_rows(ids[:7], 0, 0.2), validation_rows(ids[7:], 0, 0.2)]), held_out
    )
    assert (validation_rows(ids, 1, 0.2) != held_out).any()  # the seed changes it


def test_csv_npy_npz_folder_and_glob_give_the_same_model(tmp_path):
    X, y = synthetic(3000, 4, 3, seed=5)
    X = X.astype(np.float32)
    np.save(tmp_path / "all.npy", np.column_stack([X, y.astype(np.float32)]))
    np.savez(tmp_path / "all.npz", X=X, y=y)
    parts = tmp_path / "parts"
    parts.mkdir()
    for i, rows in enumerate(np.array_split(np.arange(3000), 3)):
        write_csv(parts / f"part-{i}.csv", ["a", "b", "c", "d", "y"], [[*map(repr, X[r].tolist()), y[r]] for r in rows])
    opts, stream = FitOptions(val_fraction=0.0), StreamOptions(chunk_rows=500)
    fits = {
        "npy": fit_stream(tmp_path / "all.npy", ReadOptions(), opts, stream),
        "npz": fit_stream(tmp_path / "all.npz", ReadOptions(), opts, stream),
        "folder": fit_stream(parts, ReadOptions(label="y"), opts, stream),
        "glob": fit_stream(str(parts / "part-*.csv"), ReadOptions(label="y"), opts, stream),
    }
    reference = fits.pop("npy")
    assert reference.metrics["train"]["n_rows"] == 3000
    for name, fitted in fits.items():
        assert fitted.metrics["train"]["objective"] == pytest.approx(
            reference.metrics["train"]["objective"], rel=1e-6
        ), name
        np.testing.assert_allclose(_weights(fitted.model), _weights(reference.model), atol=1e-4, err_msg=name)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_streamed_minibatch_training_approaches_the_optimum(optimizer):
    """Batches from a shuffled window of chunks do as well as the in-memory loop's fully shuffled ones."""
    read, stream = ReadOptions(label="diagnosis"), StreamOptions(chunk_rows=64, shuffle_window=3)
    exact = fit_stream(BREAST_CANCER, read, FitOptions(val_fraction=0.0), stream).metrics["train"]["objective"]
    options = FitOptions(val_fraction=0.0, optimizer=optimizer, epochs=100, batch_size=32)
    streamed = fit_stream(BREAST_CANCER, read, options, stream)
    in_memory = fit_dataset(load_dataset(BREAST_CANCER, read), options)
    gap = streamed.metrics["train"]["objective"] - exact
    assert 0 <= gap < 0.005
    assert gap < 3 * (in_memory.metrics["train"]["objective"] - exact) + 1e-4


def test_streamed_command_line_run_exports_and_verifies(tmp_path):
    run = tmp_path / "run"
    result = CliRunner().invoke(
        main,
        [
            "train",
            str(PENGUINS),
            "--label",
            "species",
            "--stream",
            "--chunk-rows",
            "40",
            "--out",
            str(run),
            "--export",
            "--report",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "344 rows streamed from 1 file(s) by 1 process(es)" in result.output
    assert "verification PASSED" in result.output
    assert (run / "report.html").is_file()
    assert not list(tmp_path.glob(".run.*"))  # the staging folder is gone


def test_a_folder_is_streamed_without_asking(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "a.csv").write_text(BREAST_CANCER.read_text())
    result = CliRunner().invoke(
        main, ["train", str(folder), "--label", "diagnosis", "--out", str(tmp_path / "r"), "-q"]
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "r" / "model.pt").is_file()


@pytest.mark.parametrize(
    ("make", "args", "message"),
    [
        (lambda p: p, ["--label", "y"], "holds no data files"),
        (lambda p: p / "nothing-*.csv", ["--label", "y"], "matches no files"),
        (lambda p: _files(p, ("a.csv", "x,y\n1,0\n2,1\n"), ("b.npy", None)), ["--label", "y"], "mixes file types"),
        (
            lambda p: _files(p, ("a.csv", "x,y\n1,0\n2,1\n"), ("b.csv", "x,z\n1,0\n")),
            ["--label", "y"],
            "header differs",
        ),
        (lambda p: _files(p, ("a.csv", "x,y\n1,0\n2,1\n")), ["--label", "y", "--l2", "auto"], "--l2 auto needs"),
        (lambda p: _files(p, ("a.csv", "x,y\n1,0\n1,0\n")), ["--label", "y"], "found only '0' as label"),
        (lambda p: _files(p, ("a.csv", "x,y\n1,0\n2,1\n3,1,4\n")), ["--label", "y"], "a.csv:4: expected 2 fields"),
    ],
)
def test_streamed_input_errors_are_one_line(tmp_path, make, args, message):
    data = make(tmp_path)
    result = CliRunner().invoke(main, ["train", str(data), "--stream", *args, "--out", str(tmp_path / "run")])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "run").exists()


def _files(folder, *files):
    for name, text in files:
        if text is None:
            np.save(folder / name, np.zeros((2, 2), dtype=np.float32))
        else:
            (folder / name).write_text(text)
    return folder


def test_streamed_api_errors_name_the_option(tmp_path):
    with pytest.raises(OptionError, match="l2 auto needs the rows in memory"):
        fit_stream(BREAST_CANCER, ReadOptions(label="diagnosis"), FitOptions(l2="auto"))
    with pytest.raises(DataError, match=": categorical names 'nope', which is not a feature column"):
        fit_stream(BREAST_CANCER, ReadOptions(label="diagnosis"), FitOptions(categorical=("nope",)))
    with pytest.raises(DataError, match="column number"):
        np.save(tmp_path / "a.npy", np.zeros((3, 3), dtype=np.float32))
        Source(tmp_path / "a.npy", ReadOptions(label="last"), missing="impute", na_values=set(), chunk_rows=10)


def test_an_npz_with_feature_names_and_text_labels_streams_as_it_loads(tmp_path):
    X, y = synthetic(800, 3, 3, seed=9)
    path = tmp_path / "named.npz"
    np.savez(path, X=X.astype(np.float32), y=np.array(["cat", "dog", "emu"])[y], feature_names=["a", "b", "c"])
    opts = FitOptions(val_fraction=0.0)
    streamed = fit_stream(path, ReadOptions(), opts, StreamOptions(chunk_rows=100))
    in_memory = fit_dataset(load_dataset(path), opts)
    assert streamed.feature_names == in_memory.feature_names == ["a", "b", "c"]
    assert streamed.class_names == in_memory.class_names == ["cat", "dog", "emu"]
    assert streamed.metrics["train"]["objective"] == pytest.approx(in_memory.metrics["train"]["objective"], rel=1e-6)


def test_balanced_class_weights_as_in_memory():
    """scikit-learn's 'balanced' from the training rows' class counts, the same weights and optimum as in memory."""
    read, opts = ReadOptions(label="species"), FitOptions(val_fraction=0.0, class_weight="balanced")
    streamed = fit_stream(PENGUINS, read, opts, StreamOptions(chunk_rows=60))
    in_memory = fit_dataset(load_dataset(PENGUINS, read), opts)
    assert streamed.metrics["train"]["objective"] == pytest.approx(in_memory.metrics["train"]["objective"], rel=1e-6)
    np.testing.assert_allclose(_weights(streamed.model), _weights(in_memory.model), atol=1e-4)
