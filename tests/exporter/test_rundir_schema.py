"""The run directory is written and read through one typed schema (trainer.rundir.schema.RunRecord): what the
writer stores comes back as the trainer's own option classes, a run written before a field existed still loads
(with that field's declared default), and options that are not valid are refused in one line."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from logreg_onnx.exporter.errors import RunDirError
from logreg_onnx.exporter.rundir import load_run
from logreg_onnx.trainer.options import FitOptions, ReadOptions, StreamOptions
from logreg_onnx.trainer.rundir.schema import RunRecord

from logreg_onnx.cli import main

from ..conftest import synthetic


@pytest.fixture(scope="module")
def semicolon_csv(tmp_path_factory) -> Path:
    X, y = synthetic(120, 3, 2, seed=5)
    path = tmp_path_factory.mktemp("schema") / "data.csv"
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle, delimiter=";")
        writer.writerow(["a", "b", "c", "label"])
        for row, label in zip(X.tolist(), y.tolist(), strict=True):
            writer.writerow([repr(v) for v in row] + [["no", "yes"][label]])
    return path


def _train(data: Path, out: Path, *args: str) -> Path:
    result = CliRunner().invoke(main, ["train", str(data), "--label", "label", "--out", str(out), "-q", *args])
    assert result.exit_code == 0, result.output
    return out


def test_metrics_json_reads_back_as_it_was_written(semicolon_csv, tmp_path):
    in_memory = _train(semicolon_csv, tmp_path / "mem", "--delimiter", ";", "--l2", "0.01", "--seed", "3")
    streamed = _train(semicolon_csv, tmp_path / "stream", "--stream", "--chunk-rows", "50", "--optimizer", "adam")
    for run in (in_memory, streamed):
        document = json.loads((run / "metrics.json").read_text())
        assert RunRecord.from_json(document).to_json() == document
    record = load_run(in_memory).record
    assert record.read == ReadOptions(label="label", delimiter=";")
    assert record.options.fit == FitOptions(optimizer="lbfgs", epochs=1000, l2=0.01, seed=3, device="cpu")
    assert record.options.solver == "newton" and record.options.stream is None
    streamed_record = load_run(streamed).record
    assert streamed_record.options.stream == StreamOptions(chunk_rows=50)
    assert streamed_record.options.processes == 1
    assert streamed_record.options.fit.lr == 0.01  # adam's default learning rate, as resolved by the fit


def test_a_run_written_before_the_read_options_and_thresholds_still_loads_and_exports(semicolon_csv, tmp_path):
    run = _train(semicolon_csv, tmp_path / "old", "--delimiter", ";")
    document = json.loads((run / "metrics.json").read_text())
    for key in ("read", "threshold", "thresholds"):
        del document[key]
    for key in ("solver", "threshold", "coefficients", "min_frequency"):
        del document["options"][key]
    (run / "metrics.json").write_text(json.dumps(document))
    loaded = load_run(run)
    assert loaded.threshold == 0.5
    assert loaded.record.read is None and loaded.record.options.fit.min_frequency == FitOptions().min_frequency
    # the rows are found again: the delimiter is sniffed (the declared default, auto) as training would have
    rows = loaded.data_rows()
    with open(semicolon_csv, newline="") as handle:
        expected = np.array([[float(v) for v in line[:3]] for line in list(csv.reader(handle, delimiter=";"))[1:]])
    assert rows is not None and rows.names == ["a", "b", "c"]
    np.testing.assert_array_equal(rows.numeric, expected.astype(rows.numeric.dtype))
    result = CliRunner().invoke(main, ["export", str(run), "-q"])
    assert result.exit_code == 0, result.output
    assert (run / "model.onnx").is_file()


def test_options_that_are_not_valid_are_refused_in_one_line(semicolon_csv, tmp_path):
    run = _train(semicolon_csv, tmp_path / "edited", "--delimiter", ";")
    document = json.loads((run / "metrics.json").read_text())
    document["options"]["val_fraction"] = 2
    (run / "metrics.json").write_text(json.dumps(document))
    with pytest.raises(RunDirError) as caught:
        load_run(run)
    assert str(caught.value) == (
        f"{run / 'metrics.json'}: the options it records are not valid (val_fraction must be in [0, 1), got 2.0); "
        "train again"
    )
