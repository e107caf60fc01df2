"""runtime.load and Model: values against PyTorch's test vectors, every input form, every error, threads."""

from __future__ import annotations

import hashlib
import random
import threading

import numpy as np
import pytest
from logreg_onnx.runtime import InputError, ModelError

from logreg_onnx import runtime

from .conftest import DATA


def test_facts(model, example_path, vectors):
    assert model.feature_names == vectors["feature_names"]
    assert model.classes == ["benign", "malignant"]
    model.feature_names.append("x")  # a copy each time: the model's own names cannot be changed
    assert len(model.feature_names) == 30
    assert model.sha256 == hashlib.sha256(example_path.read_bytes()).hexdigest()
    assert model.metadata["threshold"] == 0.5
    assert model.metadata["metrics"]["validation"]["accuracy"] > 0.9
    assert model.n_features == 30 and "30 features -> 2 classes" in repr(model)
    for name in ("feature_names", "classes", "metadata", "sha256", "path", "threshold"):
        with pytest.raises(AttributeError):
            setattr(model, name, None)
    with pytest.raises(TypeError):
        model.metadata["threshold"] = 0.9


def test_predict_proba_matches_pytorch(model, vectors):
    P = model.predict_proba(vectors["X"])
    assert P.dtype == np.float32 and P.shape == (len(vectors["X"]), 2)
    np.testing.assert_allclose(P, vectors["P"], atol=vectors["atol"])
    assert (model.predict(vectors["X"]) == np.array(model.classes)[vectors["labels"]]).all()


def test_single_row_paths_match_the_batch(model, vectors):
    P = model.predict_proba(vectors["X"])
    for i, row in enumerate(vectors["X"]):
        one = model.predict_one(row)
        assert list(one) == ["benign", "malignant"]
        assert [one["benign"], one["malignant"]] == pytest.approx(P[i].tolist(), abs=1e-7)
        np.testing.assert_allclose(model.predict_proba(row), P[i : i + 1], atol=1e-7)
        as_dict = dict(zip(model.feature_names, row.tolist(), strict=True))
        assert model.predict_one(as_dict) == pytest.approx(one, abs=1e-7)


def test_every_input_form_gives_the_same_answer(model, vectors):
    X = vectors["X"][:5]
    expected = model.predict_proba(X)
    names = list(model.feature_names)
    shuffled = names[:]
    random.Random(0).shuffle(shuffled)
    dict_rows = [{name: float(row[names.index(name)]) for name in shuffled} for row in X]
    forms = {
        "float64 array": X.astype(np.float64),
        "list of lists": X.tolist(),
        "tuple of tuples": tuple(tuple(r) for r in X.tolist()),
        "list of dicts (any key order)": dict_rows,
        "fortran-ordered": np.asfortranarray(X),
        "int array": np.round(X).astype(np.int64),
    }
    for form, value in forms.items():
        got = model.predict_proba(value)
        reference = expected if form != "int array" else model.predict_proba(np.round(X).astype(np.float32))
        np.testing.assert_allclose(got, reference, atol=1e-7, err_msg=form)


def test_pandas_dataframe_when_pandas_is_present(model, vectors):
    pd = pytest.importorskip("pandas")
    X = vectors["X"][:4]
    frame = pd.DataFrame(X, columns=model.feature_names)[list(reversed(model.feature_names))]
    np.testing.assert_allclose(model.predict_proba(frame), model.predict_proba(X), atol=1e-7)
    with pytest.raises(InputError, match="DataFrame: missing feature 'mean_radius'"):
        model.predict_proba(frame.drop(columns=["mean_radius"]))


@pytest.mark.parametrize(
    "bad, message",
    [
        (np.zeros((2, 29)), r"expected 30 features per row \(mean_radius, mean_texture, .*\(30 in all\)\), got 29"),
        (np.zeros(31), r"expected 30 features per row .* got 31"),
        (np.zeros((2, 3, 30)), r"features must be 2-D"),
        ("1,2,3", r"features must be a row or rows of 30 numbers, got str"),
        (None, r"got NoneType"),
        ([[1.0] * 30, [1.0] * 29], r"rows of different lengths"),
        ([[1.0] * 29 + ["x"]], r"row 0, column 29 \('worst_fractal_dimension'\): 'x' is a str, not a number"),
        ([[1.0] * 3 + [None] + [1.0] * 26], r"row 0, column 3 \('mean_area'\): missing \(None\), not a number"),
    ],
)
def test_input_errors_say_what_is_wrong(model, bad, message):
    with pytest.raises(InputError, match=message):
        model.predict_proba(bad)


def test_dict_errors_name_the_features(model, vectors):
    row = dict(zip(model.feature_names, vectors["X"][0].tolist(), strict=True))
    with pytest.raises(InputError, match=r"row 0: missing feature 'mean_area'"):
        model.predict_one({k: v for k, v in row.items() if k != "mean_area"})
    # keys the model does not use are ignored (docs/inputs.md), and named when a feature is missing
    np.testing.assert_array_equal(model.predict_proba([row, {**row, "age": 50}]), model.predict_proba([row, row]))
    with pytest.raises(InputError, match=r"row 1: missing feature 'mean_area' \(the row also has 'mean_aera'"):
        model.predict_proba([row, {**{k: v for k, v in row.items() if k != "mean_area"}, "mean_aera": 1.0}])
    with pytest.raises(InputError, match=r"row 0, column 2 \('mean_perimeter'\): '12' is a str"):
        model.predict_one({**row, "mean_perimeter": "12"})


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_values_are_rejected_with_row_and_column(model, vectors, value):
    for col in (0, 13, 29):
        X = vectors["X"][:6].copy()
        X[4, col] = value
        with pytest.raises(InputError, match=rf"row 4, column {col} \('{model.feature_names[col]}'\) is {value}"):
            model.predict_proba(X)
        with pytest.raises(InputError, match=rf"row 0, column {col} .* is {value}"):
            model.predict_one(X[4])
    P = model.predict_proba(X, check_finite=False)
    assert np.isnan(P[4]).all() and np.isfinite(P[[0, 1, 2, 3, 5]]).all()


def test_beyond_float32_range(model, vectors):
    X = vectors["X"][:2].astype(np.float64)
    X[1, 5] = 1e300
    with pytest.raises(InputError, match=r"row 1, column 5 .* is 1e\+300, beyond float32's range"):
        model.predict_proba(X)


def test_predict_one_takes_one_row(model, vectors):
    with pytest.raises(InputError, match="predict_one takes one row, got 2"):
        model.predict_one(vectors["X"][:2].tolist())


def test_threshold(model, vectors):
    P = model.predict_proba(vectors["X"])
    for threshold in (0.05, 0.5, 0.95):
        expected = np.where(P[:, 1] > threshold, "malignant", "benign")
        assert (model.predict(vectors["X"], threshold=threshold) == expected).all()
    with pytest.raises(ValueError, match=r"threshold must be in \[0, 1\]"):
        model.predict(vectors["X"], threshold=1.5)


def test_empty_batch(model):
    assert model.predict_proba(np.zeros((0, 30), dtype=np.float32)).shape == (0, 2)


def test_eight_threads_give_exactly_the_single_thread_results(model, vectors):
    rng = np.random.default_rng(7)
    X = (vectors["X"][rng.integers(0, len(vectors["X"]), 400)] * rng.uniform(0.9, 1.1, (400, 30))).astype(np.float32)
    single_rows = [model.predict_one(row) for row in X]
    single_batch = model.predict_proba(X)
    results: dict[int, tuple] = {}

    def work(worker: int) -> None:
        order = np.random.default_rng(worker).permutation(len(X))
        rows = {int(i): model.predict_one(X[i]) for i in order}
        batches = [model.predict_proba(X[i : i + 37]) for i in range(0, len(X), 37)]
        results[worker] = ([rows[i] for i in range(len(X))], np.concatenate(batches))

    threads = [threading.Thread(target=work, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 8
    for rows, batch in results.values():
        assert rows == single_rows
        assert np.array_equal(batch, single_batch)


def test_threads_option(example_path, vectors):
    one_thread = runtime.load(example_path, threads=1)
    np.testing.assert_array_equal(
        one_thread.predict_proba(vectors["X"]), runtime.load(example_path).predict_proba(vectors["X"])
    )
    with pytest.raises(ValueError, match="threads must be a positive integer"):
        runtime.load(example_path, threads=0)


def test_checksum(example_path):
    digest = hashlib.sha256(example_path.read_bytes()).hexdigest()
    assert runtime.load(example_path, expected_sha256=digest.upper()).sha256 == digest
    with pytest.raises(ModelError, match=f"SHA-256 is {digest}, expected 0000"):
        runtime.load(example_path, expected_sha256="0" * 64)


def test_model_errors(tmp_path, example_path):
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(example_path.read_bytes()[:2000])
    text = tmp_path / "notes.onnx"
    text.write_text("this is not a model\n")
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    cases = {
        tmp_path / "missing.onnx": "no such file",
        tmp_path: "is a directory",
        empty: "empty file",
        truncated: "not a logreg-onnx model .*, or a truncated one",
        text: "not a logreg-onnx model .*, or a truncated one",
        DATA / "foreign.onnx": "not a logreg-onnx model",
        DATA / "swapped_outputs.onnx": r"does not follow the logreg-onnx graph contract: output names and order: "
        r"outputs \['probabilities', 'label'\]",
        DATA
        / "escaping_external_data.onnx": r"refers to external data files; a logreg-onnx model is one self-contained",
    }
    for path, message in cases.items():
        with pytest.raises(ModelError, match=message):
            runtime.load(path)
    assert issubclass(ModelError, ValueError) and issubclass(InputError, ValueError)


def test_run_inputs_takes_a_float32_array_with_an_explicit_byte_order(model, vectors):
    """A binary tensor read with np.frombuffer(raw, '<f4') from an odd offset in a request body (after its JSON header)
    is an unaligned '<f' array, which the single-row path's native memoryview refused with a ValueError; found by the
    server's generated requests."""
    row = vectors["X"][:1]
    body = memoryview(b"{" + row.tobytes())
    explicit = np.frombuffer(body[1:], dtype=np.dtype(np.float32).newbyteorder("<")).reshape(1, -1)
    assert memoryview(explicit).format == "<f"
    labels, probabilities = model.run_inputs(explicit)
    np.testing.assert_allclose(probabilities, vectors["P"][:1], rtol=1e-6, atol=1e-7)
    assert labels.tolist() == vectors["labels"][:1].tolist()
