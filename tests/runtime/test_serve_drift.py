"""``logreg serve --drift-window``: the drift gauges of /metrics, on a real server, against ``runtime.load(path).drift``
of the same rows."""

from __future__ import annotations

import json
import urllib.request

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
pytest.importorskip("pandas")

import pandas as pd
from logreg_onnx.runtime.serve_drift import DriftWindow

from logreg_onnx import runtime

from .serving import EXAMPLE, ROOT, running_server, scrape

PENGUINS_CSV = ROOT / "examples" / "penguins" / "penguins.csv"
WINDOW = 500
NUMERIC = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "year"]
TEXT = ["island", "sex"]


@pytest.fixture(scope="module")
def penguins(tmp_path_factory):
    """The penguins data and a model exported from it with its training profile."""
    from logreg_onnx import trainer

    frame = pd.read_csv(PENGUINS_CSV)
    labels = frame.pop("species")
    path = tmp_path_factory.mktemp("drift") / "penguins.onnx"
    trainer.fit(frame, labels).export(path)
    return frame, path


@pytest.fixture(scope="module")
def server(penguins):
    _, path = penguins
    with running_server(str(path), "--name", "penguins", "--drift-window", str(WINDOW)) as running:
        yield running


def _rows(frame: pd.DataFrame, seed: int, shift: float = 0.0) -> list[dict]:
    """500 rows drawn from the training rows (body_mass_g moved by ``shift`` standard deviations), as JSON rows."""
    drawn = frame.iloc[np.random.default_rng(seed).integers(0, len(frame), WINDOW)].copy()
    drawn["body_mass_g"] += shift * frame["body_mass_g"].std()
    return [{k: (None if pd.isna(v) else v) for k, v in row.items()} for row in drawn.to_dict("records")]


def _send(url: str, rows: list[dict]) -> None:
    """Half the rows through /predict, half through V2 infer (the graph's inputs, null and "" where missing): both
    paths feed the window."""
    half = len(rows) // 2
    _post(f"{url}/v2/models/penguins/predict", {"instances": rows[:half]})
    numeric = [row[c] for row in rows[half:] for c in NUMERIC]
    texts = [row[c] or "" for row in rows[half:] for c in TEXT]
    n = len(rows) - half
    inputs = [
        {"name": "features", "shape": [n, len(NUMERIC)], "datatype": "FP32", "data": numeric},
        {"name": "categories", "shape": [n, len(TEXT)], "datatype": "BYTES", "data": texts},
    ]
    _post(f"{url}/v2/models/penguins/infer", {"inputs": inputs})


def _post(url: str, document: dict) -> None:
    body = json.dumps(document).encode()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 200


def _gauges(url: str) -> tuple[dict[str, float], float | None]:
    samples = scrape(url)
    columns = {
        dict(labels)["column"]: value
        for (name, labels), value in samples.items()
        if name == "logreg_drift_psi" and dict(labels)["model"] == "penguins" and dict(labels)["version"] == "1"
    }
    score = samples.get(("logreg_score_psi", (("model", "penguins"), ("version", "1"))))
    return columns, score


def test_gauges_track_the_window_and_equal_the_runtimes_drift(server, penguins):
    url, _ = server
    frame, path = penguins
    assert _gauges(url) == ({}, None)  # nothing scored yet: no gauges
    model = runtime.load(path)

    rows = _rows(frame, seed=0)
    _send(url, rows)
    columns, score = _gauges(url)
    expected = model.drift(rows)
    assert sorted(columns) == sorted(NUMERIC + TEXT)
    assert all(value < 0.1 for value in columns.values()), columns
    for entry in expected["columns"]:
        assert columns[entry["column"]] == pytest.approx(entry["psi"], abs=1e-9)
    assert score == pytest.approx(expected["score"]["psi"], abs=1e-6)

    shifted = _rows(frame, seed=1, shift=1.0)
    _send(url, shifted)  # a window of 500: these replace the first rows
    columns, score = _gauges(url)
    expected = model.drift(shifted)
    assert columns["body_mass_g"] > 0.25, columns
    assert all(value < 0.25 for column, value in columns.items() if column != "body_mass_g"), columns
    for entry in expected["columns"]:
        assert columns[entry["column"]] == pytest.approx(entry["psi"], abs=1e-9)
    assert score == pytest.approx(expected["score"]["psi"], abs=1e-6)


def test_a_model_without_a_profile_gets_no_gauges_and_one_log_line():
    with running_server(str(EXAMPLE), "--drift-window", "10") as (url, process):
        X = np.zeros((1, 30)).tolist()
        _post(f"{url}/predict", {"instances": X})
        names = {name for name, _ in scrape(url)}
        log = process.log()
    assert not {"logreg_drift_psi", "logreg_score_psi"} & names
    assert log.count("no training profile") == 1, log


def test_the_window_keeps_the_newest_rows_in_order():
    window = DriftWindow(5, 1, 1, 2)
    for start, n in ((0, 3), (3, 4), (7, 1)):
        values = np.arange(start, start + n, dtype=np.float32)[:, None]
        window.append(values, values.astype(str).astype(object), np.hstack([values, values]))
    numeric, categories, probabilities = window.rows()
    np.testing.assert_array_equal(numeric[:, 0], [3, 4, 5, 6, 7])
    assert categories[:, 0].tolist() == ["3.0", "4.0", "5.0", "6.0", "7.0"]
    np.testing.assert_array_equal(probabilities[:, 1], [3, 4, 5, 6, 7])
    window.append(np.arange(9, dtype=np.float32)[:, None], None, np.zeros((9, 2), np.float32))  # more than it holds
    assert len(window) == 5 and window.rows()[0][:, 0].tolist() == [4, 5, 6, 7, 8]
    for value in (9, 10, 11):  # single rows, past the buffer's end
        window.append(np.full((1, 1), value, np.float32), None, np.zeros((1, 2), np.float32))
    assert window.rows()[0][:, 0].tolist() == [7, 8, 9, 10, 11]
